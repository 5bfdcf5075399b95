"""metrics.py: matching counts (hand-made and against a brute-force matcher), thinning
on known shapes, ODS/OIS/AP on a tiny hand-computed dataset, presets, ApproxEdgeF."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

import metrics
from metrics import EdgeBenchmark, Protocol, evaluate_image, match_count, thin, thin_torch


def brute_force_matching(pred, gt, radius):
    """Maximum bipartite matching by plain augmenting paths (Kuhn), O(V * E)."""
    P, G = np.argwhere(pred), np.argwhere(gt)
    adj = [[j for j, g in enumerate(G) if ((p - g) ** 2).sum() <= radius * radius] for p in P]
    mate = [-1] * len(G)

    def augment(i, seen):
        for j in adj[i]:
            if not seen[j]:
                seen[j] = True
                if mate[j] < 0 or augment(mate[j], seen):
                    mate[j] = i
                    return True
        return False

    return sum(augment(i, [False] * len(G)) for i in range(len(P)))


# ----------------------------------------------------------------------------- matching

def test_hand_made_counts():
    gt = np.zeros((10, 10), bool)
    gt[5, 2:8] = True  # a 6-pixel line
    assert match_count(gt, gt, 1.5) == 6  # perfect match
    shifted = np.roll(gt, 1, axis=0)
    assert match_count(shifted, gt, 1.0) == 6  # 1-pixel shift, tolerance 1: inside (<=)
    assert match_count(shifted, gt, 0.99) == 0  # just outside
    empty = np.zeros_like(gt)
    assert match_count(empty, gt, 3) == 0 and match_count(gt, empty, 3) == 0 and match_count(empty, empty, 3) == 0
    two = np.zeros_like(gt)
    two[4, 2:8] = two[6, 2:8] = True  # doubled prediction: one-to-one, so only 6 of 12 match
    assert match_count(two, gt, 1.0) == 6


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
    # rows: cntR, sumR, cntP, sumP at thresholds 0.25, 0.5, 0.75
    assert counts[0].tolist() == [[6, 6, 6], [6, 6, 6], [6, 6, 6], [10, 10, 6]]
    assert counts[1].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [5, 0, 0]]  # absent class still counts FPs


@pytest.mark.parametrize("seed", range(4))
def test_matching_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    for _ in range(75):  # 300 random cases in all
        H, W = rng.integers(2, 16, size=2)
        pred = rng.random((H, W)) < rng.uniform(0.05, 0.6)
        gt = rng.random((H, W)) < rng.uniform(0.05, 0.6)
        radius = rng.uniform(0.5, 4.0)
        assert match_count(pred, gt, radius) == brute_force_matching(pred, gt, radius)


def test_matching_warm_start_across_thresholds():
    """The per-class matcher reuses the previous threshold's matching: counts must still
    equal an independent matching on every threshold's map."""
    rng = np.random.default_rng(7)
    p = ndi.gaussian_filter(rng.random((24, 24)), 1.5)
    p = (p - p.min()) / (p.max() - p.min())
    gt = ndi.binary_erosion(p > 0.5) ^ (p > 0.5)
    proto = Protocol("t", margin=0, max_dist=2.5 / math.hypot(24, 24), nthresh=19)
    counts, _ = evaluate_image(p[None], gt[None], proto)
    for i, t in enumerate(metrics.thresholds_for(19)):
        b = thin(p >= t)
        assert counts[0, 0, i] == brute_force_matching(b, gt, 2.5)
        assert counts[0, 3, i] == b.sum() and counts[0, 1, i] == gt.sum()


# ----------------------------------------------------------------------------- thinning

def test_thin_rectangle_to_line():
    a = np.zeros((9, 20), bool)
    a[2:7, 3:17] = True  # 5 x 14 filled rectangle
    t = thin(a)
    assert t.sum() > 0 and not (t & ~a).any()
    assert (t.sum(axis=0) <= 1).all()  # one pixel thick
    assert np.flatnonzero(t.any(axis=1)).tolist() == [4]  # on the middle row
    assert ndi.label(t, np.ones((3, 3)))[1] == 1


