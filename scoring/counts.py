"""The benchmark's four counts per threshold and the formulas on them (paper Sec. 4.1.3).

Per class and image, for each threshold t (`thresholds_for`), the matching (scoring/matching.py) gives four
counts, the rows of a counts array (..., 4, n_t): CNT_R matched GT pixels, SUM_R GT pixels, CNT_P matched
predicted pixels, SUM_P predicted pixels (BSDS `evaluate_bdry.m`: cntR, sumR, cntP, sumP). Recall, precision and F
follow from them; metrics.py sums them over the dataset for ODS / OIS / AP, and the training-time approximation
(scoring/validation.py) reuses the same formulas.
"""
import numpy as np

CNT_R, SUM_R, CNT_P, SUM_P = range(4)  # rows of a counts array (..., 4, n_t): matched GT, GT, matched pred, pred


def thresholds_for(n):
    """k / (n + 1) for k = 1..n (SEAL: 99 -> 0.01 ... 0.99), each the double nearest to that fraction, so that
    a prediction equal to it (e.g. 51/255 = 0.2) compares as >= exactly (linspace may miss by one ulp)."""
    return np.arange(1, n + 1) / (n + 1)


def recall_precision(counts):
    """counts (..., 4, n_t) -> recall, precision (..., n_t) (BSDS: x / (n + (n == 0)))."""
    # >>> assignment ods
    c = np.asarray(counts, dtype=np.float64)
    sum_r, sum_p = c[..., SUM_R, :], c[..., SUM_P, :]
    return c[..., CNT_R, :] / (sum_r + (sum_r == 0)), c[..., CNT_P, :] / (sum_p + (sum_p == 0))
    # <<< assignment ods


def f_measure(recall, precision):
    """F = 2PR / (P + R), 0 where P + R = 0."""
    # >>> assignment ods
    return 2 * precision * recall / (precision + recall + ((precision + recall) == 0))
    # <<< assignment ods
