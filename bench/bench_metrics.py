"""Speed of the exact benchmark (metrics.py) on a synthetic SBD-like workload.
Measures the ODS benchmark of paper Sec. 4.1.3.

20 images of 320x480, 20 classes with 2-6 present per image; GT = one-pixel
boundaries of random blobs (SBD-like, from a class map); predictions = the GT
shifted by 0-3 px and blurred, scaled to a random peak, plus blurred false strokes
(on present and absent classes) and faint noise, quantised to 1/255 like the
PNGs evaluate.py writes. Protocol: preset "sbd" (99 thresholds, thin mode,
max_dist 0.02, 5-px margin). Prints core-seconds per image (one process, so
wall = core time), the projection for the 2857-image SBD test set on 1 and 16
cores, where the time goes (thinning vs matching), and the gap between the
fast approximation (scoring.validation.ApproxEdgeF) and the exact ODS on the same data.

    python bench/bench_metrics.py [--images 20] [--check]

--check also recomputes every count with an independent matcher
(scipy's maximum_bipartite_matching on the same thinned maps) and asserts equality.
"""
import argparse
import os
import sys
import time

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import metrics  # noqa: E402
from scoring.matching import count_thresholds  # noqa: E402
from scoring.thinning import thin, thin_thresholds  # noqa: E402
from scoring.validation import ApproxEdgeF  # noqa: E402


