"""Checks of the assignment `matching`: one-to-one matching of edge pixels within the tolerance (paper Sec. 4.1.3).

The student writes the body of `max_matching_reference(pred, gt, radius)` in scoring/matching.py: the size of a
MAXIMUM one-to-one matching between the edge pixels of two 2-D bool maps, pairing only pixels at Euclidean distance
<= radius (BSDS correspondPixels: `d <= maxDist`). The checks compare it with counts worked out by hand and with
an exhaustive search over every one-to-one pairing of small random maps (brute force: exponential, exact).
"""
from functools import lru_cache

import numpy as np

from scoring.matching import max_matching_reference as match


def _brute_force(pred, gt, radius):
    """Largest number of pairs over ALL one-to-one pairings (each predicted pixel: one free GT pixel or none)."""
    P, G = np.argwhere(pred), np.argwhere(gt)
    near = [[j for j, g in enumerate(G) if ((p - g) ** 2).sum() <= radius * radius] for p in P]

    @lru_cache(maxsize=None)
    def best(i, used):  # used: bit mask of the GT pixels taken by predicted pixels 0..i-1
        if i == len(P):
            return 0
        return max([best(i + 1, used)] + [1 + best(i + 1, used | (1 << j)) for j in near[i] if not used >> j & 1])

    return best(0, 0)


def _line(shape, row, c0, c1):
    a = np.zeros(shape, bool)
    a[row, c0:c1] = True
    return a


def check_hand_made_counts():
    """a 6-pixel GT line against itself, shifted by 1, doubled and empty maps: counts by hand"""
    gt = _line((10, 10), 5, 2, 8)
    cases = [("the line itself, radius 1.5", gt, 1.5, 6,
              "every pixel pairs with itself (distance 0)"),
             ("the line shifted by 1 row, radius 1.0", np.roll(gt, 1, axis=0), 1.0, 6,
              "distance exactly 1 is inside the tolerance: d <= radius, not d < radius"),
             ("the line shifted by 1 row, radius 0.99", np.roll(gt, 1, axis=0), 0.99, 0,
              "distance 1 > 0.99: nothing pairs"),
             ("two lines, above and below, radius 1.0", np.roll(gt, 1, axis=0) | np.roll(gt, -1, axis=0), 1.0, 6,
              "12 predicted pixels are near the 6 GT pixels, but the matching is ONE-TO-ONE: each GT pixel "
              "pairs with one predicted pixel at most, so 6"),
             ("an empty prediction", np.zeros_like(gt), 3.0, 0, "no predicted pixel, no pair")]
    for name, pred, r, want, why in cases:
        got = match(pred, gt, r)
        assert got == want, f"expected {want} for {name}, got {got}; {why}"
    got = match(gt, np.zeros_like(gt), 3.0)
    assert got == 0, f"expected 0 against an empty GT, got {got}; no GT pixel, no pair"
    return f"expected {[c[3] for c in cases]} and 0, got them"


def check_euclidean_tolerance():
    """the tolerance is a Euclidean disc: a diagonal neighbour is sqrt(2) away, (2, 1) is sqrt(5) away"""
    gt = np.zeros((9, 9), bool)
    gt[4, 4] = True
    cases = [((5, 5), 1.0, 0), ((5, 5), 1.5, 1), ((6, 5), 2.0, 0), ((6, 5), 2.25, 1), ((4, 6), 2.0, 1)]
    for (y, x), r, want in cases:
        pred = np.zeros_like(gt)
        pred[y, x] = True
        got = match(pred, gt, r)
        d = float(np.hypot(y - 4, x - 4))
        assert got == want, (
            f"expected {want} for one predicted pixel at distance {d:.3f} from the GT pixel, radius {r}, got {got}; "
            f"pair p and g when (py - gy)^2 + (px - gx)^2 <= radius^2: a square window max(|dy|, |dx|) <= radius "
            f"accepts the corners, and comparing squared distances with radius (not radius^2) is wrong beyond 1")
    return f"expected {[c[2] for c in cases]}, got them"


