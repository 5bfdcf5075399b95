"""Training-time validation: a fast APPROXIMATE edge F-score (not the benchmark of paper Sec. 4.1.3).

The exact benchmark (metrics.py: thinning, one-to-one matching, 99 thresholds) takes seconds per
image on a CPU core; to pick checkpoints during training, `validate` scores the validation split
with `ApproxEdgeF`, a batched torch approximation on the model's device (our choice, not the
paper's: the paper does not say how it selects checkpoints). The numbers it prints are for
ranking the checkpoints of one run, never for a results table: evaluate.py gives the exact ODS.
"""
import math

import torch
import torch.nn.functional as F

from edgedata.labels import disc_offsets
from scoring.counts import f_measure, recall_precision, thresholds_for
from util.inference import predict


class ApproxEdgeF:
    """Fast APPROXIMATE edge F-score for training-time validation — NOT the benchmark.

    Batched torch, on the model's device: a predicted pixel (>= t) is correct if a GT
    pixel lies within max_dist * diagonal of it, a GT pixel is recalled if a predicted
    pixel lies within that radius; no thinning, no one-to-one matching, best threshold
    of the dataset-summed counts without interpolation. update(pred (B, K, H, W) prob,
    gt (B, K, H, W) bool, ignore (B, H, W) bool or None); compute() -> {"mean_F", "F", ...}.

    Gap to the exact metric, measured by bench/bench_metrics.py (20 synthetic SBD-like
    320x480 images, 20 classes, blurred shifted GT plus false strokes, sbd protocol):
    mean F 0.641 here vs exact mean ODS 0.664, a gap of -0.023 (the sign and size depend
    on the predictions: the tolerance disc admits more pixels, the lack of one-to-one
    matching and of thinning lets thick or doubled edges through). Thick or doubled
    predictions are not punished here (no thinning, many-to-one), so this number is
    optimistic; use it to rank checkpoints of one run, never as a result.
    """

    def __init__(self, num_classes, max_dist=0.02, nthresh=99):
        self.num_classes = num_classes
        self.max_dist = max_dist
        self.thresholds_np = thresholds_for(nthresh)
        self.counts = None  # (K, 4, n_t) int64 on the data's device: rows CNT_R, SUM_R, CNT_P, SUM_P

    @staticmethod
    def _disc_max(x, radius):
        """Max of x (N, C, H, W) (>= 0, zero outside) over the disc of `radius` (edgedata.labels.disc_offsets):
        row maxima of growing half-width w (each from the previous by a +-1 shift), then for every
        row offset dy the row maximum of the disc's half-width at dy, shifted by dy."""
        dy_all, dx_all = disc_offsets(radius)
        R = int(dy_all.max())
        half = [int(dx_all[dy_all == dy].max()) for dy in range(R + 1)]  # the disc's half-width per row offset
        H, W = x.shape[-2:]
        rows = [x]  # rows[w]: max over [j-w, j+w] along W
        for w in range(1, half[0] + 1):
            p = F.pad(rows[-1], (1, 1))
            m = torch.maximum(p[..., :-2], p[..., 2:])
            rows.append(torch.maximum(m, x) if w == 1 else m)
        out = rows[half[0]].clone()
        for dy in range(1, R + 1):
            p = F.pad(rows[half[dy]], (0, 0, dy, dy))  # (N, C, H + 2dy, W)
            out = torch.maximum(out, torch.maximum(p[..., :H, :], p[..., 2 * dy:, :]))
        return out

    def update(self, pred, gt, ignore=None):
        B, K, H, W = pred.shape
        T = len(self.thresholds_np)  # n_t
        radius = self.max_dist * math.sqrt(H * H + W * W)
        with torch.no_grad():
            pred = pred.detach().float()  # (B, K, H, W)
            gt = gt.to(pred.device).bool()  # (B, K, H, W)
            if ignore is not None:
                valid = ~ignore.to(pred.device).bool()[:, None]  # (B, 1, H, W)
                pred, gt = pred * valid, gt & valid
            thr = torch.as_tensor(self.thresholds_np, dtype=torch.float32, device=pred.device)
            near_gt = self._disc_max(gt.float(), radius) > 0  # (B, K, H, W)
            near_pred = self._disc_max(pred, radius)  # (B, K, H, W) best prob within the radius
            level = torch.bucketize(pred, thr, right=True)  # (B, K, H, W) thresholds <= value
            level_near = torch.bucketize(near_pred, thr, right=True)
            cls = torch.arange(K, device=pred.device).view(1, K, 1, 1) * (T + 1)

            def hist(lv, mask):  # (K, n_t): count of masked pixels with value >= each threshold
                h = torch.bincount((lv + cls)[mask], minlength=K * (T + 1)).view(K, T + 1)
                return h.flip(1).cumsum(1).flip(1)[:, 1:]

            counts = torch.stack([hist(level_near, gt),                          # CNT_R
                                  gt.sum(dim=(0, 2, 3))[:, None].expand(K, T),   # SUM_R
                                  hist(level, near_gt),                          # CNT_P
                                  hist(level, torch.ones_like(gt))], dim=1)      # SUM_P: (K, 4, n_t)
        self.counts = counts if self.counts is None else self.counts + counts

    def compute(self):
        if self.counts is None:
            raise RuntimeError("scoring/validation.py: ApproxEdgeF.compute() before any update()")
        F_t = f_measure(*recall_precision(self.counts.double().cpu().numpy()))  # (K, n_t)
        best = F_t.argmax(axis=1)
        return {"mean_F": float(F_t.max(axis=1).mean()), "F": F_t.max(axis=1).tolist(),
                "threshold": self.thresholds_np[best].tolist(),
                "note": "approximate (dilation, no thinning, many-to-one): not the benchmark"}


@torch.no_grad()
def validate(model, loader, device, amp_dtype, num_classes, max_dist, window):
    """Training-time validation with ApproxEdgeF (fast; the exact ODS is evaluate.py's job).
    loader yields {"image" (B, 3, H, W), "edges" (B, K, H, W), "ignore" (B, H, W)}; returns compute()'s dict."""
    model.eval()
    meter = ApproxEdgeF(num_classes, max_dist=max_dist)
    for batch in loader:
        probs = predict(model, batch["image"].to(device), amp_dtype, window)  # (B, K, H, W)
        meter.update(probs, batch["edges"].to(device).bool(), batch["ignore"].to(device).bool())
    model.train()
    return meter.compute()