def test_thin_line_unchanged_and_cross():
    line = np.zeros((9, 9), bool)
    line[4, 1:8] = True
    assert np.array_equal(thin(line), line)
    diag = np.eye(9, dtype=bool)
    assert np.array_equal(thin(diag), diag)
    cross = np.zeros((11, 11), bool)
    cross[4:7, 1:10] = cross[1:10, 4:7] = True  # a plus of width 3
    t = thin(cross)
    expected = np.zeros((11, 11), bool)
    expected[5, 2:9] = expected[2:9, 5] = True  # thinned to a one-pixel plus
    assert np.array_equal(t, expected)


def test_thin_ring_keeps_its_hole():
    yy, xx = np.mgrid[:21, :21]
    d = np.hypot(yy - 10, xx - 10)
    ring = (d >= 4) & (d <= 8)
    t = thin(ring)
    assert ndi.label(t, np.ones((3, 3)))[1] == 1  # one 8-connected curve
    assert ndi.label(~t)[1] == 2  # background stays split in two (the hole survives)
    assert t.sum() < ring.sum() / 3


def test_thin_idempotent_and_torch_agrees():
    rng = np.random.default_rng(3)
    maps = np.stack([ndi.gaussian_filter(rng.random((30, 40)), 2) > 0.5 for _ in range(6)])
    once = np.stack([thin(m) for m in maps])
    assert all(np.array_equal(thin(o), o) for o in once)
    assert np.array_equal(thin_torch(torch.from_numpy(maps)).numpy(), once)


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


def test_ods_ois_ap_by_hand():
    proto = Protocol("t", margin=0, max_dist=0.5 / math.hypot(9, 15), nthresh=3)
    bench = EdgeBenchmark(1, proto, class_names=["thing"])
    for pred, gt in tiny_dataset():
        bench.update(pred, gt)
    res = bench.compute()["classes"]["thing"]
    assert res["recall"] == pytest.approx([1, 2 / 3, 1 / 3]) and res["precision"] == pytest.approx([0.5, 1, 1])
    # ODS: between thresholds 1 and 2, r = 1 - d/3, p = (1 + d)/2, F(d) = (1 + 2d/3 - d^2/3) / (1.5 + d/6),
    # maximal at d* = (-18 + sqrt(384)) / 2 (F'(d) = 0); the 100-step grid lands within 2e-5 of d*.
    d = (-18 + math.sqrt(384)) / 2
    assert res["ODS"] == pytest.approx((1 + 2 * d / 3 - d * d / 3) / (1.5 + d / 6), abs=1e-8)
    assert res["ODS_threshold"] == pytest.approx(0.25 + 0.25 * 79 / 99)
    # OIS: image 1 ties at F = 2/3 -> first threshold (4,4,4,8); image 2 best at 0.5 (2,2,2,2)
    # -> R = 6/6, P = 6/10, F = 0.75
    assert res["OIS"] == pytest.approx(0.75)
    # AP: recall grid 0:.01:1 -> 0 below 1/3 (34 points), 1 on [.34, .66] (33 points),
    # 1 - 1.5 (r - 2/3) on [.67, 1] (34 points, sum 25.415): (33 + 25.415) * 0.01
    assert res["AP"] == pytest.approx(0.58415)
    assert "thing" in bench.format_table() and "ODS" in str(bench)


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
    assert c_sbd[1, 3, 0] == 8 and c_orig[1].sum() == 0  # skipped: no counts at all
    # the internal line counts in "sbd"; in "original" only its two end pixels (within 2 px of the GT) survive
    assert c_sbd[0, 3, 0] - c_orig[0, 3, 0] == 22 - 2
    assert c_sbd[0, 0, 0] == c_orig[0, 0, 0] == gt[0].sum()
    with pytest.raises(ValueError, match="seg"):
        evaluate_image(pred, gt, orig)


