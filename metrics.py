"""The semantic edge benchmark: ODS / OIS / AP per class (paper Sec. 4.1.3).

Exact re-implementation, in numpy, of the SBD / SEAL benchmark that the paper
(and CASENet, SEAL, DFF) report, plus a fast dilation-based approximation for
training-time validation. References read for the definitions (no code copied):
SEAL's `evaluate_bdry.m` / BSDS `collect_eval_bdry.m` (thresholds, counts, ODS,
OIS, AP), BSDS `correspondPixels` (match.cc: `maxDist * diagonal`, `d <= maxDist`),
MATLAB `bwmorph(b, 'thin', Inf)` (Lam, Lee and Suen 1992, two subiterations, as
scikit-image's `thin`), the original SBD benchmark (`kill_internal_bdries`) and
pyEdgeEval (its Python port) for the presets.

Per class and per image, for each threshold t of `linspace(1/(n+1), 1-1/(n+1), n)`
(n = 99: 0.01 ... 0.99):
  1. B_t = pred >= t, thinned to one pixel (`thin` mode, MATLAB's bwmorph thin);
  2. edge pixels of B_t and of the GT are matched one-to-one when their Euclidean
     distance is <= max_dist * diagonal; cntR = cntP = the MAXIMUM matching size
     (correspondPixels' min-cost assignment with expensive outliers reaches this
     count up to its random tie-breaking), sumR = |GT|, sumP = |B_t|.
Dataset level (collect_eval_bdry): R = sum cntR / sum sumR, P = sum cntP / sum sumP,
F = 2PR/(P+R); ODS = best F over thresholds with linear interpolation between
neighbouring thresholds (100 steps, as `maxF`), OIS = counts of each image's best
threshold (first argmax of its F; for an image without the class every F is 0, so its
lowest threshold and all its false positives are taken, exactly as collect_eval_bdry
does, which is why OIS can sit far below ODS under the SEAL protocol) summed, AP = mean precision interpolated at
recall 0:0.01:1 (zero outside the measured recall range), the BSDS "Area_PR".

Speed, exactness kept: thinning runs on all thresholds of a class at once, touching
only pixels whose neighbourhood changed (`_thin_flat`); matching (`_ClassMatcher`)
builds the candidate edges once per class for every pixel that ever appears, warm-
starts each threshold from the previous threshold's matching, fills it greedily
(nearest pairs first, vectorised proposal rounds) and then augments along
alternating paths found by a vectorised multi-source BFS until none exists (Berge:
the matching is then maximum). Pixels farther than the tolerance from every GT
pixel are never matched and are only counted. Maps equal to the previous
threshold's map are not recomputed.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

# ----------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class Protocol:
    name: str
    margin: int = 5            # pixels cropped from every side of prediction and GT (SEAL)
    max_dist: float = 0.02     # matching tolerance, as a fraction of the (cropped) image diagonal
    gt_scale: float = 1.0      # GT resolution relative to the image (Cityscapes: 0.5)
    mode: str = "thin"         # "thin": thin the thresholded prediction; "raw": use it as is
    thin_gt: bool = False      # thin the GT too (Cityscapes GT is thinned by SEAL; SBD GT is used as given)
    kill_internal: bool = False  # sbd-original: drop predictions inside the GT segment far from its edges
    skip_absent: bool = False    # sbd-original: images without the class are not evaluated for it
    nthresh: int = 99


PRESETS = {
    "sbd": Protocol("sbd", margin=5, max_dist=0.02),
    "sbd-reanno": Protocol("sbd-reanno", margin=5, max_dist=0.0075),
    "sbd-original": Protocol("sbd-original", margin=5, max_dist=0.02, kill_internal=True, skip_absent=True),
    "cityscapes": Protocol("cityscapes", margin=0, max_dist=0.0035, gt_scale=0.5, thin_gt=True),
}


def get_protocol(preset):
    if isinstance(preset, Protocol):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"metrics.py: unknown preset {preset!r}; valid: {list(PRESETS)}")
    return PRESETS[preset]


def thresholds_for(n):
    return np.linspace(1.0 / (n + 1), 1.0 - 1.0 / (n + 1), n)  # SEAL: 99 -> 0.01 ... 0.99

# ----------------------------------------------------------------------------- thinning


def _thin_lut(second):
    """Deletion table of Lam-Lee-Suen's subiteration 1 (G1, G2, G3) or 2 (G1, G2, G3').
    Bit i-1 of the index is neighbour x_i: x1 = E, x2 = NE, x3 = N, ... x8 = SE."""
    lut = np.zeros(256, dtype=bool)
    for code in range(256):
        x = [(code >> i) & 1 for i in range(8)] + [code & 1]  # x[0..7] = x1..x8, x[8] = x9 = x1
        x_h = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))  # G1: X_H(p) = 1
        n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
        n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))  # G2: 2 <= min(n1, n2) <= 3
        if second:
            g3 = ((x[5] | x[6] | (1 - x[3])) & x[4]) == 0  # G3': (x6 | x7 | ~x4) & x5 = 0
        else:
            g3 = ((x[1] | x[2] | (1 - x[7])) & x[0]) == 0  # G3: (x2 | x3 | ~x8) & x1 = 0
        lut[code] = x_h == 1 and 2 <= min(n1, n2) <= 3 and g3
    return lut


THIN_LUTS = (_thin_lut(False), _thin_lut(True))
NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # x1..x8 as (dy, dx)


def _run_starts(x):
    """Bool mask of the first element of each run of equal values in `x` (sorted: of each value)."""
    first = np.empty(x.size, dtype=bool)
    first[:1] = True
    np.not_equal(x[1:], x[:-1], out=first[1:])
    return first


def _unique_sorted(x):
    """Sorted unique values (sort-based; numpy's hash-based np.unique is slower here)."""
    x = np.sort(x)
    return x[_run_starts(x)]


def _thin_flat(img, width, fg=None):
    """Thin, in place, a flat uint8 array of maps that each carry a zero frame of one
    pixel (rows of `width`); `fg` = the indices of its foreground pixels, if known.
    Same result as running both subiterations over whole maps until nothing changes,
    but each subiteration tests only the pixels whose neighbourhood changed since they
    were last tested with that subiteration's table."""
    nbr = np.array([dy * width + dx for dy, dx in NEIGHBOURS])  # x1..x8 as flat offsets
    fg = np.flatnonzero(img) if fg is None else fg
    dirty, sub = [fg, fg], 0  # pixels to test with the table of subiteration 1 / 2
    while dirty[0].size or dirty[1].size:
        cand = dirty[sub]
        cand = cand[img[cand] == 1]
        code = np.zeros(cand.size, dtype=np.uint8)
        for bit in range(8):
            code |= img[cand + nbr[bit]] << bit
        dead = cand[THIN_LUTS[sub][code]]
        img[dead] = 0  # simultaneous deletion within a subiteration
        dirty[sub] = cand[:0]
        if dead.size:
            touched = (dead[:, None] + nbr[None, :]).ravel()
            touched = _unique_sorted(touched[img[touched] == 1])
            dirty = [touched if d.size == 0 else _unique_sorted(np.concatenate([d, touched])) for d in dirty]
        sub = 1 - sub
    return img


def thin(binary):
    """MATLAB's bwmorph(binary, 'thin', Inf) on a 2-D bool numpy array -> 2-D bool array."""
    binary = np.asarray(binary, dtype=bool)
    if binary.ndim != 2:
        raise ValueError(f"metrics.thin: expects a 2-D array, got shape {binary.shape}")
    H, W = binary.shape
    img = np.zeros((H + 2, W + 2), dtype=np.uint8)
    img[1:-1, 1:-1] = binary
    return _thin_flat(img.ravel(), W + 2).reshape(H + 2, W + 2)[1:-1, 1:-1].astype(bool)


def thin_torch(binary, max_iter=1000):
    """Batched dense thinning on any device: binary [N,H,W] bool tensor -> [N,H,W] bool.
    Same algorithm and result as `thin` for each map."""
    import torch
    import torch.nn.functional as F
    luts = [torch.as_tensor(lut, device=binary.device) for lut in THIN_LUTS]
    img = binary.bool().clone()  # (N, H, W)
    N, H, W = img.shape
    for _ in range(max_iter):
        before = img.sum()
        for lut in luts:
            p = F.pad(img.to(torch.uint8), (1, 1, 1, 1))  # (N, H+2, W+2)
            code = torch.zeros(N, H, W, dtype=torch.long, device=img.device)
            for bit, (dy, dx) in enumerate(NEIGHBOURS):
                code |= p[:, 1 + dy:1 + dy + H, 1 + dx:1 + dx + W].long() << bit
            img &= ~lut[code]
        if img.sum() == before:
            break
    return img

# ----------------------------------------------------------------------------- matching


def disk_offsets(radius, width):
    """Flat offsets (in rows of `width`) and squared lengths of all (dy, dx) with
    dy^2 + dx^2 <= radius^2, nearest first."""
    R = int(math.floor(radius))
    dy, dx = np.mgrid[-R:R + 1, -R:R + 1]
    d2 = (dy * dy + dx * dx).ravel()
    keep = d2 <= radius * radius
    order = np.argsort(d2[keep], kind="stable")
    return (dy.ravel() * width + dx.ravel())[keep][order], d2[keep][order]


def _edges_of(indptr, rows):
    """CSR edge indices of `rows`: (position of the row in `rows` per edge, edge index)."""
    start, count = indptr[rows], indptr[rows + 1] - indptr[rows]
    rep = np.repeat(np.arange(rows.size), count)
    eidx = np.arange(count.sum()) + np.repeat(start - (np.cumsum(count) - count), count)
    return rep, eidx


class _ClassMatcher:
    """Maximum one-to-one matching between the GT of one class and the predicted maps of
    all its thresholds. Coordinates are flat indices into the map padded by R pixels,
    so that neighbour look-ups never leave the array."""

    def __init__(self, gt, radius):
        H, W = gt.shape
        self.R = R = int(math.floor(radius))
        self.Wp = W + 2 * R
        self.offs, self.offd2 = disk_offsets(radius, self.Wp)
        gy, gx = np.nonzero(gt)
        self.gpos = (gy + R) * self.Wp + (gx + R)  # (nG,)
        self.gt_id = np.full((H + 2 * R) * self.Wp, -1, dtype=np.int32)
        self.gt_id[self.gpos] = np.arange(self.gpos.size, dtype=np.int32)
        self.near = np.zeros(self.gt_id.size, dtype=bool)  # within the tolerance of some GT pixel
        for chunk in np.array_split(self.gpos, max(1, self.gpos.size // 4096)):
            self.near[(chunk[:, None] + self.offs[None, :]).ravel()] = True

    def to_flat(self, ys, xs):
        return (ys + self.R) * self.Wp + (xs + self.R)

    def prepare(self, all_pos):
        """Candidate edges (CSR, nearest first per row) for every pixel that is near the GT
        in at least one threshold's map."""
        self.U = U = _unique_sorted(all_pos[self.near[all_pos]])
        rows, gts, d2s = [], [], []
        for chunk in np.array_split(np.arange(U.size), max(1, U.size // 2048)):
            cand = self.gt_id[U[chunk][:, None] + self.offs[None, :]]  # (n, nOff)
            r, c = np.nonzero(cand >= 0)
            rows.append(chunk[r]), gts.append(cand[r, c]), d2s.append(self.offd2[c])
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        self.eg = np.concatenate(gts) if gts else np.zeros(0, np.int32)
        self.ed2 = np.concatenate(d2s) if d2s else np.zeros(0, np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=U.size))])
        self.mate_u = np.full(U.size, -1, dtype=np.int64)  # warm start carried across thresholds
        self.mate_g = np.full(self.gpos.size, -1, dtype=np.int64)

    def count(self, pos):
        """Maximum matching size between the GT and the predicted pixels `pos` (sorted flat)."""
        pos = pos[self.near[pos]]
        nodes = np.searchsorted(self.U, pos)
        present = np.zeros(self.U.size, dtype=bool)
        present[nodes] = True
        gone = np.flatnonzero(~present & (self.mate_u >= 0))  # pixels of the previous map that vanished
        self.mate_g[self.mate_u[gone]] = -1
        self.mate_u[gone] = -1
        self._greedy(nodes)
        self._augment(nodes)
        return int((self.mate_u[nodes] >= 0).sum())

    def _greedy(self, nodes):
        """Each free pixel proposes to its nearest free GT pixel; each GT pixel accepts the
        nearest proposer; repeat. Ends with a maximal (not yet maximum) matching."""
        free = nodes[self.mate_u[nodes] < 0]
        while free.size:
            rep, e = _edges_of(self.indptr, free)
            g = self.eg[e]
            ok = self.mate_g[g] < 0
            if not ok.any():
                return
            rep, e, g = rep[ok], e[ok], g[ok]
            first = np.flatnonzero(_run_starts(rep))  # nearest free GT per pixel (rep is sorted)
            pu, pg, pd = free[rep[first]], g[first], self.ed2[e[first]]  # pu: the proposing pixels
            order = np.lexsort((pu, pd, pg))
            win = order[_run_starts(pg[order])]  # nearest proposer per GT pixel
            self.mate_u[pu[win]] = pg[win]
            self.mate_g[pg[win]] = pu[win]
            free = pu[self.mate_u[pu] < 0]

    def _augment(self, nodes):
        """Augment along vertex-disjoint alternating paths from a multi-source BFS forest
        rooted at the free pixels, until no free GT pixel is reachable (then maximum)."""
        while True:
            roots = nodes[self.mate_u[nodes] < 0]
            roots = roots[self.indptr[roots + 1] > self.indptr[roots]]
            if roots.size == 0 or (self.mate_g >= 0).all():
                return
            parent = np.full(self.mate_g.size, -1, dtype=np.int64)  # GT pixel -> pixel that reached it
            seen = np.zeros(self.mate_g.size, dtype=bool)
            frontier, ends = roots, []
            while frontier.size:
                rep, e = _edges_of(self.indptr, frontier)
                g = self.eg[e]
                new = ~seen[g]
                g, rep = g[new], rep[new]
                if g.size == 0:
                    break
                order = np.argsort(g, kind="stable")
                first = order[_run_starts(g[order])]  # first pixel reaching each GT
                g = g[first]
                parent[g] = frontier[rep[first]]
                seen[g] = True
                free = self.mate_g[g] < 0
                if free.any():
                    ends.append(g[free])
                frontier = self.mate_g[g[~free]]
            if not ends:
                return
            used = np.zeros(self.U.size, dtype=bool)
            for g_end in np.concatenate(ends).tolist():
                path, g = [], g_end
                while True:
                    u = int(parent[g])
                    if used[u]:
                        path = None
                        break
                    path.append((u, g))
                    g = int(self.mate_u[u])
                    if g < 0:
                        break
                if path is None:
                    continue
                for u, g in path:
                    used[u] = True
                    self.mate_u[u] = g
                    self.mate_g[g] = u


def match_count(pred, gt, radius):
    """Maximum one-to-one matching size between two 2-D bool maps (distance <= radius)."""
    m = _ClassMatcher(np.asarray(gt, dtype=bool), radius)
    py, px = np.nonzero(pred)
    pos = m.to_flat(py, px)
    m.prepare(pos)
    return m.count(pos)

# ----------------------------------------------------------------------------- one image


def _thresholded_pixels(p, thresholds, do_thin):
    """Flat (y*W+x) pixel lists of thin(p >= t) (or p >= t) for every threshold t, all
    thresholds thinned together in one stack cut to the bounding box of the lowest one.
    The maps are nested, so the stack is filled from the pixels sorted by value."""
    H, W = p.shape
    out = [np.zeros(0, dtype=np.int64)] * len(thresholds)
    S = np.flatnonzero(p >= thresholds[0])
    if S.size == 0:
        return out
    ys, xs = np.divmod(S, W)
    y0, x0 = ys.min(), xs.min()
    h, w = ys.max() + 1 - y0, xs.max() + 1 - x0
    stride = (h + 2) * (w + 2)  # one map of the stack, with its zero frame
    local = (ys - y0 + 1) * (w + 2) + (xs - x0 + 1)
    order = np.argsort(-p.ravel()[S], kind="stable")  # brightest first: map t is a prefix
    local, neg = local[order], -p.ravel()[S][order]
    n_on = np.searchsorted(neg, -np.asarray(thresholds), side="right")  # |p >= t| per threshold
    active = np.flatnonzero(n_on)
    fg = np.concatenate([j * stride + local[:n_on[i]] for j, i in enumerate(active)])
    stack = np.zeros(len(active) * stride, dtype=np.uint8)
    stack[fg] = 1
    if do_thin:
        _thin_flat(stack, w + 2, fg)
    keep = stack[fg] == 1
    ends = np.cumsum(n_on[active])
    kept = np.concatenate([[0], np.cumsum(keep)])[np.concatenate([[0], ends])]  # survivors per map
    s = fg[keep] % stride
    yy, xx = np.divmod(s, w + 2)
    pix = (yy - 1 + y0) * W + (xx - 1 + x0)
    for j, i in enumerate(active):
        out[i] = np.sort(pix[kept[j]:kept[j + 1]])
    return out


def _resize_nearest(a, shape):
    ys = np.minimum((np.arange(shape[0]) + 0.5) * a.shape[-2] / shape[0], a.shape[-2] - 1).astype(int)
    xs = np.minimum((np.arange(shape[1]) + 0.5) * a.shape[-1] / shape[1], a.shape[-1] - 1).astype(int)
    return a[..., ys[:, None], xs[None, :]]


def _resize_bilinear(pred, shape):
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32))[None]
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False, antialias=True)[0].numpy()


