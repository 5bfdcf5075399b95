"""Multi-label edge losses for the per-class edge maps P (our choice: the paper names no loss).

The paper names no loss. We use CASENet's multi-label reweighted loss [Yu et al., CVPR 2017], the one CASENet,
SEAL and DFF train with: our choice, not the paper's. The file also holds the plain multi-label binary
cross-entropy and DFF's variant [Hu et al., AAAI 2019] for comparison, and the deep-supervision total over the
final and side logits.

Conventions (shared by every loss here; symbols as in model.py):
- inputs are LOGITS, never probabilities: every term goes through
  `binary_cross_entropy_with_logits` (log-sum-exp / softplus form), computed in
  fp32 even under fp16/bf16 autocast, so no sigmoid-then-log underflow;
- `edges` (B, K, H, W) (bool/uint8/float in {0,1}), `ignore` (B, H, W) bool or None:
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

Beyond the paper (off by default): the alignment terms of related CLIP papers are in related/losses.py;
EdgeCriterion(extra_terms=related.losses.AlignmentLosses(...)) merges their terms and weights.

Reading order (README "Reading order"): 6 of 12; next: datasets.py (the data).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EDGE_LOSSES = ("reweighted", "bce", "dff")
REDUCTIONS = ("batch", "mean")


def _prepare(logits, edges, ignore):
    """Common checks and casts: fp32 logits, float targets, a (B, 1, H, W) valid mask."""
    B, K, H, W = logits.shape
    if edges.shape[0] != B or edges.shape[2:] != (H, W) or edges.shape[1] not in (1, K):
        raise ValueError(f"losses.py: edges {tuple(edges.shape)} do not fit logits {tuple(logits.shape)}; "
                         "the decoder must return logits at the input size (B, K, H, W)")
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
    # >>> assignment loss
    x, y, valid = _prepare(logits, edges, ignore)
    B, K = x.shape[:2]
    any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid  # (B, 1, H, W)
    n_valid = valid.sum(dim=(1, 2, 3)).clamp(min=1)  # (B,)
    beta = (1 - any_edge.sum(dim=(1, 2, 3)) / n_valid).view(B, 1, 1, 1)  # (B, 1, 1, 1) fraction of non-edges
    weight = (beta * y + (1 - beta) * (1 - y)) * valid  # (B, K, H, W)
    loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
    if reduction == "batch":
        return loss / B
    return loss / (valid.sum() * K).clamp(min=1)
    # <<< assignment loss


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
    w_pos = (neg / pos.clamp(min=1)).clamp(min=1).view(B, 1, 1, 1)  # (B, 1, 1, 1)
    weight = (w_pos * y + (1 - y)) * valid  # (B, K, H, W)
    loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
    return loss / (valid.sum() * K).clamp(min=1)


class EdgeCriterion(nn.Module):
    """Total loss of the edge model, as named unweighted terms plus `weight_dict`.

    loss: "reweighted" (CASENet's; our choice, see the docstring), "bce" or "dff" — applied to the final
      logits (`loss_edge`) and to every side output (`loss_side`).
    side_weight: weight of `loss_side`, the SUM of the loss over the side logits
      (deep supervision, CASENet/DFF); the term is absent when the model has none.
      A side output with one channel (CASENet's class-agnostic sides 1-3) is
      supervised with the class-agnostic edge map (a pixel is an edge if any class is on).
    extra_terms: beyond the paper (off by default): a module with `weight_dict` whose forward(outputs, edges,
      ignore) returns more named terms (related.losses.AlignmentLosses); its terms follow the paper's and its
      weights join `weight_dict`.
    """

    def __init__(self, loss="reweighted", side_weight=1.0, edge_weight=1.0, reduction="batch", extra_terms=None):
        super().__init__()
        if loss not in EDGE_LOSSES:
            raise ValueError(f"losses.py: unknown loss {loss!r}; valid: {EDGE_LOSSES}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"losses.py: unknown reduction {reduction!r}; valid: {REDUCTIONS}")
        self.loss = loss
        self.reduction = reduction
        self.extra_terms = extra_terms
        self.weight_dict = {"loss_edge": float(edge_weight), "loss_side": float(side_weight)}
        if extra_terms is not None:
            self.weight_dict.update(extra_terms.weight_dict)

    def edge_loss(self, logits, edges, ignore):
        """The chosen multi-label loss on one logit map (B, K, H, W) (or (B, 1, H, W): class-agnostic)."""
        if logits.shape[1] == 1 and edges.shape[1] > 1:
            edges = edges.amax(dim=1, keepdim=True)  # (B, 1, H, W): an edge of any class
        if self.loss == "reweighted":
            return reweighted_bce(logits, edges, ignore, self.reduction)
        if self.loss == "bce":
            return plain_bce(logits, edges, ignore)
        return dff_bce(logits, edges, ignore)

    def forward(self, outputs, edges, ignore=None):
        """outputs: the model's dict (`logits` (B, K, H, W), `side_logits` list); edges (B, K, H, W);
        ignore (B, H, W) bool or None -> dict of unweighted terms."""
        terms = {"loss_edge": self.edge_loss(outputs["logits"], edges, ignore)}
        side = outputs.get("side_logits") or []
        if len(side) > 0:  # deep supervision; without side outputs the term is left out
            terms["loss_side"] = sum(self.edge_loss(s, edges, ignore) for s in side)
        if self.extra_terms is not None:
            terms.update(self.extra_terms(outputs, edges, ignore))
        return terms