def test_presets_margin_and_scale():
    assert metrics.PRESETS["sbd"].margin == 5 and metrics.PRESETS["sbd-reanno"].max_dist == 0.0075
    city = metrics.PRESETS["cityscapes"]
    pred, gt, _ = metrics.prepare_inputs(np.zeros((2, 64, 128)), np.zeros((2, 64, 128), bool), city)
    assert pred.shape == gt.shape == (2, 32, 64)
    pred, gt, _ = metrics.prepare_inputs(np.zeros((2, 64, 128)), np.zeros((2, 64, 128), bool), "sbd")
    assert pred.shape == gt.shape == (2, 54, 118)
    with pytest.raises(ValueError, match="unknown preset"):
        EdgeBenchmark(2, "bsds")


# ----------------------------------------------------------------------------- approximation

def test_approx_edge_f():
    gt = torch.zeros(2, 3, 32, 32, dtype=torch.bool)
    gt[:, :, 16, 4:28] = True
    approx = metrics.ApproxEdgeF(3)
    approx.update(gt.float() * 0.9, gt)
    assert approx.compute()["mean_F"] == pytest.approx(1.0)
    one_by_one = metrics.ApproxEdgeF(3)
    pred = torch.rand(2, 3, 32, 32) * 0.7
    for b in range(2):
        one_by_one.update(pred[b:b + 1], gt[b:b + 1])
    batched = metrics.ApproxEdgeF(3)
    batched.update(pred, gt)
    assert torch.equal(batched.counts, one_by_one.counts)
    ignore = torch.ones(2, 32, 32, dtype=torch.bool)  # everything ignored: nothing counted
    none = metrics.ApproxEdgeF(3)
    none.update(pred, gt, ignore)
    assert none.counts.sum() == 0


# ----------------------------------------------------------------------------- folders and command line

def write_class_pngs(out_dir, maps8, name):
    """uint8 [K,H,W] -> out_dir/class_%03d/<name>.png: the SEAL layout of evaluate.save_pngs (written here
    because importing evaluate.py pulls in the whole model)."""
    from PIL import Image
    for k, m in enumerate(maps8):
        path = out_dir / f"class_{k + 1:03d}" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(m).save(path)


@pytest.mark.parametrize("preset", ["sbd", "cityscapes"])
@pytest.mark.parametrize("layout", ["class", "png", "bin"])
def test_evaluate_folder_equals_benchmark(tmp_path, preset, layout):
    """Both GT layouts (per-class PNGs, packed .png/.bin) give exactly the numbers of EdgeBenchmark.update;
    for Cityscapes the GT is at half resolution, as the prepared gt_eval."""
    import datasets
    rng = np.random.default_rng(5)
    K, H, W = 3, 24, 32
    h, w = int(H * metrics.PRESETS[preset].gt_scale), int(W * metrics.PRESETS[preset].gt_scale)
    bench = EdgeBenchmark(K, preset)
    for i in range(3):
        p = ndi.gaussian_filter(rng.random((K, H, W)), (0, 1.5, 1.5))
        p8 = np.round(255 * (p - p.min()) / (p.max() - p.min())).astype(np.uint8)
        region = ndi.gaussian_filter(rng.random((K, h, w)), (0, 2, 2)) > 0.5
        gt = region ^ np.stack([ndi.binary_erosion(r) for r in region])  # inner boundaries
        gt[2] = gt[2] & (i == 0)  # class 3 appears in the first image only
        write_class_pngs(tmp_path / "pred", p8, f"im{i}")
        if layout == "class":
            write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, f"im{i}")
        else:
            (tmp_path / "gt").mkdir(exist_ok=True)
            datasets.write_label(str(tmp_path / "gt" / f"im{i}.{layout}"), datasets.pack_edges(gt))
        bench.update(p8.astype(np.float64) / 255.0, gt, name=f"im{i}")
    result = metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", K, preset)
    expected = bench.compute()
    assert result == expected and 0 < result["mean_ODS"] < 1 and result["num_images"] == 3