def prepare_inputs(pred, gt, protocol, seg=None):
    """Apply the protocol's resolution and margin: pred [K,H,W] float, gt [K,h,w] bool,
    seg [h,w] int or None -> the arrays that are evaluated."""
    protocol = get_protocol(protocol)
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt).astype(bool)
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[0] != gt.shape[0]:
        raise ValueError(f"metrics.py: expected pred [K,H,W] and gt [K,H,W], got {pred.shape} and {gt.shape}")
    if protocol.gt_scale != 1.0 and gt.shape[1:] == pred.shape[1:]:
        size = (int(gt.shape[1] * protocol.gt_scale + 0.5), int(gt.shape[2] * protocol.gt_scale + 0.5))
        gt = _resize_nearest(gt, size)  # GT given at full resolution: nearest, as pyEdgeEval's loader
        seg = None if seg is None else _resize_nearest(np.asarray(seg), size)
    if pred.shape[1:] != gt.shape[1:]:
        pred = _resize_bilinear(pred, gt.shape[1:]).astype(np.float64)
    m = protocol.margin
    if m > 0:
        pred, gt = pred[:, m:-m, m:-m], gt[:, m:-m, m:-m]
        seg = None if seg is None else np.asarray(seg)[m:-m, m:-m]
    return pred, gt, seg


