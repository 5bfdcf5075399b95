"""Checks of the assignment `ods`: ODS, OIS and AP from the benchmark's counts (paper Sec. 4.1.3; BSDS / SEAL
`collect_eval_bdry.m`).

The student writes, in scoring/counts.py, `recall_precision(counts)` and `f_measure(recall, precision)`, and in
metrics.py `ods_interpolated(thresholds, R, P)`, `area_pr(R, P)` and the OIS lines of `EdgeBenchmark.add_counts`
(each image's best threshold). The checks give hand-made counts and PR tables whose answers are worked out in the
comments, and run the given `EdgeBenchmark.compute()` on them (it sums the counts over the images and calls the
student's functions).
"""
import numpy as np

import metrics
from metrics import CNT_P, CNT_R, SUM_P, SUM_R

T3 = np.array([0.25, 0.5, 0.75])  # three thresholds, enough for every case here


def _counts(cnt_r, sum_r, cnt_p, sum_p):
    """One class, one image: a counts array (4, n_t) in the rows CNT_R, SUM_R, CNT_P, SUM_P."""
    c = np.zeros((4, len(cnt_r)), np.int64)
    c[CNT_R], c[SUM_R], c[CNT_P], c[SUM_P] = cnt_r, sum_r, cnt_p, sum_p
    return c


def _close(a, b, tol=1e-9):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=tol)


def check_recall_precision():
    """recall = cntR / sumR, precision = cntP / sumP per threshold; an empty denominator gives 0, not nan"""
    c = _counts([4, 2, 2], 4, [4, 2, 0], [8, 2, 0])  # the last threshold predicts nothing
    with np.errstate(all="ignore"):
        R, P = metrics.recall_precision(c)
        Rb, Pb = metrics.recall_precision(np.stack([c, _counts([0, 0, 0], 0, [0, 0, 0], [3, 1, 0])]))
    assert _close(R, [1, 0.5, 0.5]) and _close(P, [0.5, 1, 0]), (
        f"expected recall [1, 0.5, 0.5] and precision [0.5, 1, 0], got {np.round(R, 4).tolist()} and "
        f"{np.round(P, 4).tolist()}; the rows of (..., 4, n_t) are CNT_R, SUM_R, CNT_P, SUM_P (axis -2), and a "
        f"threshold without predictions has precision 0: BSDS divides by n + (n == 0), never by 0")
    assert np.shape(Rb) == (2, 3) and _close(Rb[1], 0) and _close(Pb[1], 0), (
        f"expected shape (2, 3) for counts (2, 4, 3) and recall 0 for an image without GT (sumR = 0), got shape "
        f"{np.shape(Rb)} and {np.round(Rb, 4).tolist()}; work on the last two axes only (counts[..., SUM_R, :])")
    return "expected R [1, 0.5, 0.5], P [0.5, 1, 0] and zeros for empty sums, got them"


def check_f_measure():
    """F = 2PR / (P + R), and 0 where P + R = 0"""
    with np.errstate(all="ignore"):
        f = metrics.f_measure(np.array([1.0, 0.0, 0.5]), np.array([0.5, 0.0, 0.5]))
    assert _close(f, [2 / 3, 0, 0.5]), (
        f"expected F [0.6667, 0, 0.5], got {np.round(np.asarray(f, float), 4).tolist()}; the harmonic mean "
        f"2PR / (P + R), with F = 0 where P = R = 0 (add (P + R == 0) to the denominator), never nan")
    return "expected [0.6667, 0, 0.5], got it"


def check_ods_interpolates_between_thresholds():
    """ODS: the best F on the PR curve with 100 linear steps between neighbouring thresholds (BSDS maxF)"""
    R, P = np.array([0.9, 0.3, 0.1]), np.array([0.4, 0.8, 0.9])  # F at the thresholds: 0.5538, 0.4364, 0.18
    # between thresholds 1 and 2, d = k / 99: r = 0.9 - 0.6 d, p = 0.4 + 0.4 d, F(d) = 2 r p / (r + p) is largest
    # on the grid at k = 37: t = 0.25 + 0.25 * 37/99, r = 0.67576, p = 0.54949, F = 0.606121
    got = metrics.ods_interpolated(T3, R, P)
    want = (0.25 + 0.25 * 37 / 99, 0.9 - 0.6 * 37 / 99, 0.4 + 0.4 * 37 / 99, 0.6061205625921208)
    assert len(got) == 4 and _close(got, want), (
        f"expected (threshold, recall, precision, F) = {tuple(round(x, 5) for x in want)}, got "
        f"{tuple(round(float(x), 5) for x in got)}; the best measured point has F = 0.5538 only: interpolate "
        f"r, p AND t linearly between neighbouring thresholds, d = linspace(0, 1, 100) (100 steps, MATLAB's "
        f"linspace(0, 1)), and take the F of the interpolated r and p (not the interpolated F)")
    return f"expected F {want[3]:.6f} at t {want[0]:.5f}, got F {float(got[3]):.6f} at t {float(got[0]):.5f}"


