"""Thinning of binary edge maps to one-pixel-wide curves: MATLAB's `bwmorph(b, 'thin', Inf)`.

The benchmark of the paper (Sec. 4.1.3; SBD, SEAL, CASENet, DFF) thins every thresholded
prediction before matching it to the ground truth, with MATLAB's `bwmorph(..., 'thin', Inf)`.
That is the parallel thinning of Lam, Lee and Suen (1992, "Thinning methodologies - a
comprehensive survey", IEEE TPAMI 14(9), p. 879, the page MATLAB's documentation cites):
two subiterations, each deleting at once every pixel whose 3x3 neighbourhood passes the
conditions G1, G2 and G3 (first subiteration) or G1, G2 and G3' (second), repeated until
nothing changes. scikit-image's `thin` implements
the same algorithm; no code is copied from either.

- `thin(binary)`: one 2-D bool map -> its thinned map (the definition to read).
- `thin_flat(img, width, fg)`: the same on a flat stack of framed maps, in place, testing
  only the pixels whose neighbourhood changed.
- `thin_thresholds(p, thresholds, do_thin)`: the pixel lists of thin(p >= t) for every threshold t
  of one class map, all thinned in one `thin_flat` call (the maps are nested); metrics.py uses it.
- `thin_luts()`: the two deletion tables (`_thin_lut`), indexed by the 8-neighbour code.
"""
import functools

import numpy as np

NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # x1..x8 as (dy, dx)


def _thin_lut(second):
    """Deletion table of Lam-Lee-Suen's subiteration 1 (G1, G2, G3) or 2 (G1, G2, G3').
    Bit i-1 of the index is neighbour x_i: x1 = E, x2 = NE, x3 = N, ... x8 = SE."""
    # >>> assignment thinning
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
    # <<< assignment thinning


@functools.cache
def thin_luts():
    """The two deletion tables (subiteration 1, subiteration 2), built on first use, not at import, so that the
    module imports where `_thin_lut` is left to write (the course kit: course/, docs/course.md)."""
    return _thin_lut(False), _thin_lut(True)


def run_starts(x):
    """Bool mask of the first element of each run of equal values in `x` (sorted: of each value)."""
    first = np.empty(x.size, dtype=bool)
    first[:1] = True
    np.not_equal(x[1:], x[:-1], out=first[1:])
    return first


def unique_sorted(x):
    """Sorted unique values (sort-based; numpy's hash-based np.unique is slower here)."""
    x = np.sort(x)
    return x[run_starts(x)]


def thin_flat(img, width, fg=None):
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
        dead = cand[thin_luts()[sub][code]]
        img[dead] = 0  # simultaneous deletion within a subiteration
        dirty[sub] = cand[:0]
        if dead.size:
            touched = (dead[:, None] + nbr[None, :]).ravel()
            touched = unique_sorted(touched[img[touched] == 1])
            dirty = [touched if d.size == 0 else unique_sorted(np.concatenate([d, touched])) for d in dirty]
        sub = 1 - sub
    return img


def thin(binary):
    """MATLAB's bwmorph(binary, 'thin', Inf) on a 2-D bool numpy array -> 2-D bool array."""
    binary = np.asarray(binary, dtype=bool)
    if binary.ndim != 2:
        raise ValueError(f"scoring/thinning.py: thin expects a 2-D array (H, W), got shape {binary.shape}")
    H, W = binary.shape
    img = np.zeros((H + 2, W + 2), dtype=np.uint8)
    img[1:-1, 1:-1] = binary
    return thin_flat(img.ravel(), W + 2).reshape(H + 2, W + 2)[1:-1, 1:-1].astype(bool)


def thin_thresholds(p, thresholds, do_thin):
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
        thin_flat(stack, w + 2, fg)
    keep = stack[fg] == 1
    ends = np.cumsum(n_on[active])
    kept = np.concatenate([[0], np.cumsum(keep)])[np.concatenate([[0], ends])]  # survivors per map
    s = fg[keep] % stride
    yy, xx = np.divmod(s, w + 2)
    pix = (yy - 1 + y0) * W + (xx - 1 + x0)
    for j, i in enumerate(active):
        out[i] = np.sort(pix[kept[j]:kept[j + 1]])
    return out
