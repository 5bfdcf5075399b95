"""metrics.py on folders: evaluate_folder equal to EdgeBenchmark for every GT layout, prediction PNGs of
any bit depth (8-bit / 255, 16-bit / 65535), clear errors for colour / ill-sized PNGs, missing GT and names
that leave their folder, the command line."""
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from edgedata.labels import pack_edges, write_label
from metrics import EdgeBenchmark
import metrics


def write_class_pngs(out_dir, maps, name):
    """(K, H, W) uint8 or uint16 -> out_dir/class_%03d/<name>.png: the SEAL layout of evaluate.py's PNGs."""
    for k, m in enumerate(maps):
        path = out_dir / f"class_{k + 1:03d}" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(m).save(path)


def random_case(rng, K, H, W, h, w):
    p = ndi.gaussian_filter(rng.random((K, H, W)), (0, 1.5, 1.5))
    p = (p - p.min()) / (p.max() - p.min())
    region = ndi.gaussian_filter(rng.random((K, h, w)), (0, 2, 2)) > 0.5
    return p, region ^ np.stack([ndi.binary_erosion(r) for r in region])  # inner boundaries


@pytest.mark.parametrize("preset", ["sbd", "cityscapes"])
@pytest.mark.parametrize("layout", ["class", "png", "bin"])
def test_evaluate_folder_equals_benchmark(tmp_path, preset, layout):
    """Both GT layouts (per-class PNGs, packed .png/.bin) give exactly the numbers of EdgeBenchmark.update;
    for Cityscapes the GT is at half resolution, as the prepared gt_eval."""
    rng = np.random.default_rng(5)
    K, H, W = 3, 24, 32
    h, w = int(H * metrics.PRESETS[preset].gt_scale), int(W * metrics.PRESETS[preset].gt_scale)
    bench = EdgeBenchmark(K, preset)
    for i in range(3):
        p, gt = random_case(rng, K, H, W, h, w)
        gt[2] = gt[2] & (i == 0)  # class 3 appears in the first image only
        p8 = np.round(255 * p).astype(np.uint8)
        write_class_pngs(tmp_path / "pred", p8, f"im{i}")
        if layout == "class":
            write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, f"im{i}")
        else:
            (tmp_path / "gt").mkdir(exist_ok=True)
            write_label(str(tmp_path / "gt" / f"im{i}.{layout}"), pack_edges(gt))
        bench.update(p8.astype(np.float64) / 255.0, gt)
    result = metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", K, preset)
    expected = bench.compute()
    assert result == expected and result["num_images"] == 3 and result["mean_ODS"] > 0.05


def test_sixteen_bit_predictions_scaled_by_their_range(tmp_path):
    """16-bit PNGs are probabilities * 65535: read as v / 65535, never v / 255 (which would put every
    pixel above 1, i.e. every threshold on, and give a recall of 1 at precision |GT| / |image|)."""
    rng = np.random.default_rng(6)
    K, H, W = 2, 24, 32
    p, gt = random_case(rng, K, H, W, H, W)
    p16 = np.round(65535 * p).astype(np.uint16)
    write_class_pngs(tmp_path / "pred", p16, "a")
    write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, "a")
    assert Image.open(tmp_path / "pred" / "class_001" / "a.png").mode == "I;16"
    bench = EdgeBenchmark(K, "sbd")
    bench.update(p16 / 65535.0, gt)
    result = metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", K, "sbd")
    assert result == bench.compute()
    read = metrics.read_prediction_png(tmp_path / "pred" / "class_001" / "a.png")
    assert np.abs(read - p[0]).max() <= 0.5 / 65535 + 1e-12
    bad = EdgeBenchmark(K, "sbd")
    bad.update(np.minimum(p16 / 255.0, 1.0), gt)  # the bug this guards against: a different, wrong number
    assert bad.compute()["mean_ODS"] != pytest.approx(result["mean_ODS"], abs=1e-3)


def test_colour_and_ill_sized_predictions_name_the_file(tmp_path):
    gt = np.zeros((2, 12, 16), bool)
    gt[0, 6, 2:14] = gt[1, 3, 2:8] = True
    write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, "a")
    write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, "a")
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "pred" / "class_002" / "a.png")  # RGB
    with pytest.raises(ValueError, match=r"class_002[/\\]a\.png has mode RGB.*one gray PNG per class"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    Image.fromarray(np.zeros((10, 16), np.uint8)).save(tmp_path / "pred" / "class_002" / "a.png")  # 16 x 10
    with pytest.raises(ValueError, match=r"class_002[/\\]a\.png is \(16, 10\).*class_001's map of a is \(16, 12\)"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    write_class_pngs(tmp_path / "pred2", np.zeros((2, 20, 20), np.uint8), "a")  # neither the GT size nor half
    with pytest.raises(ValueError, match=r"GT .*class_001[/\\]a\.png is \(16, 12\), expected .*\(20, 20\)"):
        metrics.evaluate_folder(tmp_path / "pred2", tmp_path / "gt", 2, "sbd")


def test_colour_gt_class_png_names_the_file(tmp_path):
    gt = np.zeros((2, 12, 16), bool)
    gt[0, 6, 2:14] = gt[1, 3, 2:8] = True
    write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, "a")
    write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, "a")
    rgb = np.repeat(gt[1, :, :, None].astype(np.uint8) * 255, 3, axis=2)  # (12, 16, 3): passes a shape[:2] check
    Image.fromarray(rgb).save(tmp_path / "gt" / "class_002" / "a.png")
    with pytest.raises(ValueError, match=r"GT .*class_002[/\\]a\.png has mode RGB.*one gray or 1-bit PNG per class"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")


def test_names_that_leave_the_folder_are_refused(tmp_path):
    gt = np.zeros((1, 12, 16), bool)
    write_class_pngs(tmp_path / "pred", gt.astype(np.uint8), "a")
    write_class_pngs(tmp_path / "gt", gt.astype(np.uint8), "a")
    for name in ("../a", "/etc/passwd"):
        with pytest.raises(ValueError, match="leaves the folder|absolute path"):
            metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 1, "sbd", names=[name])


