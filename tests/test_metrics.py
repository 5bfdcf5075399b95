"""metrics.py: counts of one image by hand, thresholds hit exactly (>= t), ODS/OIS and both AP
definitions on hand-computed PR tables, the presets (sbd-original: order of its steps, skipped
classes, margin 0, interpolated AP), the results table."""
import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from metrics import CNT_P, CNT_R, SUM_P, SUM_R, EdgeBenchmark, Protocol, evaluate_image
import metrics
from scoring.matching import max_matching_reference
from scoring.thinning import thin

# ----------------------------------------------------------------------------- one image


def test_evaluate_image_counts_by_hand():
    proto = Protocol("t", margin=0, max_dist=1.0 / math.hypot(10, 10), mode="raw", nthresh=3)
    gt = np.zeros((2, 10, 10), bool)
    gt[0, 5, 2:8] = True  # class 0: 6 GT pixels; class 1: no GT
    pred = np.zeros((2, 10, 10))
    pred[0, 4, 2:8] = 0.9  # shifted by 1 (inside), matched at every threshold
    pred[0, 0, 0:4] = 0.6  # 4 false positives above 0.5
    pred[1, 9, 0:5] = 0.3  # class 1: 5 false positives at the lowest threshold only
    counts, evaluated = evaluate_image(pred, gt, proto)
    assert evaluated.all()
    # thresholds 0.25, 0.5, 0.75
    assert counts[0, [CNT_R, SUM_R, CNT_P, SUM_P]].tolist() == [[6, 6, 6], [6, 6, 6], [6, 6, 6], [10, 10, 6]]
    assert counts[1, [CNT_R, SUM_R, CNT_P, SUM_P]].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [5, 0, 0]]


def test_thresholds_are_exact_fractions():
    """8-bit PNG values 51, 102, 153, 204 / 255 ARE the thresholds 0.2, 0.4, 0.6, 0.8 (and 0.20 ... 0.80 of 99)."""
    assert metrics.thresholds_for(4).tolist() == (np.array([51, 102, 153, 204]) / 255).tolist()
    t99 = metrics.thresholds_for(99)
    assert [t99[19], t99[39], t99[59], t99[79]] == (np.array([51, 102, 153, 204]) / 255).tolist()
    assert t99[0] == 0.01 and t99[-1] == 0.99 and len(t99) == 99


@pytest.mark.parametrize("nthresh", [4, 99])
def test_prediction_equal_to_a_threshold_counts(nthresh):
    """A prediction equal to t is in B_t (pred >= t, never > t): four isolated GT pixels predicted at
    51/255 ... 204/255, as read from an 8-bit PNG."""
    proto = Protocol("t", margin=0, max_dist=0.5 / math.hypot(5, 9), mode="raw", nthresh=nthresh)
    gt, pred8 = np.zeros((1, 5, 9), bool), np.zeros((1, 5, 9), np.uint8)
    for i, v in enumerate((51, 102, 153, 204)):
        gt[0, 2, 2 * i + 1] = True
        pred8[0, 2, 2 * i + 1] = v
    counts, _ = evaluate_image(pred8.astype(np.float64) / 255.0, gt, proto)
    t = metrics.thresholds_for(nthresh)
    expected = [int((np.array([51, 102, 153, 204]) / 255 >= x).sum()) for x in t]
    if nthresh == 4:
        assert expected == [4, 3, 2, 1]  # at > t it would be [3, 2, 1, 0]
    else:
        assert counts[0, SUM_P, [18, 19, 20, 39, 40, 79, 80]].tolist() == [4, 4, 3, 3, 2, 1, 0]
    assert counts[0, SUM_P].tolist() == counts[0, CNT_P].tolist() == expected

# ----------------------------------------------------------------------------- aggregation


