"""Training-step throughput and peak memory per backbone: the training step of paper Sec. 4.1.2.

    python bench/bench_train.py                       # CUDA: 512x512, batch 8; CPU: 128x128, batch 2
    python bench/bench_train.py --backbones tiny resnet50 --size 256 --batch 4

One training step is exactly train.py's: autocast forward (bf16 on CUDA), the loss terms,
backward, Adam step (fused on CUDA); channels-last, TF32 and cudnn.benchmark on CUDA
(util.reproducibility.configure_backends, as train.py). Random image encoder weights
and random text features (the speed does not depend on them; nothing is downloaded).
Images are random, edges sparse random. Each backbone runs in a fresh subprocess, so the
peak memory (CUDA: torch.cuda.max_memory_allocated; CPU: the process's peak RSS) is its own.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

from bench_model import run_isolated  # one backbone per fresh process, its `RESULT {json}` line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALL = ["tiny", "vgg16", "resnet18", "resnet50", "resnet101", "efficientnet_b0", "efficientnet_b3", "efficientnet_b7"]


def bench_one(args):
    """Time args.steps training steps of one backbone; return a dict of figures."""
    import losses
    import model as edge_model
    from util.inference import amp_dtype as amp_dtype_of
    from util.reproducibility import configure_backends
    from train import outputs_to_float

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    amp_dtype = amp_dtype_of(args.amp, device) if cuda else None  # CPU runs fp32
    torch.manual_seed(0)
    configure_backends(device)
    K = args.classes
    cfg = edge_model.ModelConfig(backbone=args.single, fusion=args.fusion, decoder="refine", num_classes=K,
                                 class_names=[f"class{k}" for k in range(K)], pretrained=False,
                                 clip_weights="random")
    model = edge_model.build_model(cfg, text_features=torch.randn(K, 512)).to(device).train()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    criterion = losses.EdgeCriterion(loss="reweighted")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=5e-4,
                                 fused=True if cuda else None)
    B, S = args.batch, args.size
    images = torch.rand(B, 3, S, S, device=device)
    if cuda:
        images = images.contiguous(memory_format=torch.channels_last)
    edges = (torch.rand(B, K, S, S, device=device) < 0.02).float()
    ignore = torch.zeros(B, S, S, dtype=torch.bool, device=device)

    def step():
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            outputs = model(images)
        terms = criterion(outputs_to_float(outputs), edges, ignore)
        loss = sum(criterion.weight_dict[k] * v for k, v in terms.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MiB (Linux)
    params = edge_model.count_parameters(model)["trainable"]
    return {"backbone": args.single, "device": str(device), "size": S, "batch": B, "amp": str(amp_dtype),
            "steps": args.steps, "images_per_s": round(B * args.steps / dt, 2),
            "s_per_step": round(dt / args.steps, 3), "peak_mem_mib": round(peak, 1),
            "peak_kind": "cuda max_memory_allocated" if cuda else "process peak RSS",
            "trainable_params_m": round(params / 1e6, 2)}


def main():
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser("train-step benchmark per backbone")
    p.add_argument("--backbones", nargs="+", default=ALL if cuda else
                   ["tiny", "resnet18", "resnet50", "vgg16", "efficientnet_b0", "efficientnet_b7"])
    p.add_argument("--size", type=int, default=512 if cuda else 128, help="square image size")
    p.add_argument("--batch", type=int, default=8 if cuda else 2)
    p.add_argument("--steps", type=int, default=20 if cuda else 3, help="timed steps")
    p.add_argument("--warmup", type=int, default=5 if cuda else 1)
    p.add_argument("--classes", type=int, default=20, help="K (SBD: 20)")
    p.add_argument("--fusion", default="product")
    p.add_argument("--amp", default="bf16", choices=["bf16", "off"], help="CUDA only; CPU runs fp32")
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's choice)")
    p.add_argument("--single", default=None, help=argparse.SUPPRESS)  # internal: one backbone, JSON out
    args = p.parse_args()

    if args.single:
        print("RESULT " + json.dumps(bench_one(args)))
        return
    print(f"bench_train: device {args.device}, {args.size}x{args.size}, batch {args.batch}, K={args.classes}, "
          f"fusion {args.fusion}, {args.warmup} warm-up + {args.steps} timed steps, torch {torch.__version__}, "
          f"{args.threads or torch.get_num_threads()} CPU threads")
    print(f"{'backbone':<18}{'images/s':>10}{'s/step':>9}{'peak MiB':>10}  params(M)")
    for name in args.backbones:
        r, proc = run_isolated(__file__, ["--single", name] + [
            x for k in ("size", "batch", "steps", "warmup", "classes", "fusion", "amp", "device", "threads")
            for x in (f"--{k}", str(getattr(args, k)))])
        if r is None:
            print(f"{name:<18} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
            continue
        print(f"{name:<18}{r['images_per_s']:>10.2f}{r['s_per_step']:>9.3f}{r['peak_mem_mib']:>10.0f}  "
              f"{r['trainable_params_m']:.2f}", flush=True)
    print("peak memory: " + ("torch.cuda.max_memory_allocated" if args.device.startswith("cuda")
                             else "peak RSS of the benchmark process (includes Python and torch, ~300 MiB)"))


if __name__ == "__main__":
    main()