def test_evaluate_folder_missing_or_ill_sized_gt(tmp_path):
    gt = np.zeros((2, 12, 16), bool)
    gt[0, 6, 2:14] = gt[1, 3, 2:8] = True
    for name in ("a", "b"):
        write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, name)
    (tmp_path / "gt").mkdir()
    write_label(str(tmp_path / "gt" / "a.png"), pack_edges(gt))
    with pytest.raises(FileNotFoundError, match=r"b\.png.*prepare\.py"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    write_label(str(tmp_path / "gt" / "b.png"), pack_edges(gt[:, :10]))
    with pytest.raises(ValueError, match=r"b\.png is \(16, 10\)"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 2, "sbd")
    with pytest.raises(ValueError, match=r"a\.png: class bits \[2\] set"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt", 1, "sbd", names=["a"])
    write_class_pngs(tmp_path / "gt_cls", gt.astype(np.uint8) * 255, "a")
    with pytest.raises(FileNotFoundError, match=r"class_001[/\\]b\.png"):
        metrics.evaluate_folder(tmp_path / "pred", tmp_path / "gt_cls", 2, "sbd")


def test_evaluate_folder_on_prepared_sbd(tmp_path):
    """prepare.py's gt_eval/thin_inst, predictions equal to that GT: the folder, EdgeBenchmark fed
    SBDEdges.eval_gt and the command line agree, and ODS is what the protocol implies."""
    import datasets
    import prepare
    from test_prepare import _write_sbd
    from scoring.thinning import thin
    train, test = ["2008_000001", "2008_000002"], ["2008_000004", "2008_000005"]
    src, _ = _write_sbd(tmp_path, train + test, np.random.default_rng(2), H=32, W=40)
    (src / "dataset" / "train.txt").write_text("\n".join(train) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(test) + "\n")
    root = tmp_path / "sbd"
    prepare.prepare_sbd(str(src), str(root), num_val=1)
    ds = datasets.SBDEdges(str(root), "test")
    bench, orig = EdgeBenchmark(20, "sbd"), EdgeBenchmark(20, "sbd-original")
    kept, total = np.zeros(20), np.zeros(20)
    for i, name in enumerate(ds.names):
        gt = ds.eval_gt(i, "thin")  # (20, 32, 40) bool
        write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, name)
        bench.update(gt.astype(np.float64), gt)
        orig.update(gt.astype(np.float64), gt, seg=ds.eval_seg(i))
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
    original = metrics.evaluate_folder(tmp_path / "pred", gt_dir, 20, "sbd-original")  # class maps in gt_eval/../seg
    assert original == orig.compute() and original["protocol"]["margin"] == 0
    assert original["mean_ODS"] != result["mean_ODS"]  # the two protocols differ on these maps
    out = tmp_path / "results.json"
    cli = metrics.main(["--pred", str(tmp_path / "pred"), "--gt", str(gt_dir), "--preset", "sbd", "--out", str(out)])
    assert json.loads(out.read_text())["mean_ODS"] == cli["mean_ODS"] == result["mean_ODS"]
    assert list(cli["classes"]) == datasets.SBD_CLASSES


def test_cli_classes_from_a_classes_txt(tmp_path):
    gt = np.zeros((2, 12, 16), bool)
    gt[0, 6, 2:14] = gt[1, 3, 2:8] = True
    write_class_pngs(tmp_path / "pred", gt.astype(np.uint8) * 255, "a")
    write_class_pngs(tmp_path / "gt", gt.astype(np.uint8) * 255, "a")
    (tmp_path / "classes.txt").write_text("road sign\nlane\n")
    result = metrics.main(["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--preset", "sbd-reanno",
                           "--classes", str(tmp_path / "classes.txt")])
    assert list(result["classes"]) == ["road sign", "lane"] and result["protocol"]["name"] == "sbd-reanno"
    with pytest.raises(SystemExit):
        metrics.main(["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--classes", "voc"])