def evaluate_image(pred, gt, protocol="sbd", seg=None, thresholds=None, timings=None):
    """Counts of one image: pred [K,H,W] float in [0,1], gt [K,H,W] bool, seg [H,W] class
    map (1..K, only for kill_internal) -> (counts [K,4,T] int64 as cntR, sumR, cntP, sumP;
    evaluated [K] bool: False where the class was skipped)."""
    protocol = get_protocol(protocol)
    thresholds = thresholds_for(protocol.nthresh) if thresholds is None else np.asarray(thresholds)
    pred, gt, seg = prepare_inputs(pred, gt, protocol, seg)
    if protocol.kill_internal and seg is None:
        raise ValueError("metrics.py: preset 'sbd-original' needs `seg`, the GT class map [H,W] "
                         "(value k for class k, 1-based) to remove predictions inside the object")
    K, H, W = gt.shape
    T = len(thresholds)
    radius = protocol.max_dist * math.sqrt(H * H + W * W)
    do_thin = protocol.mode == "thin"
    counts = np.zeros((K, 4, T), dtype=np.int64)
    evaluated = np.ones(K, dtype=bool)
    for k in range(K):
        t0 = time.perf_counter()
        g = thin(gt[k]) if (do_thin and protocol.thin_gt) else gt[k]
        if protocol.skip_absent and not g.any():
            evaluated[k] = False
            continue
        maps = _thresholded_pixels(pred[k], thresholds, do_thin)
        t1 = time.perf_counter()
        counts[k, 1] = g.sum()
        pos = maps  # no GT: every prediction is a false positive
        if g.any():
            m = _ClassMatcher(g, radius)
            pos = [m.to_flat(*np.divmod(p, W)) for p in maps]
            if protocol.kill_internal:  # kill_internal_bdries: inside the object and beyond the tolerance
                kill = np.zeros(m.near.size, dtype=bool)
                sy, sx = np.nonzero(np.asarray(seg) == k + 1)
                kill[m.to_flat(sy, sx)] = True
                kill &= ~m.near
                pos = [q[~kill[q]] for q in pos]
            m.prepare(np.concatenate(pos))
            prev, prev_count = None, 0
            for i in range(T - 1, -1, -1):  # high to low threshold: maps grow, warm start holds
                same = prev is not None and pos[i].size == prev.size and np.array_equal(pos[i], prev)
                prev_count = prev_count if same else m.count(pos[i])
                counts[k, 0, i] = counts[k, 2, i] = prev_count
                prev = pos[i]
        counts[k, 3] = [q.size for q in pos]
        if timings is not None:
            timings["thin"] = timings.get("thin", 0.0) + t1 - t0
            timings["match"] = timings.get("match", 0.0) + time.perf_counter() - t1
    return counts, evaluated

