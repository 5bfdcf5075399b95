"""Independent check of metrics.py against pyEdgeEval 0.2.8 (a Python/Cython port of
the SBD / SEAL benchmark: Lam-Lee-Suen thinning and the BSDS C++ CSA-based
`correspondPixels`), on synthetic SBD-like images that the tests do not use.

    pip install pyedgeeval==0.2.8   # not a project dependency; needs a C++ compiler
    python bench/check_metrics_against_pyedgeeval.py [--images 6] [--size 160 240] [--seed 123] [--preset sbd]

Both sides get the same margin-cropped maps. pyEdgeEval's side: each thresholded map is
thinned with its MATLAB-faithful `bwmorph_thin` and matched with its C++
`correspond_pixels` (max_dist 0.02), which is what its `evaluate_boundaries_threshold`
does, except that the latter calls `binary_thin`, a port that stops as soon as the first
subiteration changes nothing (MATLAB continues while the second one still does): how
often that differs from our `thin` is printed separately. The per-threshold
(cntR, sumR, cntP, sumP) are compared with `metrics.evaluate_image`. Our counts are the
maximum matching; CSA's min-cost assignment with sparse random outlier edges should
reach the same count and never more. Then ODS (both from the summed counts, each
with its own interpolation: SEAL's 100 steps here, pyEdgeEval's 101) and AP (the preset's
definition applied to both sides' counts).
`--preset sbd-original`: no margin; on pyEdgeEval's side, after thinning, its
`kill_internal_prediction` (predictions inside the class's segment farther than the tolerance
from the GT edges removed, as its `evaluate_boundaries_threshold` does) and classes without GT
edges skipped (its `skip_if_nonexistent`), the order of the original SBD benchmark.
pyEdgeEval imports OpenCV at package level for helpers this check does not use; a
stub module stands in when cv2 is missing.
"""
import argparse
import os
import sys
import time
import types

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics  # noqa: E402
from bench_metrics import synthetic_image  # noqa: E402
from metrics import CNT_P, CNT_R, SUM_P, SUM_R  # noqa: E402
from scoring.thinning import thin  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=[160, 240], help="H W of the synthetic images")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--preset", default="sbd", choices=["sbd", "sbd-original"], help="protocol compared")
    args = ap.parse_args()
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # unused by the functions below
    try:
        from pyEdgeEval._lib import correspond_pixels
        from pyEdgeEval.common.metrics import interpolated_max_scores
        from pyEdgeEval.common.multi_label.options import kill_internal_prediction
        from pyEdgeEval.preprocess import binary_thin
        from pyEdgeEval.preprocess.thin.bwmorph_thin import bwmorph_thin
    except ImportError as e:
        sys.exit(f"pyEdgeEval is not importable ({e}); pip install pyedgeeval==0.2.8")
    np.bool, np.in1d = np.bool_, np.isin  # names bwmorph_thin uses that numpy 2 removed

    protocol = metrics.PRESETS[args.preset]
    thresholds = metrics.thresholds_for(protocol.nthresh)
    rng = np.random.default_rng(args.seed)
    H, W = args.size
    ours_all, theirs_all = [], []
    t_ours = t_theirs = 0.0
    thin_diff = thin_maps = 0
    for i in range(args.images):
        pred, gt, seg = synthetic_image(rng, H, W)
        t = time.process_time()
        ours, _ = metrics.evaluate_image(pred, gt, protocol, seg)
        t_ours += time.process_time() - t
        p, g, s = metrics.prepare_inputs(pred, gt, protocol, seg)
        theirs = np.zeros_like(ours)
        t = time.process_time()
        for k in range(g.shape[0]):
            if protocol.skip_absent and not g[k].any():
                continue
            for j, th in enumerate(thresholds):
                b = bwmorph_thin(p[k] >= th)
                if protocol.kill_internal and g[k].any():
                    b = kill_internal_prediction(b, g[k], s == k + 1, protocol.max_dist).astype(bool)
                m1 = m2 = np.zeros(1)
                if g[k].any() and b.any():
                    m1, m2, _, _ = correspond_pixels(b, g[k], max_dist=protocol.max_dist)
                theirs[k, [CNT_R, SUM_R, CNT_P, SUM_P], j] = [(m2 > 0).sum(), g[k].sum(), (m1 > 0).sum(), b.sum()]
        t_theirs += time.process_time() - t
        for k in range(g.shape[0]):  # pyEdgeEval's default thinning, a few thresholds per class
            for th in thresholds[::10]:
                b = p[k] >= th
                if b.any():
                    thin_maps += 1
                    thin_diff += int(not np.array_equal(thin(b), binary_thin(b).astype(bool)))
        diff = ours - theirs
        print(f"image {i}: {int((g.sum(axis=(1, 2)) > 0).sum())} classes with GT; count differences "
              f"(ours - pyEdgeEval) cntR: max {diff[:, CNT_R].max()} min {diff[:, CNT_R].min()}, "
              f"sumR {np.abs(diff[:, SUM_R]).max()}, cntP max {diff[:, CNT_P].max()} min {diff[:, CNT_P].min()}, "
              f"sumP {np.abs(diff[:, SUM_P]).max()}; (class, threshold) cells differing: "
              f"{int((diff != 0).any(axis=1).sum())} of {diff.shape[0] * diff.shape[2]}")
        ours_all.append(ours)
        theirs_all.append(theirs)
    ours, theirs = np.stack(ours_all), np.stack(theirs_all)  # (N, K, 4, n_t)
    same_sum_p = bool((ours[:, :, SUM_P] == theirs[:, :, SUM_P]).all())
    print(f"thinning: sumP identical to bwmorph_thin's on every map: {same_sum_p}; "
          f"{thin_diff} of {thin_maps} maps differ from pyEdgeEval's default binary_thin (early stop)")
    print(f"total matched pixels: ours {ours[:, :, CNT_R].sum()}, pyEdgeEval {theirs[:, :, CNT_R].sum()}; cells where "
          f"ours < theirs: {int((ours[:, :, CNT_R] < theirs[:, :, CNT_R]).sum())} (must be 0), ours > theirs: "
          f"{int((ours[:, :, CNT_R] > theirs[:, :, CNT_R]).sum())}")
    odss, apd = [], []
    for k in range(ours.shape[1]):
        if ours[:, k, SUM_R].sum() == 0:
            continue
        Ro, Po = metrics.recall_precision(ours[:, k].sum(0))
        Rt, Pt = metrics.recall_precision(theirs[:, k].sum(0))
        o = metrics.ods_interpolated(thresholds, Ro, Po)[3]
        t = interpolated_max_scores(thresholds, Rt, Pt)[3]
        odss.append((o, t))
        apd.append(metrics.average_precision(Ro, Po, protocol.ap) - metrics.average_precision(Rt, Pt, protocol.ap))
    odss = np.array(odss)
    print(f"ODS over {len(odss)} classes with GT: mean ours {odss[:, 0].mean():.5f}, pyEdgeEval-counts+its "
          f"interpolation {odss[:, 1].mean():.5f}, max |diff| {np.abs(odss[:, 0] - odss[:, 1]).max():.2e}; "
          f"AP max |diff| (same formula, both counts) {np.abs(apd).max():.2e}")
    print(f"core-seconds per image: ours {t_ours / args.images:.2f}, pyEdgeEval {t_theirs / args.images:.2f}")


if __name__ == "__main__":
    main()