def tiny_dataset():
    """One class, isolated pixels (thinning leaves them alone), exact-position matching,
    thresholds 0.25 / 0.5 / 0.75. Counts by hand:
      image 1: GT {A,B,C,D}; pred A,B = 0.9, C,D = 0.3, four false pixels = 0.3
               -> (cntR,sumR,cntP,sumP) = (4,4,4,8), (2,4,2,2), (2,4,2,2)
      image 2: GT {A,B}; pred A,B = 0.6, two false pixels = 0.3
               -> (2,2,2,4), (2,2,2,2), (0,2,0,0)
      totals: R = 1, 2/3, 1/3 ; P = 0.5, 1, 1."""
    pts = [(1, 1), (1, 5), (1, 9), (1, 13), (5, 1), (5, 5), (5, 9), (5, 13)]
    gt1, p1 = np.zeros((1, 9, 15), bool), np.zeros((1, 9, 15))
    for i, (y, x) in enumerate(pts):
        if i < 4:
            gt1[0, y, x] = True
        p1[0, y, x] = 0.9 if i < 2 else 0.3
    gt2, p2 = np.zeros((1, 9, 15), bool), np.zeros((1, 9, 15))
    for i, (y, x) in enumerate(pts[:4]):
        if i < 2:
            gt2[0, y, x] = True
        p2[0, y, x] = 0.6 if i < 2 else 0.3
    return [(p1, gt1), (p2, gt2)]


@pytest.mark.parametrize("ap", ["area_pr", "interpolated"])
def test_ods_ois_ap_by_hand(ap):
    proto = Protocol("t", margin=0, max_dist=0.5 / math.hypot(9, 15), nthresh=3, ap=ap)
    bench = EdgeBenchmark(1, proto, class_names=["thing"])
    for pred, gt in tiny_dataset():
        bench.update(pred, gt)
    result = bench.compute()
    res = result["classes"]["thing"]
    assert res["recall"] == pytest.approx([1, 2 / 3, 1 / 3]) and res["precision"] == pytest.approx([0.5, 1, 1])
    # ODS: between thresholds 1 and 2, r = 1 - d/3, p = (1 + d)/2, F(d) = (1 + 2d/3 - d^2/3) / (1.5 + d/6),
    # maximal at d* = (-18 + sqrt(384)) / 2 (F'(d) = 0); the 100-step grid lands within 2e-5 of d*.
    d = (-18 + math.sqrt(384)) / 2
    assert res["ODS"] == pytest.approx((1 + 2 * d / 3 - d * d / 3) / (1.5 + d / 6), abs=1e-8)
    assert res["ODS_threshold"] == pytest.approx(0.25 + 0.25 * 79 / 99)
    # OIS: image 1 ties at F = 2/3 -> first threshold (4,4,4,8); image 2 best at 0.5 (2,2,2,2)
    # -> R = 6/6, P = 6/10, F = 0.75
    assert res["OIS"] == pytest.approx(0.75)
    if ap == "area_pr":
        # recall grid 0:.01:1 -> 0 below 1/3 (34 points), 1 on [.34, .66] (33 points),
        # 1 - 1.5 (r - 2/3) on [.67, 1] (34 points, sum 25.415): (33 + 25.415) * 0.01
        assert res["AP"] == pytest.approx(0.58415)
    else:
        # best precision at recall >= r: 1 for r <= .66 (67 levels), 0.5 for r in [.67, 1] (34 levels)
        assert res["AP"] == pytest.approx((67 + 34 * 0.5) / 101)
    assert result["ap_definition"] == metrics.AP_DEFINITIONS[ap] and result["protocol"]["ap"] == ap
    assert f"AP={ap}" in result["protocol_text"] and res["images"] == 2


def test_both_ap_definitions_on_a_pr_table():
    """R = (0.5, 0.3, 0.1), P = (0.4, 0.6, 0.9) from counts; recall levels 0.1, 0.3, 0.5 are hit exactly.
    interpolated: 0.9 on r <= .10 (11 levels), 0.6 on .11-.30 (20), 0.4 on .31-.50 (20), 0 above (50).
    Area_PR: 0 below .10, linear .9 -> .6 on [.10, .30] (21 points, sum 15.75), .6 -> .4 on (.30, .50]
    (20 points, sum 9.9), 0 above."""
    counts = np.array([[5, 3, 1], [10, 10, 10], [2, 3, 9], [5, 5, 10]])  # rows CNT_R, SUM_R, CNT_P, SUM_P
    R, P = metrics.recall_precision(counts)
    assert R.tolist() == [0.5, 0.3, 0.1] and P.tolist() == [0.4, 0.6, 0.9]
    assert metrics.average_precision(R, P, "interpolated") == pytest.approx((11 * 0.9 + 20 * 0.6 + 20 * 0.4) / 101)
    assert metrics.average_precision(R, P, "area_pr") == pytest.approx((15.75 + 9.9) * 0.01)
    assert metrics.interpolated_ap(np.zeros(3), np.zeros(3)) == 0.0  # no recall at all