# ----------------------------------------------------------------------------- dataset scores


def _f(r, p):
    return 2 * p * r / (p + r + ((p + r) == 0))


def _rp(c):
    """c [..., 4, T] counts -> recall, precision [..., T] (BSDS: x / (n + (n == 0)))."""
    return c[..., 0, :] / (c[..., 1, :] + (c[..., 1, :] == 0)), c[..., 2, :] / (c[..., 3, :] + (c[..., 3, :] == 0))


def ods_interpolated(thresholds, R, P):
    """BSDS/SEAL `maxF`: best F on the PR curve with 100 linear steps between neighbouring
    thresholds (strictly better than the first point wins, in scan order)."""
    d = np.linspace(0, 1, 100)[None, :]  # MATLAB linspace(0, 1)
    t = thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)
    r = R[1:, None] * d + R[:-1, None] * (1 - d)
    p = P[1:, None] * d + P[:-1, None] * (1 - d)
    f = _f(r, p).ravel()
    best = int(np.argmax(f)) if f.size else 0
    if f.size == 0 or f[best] <= _f(R[0], P[0]):
        return float(thresholds[0]), float(R[0]), float(P[0]), float(_f(R[0], P[0]))
    return float(t.ravel()[best]), float(r.ravel()[best]), float(p.ravel()[best]), float(f[best])