def check_greedy_is_not_enough():
    """nearest-first greedy finds 1 pair where the maximum is 2: p1 must move to g0 so that p2 gets g1"""
    gt, pred = np.zeros((1, 8), bool), np.zeros((1, 8), bool)
    gt[0, [1, 4]] = True  # g0, g1
    pred[0, [3, 6]] = True  # p1 (1 from g1, 2 from g0), p2 (2 from g1)
    got = match(pred, gt, 2.0)
    assert got == 2, (
        f"expected 2, got {got}; pairing each pixel with its nearest free GT pixel (p1 with g1) leaves p2 alone; a "
        f"maximum matching looks for an augmenting path (p2 -> g1 -> its partner p1 -> the free g0) and flips it "
        f"(Kuhn's algorithm, or Hopcroft-Karp, or a max-flow)")
    return "expected 2, got 2"


def check_long_augmenting_chain():
    """a chain of 41 GT and 41 predicted pixels where the last pixel pairs only through the whole chain; two
    re-routings in a row"""
    n = 40
    gt, pred = np.zeros((2, 2 * n + 3), bool), np.zeros((2, 2 * n + 3), bool)
    gt[0, 1:2 * n + 2:2] = True  # g_i at (0, 1 + 2i), i = 0..n
    pred[0, 2:2 * n + 2:2] = True  # p_i at (0, 2 + 2i), i = 0..n-1: distance 1 from g_i and g_(i+1)
    pred[1, 1] = True  # one more predicted pixel below g_0: distance 1 from g_0 only
    got = match(pred, gt, 1.0)
    assert got == n + 1, (
        f"expected {n + 1} (p_i with g_(i+1), the pixel below g_0 with g_0), got {got}; taken in row order, p_i "
        f"first pairs with g_i, and the last pixel finds g_0 taken: only the augmenting path through the whole "
        f"chain (it -> g_0 -> p_0 -> g_1 -> ... -> p_{n - 1} -> g_{n}) frees it; keep searching alternating paths "
        f"until none exists")
    gt, pred = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    gt[[1, 1, 3], [0, 2, 0]] = True  # g_a (1, 0), g_b (1, 2), g_c (3, 0)
    pred[[1, 2, 2], [1, 0, 2]] = True  # p_1 (1, 1) near g_a, g_b; p_2 (2, 0) near g_a, g_c; p_3 (2, 2) near g_b
    twice = match(pred, gt, 1.0)
    assert twice == 3, (
        f"expected 3 on a 4x4 map with predicted (1, 1), (2, 0), (2, 2) and GT (1, 0), (1, 2), (3, 0) at radius 1, "
        f"got {twice}; in row order p_1 takes g_a, p_2 re-routes p_1 to g_b and takes g_a, then p_3 must re-route "
        f"through g_b's partner p_1 and g_a's NEW partner p_2 to the free g_c: when a path is flipped, every GT pixel "
        f"on it records its new partner (mate[j] = i at each step, not only at the free end)")
    return f"expected {n + 1} and 3, got {got} and {twice}"


def check_random_maps_against_brute_force():
    """60 small random maps (up to 7 pixels each, radii 1..3): equal to the exhaustive search, and symmetric"""
    rng = np.random.default_rng(0)
    for i in range(60):
        H, W = rng.integers(3, 7, size=2)
        pred, gt = np.zeros((H, W), bool), np.zeros((H, W), bool)
        pred.flat[rng.choice(H * W, rng.integers(0, 8), replace=False)] = True
        gt.flat[rng.choice(H * W, rng.integers(0, 8), replace=False)] = True
        r = float(rng.choice([1.0, 1.5, 2.0, 2.3, 3.0]))
        want, got, back = _brute_force(pred, gt, r), match(pred, gt, r), match(gt, pred, r)
        assert got == want and back == want, (
            f"expected {want} pairs on random map {i} ({H}x{W}, {int(pred.sum())} predicted, {int(gt.sum())} GT "
            f"pixels, radius {r}), got {got} (and {back} with pred and gt swapped); the size of a maximum "
            f"one-to-one matching is the same both ways and never above min(|pred|, |gt|)")
    return "expected 60 random maps equal to the brute force, got all 60"