def test_f_measure_and_empty_counts():
    assert metrics.f_measure(0.5, 1.0) == pytest.approx(2 / 3) and metrics.f_measure(0.0, 0.0) == 0.0
    R, P = metrics.recall_precision(np.zeros((4, 2)))
    assert R.tolist() == P.tolist() == [0.0, 0.0]  # x / (n + (n == 0)): no division by zero

# ----------------------------------------------------------------------------- presets


def test_sbd_original_skips_absent_and_kills_internal():
    H = W = 40
    seg = np.zeros((H, W), int)
    seg[8:32, 8:32] = 1  # one object of class 1
    gt = np.zeros((2, H, W), bool)
    gt[0] = ndi.binary_dilation(seg == 1) ^ (seg == 1)  # its outer boundary
    pred = np.zeros((2, H, W))
    pred[0][gt[0]] = 0.8
    pred[0, 20, 9:31] = 0.8  # an internal line (22 px) inside the object, ends 2 px from its boundary
    pred[1, 2:10, 20] = 0.8  # class 2 absent from the GT: false positives
    sbd = Protocol("t", margin=0, max_dist=2 / math.hypot(H, W))
    orig = Protocol("t", margin=0, max_dist=2 / math.hypot(H, W), kill_internal=True, skip_absent=True)
    c_sbd, ev_sbd = evaluate_image(pred, gt, sbd)
    c_orig, ev_orig = evaluate_image(pred, gt, orig, seg=seg)
    assert ev_sbd.tolist() == [True, True] and ev_orig.tolist() == [True, False]
    assert c_sbd[1, SUM_P, 0] == 8 and c_orig[1].sum() == 0  # skipped: no counts at all
    # the internal line counts in "sbd"; in "original" only its two end pixels (within 2 px of the GT) survive
    assert c_sbd[0, SUM_P, 0] - c_orig[0, SUM_P, 0] == 22 - 2
    assert c_sbd[0, CNT_R, 0] == c_orig[0, CNT_R, 0] == gt[0].sum()
    with pytest.raises(ValueError, match="seg"):
        evaluate_image(pred, gt, orig)


def test_sbd_original_thins_before_it_kills():
    """Threshold, thin, THEN drop the far pixels inside the object: a 5-pixel-thick bar reaching deep into
    the object is thinned to its centre line first; killing first would thin a shorter stub instead."""
    H = W = 40
    seg = np.zeros((H, W), int)
    seg[5:35, 5:35] = 1
    gt = (ndi.binary_dilation(seg == 1) ^ (seg == 1))[None]
    pred = np.zeros((1, H, W))
    pred[0, 18:23, 5:30] = 0.7  # a thick bar from the left edge into the object
    proto = Protocol("t", margin=0, max_dist=3 / math.hypot(H, W), kill_internal=True, skip_absent=True, nthresh=1)
    counts, _ = evaluate_image(pred, gt, proto, seg=seg)
    far = ndi.distance_transform_edt(~gt[0]) > 3  # farther than the tolerance from every GT pixel
    kill = far & (seg == 1)
    thin_then_kill = thin(pred[0] >= 0.5) & ~kill
    kill_then_thin = thin((pred[0] >= 0.5) & ~kill)
    assert counts[0, SUM_P, 0] == thin_then_kill.sum() != kill_then_thin.sum()
    assert counts[0, CNT_P, 0] == max_matching_reference(thin_then_kill, gt[0], 3)