def average_precision(R, P):
    """BSDS `Area_PR`: precision interpolated on recall 0:0.01:1 (unique recalls, first
    occurrence; zero outside the measured range), summed times 0.01."""
    Ru, first = np.unique(R, return_index=True)
    if Ru.size < 2:
        return 0.0
    return float(np.interp(np.linspace(0, 1, 101), Ru, P[first], left=0.0, right=0.0).sum() * 0.01)


def describe(protocol):
    p = get_protocol(protocol)
    return (f"{p.name}: {p.nthresh} thresholds, mode={p.mode}, max_dist={p.max_dist} x diagonal, "
            f"margin={p.margin}px, gt_scale={p.gt_scale}, thin_gt={p.thin_gt}, "
            f"kill_internal={p.kill_internal}, skip_absent={p.skip_absent}, one-to-one maximum matching")


def _evaluate_job(args):
    pred, gt, protocol, seg, name = args
    counts, evaluated = evaluate_image(pred, gt, protocol, seg)
    return counts, evaluated, name


class EdgeBenchmark:
    """Accumulator of the exact benchmark: `update` per image, `compute()` at the end.

    num_classes: K; preset: a name of PRESETS or a Protocol; class_names: for the table;
    workers: > 0 evaluates images in that many processes (update returns at once;
    compute() waits; "spawn" processes, so the calling script needs the usual
    `if __name__ == "__main__":` guard). update(pred [K,H,W] float 0..1, gt [K,H,W] bool, name=None,
    seg=None): numpy arrays or torch tensors; seg [H,W] is the GT class map (value k for
    class k, 1-based) that only `sbd-original` needs. A prediction of another size than
    the GT is resized to it (bilinear, antialiased); for Cityscapes (gt_scale 0.5) a GT
    given at the prediction's size is first downsampled by nearest neighbour.
    """

    def __init__(self, num_classes, preset="sbd", class_names=None, workers=0):
        self.protocol = get_protocol(preset)
        self.num_classes = K = num_classes
        self.class_names = list(class_names) if class_names is not None else [str(k + 1) for k in range(K)]
        if len(self.class_names) != K:
            raise ValueError(f"metrics.py: {len(self.class_names)} class names for {K} classes")
        self.thresholds = thresholds_for(self.protocol.nthresh)
        T = len(self.thresholds)
        self.counts = np.zeros((K, 4, T), dtype=np.int64)  # summed over images: cntR, sumR, cntP, sumP
        self.ois_counts = np.zeros((K, 4), dtype=np.int64)  # at each image's best threshold
        self.num_images = 0
        self.per_image = []  # (name, best F per class or nan where skipped)
        self.workers = workers
        self._pool, self._pending = None, []

    def update(self, pred, gt, name=None, seg=None):
        pred, gt = _to_numpy(pred), _to_numpy(gt)
        seg = None if seg is None else _to_numpy(seg)
        if pred.ndim != 3 or pred.shape[0] != self.num_classes:
            raise ValueError(f"metrics.py: pred must be [K={self.num_classes},H,W], got {pred.shape}")
        job = (pred, gt, self.protocol, seg, name)
        if self.workers <= 0:
            self.add_counts(*_evaluate_job(job))
            return
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        self._pending.append(self._pool.submit(_evaluate_job, job))
        while len(self._pending) > 4 * self.workers:  # bounded memory
            self.add_counts(*self._pending.pop(0).result())

    def add_counts(self, counts, evaluated, name=None):
        """Accumulate one image's counts [K,4,T] (from evaluate_image)."""
        self.counts += counts
        R, P = _rp(counts.astype(np.float64))
        F = _f(R, P)  # (K, T)
        best = np.argmax(F, axis=1)  # first maximum, as collect_eval_bdry's find(F == max(F))
        self.ois_counts += counts[np.arange(self.num_classes), :, best]
        self.per_image.append((name, np.where(evaluated, F.max(axis=1), np.nan)))
        self.num_images += 1

    def compute(self):
        while self._pending:
            self.add_counts(*self._pending.pop(0).result())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        R, P = _rp(self.counts.astype(np.float64))  # (K, T)
        oR, oP = _rp(self.ois_counts.astype(np.float64)[..., None])
        classes = {}
        for k, name in enumerate(self.class_names):
            t, r, p, f = ods_interpolated(self.thresholds, R[k], P[k])
            classes[name] = {"ODS": f, "ODS_threshold": t, "ODS_recall": r, "ODS_precision": p,
                             "OIS": float(_f(oR[k, 0], oP[k, 0])), "AP": average_precision(R[k], P[k]),
                             "recall": R[k].tolist(), "precision": P[k].tolist()}
        mean = {m: float(np.mean([c[m] for c in classes.values()])) for m in ("ODS", "OIS", "AP")}
        return {"protocol": asdict(self.protocol), "protocol_text": describe(self.protocol),
                "thresholds": self.thresholds.tolist(), "num_images": self.num_images, "classes": classes,
                "mean_ODS": mean["ODS"], "mean_OIS": mean["OIS"], "mean_AP": mean["AP"]}

    def format_table(self, result=None):
        """A Table-5/6-like table: one column per class and the mean, rows ODS / OIS / AP (x100)."""
        res = self.compute() if result is None else result
        names = list(self.class_names) + ["mean"]
        widths = [max(5, len(n)) for n in names]  # full class names, never cut
        lines = [f"protocol {res['protocol_text']}; {res['num_images']} images",
                 "metric " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths))]
        for m in ("ODS", "OIS", "AP"):
            vals = [c[m] for c in res["classes"].values()] + [res[f"mean_{m}"]]
            lines.append(f"{m:<6} " + " ".join(f"{100 * v:{w}.1f}" for v, w in zip(vals, widths)))
        return "\n".join(lines)

    def __str__(self):
        return self.format_table()