def test_evaluate_folder_on_prepared_sbd(tmp_path):
    """prepare-sbd's gt_eval/thin_inst, predictions equal to that GT: the folder, EdgeBenchmark fed
    SBDEdges.eval_gt and the command line agree, and ODS is what the protocol implies."""
    pytest.importorskip("scipy")
    import json

    import datasets
    from test_datasets import _write_sbd
    train, test = ["2008_000001", "2008_000002"], ["2008_000004", "2008_000005"]
    src, _ = _write_sbd(tmp_path, train + test, np.random.default_rng(2), H=32, W=40)
    (src / "dataset" / "train.txt").write_text("\n".join(train) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(test) + "\n")
    root = tmp_path / "sbd"
    datasets.prepare_sbd(str(src), str(root), num_val=1)
    ds = datasets.SBDEdges(str(root), "test")
    bench, orig = EdgeBenchmark(20, "sbd"), EdgeBenchmark(20, "sbd-original")
    kept, total = np.zeros(20), np.zeros(20)
    for i, name in enumerate(ds.names):
        gt = ds.eval_gt(i, "thin")  # (20, 32, 40) bool
        write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, name)
        bench.update(gt.astype(np.float64), gt, name=name)
        orig.update(gt.astype(np.float64), gt, name=name, seg=ds.eval_seg(i))
        crop = gt[:, 5:-5, 5:-5]  # the sbd preset's 5-pixel margin
        kept += [thin(c).sum() for c in crop]
        total += crop.sum(axis=(1, 2))
    gt_dir = root / "gt_eval" / "thin_inst"
    result = metrics.evaluate_folder(tmp_path / "pred", gt_dir, 20, "sbd")
    assert result == bench.compute()
    # binary prediction = GT: every threshold gives thin(GT), each pixel matched to itself (tolerance < 1 px),
    # so P = 1 and R = |thin(GT)| / |GT|: ODS = 1 for any class whose random boundaries thinning leaves alone
    R = kept / np.maximum(total, 1)
    assert total.all() and [c["ODS"] for c in result["classes"].values()] == pytest.approx(2 * R / (1 + R))
    assert result["mean_ODS"] > 0.9
    assert metrics.evaluate_folder(tmp_path / "pred", gt_dir, 20, "sbd-original") == orig.compute()  # gt_eval/seg
    out = tmp_path / "results.json"
    cli = metrics.main(["--pred", str(tmp_path / "pred"), "--gt", str(gt_dir), "--preset", "sbd", "--out", str(out)])
    assert json.loads(out.read_text())["mean_ODS"] == cli["mean_ODS"] == result["mean_ODS"]
    assert list(cli["classes"]) == datasets.SBD_CLASSES


def test_evaluate_folder_missing_or_ill_sized_gt(tmp_path):
    import datasets
    gt = np.zeros((2, 12, 16), bool)
    gt[0, 6, 2:14] = gt[1, 3, 2:8] = True
    for name in ("a", "b"):
        write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, name)
    (tmp_path / "gt").mkdir()
    datasets.write_label(str(tmp_path / "gt" / "a.png"), datasets.pack_edges(gt))
    with pytest.raises(FileNotFoundError, match=r"b\.png.*prepare-sbd"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    datasets.write_label(str(tmp_path / "gt" / "b.png"), datasets.pack_edges(gt[:, :10]))
    with pytest.raises(ValueError, match=r"b\.png is \(16, 10\)"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    with pytest.raises(ValueError, match="classes above 1"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 1, "sbd", names=["a"])
    write_class_pngs(tmp_path / "gt_cls", gt.astype(np.uint8) * 255, "a")
    with pytest.raises(FileNotFoundError, match=r"class_001[/\\]b\.png"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt_cls", 2, "sbd")