def class_map(rng, H, W, present):
    """Random blobs (smoothed noise thresholded, plus ellipses) labelled 1..K."""
    seg = np.zeros((H, W), dtype=np.int32)
    yy, xx = np.mgrid[:H, :W]
    for k in present:
        for _ in range(rng.integers(1, 3)):
            cy, cx = rng.uniform(0, H), rng.uniform(0, W)
            ay, ax = rng.uniform(20, H / 2.5), rng.uniform(20, W / 2.5)
            warp = ndi.gaussian_filter(rng.standard_normal((H, W)), 12) * 8
            seg[((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 + warp < 1] = k + 1
    return seg


def boundaries(seg, K):
    """SBD-like one-pixel GT per class (seg2bmap of the class mask): a pixel is an edge
    if the mask differs at its right, lower or lower-right neighbour."""
    gt = np.zeros((K,) + seg.shape, dtype=bool)
    for k in range(K):
        m = np.pad(seg == k + 1, ((0, 1), (0, 1)), mode="edge")
        gt[k] = (m[:-1, :-1] != m[:-1, 1:]) | (m[:-1, :-1] != m[1:, :-1]) | (m[:-1, :-1] != m[1:, 1:])
    return gt


def stroke(rng, H, W):
    img = np.zeros((H, W))
    pts = np.cumsum(rng.normal(0, 6, (rng.integers(30, 120), 2)), 0) + [rng.uniform(0, H), rng.uniform(0, W)]
    for (y, x) in pts.astype(int):
        if 0 <= y < H and 0 <= x < W:
            img[y, x] = 1
    return ndi.binary_dilation(img > 0, iterations=2)


def synthetic_image(rng, H=320, W=480, K=20):
    present = rng.choice(K, rng.integers(2, 7), replace=False)
    seg = class_map(rng, H, W, present)
    gt = boundaries(seg, K)
    pred = np.zeros((K, H, W))
    for k in range(K):
        p = np.zeros((H, W))
        if gt[k].any():
            p += np.roll(gt[k], (rng.integers(-3, 4), rng.integers(-3, 4)), (0, 1)) * rng.uniform(0.5, 1.0)
        for _ in range(rng.integers(0, 3) if k in present else rng.integers(0, 2)):
            p = np.maximum(p, stroke(rng, H, W) * rng.uniform(0.1, 0.6))
        p = ndi.gaussian_filter(p, rng.uniform(1.0, 2.5)) * 2.5
        p += (rng.random((H, W)) < 0.01) * rng.random((H, W)) * 0.05  # faint speckle
        pred[k] = np.round(np.clip(p, 0, 1) * 255) / 255
    return pred, gt, seg


def independent_counts(pred, gt, protocol):
    """Same counts with scipy's matcher on the same thinned maps (slow, for --check)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching
    pred, gt, _ = metrics.prepare_inputs(pred, gt, protocol)
    K, H, W = gt.shape
    r = protocol.max_dist * np.hypot(H, W)
    out = np.zeros((K, 4, protocol.nthresh), dtype=np.int64)
    for k in range(K):
        gy, gx = np.nonzero(gt[k])
        for i, t in enumerate(metrics.thresholds_for(protocol.nthresh)):
            b = thin(pred[k] >= t)
            py, px = np.nonzero(b)
            m = 0
            if len(py) and len(gy):
                d2 = (py[:, None] - gy[None]) ** 2 + (px[:, None] - gx[None]) ** 2
                m = int((maximum_bipartite_matching(csr_matrix(d2 <= r * r), perm_type="column") >= 0).sum())
            out[k, :, i] = [m, len(gy), m, len(py)]
    return out


def timed_counts(pred, gt, protocol, timings):
    """metrics.evaluate_image's loop (no skipped classes in the sbd preset), timed around its two steps:
    threshold + thin (scoring.thinning.thin_thresholds) and matching (scoring.matching.count_thresholds)."""
    pred, gt, _ = metrics.prepare_inputs(pred, gt, protocol)
    K, H, W = gt.shape
    thresholds = metrics.thresholds_for(protocol.nthresh)
    radius = protocol.max_dist * np.hypot(H, W)
    counts = np.zeros((K, 4, len(thresholds)), dtype=np.int64)
    for k in range(K):
        t0 = time.process_time()  # core time, like the per-image figure (wall time varies with the load)
        maps = thin_thresholds(pred[k], thresholds, protocol.mode == "thin")
        t1 = time.process_time()
        counts[k] = count_thresholds(maps, gt[k], radius)
        timings["thin"] = timings.get("thin", 0.0) + t1 - t0
        timings["match"] = timings.get("match", 0.0) + time.process_time() - t1
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20, help="number of synthetic images")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic workload")
    ap.add_argument("--check", action="store_true", help="also verify counts with scipy's matcher (slow)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    data = [synthetic_image(rng) for _ in range(args.images)]
    protocol = metrics.PRESETS["sbd"]
    bench = metrics.EdgeBenchmark(20, preset="sbd")
    timings = {}
    t0 = time.process_time()
    w0 = time.perf_counter()
    all_counts = []
    for pred, gt, _ in data:
        counts, evaluated = metrics.evaluate_image(pred, gt, protocol)
        bench.add_counts(counts, evaluated)
        all_counts.append(counts)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    n_split = min(len(data), 4)  # where the time goes, timed around the two steps on a few images
    for (pred, gt, _), counts in zip(data[:n_split], all_counts):
        assert (timed_counts(pred, gt, protocol, timings) == counts).all()
    res = bench.compute()
    n = args.images
    per = cpu / n
    print(f"protocol: {metrics.describe(protocol)}")
    pairs = sum(int(g.any(axis=(1, 2)).sum()) for _, g, _ in data)
    print(f"images: {n} of 320x480, 20 classes, {pairs} (image, class) pairs with GT")
    print(f"core-seconds per image: {per:.3f}  (wall {wall / n:.3f} s/image, one process)")
    print(f"projected SBD test (2857 images): {2857 * per / 3600:.2f} h on 1 core, "
          f"{2857 * per / 16 / 60:.1f} min on 16 cores")
    tot = timings["thin"] + timings["match"]
    print(f"split (first {n_split} images): thresholding+thinning {timings['thin'] / n_split:.3f} s/image "
          f"({100 * timings['thin'] / tot:.0f}%), matching {timings['match'] / n_split:.3f} s/image "
          f"({100 * timings['match'] / tot:.0f}%)")
    print(f"exact: mean ODS {res['mean_ODS']:.4f}  OIS {res['mean_OIS']:.4f}  AP {res['mean_AP']:.4f}")
    import torch
    approx = ApproxEdgeF(20, max_dist=protocol.max_dist)
    for pred, gt, _ in data:
        pred, gt, _ = metrics.prepare_inputs(pred, gt, protocol)  # the same margin crop as the exact benchmark
        approx.update(torch.from_numpy(pred[None]).float(), torch.from_numpy(gt[None]))
    a = approx.compute()
    print(f"approx (ApproxEdgeF, no thinning, dilation): mean F {a['mean_F']:.4f}  gap to exact ODS "
          f"{a['mean_F'] - res['mean_ODS']:+.4f}")
    if args.check:
        t = time.perf_counter()
        bad = 0
        for pred, gt, _ in data:
            ours, _ = metrics.evaluate_image(pred, gt, protocol)
            bad += int((ours != independent_counts(pred, gt, protocol)).any(axis=(1, 2)).sum())
        print(f"independent matcher check: {bad} (image, class) count mismatches ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