def _to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.dtype.is_floating_point else x.detach().cpu().numpy()
    return np.asarray(x)


def evaluate_folder(pred_dir, gt_dir, num_classes, preset="sbd", class_names=None, names=None,
                    seg_dir=None, workers=0):
    """Evaluate SEAL-layout prediction PNGs `pred_dir/class_%03d/<name>.png` (0..255 -> 0..1) against GT
    in `gt_dir`: binary PNGs in the same layout (nonzero = edge; used when `gt_dir/class_001` exists),
    else one packed label `<name>.png|.bin` per image (datasets.py's format, as `datasets.py prepare-*`
    writes in <root>/gt_eval/{thin,raw}_{inst,cls}; ignore bit unused) at the prediction's size or the
    preset's GT resolution (prepared Cityscapes GT is at half). `seg_dir`: `<name>.png` class maps for
    `sbd-original` (packed GT: default <gt_dir>/../seg). names default to the PNG stems of
    pred_dir/class_001. Returns EdgeBenchmark.compute()'s dict (and prints the table)."""
    import os
    from PIL import Image
    from tqdm import tqdm
    protocol, K = get_protocol(preset), num_classes
    fix = "see the README 'Evaluate' section; `python datasets.py prepare-sbd|prepare-cityscapes` writes GT"

    def need(path, what):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"metrics.py: missing {what} {path} ({fix})")
        return path

    first = os.path.join(pred_dir, "class_001")
    if names is None:
        if not os.path.isdir(first):
            raise FileNotFoundError(f"metrics.py: {first} not found; predictions must be laid out as "
                                    "pred_dir/class_%03d/<name>.png (SEAL), see the README 'Evaluate' section")
        names = sorted(f[:-4] for f in os.listdir(first) if f.endswith(".png"))
    per_class = os.path.isdir(os.path.join(gt_dir, "class_001"))
    if protocol.kill_internal and seg_dir is None and not per_class:
        seg_dir = os.path.join(os.path.dirname(os.path.normpath(gt_dir)), "seg")

    def load(root, k, name):
        return np.asarray(Image.open(need(os.path.join(root, f"class_{k + 1:03d}", name + ".png"), "class map")))

    def load_packed(name, H, W):
        from datasets import IGNORE_BIT, read_label, unpack_edges  # here: datasets.py imports metrics.thin
        s = protocol.gt_scale
        sizes = [(H, W), (int(H * s + 0.5), int(W * s + 0.5)), (int(H * s), int(W * s))]
        base = os.path.join(gt_dir, name)
        path = base + ".png" if os.path.isfile(base + ".png") else need(base + ".bin", f"GT {base}.png or")
        if path.endswith(".png"):
            with Image.open(path) as im:
                size = im.size[::-1]
        else:
            size = next((hw for hw in sizes if hw[0] * hw[1] * 4 == os.path.getsize(path)), None)
        if size not in sizes:
            raise ValueError(f"metrics.py: GT {path} is {size[::-1] if size else 'ill-sized'}, expected the "
                             f"prediction's (W, H) {(W, H)} or the {protocol.name} GT size {sizes[1][::-1]} "
                             f"(predict at full image size; {fix})")
        bits = read_label(path, *size) & ~IGNORE_BIT
        if (bits >> np.uint32(K)).any():
            raise ValueError(f"metrics.py: GT {path} has edges of classes above {K}: pass the right classes")
        return unpack_edges(bits, K)[0].astype(bool)

    bench = EdgeBenchmark(K, protocol, class_names, workers)
    for name in tqdm(names, desc="ODS benchmark"):
        pred = np.stack([load(pred_dir, k, name) for k in range(K)]).astype(np.float64) / 255.0
        gt = np.stack([load(gt_dir, k, name) > 0 for k in range(K)]) if per_class else \
            load_packed(name, *pred.shape[1:])
        seg = None if seg_dir is None else \
            np.asarray(Image.open(need(os.path.join(seg_dir, name + ".png"), "GT class map (sbd-original)")))
        bench.update(pred, gt, name=name, seg=seg)
    result = bench.compute()
    print(bench.format_table(result))
    return result

