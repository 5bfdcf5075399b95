"""How much does Adam's L2 weight decay (paper Sec. 4.1.2: Adam, weight decay 5e-4) weigh against the loss
gradient, for the two reductions of the reweighted loss (`--loss-reduction batch`, the default: the sum over
pixels / batch size, CASENet's; `mean`: the mean over pixels)?

    python bench/weight_decay_ratio.py                              # resnet50, 256x256, batch 4, K = 20
    python bench/weight_decay_ratio.py --backbone tiny --size 128

torch.optim.Adam(weight_decay=wd) adds wd * w to the gradient g before its moment estimates, so what matters is
the ratio ||wd * w|| / ||g|| per parameter tensor: far below 1, the decay is negligible; above 1 it dominates
the step direction (Adam normalises the sum, so the loss gradient's scale does not cancel it). AdamW
(`--optimizer adamw`) instead shrinks w by lr * wd each step, independent of g.

One batch of random images with sparse random edges (about 1% of the pixels of each of 3 classes per image,
near the paper's 3.2% edge share of Sec. 4.2.4 summed over classes), random encoder weights (no download;
ImageNet weights have norms of the same order), random text features. Printed: the ratio over all trainable
parameters together and the median / maximum over parameter tensors, for each reduction.
"""
import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import losses  # noqa: E402
import model as edge_model  # noqa: E402


def ratios(model, criterion, images, edges, weight_decay):
    """(||wd w|| / ||g|| over all parameters, per-tensor ratios) after one backward pass."""
    model.zero_grad(set_to_none=True)
    terms = criterion(model(images), edges)
    sum(criterion.weight_dict[k] * v for k, v in terms.items()).backward()
    params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
    w = torch.cat([p.detach().flatten() for p in params])
    g = torch.cat([p.grad.flatten() for p in params])
    per_tensor = torch.stack([weight_decay * p.detach().norm() / p.grad.norm().clamp(min=1e-30) for p in params])
    return float(weight_decay * w.norm() / g.norm()), per_tensor


def main():
    p = argparse.ArgumentParser("bench/weight_decay_ratio.py: ||wd * w|| / ||grad of loss|| per loss reduction")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=256, help="square image size")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--classes", type=int, default=20, help="K (SBD: 20)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="the paper's 5e-4")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    K, B, S = args.classes, args.batch, args.size
    cfg = edge_model.ModelConfig(backbone=args.backbone, num_classes=K, class_names=[f"c{k}" for k in range(K)],
                                 pretrained=False, clip_weights="random")
    model = edge_model.build_model(cfg, text_features=torch.randn(K, cfg.text_dim)).train()
    images = torch.rand(B, 3, S, S)
    present = torch.zeros(B, K, 1, 1)
    for b in range(B):
        present[b, torch.randperm(K)[:3]] = 1  # 3 classes per image
    edges = (torch.rand(B, K, S, S) < 0.01).float() * present  # (B, K, H, W)
    print(f"weight_decay_ratio: {args.backbone}, {S}x{S}, batch {B}, K={K}, weight decay {args.weight_decay}, "
          f"{int(edges.sum())} edge pixels ({100 * float(edges.amax(1).mean()):.1f}% of the pixels)")
    print(f"{'reduction':<10}{'all params':>12}{'median tensor':>15}{'max tensor':>12}")
    for reduction in ("batch", "mean"):
        criterion = losses.EdgeCriterion(loss="reweighted", reduction=reduction)
        total, per_tensor = ratios(model, criterion, images, edges, args.weight_decay)
        print(f"{reduction:<10}{total:>12.3g}{float(per_tensor.median()):>15.3g}{float(per_tensor.max()):>12.3g}")
    print("ratio = ||wd * w|| / ||dL/dw||: << 1, the decay is negligible; > 1, it dominates Adam's step direction")


if __name__ == "__main__":
    main()
