"""Alignment loss terms from related CLIP papers: beyond the paper (off by default).

The paper's loss is in losses.py. These terms exist only when the model has the matching head
(related.fusion.TextPixelHead / PixelEmbeddingHead, switched on by `train.py --t2p-weight` / `--contrast-weight`
/ `--prompts select`); `AlignmentLosses` returns them as named unweighted terms with its own `weight_dict`, and
losses.EdgeCriterion merges both, so train.py applies every weight in one place.

- `loss_t2p`, text_pixel_loss: FGAseg's text-pixel alignment loss (Li et al., arXiv 2501.00877). Adapted for
  edges: the target of class k is its ground-truth EDGE map max-pooled to the feature resolution, not its mask.
- `loss_contrast`, mask_text_contrast: MTA-CLIP's mask-to-text contrastive loss L_sim (Das et al., ECCV 2024;
  CA-CL's image-text contrast). Adapted for edges: the anchor of class k averages the pixel embedding over k's
  EDGE pixels instead of its mask.
Symbols as in model.py.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def pool_to(edges, ignore, size):
    """Edge maps (B, K, H, W) and ignore (B, H, W) -> at a feature size (h, w): the max-pooled edges (a cell is an
    edge of k if any of its pixels is) (B, K, h, w), the edge fraction per cell (B, K, h, w), and the valid cells
    (B, 1, h, w) (a cell is ignored only if all of its pixels are)."""
    y = edges.float()  # (B, K, H, W)
    if ignore is not None:
        valid = (~ignore.bool()).float().unsqueeze(1)  # (B, 1, H, W)
        y = y * valid
        valid = F.adaptive_max_pool2d(valid, size)  # (B, 1, h, w)
    else:
        valid = y.new_ones(y.shape[0], 1, *size)
    return F.adaptive_max_pool2d(y, size), F.adaptive_avg_pool2d(y, size), valid


def text_pixel_loss(t2p_logits, edges, ignore=None):
    """FGAseg's text-pixel alignment loss (T2P), adapted for edges: MSE between sigmoid(m_k) (B, K, h, w)
    (related.fusion.TextPixelHead) and the max-pooled edge map of class k at that resolution, mean over valid cells
    and classes. FGAseg compares its alignment maps with the masks; the sigmoid keeps our maps in the target's
    range [0, 1]."""
    B, K, h, w = t2p_logits.shape
    target, _, valid = pool_to(edges, ignore, (h, w))  # (B, K, h, w), (B, 1, h, w)
    err = (torch.sigmoid(t2p_logits.float()) - target) ** 2 * valid  # (B, K, h, w)
    return err.sum() / (valid.sum() * K).clamp(min=1)


def mask_text_contrast(pixel_embeddings, text_features, edges, ignore=None, temperature=0.07):
    """Mask-to-text contrastive loss (MTA-CLIP, ECCV 2024, Mask-to-Text Contrastive Learning L_sim; CA-CL's
    image-text contrast), adapted for edges: for every class k present in image b, the anchor is the pixel
    embedding (B, D, h, w) averaged over k's ground-truth EDGE region (edge fraction per cell as weight) instead of
    a mask; its own class text f_T[k] is the positive, the other K-1 classes the negatives (InfoNCE, cosine / tau):
      L = - mean_{(b,k) present} log( exp(cos(a_bk, t_k)/tau) / sum_j exp(cos(a_bk, t_j)/tau) )."""
    B, D, h, w = pixel_embeddings.shape
    _, weight, valid = pool_to(edges, ignore, (h, w))  # (B, K, h, w) edge fraction, (B, 1, h, w)
    weight = weight * valid  # (B, K, h, w)
    mass = weight.sum(dim=(2, 3))  # (B, K)
    present = mass > 0  # (B, K)
    if not present.any():  # no class in the batch: a zero that keeps both inputs (and so the learned context) in
        return (pixel_embeddings * 0.0).sum() + (text_features * 0.0).sum()  # the graph, as DDP requires
    anchors = torch.einsum("bkhw,bdhw->bkd", weight, pixel_embeddings.float()) / mass.clamp(min=1e-6)[..., None]
    anchors = F.normalize(anchors[present], dim=-1)  # (n_pairs, D): the present (image, class) pairs
    t = F.normalize(text_features.float(), dim=-1)  # (K, D)
    logits = anchors @ t.t() / temperature  # (n_pairs, K)
    target = present.nonzero()[:, 1]  # (n_pairs,) the class of each anchor
    return F.cross_entropy(logits, target)


class AlignmentLosses(nn.Module):
    """`loss_t2p` (FGAseg) and `loss_contrast` (MTA-CLIP) as named unweighted terms, and their `weight_dict`.
    Each term is present only when the model returns its head's output (`t2p_logits`, `pixel_embeddings`), also
    with weight 0 (a zero-weighted term keeps its head in the graph, as DDP requires)."""

    def __init__(self, t2p_weight=0.0, contrast_weight=0.0, temperature=0.07):
        super().__init__()
        self.temperature = temperature
        self.weight_dict = {"loss_t2p": float(t2p_weight), "loss_contrast": float(contrast_weight)}

    def forward(self, outputs, edges, ignore=None):
        terms = {}
        if "t2p_logits" in outputs:  # the model has a text-pixel head (ModelConfig.t2p_head)
            terms["loss_t2p"] = text_pixel_loss(outputs["t2p_logits"], edges, ignore)
        if "pixel_embeddings" in outputs:  # the model has a pixel-embedding head (ModelConfig.embed_head)
            text = outputs.get("contrast_text_features", outputs["text_features"])  # (K, D)
            terms["loss_contrast"] = mask_text_contrast(outputs["pixel_embeddings"], text, edges, ignore,
                                                        self.temperature)
        return terms