# ----------------------------------------------------------------------------- fast approximation


class ApproxEdgeF:
    """Fast APPROXIMATE edge F-score for training-time validation — NOT the benchmark.

    Batched torch, on the model's device: a predicted pixel (>= t) is correct if a GT
    pixel lies within max_dist * diagonal of it, a GT pixel is recalled if a predicted
    pixel lies within that radius; no thinning, no one-to-one matching, best threshold
    of the dataset-summed counts without interpolation. update(pred [B,K,H,W] prob,
    gt [B,K,H,W] bool, ignore [B,H,W] bool or None); compute() -> {"mean_F", "F", ...}.

    Gap to the exact metric, measured by bench/bench_metrics.py (20 synthetic SBD-like
    320x480 images, 20 classes, blurred shifted GT plus false strokes, sbd protocol):
    mean F 0.641 here vs exact mean ODS 0.664, a gap of -0.023 (the sign and size depend
    on the predictions: the tolerance disk admits more pixels, the lack of one-to-one
    matching and of thinning lets thick or doubled edges through). Thick or doubled predictions are not
    punished here (no thinning, many-to-one), so this number is optimistic; use it to
    rank checkpoints of one run, never as a result.
    """

    def __init__(self, num_classes, max_dist=0.02, nthresh=99, class_names=None):
        self.num_classes = num_classes
        self.max_dist = max_dist
        self.thresholds_np = thresholds_for(nthresh)
        self.class_names = class_names
        self.counts = None  # (K, 4, T) int64 on the data's device: cntR, sumR, cntP, sumP

    @staticmethod
    def _disk_max(x, radius):
        """Max of x [N,C,H,W] (>= 0, zero outside) over a disk of `radius`: row maxima of
        growing half-width w (each from the previous by a +-1 shift), then for every row
        offset dy the row maximum of the disk's half-width at dy, shifted by dy."""
        import torch
        import torch.nn.functional as F
        R = int(math.floor(radius))
        half = [int(math.floor(math.sqrt(max(radius * radius - dy * dy, 0)))) for dy in range(R + 1)]
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
        import torch
        B, K, H, W = pred.shape
        T = len(self.thresholds_np)
        radius = self.max_dist * math.sqrt(H * H + W * W)
        with torch.no_grad():
            pred = pred.detach().float()  # (B, K, H, W)
            gt = gt.to(pred.device).bool()  # (B, K, H, W)
            if ignore is not None:
                valid = ~ignore.to(pred.device).bool()[:, None]  # (B, 1, H, W)
                pred, gt = pred * valid, gt & valid
            thr = torch.as_tensor(self.thresholds_np, dtype=torch.float32, device=pred.device)
            near_gt = self._disk_max(gt.float(), radius) > 0  # (B, K, H, W)
            near_pred = self._disk_max(pred, radius)  # (B, K, H, W) best prob within the radius
            level = torch.bucketize(pred, thr, right=True)  # (B, K, H, W) thresholds <= value
            level_near = torch.bucketize(near_pred, thr, right=True)
            cls = torch.arange(K, device=pred.device).view(1, K, 1, 1) * (T + 1)

            def hist(lv, mask):  # (K, T): count of masked pixels with value >= each threshold
                h = torch.bincount((lv + cls)[mask], minlength=K * (T + 1)).view(K, T + 1)
                return h.flip(1).cumsum(1).flip(1)[:, 1:]

            counts = torch.stack([hist(level_near, gt),
                                  gt.sum(dim=(0, 2, 3))[:, None].expand(K, T),
                                  hist(level, near_gt),
                                  hist(level, torch.ones_like(gt))], dim=1)  # (K, 4, T)
        self.counts = counts if self.counts is None else self.counts + counts

    def compute(self):
        if self.counts is None:
            raise RuntimeError("metrics.ApproxEdgeF: compute() before any update()")
        c = self.counts.double().cpu().numpy()
        R, P = _rp(c)
        F = _f(R, P)  # (K, T)
        best = F.argmax(axis=1)
        return {"mean_F": float(F.max(axis=1).mean()), "F": F.max(axis=1).tolist(),
                "threshold": self.thresholds_np[best].tolist(),
                "note": "approximate (dilation, no thinning, many-to-one): not the benchmark"}

    def reset(self):
        self.counts = None

