"""Multi-label edge losses (paper Sec. 4.1.2).

The paper trains its per-class edge maps with the multi-label loss of CASENet
[Yu et al., CVPR 2017]; this file holds that loss, the plain multi-label binary
cross-entropy and DFF's variant [Hu et al., AAAI 2019] for comparison, and the
deep-supervision total over the final and side logits.

Conventions (shared by every loss here):
- inputs are LOGITS, never probabilities: every term goes through
  `binary_cross_entropy_with_logits` (log-sum-exp / softplus form), computed in
  fp32 even under fp16/bf16 autocast, so no sigmoid-then-log underflow;
- `edges` [B,K,H,W] (bool/uint8/float in {0,1}), `ignore` [B,H,W] bool or None:
  ignored pixels contribute nothing, to the loss or to the class-balance counts;
- `EdgeCriterion.forward` returns UNWEIGHTED named terms; the weights live in one
  place, `criterion.weight_dict` (DETR's SetCriterion), and train.py computes
  `loss = sum(criterion.weight_dict[k] * v for k, v in terms.items())`.

Normalisation (stated because the paper does not): CASENet's Caffe layer sums the
weighted loss over pixels and classes and divides by the batch size only
(`reduction="batch"`, its default), which makes the loss O(H*W*K) and is why
CASENet trains with lr ~1e-7 under SGD; `reduction="mean"` divides by the number
of valid entries (B*K*valid pixels) instead, a scale that suits Adam and the
usual learning rates. `bce` and `dff` always use the mean, as DFF does.

Alignment terms from related CLIP papers (issue 7, off by default): `loss_t2p`, FGAseg's text-pixel
alignment loss on the model's `t2p_logits`, and `loss_contrast`, MTA-CLIP's mask-to-text contrastive loss
on its `pixel_embeddings`; both compare with the ground-truth edges pooled to the feature resolution.

Extending: a new term is a method `loss_<name>(outputs, edges, ignore) -> Tensor`
listed in `self.losses` and given a weight in `self.weight_dict` (see
`EdgeCriterion.get_loss`), exactly like DETR's `get_loss` dispatch.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EDGE_LOSSES = ("reweighted", "bce", "dff")
REDUCTIONS = ("batch", "mean")


def _prepare(logits, edges, ignore):
    """Common checks and casts: fp32 logits, float targets, a [B,1,H,W] valid mask."""
    B, K, H, W = logits.shape
    if edges.shape[0] != B or edges.shape[2:] != (H, W) or edges.shape[1] not in (1, K):
        raise ValueError(f"losses.py: edges {tuple(edges.shape)} do not fit logits {tuple(logits.shape)}; "
                         "the decoder must return logits at the input size [B,K,H,W]")
    x = logits.float()  # (B, K, H, W), fp32 even under autocast
    y = edges.to(device=x.device, dtype=torch.float32)  # (B, K, H, W)
    if ignore is None:
        valid = torch.ones(B, 1, H, W, device=x.device)
    else:
        valid = (~ignore.to(device=x.device, dtype=torch.bool)).float().unsqueeze(1)  # (B, 1, H, W)
    return x, y, valid


def reweighted_bce(logits, edges, ignore=None, reduction="batch"):
    """CASENet's multi-label reweighted sigmoid cross-entropy.

    Per image, beta = |non-edge pixels| / |valid pixels|, where a pixel is an edge if
    ANY class is on there (class-agnostic: one beta for every class channel):
      L = - sum_{k,p valid} [ beta * y log s(x) + (1 - beta) * (1 - y) log(1 - s(x)) ]
    divided by B ("batch", CASENet) or by the number of valid entries ("mean").
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"losses.py: unknown reduction {reduction!r}; valid: {REDUCTIONS}")
    x, y, valid = _prepare(logits, edges, ignore)
    B, K = x.shape[:2]
    any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid  # (B, 1, H, W)
    n_valid = valid.sum(dim=(1, 2, 3)).clamp(min=1)  # (B,)
    beta = (1 - any_edge.sum(dim=(1, 2, 3)) / n_valid).view(B, 1, 1, 1)  # (B,1,1,1) fraction of non-edges
    weight = (beta * y + (1 - beta) * (1 - y)) * valid  # (B, K, H, W)
    loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
    if reduction == "batch":
        return loss / B
    return loss / (valid.sum() * K).clamp(min=1)