def check_ods_first_point():
    """ODS when the first (lowest) threshold is best, alone or on a plateau of equal F: its own t, recall, P, F"""
    R, P = np.array([1.0, 0.5, 0.2]), np.array([0.8, 0.6, 0.5])  # F 0.8889, 0.5455, 0.2857: falls all along
    got = metrics.ods_interpolated(T3, R, P)
    want = (0.25, 1.0, 0.8, 16 / 18)
    assert len(got) == 4 and _close(got, want), (
        f"expected {tuple(round(x, 5) for x in want)}, got {tuple(round(float(x), 5) for x in got)}; the first "
        f"point itself is on the interpolated curve (d = 0): an interpolated point wins only when strictly better")
    # a plateau: thresholds 1 and 2 have the same R = P = 0.5 (F = 0.5 all along, exactly, in any float order of
    # the interpolation); beyond it r + p = 1 and F = 2 r p < 0.5: the first threshold keeps the ODS
    flat = metrics.ods_interpolated(T3, np.array([0.5, 0.5, 0.25]), np.array([0.5, 0.5, 0.75]))
    assert len(flat) == 4 and _close(flat, (0.25, 0.5, 0.5, 0.5)), (
        f"expected (0.25, 0.5, 0.5, 0.5) when the first two thresholds tie (R = P = 0.5 at both), got "
        f"{tuple(round(float(x), 5) for x in flat)}; on a tie the earlier point stays: a later point replaces the "
        f"best only when its F is strictly larger (BSDS maxF: `if f > bestF`), so the ODS threshold is the first "
        f"of a plateau")
    return f"expected {tuple(round(x, 4) for x in want)} and the first point of a plateau, got them"


def check_area_pr():
    """AP (BSDS Area_PR): precision interpolated at recall 0, 0.01, ..., 1, zero outside the measured recalls, x 0.01"""
    # recalls 0.5 and 1 measured: P(r) = 1.5 - r on [0.5, 1], 0 below 0.5; sum over r = 0.50..1.00 of (1.5 - r)
    # = 51 - 12.75 = 38.25, times 0.01 = 0.3825 (the area under the curve, 0.375, is not Area_PR)
    got = metrics.area_pr(np.array([1.0, 0.5]), np.array([0.5, 1.0]))
    assert _close(got, 0.3825), (
        f"expected 0.3825, got {float(got):.6f}; sample the precision at the 101 recalls 0:0.01:1 by linear "
        f"interpolation over the measured (recall, precision) points sorted by recall, 0 outside their range "
        f"(np.interp(..., left=0, right=0)), and sum times 0.01; a trapezoid area gives 0.375, extending the "
        f"precision below the lowest recall gives 0.8825")
    # recall 1 measured twice (precision 0.4 at the first threshold, 0.5 at the second): the first one counts
    got2 = metrics.area_pr(np.array([1.0, 1.0, 0.5]), np.array([0.4, 0.5, 1.0]))
    assert _close(got2, 0.357), (
        f"expected 0.357 when recall 1 appears twice (precision 0.4 first, then 0.5), got {float(got2):.6f}; "
        f"keep one point per recall value, the first in threshold order (np.unique(R, return_index=True)): "
        f"P(r) = 1 - 1.2 (r - 0.5) on [0.5, 1]")
    got3 = metrics.area_pr(np.array([0.7, 0.7, 0.7]), np.array([0.2, 0.5, 0.9]))
    assert _close(got3, 0.0), (f"expected 0 when a single recall value is measured, got {float(got3):.6f}; fewer "
                               f"than two distinct recalls make no curve: Area_PR is 0")
    return "expected 0.3825, 0.357 and 0, got them"


def check_ois_per_image_best_threshold():
    """OIS: each image's counts at ITS best threshold (first maximum of its F), summed over the images"""
    images = [
        _counts([4, 3, 1], 4, [4, 3, 1], [10, 4, 1]),  # F 0.571, 0.75, 0.4: the 2nd threshold is best
        _counts([2, 1, 0], 2, [2, 1, 0], [2, 1, 0]),  # F 1, 0.667, 0: the 1st is best
        _counts([0, 0, 0], 0, [0, 0, 0], [5, 2, 0]),  # no GT of the class: F 0 everywhere -> the 1st, 5 FPs
        _counts([2, 1, 0], 2, [2, 1, 0], [4, 1, 0]),  # F 2/3, 2/3, 0: a tie -> the first maximum, the 1st
    ]
    # summed at the best thresholds: cntR 3+2+0+2 = 7, sumR 8, cntP 7, sumP 4+2+5+4 = 15 -> R 7/8, P 7/15,
    # OIS = 2 R P / (R + P) = 98/161 = 0.608696
    bench = metrics.EdgeBenchmark(1, metrics.Protocol("t", nthresh=3), ["c"])
    for c in images:
        bench.add_counts(c[None], np.ones(1, bool))
    with np.errstate(all="ignore"):
        got = bench.compute()["classes"]["c"]["OIS"]
    assert _close(got, 98 / 161), (
        f"expected OIS 98/161 = 0.608696, got {float(got):.6f}; per image take the counts (cntR, sumR, cntP, sumP) "
        f"at the threshold with its best F, the FIRST maximum on ties (collect_eval_bdry: find(F == max(F))), "
        f"add them into self.ois_counts (K, 4), and let compute() make R, P, F of the sums; an image without the "
        f"class has F = 0 everywhere, so its first threshold and its false positives count (skipping it gives "
        f"0.777778, the last maximum on ties 0.6, the mean of the per-image best F 0.604167)")
    return f"expected 0.608696, got {float(got):.6f}"