def test_presets():
    sbd, orig = metrics.PRESETS["sbd"], metrics.PRESETS["sbd-original"]
    assert (sbd.margin, sbd.max_dist, sbd.ap, metrics.PRESETS["sbd-reanno"].max_dist) == (5, 0.02, "area_pr", 0.0075)
    assert (orig.margin, orig.max_dist, orig.ap, orig.kill_internal, orig.skip_absent) == (0, 0.02, "interpolated",
                                                                                           True, True)
    assert "AP=interpolated" in metrics.describe("sbd-original") and "margin=0px" in metrics.describe("sbd-original")
    city = metrics.PRESETS["cityscapes"]
    pred, gt, _ = metrics.prepare_inputs(np.zeros((2, 64, 128)), np.zeros((2, 64, 128), bool), city)
    assert pred.shape == gt.shape == (2, 32, 64)
    pred, gt, _ = metrics.prepare_inputs(np.zeros((2, 64, 128)), np.zeros((2, 64, 128), bool), "sbd")
    assert pred.shape == gt.shape == (2, 54, 118)
    with pytest.raises(ValueError, match="unknown preset"):
        EdgeBenchmark(2, "bsds")
    with pytest.raises(ValueError, match="ap one of"):
        Protocol("x", ap="voc")


def test_format_table_plain_and_markdown():
    proto = Protocol("t", margin=0, max_dist=0.5 / math.hypot(9, 15), nthresh=3)
    bench = EdgeBenchmark(1, proto, class_names=["thing"])
    for pred, gt in tiny_dataset():
        bench.update(pred, gt)
    result = bench.compute()
    plain, md = metrics.format_table(result), metrics.format_table(result, markdown=True)
    ods = f"{100 * result['mean_ODS']:.1f}"
    assert plain.splitlines()[1].split() == ["metric", "thing", "mean"]
    assert plain.splitlines()[2].split() == ["ODS", ods, ods] and str(bench) == plain
    assert md.splitlines()[2] == "| metric | thing | mean |" and md.splitlines()[4] == f"| ODS | {ods} | {ods} |"


def test_ois_takes_each_class_its_own_best_threshold_per_image():
    """OIS: per image AND per class the first threshold of best F (collect_eval_bdry runs per class). Two images,
    K = 2 classes, 3 thresholds, counts (rows CNT_R, SUM_R, CNT_P, SUM_P) whose best thresholds differ by class:
      image 1, class a: R = 1, .5, .25;  P = .8, .5, .25  -> F best at t0: (4, 4, 4, 5)
               class b: R = 1/3, 2/3, 1; P = .1, 1/3, 1   -> F best at t2: (3, 3, 3, 3)
      image 2, class a: R = 1/3, 1, 2/3; P = 1/6, 1, .5   -> F best at t1: (3, 3, 3, 3)
               class b: R = 1, .5, 0;    P = 1, .25, 0    -> F best at t0: (2, 2, 2, 2)
    OIS a: R = 7/7, P = 7/8 -> F = 14/15; OIS b: R = P = 1 -> F = 1. One threshold per image shared by the classes
    (best summed F: t2 in image 1, t1 in image 2) would give a: (4, 7, 4, 7), b: (4, 5, 4, 7) instead."""
    image1 = np.array([[[4, 2, 1], [4, 4, 4], [4, 2, 1], [5, 4, 4]],
                       [[1, 2, 3], [3, 3, 3], [1, 2, 3], [10, 6, 3]]])
    image2 = np.array([[[1, 3, 2], [3, 3, 3], [1, 3, 2], [6, 3, 4]],
                       [[2, 1, 0], [2, 2, 2], [2, 1, 0], [2, 4, 0]]])
    bench = EdgeBenchmark(2, Protocol("t", nthresh=3), class_names=["a", "b"])
    for counts in (image1, image2):
        bench.add_counts(counts, np.ones(2, bool))
    assert bench.ois_counts.tolist() == [[7, 7, 7, 8], [5, 5, 5, 5]]
    result = bench.compute()
    assert result["classes"]["a"]["OIS"] == pytest.approx(14 / 15)
    assert result["classes"]["b"]["OIS"] == pytest.approx(1.0)
    assert result["mean_OIS"] == pytest.approx((14 / 15 + 1) / 2)