def plain_bce(logits, edges, ignore=None):
    """Unweighted multi-label BCE, mean over the valid entries (B*K*valid pixels)."""
    x, y, valid = _prepare(logits, edges, ignore)
    K = x.shape[1]
    loss = F.binary_cross_entropy_with_logits(x, y, weight=valid.expand_as(x), reduction="sum")
    return loss / (valid.sum() * K).clamp(min=1)


def dff_bce(logits, edges, ignore=None):
    """DFF's weighted multi-label BCE: per image, positives weighted by
    max(#negatives / #positives, 1) (counted over all K channels of the valid pixels),
    negatives by 1; mean over the valid entries."""
    x, y, valid = _prepare(logits, edges, ignore)
    B, K = x.shape[:2]
    pos = (y * valid).sum(dim=(1, 2, 3))  # (B,)
    neg = ((1 - y) * valid).sum(dim=(1, 2, 3))  # (B,)
    w_pos = (neg / pos.clamp(min=1)).clamp(min=1).view(B, 1, 1, 1)  # (B,1,1,1)
    weight = (w_pos * y + (1 - y)) * valid  # (B, K, H, W)
    loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
    return loss / (valid.sum() * K).clamp(min=1)


# ---------------------------------------------------------------- alignment losses from related CLIP papers (issue 7)

def pool_to(edges, ignore, size):
    """Edge maps [B,K,H,W] and ignore [B,H,W] -> at a feature size (h, w): the max-pooled edges (a cell is an edge of
    k if any of its pixels is) [B,K,h,w], the edge fraction per cell [B,K,h,w], and the valid cells [B,1,h,w]
    (a cell is ignored only if all of its pixels are)."""
    y = edges.float()  # (B, K, H, W)
    if ignore is not None:
        valid = (~ignore.bool()).float().unsqueeze(1)  # (B, 1, H, W)
        y = y * valid
        valid = F.adaptive_max_pool2d(valid, size)  # (B, 1, h, w)
    else:
        valid = y.new_ones(y.shape[0], 1, *size)
    return F.adaptive_max_pool2d(y, size), F.adaptive_avg_pool2d(y, size), valid


def text_pixel_loss(t2p_logits, edges, ignore=None):
    """FGAseg's text-pixel alignment loss (T2P), adapted for edges: MSE between sigmoid(m_k) [B,K,h,w] (fusion.py
    TextPixelHead) and the max-pooled edge map of class k at that resolution, mean over valid cells and classes.
    FGAseg compares its alignment maps with the masks; the sigmoid keeps our maps in the target's range [0, 1]."""
    B, K, h, w = t2p_logits.shape
    target, _, valid = pool_to(edges, ignore, (h, w))  # (B, K, h, w), (B, 1, h, w)
    err = (torch.sigmoid(t2p_logits.float()) - target) ** 2 * valid  # (B, K, h, w)
    return err.sum() / (valid.sum() * K).clamp(min=1)


def mask_text_contrast(pixel_embeddings, text_features, edges, ignore=None, temperature=0.07):
    """Mask-to-text contrastive loss (MTA-CLIP, ECCV 2024, Mask-to-Text Contrastive Learning L_sim; CA-CL's
    image-text contrast), adapted for edges: for every class k present in image b, the anchor is the pixel
    embedding [B,D,h,w] averaged over k's ground-truth EDGE region (edge fraction per cell as weight) instead of a
    mask; its own class text f_T[k] is the positive, the other K-1 classes the negatives (InfoNCE, cosine / tau):
      L = - mean_{(b,k) present} log( exp(cos(a_bk, t_k)/tau) / sum_j exp(cos(a_bk, t_j)/tau) )."""
    B, D, h, w = pixel_embeddings.shape
    _, weight, valid = pool_to(edges, ignore, (h, w))  # (B, K, h, w) edge fraction, (B, 1, h, w)
    weight = weight * valid  # (B, K, h, w)
    mass = weight.sum(dim=(2, 3))  # (B, K)
    present = mass > 0  # (B, K)
    if not present.any():  # no class in the batch: a zero that keeps both inputs (and so the learned context) in
        return (pixel_embeddings * 0.0).sum() + (text_features * 0.0).sum()  # the graph, as DDP requires
    anchors = torch.einsum("bkhw,bdhw->bkd", weight, pixel_embeddings.float()) / mass.clamp(min=1e-6)[..., None]
    anchors = F.normalize(anchors[present], dim=-1)  # (P, D), P present (image, class) pairs
    t = F.normalize(text_features.float(), dim=-1)  # (K, D)
    logits = anchors @ t.t() / temperature  # (P, K)
    target = present.nonzero()[:, 1]  # (P,) the class of each anchor
    return F.cross_entropy(logits, target)