# ----------------------------------------------------------------------------- command line


def main(argv=None):
    """`python metrics.py --pred DIR --gt DIR --preset sbd`: score a folder of SEAL-layout PNGs."""
    import argparse
    import json
    p = argparse.ArgumentParser(description="Exact ODS / OIS / AP table of a folder of SEAL-layout predictions.")
    p.add_argument("--pred", required=True, help="predictions: class_%%03d/<name>.png, 8-bit probabilities")
    p.add_argument("--gt", required=True, help="GT: <root>/gt_eval/thin_inst (packed <name>.png|.bin from "
                   "`python datasets.py prepare-*`) or binary class_%%03d/<name>.png")
    p.add_argument("--preset", default="sbd", choices=list(PRESETS), help="protocol (README 'Evaluate')")
    p.add_argument("--classes", default=None, help="sbd, cityscapes or a number N; default: the preset's dataset")
    p.add_argument("--seg", default=None, help="sbd-original: <name>.png GT class maps (default <gt>/../seg)")
    p.add_argument("--workers", type=int, default=0, help="benchmark processes (0: this one)")
    p.add_argument("--out", default=None, help="also write the result (PR curves included) as JSON here")
    args = p.parse_args(argv)
    import datasets  # the class names live there
    classes = args.classes or ("cityscapes" if args.preset == "cityscapes" else "sbd")
    names = {"sbd": datasets.SBD_CLASSES, "cityscapes": datasets.CITYSCAPES_CLASSES}.get(classes)
    if names is None and not (classes.isdigit() and 0 < int(classes) < 32):
        p.error(f"--classes must be sbd, cityscapes or a number 1..31, got {classes!r}")
    names = names or [str(k + 1) for k in range(int(classes))]
    result = evaluate_folder(args.pred, args.gt, len(names), args.preset, names, seg_dir=args.seg,
                             workers=args.workers)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
