"""scoring/matching.py: the reference definition on hand-made cases, the fast matcher equal to it on random
maps, and the per-threshold warm start equal to independent matchings."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from scoring.matching import CNT_P, CNT_R, SUM_P, SUM_R, count_thresholds, match_count, max_matching_reference
from scoring.thinning import thin, thin_thresholds


@pytest.mark.parametrize("matcher", [max_matching_reference, match_count])
def test_hand_made_counts(matcher):
    gt = np.zeros((10, 10), bool)
    gt[5, 2:8] = True  # a 6-pixel line
    assert matcher(gt, gt, 1.5) == 6  # perfect match
    shifted = np.roll(gt, 1, axis=0)
    assert matcher(shifted, gt, 1.0) == 6  # 1-pixel shift, tolerance 1: inside (<=)
    assert matcher(shifted, gt, 0.99) == 0  # just outside
    empty = np.zeros_like(gt)
    assert matcher(empty, gt, 3) == 0 and matcher(gt, empty, 3) == 0 and matcher(empty, empty, 3) == 0
    two = np.zeros_like(gt)
    two[4, 2:8] = two[6, 2:8] = True  # doubled prediction: one-to-one, so only 6 of 12 match
    assert matcher(two, gt, 1.0) == 6
    diag = np.zeros_like(gt)
    diag[6, 3] = True  # at distance sqrt(2) from GT pixels (5, 2) and (5, 4), 1 from (5, 3)
    assert matcher(diag, gt, 1.0) == 1 and matcher(np.roll(diag, 1, axis=0), gt, 1.9) == 0


@pytest.mark.parametrize("matcher", [max_matching_reference, match_count])
def test_greedy_is_not_enough(matcher):
    """Nearest-first greedy pairs p1 with g1 (distance 1) and leaves p2 alone; the maximum matching
    re-routes p1 to g0 (distance 2) so that p2 takes g1: 2 pairs, not 1."""
    gt, pred = np.zeros((1, 8), bool), np.zeros((1, 8), bool)
    gt[0, [1, 4]] = True  # g0, g1
    pred[0, [3, 6]] = True  # p1 (1 from g1, 2 from g0), p2 (2 from g1)
    assert matcher(pred, gt, 2.0) == 2


@pytest.mark.parametrize("seed", range(4))
def test_fast_matching_equals_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(75):  # 300 random cases in all
        H, W = rng.integers(2, 16, size=2)
        pred = rng.random((H, W)) < rng.uniform(0.05, 0.6)
        gt = rng.random((H, W)) < rng.uniform(0.05, 0.6)
        radius = rng.uniform(0.5, 4.0)
        assert match_count(pred, gt, radius) == max_matching_reference(pred, gt, radius)


def test_warm_start_across_thresholds():
    """count_thresholds reuses the previous threshold's matching: its counts must equal an
    independent reference matching on every threshold's thinned map."""
    rng = np.random.default_rng(7)
    p = ndi.gaussian_filter(rng.random((24, 24)), 1.5)
    p = (p - p.min()) / (p.max() - p.min())
    gt = ndi.binary_erosion(p > 0.5) ^ (p > 0.5)
    thresholds = np.arange(1, 20) / 20
    counts = count_thresholds(thin_thresholds(p, thresholds, True), gt, 2.5)
    for i, t in enumerate(thresholds):
        b = thin(p >= t)
        assert counts[CNT_R, i] == counts[CNT_P, i] == max_matching_reference(b, gt, 2.5)
        assert counts[SUM_P, i] == b.sum() and counts[SUM_R, i] == gt.sum()


def test_kill_inside_drops_only_far_pixels_inside():
    """sbd-original's rule: a prediction inside the segment and farther than the radius from every GT
    pixel is dropped; inside but near, or outside the segment, it stays."""
    gt = np.zeros((12, 12), bool)
    gt[2, 2:10] = True  # top edge of the segment rows 2..9
    inside = np.zeros_like(gt)
    inside[2:10, 2:10] = True
    pred = np.zeros_like(gt)
    pred[3, 5] = pred[8, 5] = pred[11, 5] = True  # near inside, far inside, far outside
    maps = [np.flatnonzero(pred)]
    kept = count_thresholds(maps, gt, 1.5, inside)
    plain = count_thresholds(maps, gt, 1.5)
    assert plain[:, 0].tolist() == [1, 8, 1, 3] and kept[:, 0].tolist() == [1, 8, 1, 2]


@pytest.mark.parametrize("seed", range(8))
def test_warm_start_equals_cold_matching_at_all_99_thresholds(seed):
    """Thinned maps are not nested: neighbouring thresholds can thin to maps of the same size but other pixels.
    count_thresholds may reuse the previous count only when the map itself is unchanged: at each of the
    benchmark's 99 thresholds its counts must equal a fresh matching of that threshold's map, with and without
    sbd-original's kill_inside. Every seed holds such a same-size, other-pixels pair (asserted)."""
    rng = np.random.default_rng(seed)
    H, W = rng.integers(20, 40, size=2)
    p = ndi.gaussian_filter(rng.random((H, W)), rng.uniform(0.7, 2.0))
    p = (p - p.min()) / (p.max() - p.min())
    inside = p > 0.5
    gt = ndi.binary_erosion(inside) ^ inside
    radius = rng.uniform(1.5, 3.5)
    maps = thin_thresholds(p, np.arange(1, 100) / 100, True)  # 0.01 ... 0.99
    assert any(a.size == b.size and not np.array_equal(a, b) for a, b in zip(maps[:-1], maps[1:]))
    far_inside = inside & (ndi.distance_transform_edt(~gt) > radius)  # what kill_inside drops
    for kill in (None, inside):
        counts = count_thresholds(maps, gt, radius, kill)
        for i, q in enumerate(maps):
            b = np.zeros(H * W, bool)
            b[q] = True
            b = b.reshape(H, W) if kill is None else b.reshape(H, W) & ~far_inside
            assert counts[CNT_R, i] == counts[CNT_P, i] == match_count(b, gt, radius), (kill is not None, i)
            assert counts[SUM_P, i] == b.sum() and counts[SUM_R, i] == gt.sum()