class EdgeCriterion(nn.Module):
    """Total loss of the edge model, as named unweighted terms plus `weight_dict`.

    loss: "reweighted" (CASENet, the paper's), "bce" or "dff" — applied to the final
      logits and to every side output.
    side_weight: weight of `loss_side`, the SUM of the loss over the side logits
      (deep supervision, CASENet/DFF); the term is absent when the model has none.
      A side output with one channel (CASENet's class-agnostic sides 1-3) is
      supervised with the class-agnostic edge map (any class on).
    t2p_weight / contrast_weight: weights of `loss_t2p` (FGAseg) and `loss_contrast` (MTA-CLIP), issue 7;
      each term is present only when the model returns its head's output (`t2p_logits`, `pixel_embeddings`).
    """

    def __init__(self, loss="reweighted", side_weight=1.0, edge_weight=1.0, reduction="batch",
                 t2p_weight=0.0, contrast_weight=0.0, temperature=0.07):
        super().__init__()
        if loss not in EDGE_LOSSES:
            raise ValueError(f"losses.py: unknown loss {loss!r}; valid: {EDGE_LOSSES}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"losses.py: unknown reduction {reduction!r}; valid: {REDUCTIONS}")
        self.loss = loss
        self.reduction = reduction
        self.temperature = temperature
        self.losses = ["loss_edge", "loss_side", "loss_t2p", "loss_contrast"]  # in this order; add new terms here
        self.weight_dict = {"loss_edge": float(edge_weight), "loss_side": float(side_weight),
                            "loss_t2p": float(t2p_weight), "loss_contrast": float(contrast_weight)}

    def edge_loss(self, logits, edges, ignore):
        """The chosen multi-label loss on one logit map [B,K,H,W] (or [B,1,H,W])."""
        if logits.shape[1] == 1 and edges.shape[1] > 1:
            edges = edges.amax(dim=1, keepdim=True)  # (B, 1, H, W) class-agnostic target
        if self.loss == "reweighted":
            return reweighted_bce(logits, edges, ignore, self.reduction)
        if self.loss == "bce":
            return plain_bce(logits, edges, ignore)
        return dff_bce(logits, edges, ignore)

    def loss_edge(self, outputs, edges, ignore):
        return self.edge_loss(outputs["logits"], edges, ignore)

    def loss_side(self, outputs, edges, ignore):
        side = outputs.get("side_logits") or []
        if len(side) == 0:
            return None  # no deep supervision: the term is left out
        return sum(self.edge_loss(s, edges, ignore) for s in side)

    def loss_t2p(self, outputs, edges, ignore):
        if "t2p_logits" not in outputs:
            return None  # the model has no text-pixel head (ModelConfig.t2p_head)
        return text_pixel_loss(outputs["t2p_logits"], edges, ignore)

    def loss_contrast(self, outputs, edges, ignore):
        if "pixel_embeddings" not in outputs:
            return None  # the model has no pixel-embedding head (ModelConfig.embed_head)
        text = outputs.get("contrast_text_features", outputs["text_features"])  # (K, D)
        return mask_text_contrast(outputs["pixel_embeddings"], text, edges, ignore, self.temperature)

    def get_loss(self, name, outputs, edges, ignore):
        loss_map = {"loss_edge": self.loss_edge, "loss_side": self.loss_side, "loss_t2p": self.loss_t2p,
                    "loss_contrast": self.loss_contrast}
        if name not in loss_map:
            raise ValueError(f"losses.py: unknown loss term {name!r}; valid: {list(loss_map)}")
        return loss_map[name](outputs, edges, ignore)

    def forward(self, outputs, edges, ignore=None):
        """outputs: the model's dict (`logits` [B,K,H,W], optional `side_logits` list);
        edges [B,K,H,W]; ignore [B,H,W] bool or None -> dict of unweighted terms."""
        terms = {}
        for name in self.losses:
            value = self.get_loss(name, outputs, edges, ignore)
            if value is not None:
                terms[name] = value
        return terms
