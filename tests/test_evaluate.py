"""evaluate.py end to end on checkpoints the tests write themselves (tiny random models, no training):
the SEAL-layout PNGs, results.json / results.md with the protocol, the pictures; exact known answers when the
prediction is the ground truth (with and without false positives inside a segment, where `sbd` and
`sbd-original` must differ by a hand-checked amount); and the inputs that must stop with a clear error or warn.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import datasets
from edgedata import labels
import evaluate
from util import checkpoint
from test_checkpoint import tiny_checkpoint
from scoring.thinning import thin


def run(ckpt, out, *extra):
    return evaluate.main(evaluate.get_args_parser().parse_args(["--ckpt", str(ckpt), "--out", str(out), *extra]))


def stable(gts, k):
    """Class k's GT cropped by the `sbd` margin is a fixed point of thinning in every map (cropping a thin curve can
    leave a spur that thinning removes, which would make a perfect prediction score a little under 1)."""
    return all(np.array_equal(thin(g[k, 5:-5, 5:-5] > 0), g[k, 5:-5, 5:-5] > 0) for g in gts)


def fake_predictions(monkeypatch, maps):
    """evaluate.predict returns maps[0], maps[1], ... (K, H, W) in the order evaluate.py asks for them."""
    queue = list(maps)
    monkeypatch.setattr(evaluate, "predict", lambda model, images, amp, window: torch.as_tensor(
        queue.pop(0), dtype=torch.float32)[None])


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "last.pt"
    tiny_checkpoint(path)
    return path


def test_writes_pngs_results_and_pictures(ckpt, tmp_path, capsys):
    summary = run(ckpt, tmp_path, "--limit", "3", "--pictures", "2")
    for k in range(1, 5):  # 4 synthetic classes, SEAL layout
        png = Image.open(tmp_path / "pred" / f"class_{k:03d}" / "synthetic_00000.png")
        assert png.size == (128, 128) and png.mode == "L"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["images"] == 3 and results["preset"] == "sbd" and results["mean_ODS"] == summary["mean_ODS"]
    assert results["protocol"]["ap"] == "area_pr" and "Area_PR" in results["ap_definition"]
    assert results["mean_ODS"] == pytest.approx(np.mean([c["ODS"] for c in results["classes"].values()]))
    assert len(results["classes"]["red disc"]["precision"]) == len(results["thresholds"]) == 99
    assert "| ODS |" in (tmp_path / "results.md").read_text()
    printed = capsys.readouterr().out
    assert "AP=area_pr" in printed and "Area_PR" in printed  # the protocol, its AP definition, with the result
    picture = Image.open(tmp_path / "picture.png")
    assert picture.width > 3 * 128 and picture.height > 2 * 128
    assert Image.open(tmp_path / "pr_curves.png").width > 300


def test_the_ground_truth_as_prediction_scores_one(ckpt, tmp_path, monkeypatch):
    """PNGs and benchmark are fed what the model predicts, class for class: the GT itself gives ODS 1 on every
    class that occurs (a class shifted by one PNG folder or a transposed map would not)."""
    test_set = datasets.make_dataset("synthetic", None, "test")
    gts = [test_set.eval_gt(i, "thin").astype(np.float32) for i in range(3)]
    fake_predictions(monkeypatch, gts)
    results = run(ckpt, tmp_path, "--limit", "3", "--pictures", "0")
    present = [name for k, name in enumerate(test_set.class_names)
               if sum(g[k, 5:-5, 5:-5].sum() for g in gts) and stable(gts, k)]
    assert len(present) >= 2
    assert all(results["classes"][name]["ODS"] == pytest.approx(1.0) for name in present)
    png = np.array(Image.open(tmp_path / "pred" / "class_002" / "synthetic_00001.png"))
    assert np.array_equal(png, (gts[1][1] * 255).astype(np.uint8))


def test_sbd_original_uses_the_class_maps(ckpt, tmp_path, monkeypatch):
    """GT edges plus isolated false positives deep inside a segment of their class. `sbd` counts them:
    R = 1, P = n_gt / (n_gt + n_fp). `sbd-original` removes predictions inside the segment farther than the
    tolerance from its edges (it needs the class maps for that): P = R = 1. Each preset is fed its own GT: `sbd`
    the instance-sensitive one, `sbd-original` the category one (SBD's GTcls)."""
    test_set = datasets.make_dataset("synthetic", None, "test")
    gts = [test_set.eval_gt(i, "thin").astype(np.float32) for i in range(4)]  # (K, H, W) each
    cls_set = datasets.make_dataset("synthetic", None, "test", edge_type="cls")
    gts_cls = [cls_set.eval_gt(i, "thin").astype(np.float32) for i in range(4)]
    k = 1  # green square: a large one in image 3; its cropped GT is a fixed point of thinning
    assert stable(gts, k)
    maps, maps_cls, n_gt, n_fp = [], [], 0, 0
    for i, (gt, gt_cls) in enumerate(zip(gts, gts_cls)):
        seg = test_set.eval_seg(i)                                      # (H, W) 0 background, k + 1 = class k
        ys, xs = np.nonzero(gt[k])  # the category edges are a subset of the instance-sensitive ones
        pred, pred_cls = gt.copy(), gt_cls.copy()
        for y in range(8, 120, 4):                                      # a grid of isolated pixels
            for x in range(8, 120, 4):
                far = ys.size == 0 or ((ys - y) ** 2 + (xs - x) ** 2).min() > 8 ** 2  # > tolerance (3.6 px)
                if seg[y, x] == k + 1 and far:
                    pred[k, y, x] = pred_cls[k, y, x] = 1.0
                    n_fp += 1
        n_gt += gt[k, 5:-5, 5:-5].sum()                                 # the `sbd` preset crops 5 pixels
        maps.append(pred)
        maps_cls.append(pred_cls)
    assert n_fp >= 5 and n_gt > 0
    results = {}
    for preset, preds in (("sbd", maps), ("sbd-original", maps_cls)):
        fake_predictions(monkeypatch, preds)
        results[preset] = run(ckpt, tmp_path / preset, "--limit", "4", "--pictures", "0", "--preset", preset)
    precision = n_gt / (n_gt + n_fp)
    name = test_set.class_names[k]
    assert results["sbd"]["classes"][name]["ODS"] == pytest.approx(2 * precision / (1 + precision), abs=1e-6)
    assert results["sbd-original"]["classes"][name]["ODS"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "sbd-original" / "results.json").read_text())["protocol"]["ap"] == "interpolated"


# ------------------------------------------------------------------------------------------- a folder dataset


def folder_dataset(root, classes, names, bits=None):
    """A prepared `--dataset folder` root: classes.txt, images, packed labels, test list and evaluation GT."""
    for d in ("images", "labels", "gt_eval/thin_inst", "gt_eval/raw_inst"):
        os.makedirs(root / d, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "images" / f"{name}.png")
        b = np.zeros((48, 64), np.uint32) if bits is None else bits
        for path in ("labels", "gt_eval/thin_inst", "gt_eval/raw_inst"):
            labels.write_label(str(root / path / f"{name}.png"), b)
    (root / "test_inst.txt").write_text("".join(f"images/{n}.png labels/{n}.png\n" for n in names))


def folder_checkpoint(path, root, classes=("red disc", "green square", "blue triangle", "yellow ring"),
                      dataset="folder", **args):
    _, ckpt = tiny_checkpoint(path, num_classes=len(classes))
    ckpt["args"] = {"dataset": dataset, "data_root": str(root), "train_split": "train", "val_split": "val", **args}
    ckpt["model_config"]["class_names"] = list(classes)
    checkpoint.save_checkpoint(ckpt, str(path))
    return ckpt


CLASSES = ["red disc", "green square", "blue triangle", "yellow ring"]


def test_sbd_original_scores_the_category_gt(tmp_path, monkeypatch, capsys):
    """`sbd-original` is SBD's own benchmark: it reads gt_eval/thin_cls (category boundaries), the other presets
    gt_eval/thin_inst. The two GTs differ here; the prediction is the category GT, so only it scores 1."""
    folder_dataset(tmp_path / "data", CLASSES, ["a"])
    inst, cls = np.zeros((4, 48, 64), np.float32), np.zeros((4, 48, 64), np.float32)
    cls[0, 10:30, 20] = 1                       # a category boundary of class 1
    inst[0, 10:30, 20] = inst[0, 10:30, 40] = 1  # plus an instance boundary inside the class
    os.makedirs(tmp_path / "data" / "gt_eval" / "thin_cls")
    os.makedirs(tmp_path / "data" / "gt_eval" / "seg")
    labels.write_label(str(tmp_path / "data" / "gt_eval" / "thin_inst" / "a.png"), labels.pack_edges(inst))
    labels.write_label(str(tmp_path / "data" / "gt_eval" / "thin_cls" / "a.png"), labels.pack_edges(cls))
    seg = np.zeros((48, 64), np.uint8)
    seg[10:30, 20:41] = 1  # class 1's segment, the category boundary on its left side
    Image.fromarray(seg).save(tmp_path / "data" / "gt_eval" / "seg" / "a.png")
    (tmp_path / "data" / "test_cls.txt").write_text("images/a.png labels/a.png\n")
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "data")
    scores = {}
    for preset in ("sbd-original", "sbd"):
        fake_predictions(monkeypatch, [cls])
        scores[preset] = run(tmp_path / "last.pt", tmp_path / preset, "--preset", preset, "--pictures", "0")
        assert scores[preset]["edge_type"] == ("cls" if preset == "sbd-original" else "inst")
    assert scores["sbd-original"]["classes"]["red disc"]["ODS"] == pytest.approx(1.0)
    assert scores["sbd"]["classes"]["red disc"]["ODS"] < 0.9  # the instance boundary is missed
    assert "ground truth: category boundaries (edge_type cls, gt_eval/thin_cls)" in capsys.readouterr().out


def test_sbd_original_on_cityscapes_is_one_clear_error(tmp_path):
    """Cityscapes has no GT class maps (edgedata/converters.py writes none): `sbd-original` stops with one line that
    does not send the user to a prepare command that would not write them."""
    (tmp_path / "cs").mkdir()
    (tmp_path / "cs" / "test_cls.txt").write_text("leftImg8bit/val/x/a_leftImg8bit.png gtFine/a.png\n")
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "cs", datasets.CITYSCAPES_CLASSES, dataset="cityscapes")
    proc = subprocess.run([sys.executable, "evaluate.py", "--ckpt", str(tmp_path / "last.pt"), "--preset",
                           "sbd-original"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "needs GT class maps" in line and "--dataset cityscapes has none" in line
    assert "prepare.py" not in line and "--preset cityscapes" in line


def test_empty_test_list_is_an_error_naming_it(tmp_path):
    folder_dataset(tmp_path / "data", CLASSES, [])
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "data")
    with pytest.raises(ValueError, match=r"test_inst\.txt lists 0 images"):
        run(tmp_path / "last.pt", tmp_path / "eval")
    assert not (tmp_path / "eval" / "results.json").exists()


def test_class_bits_beyond_k_in_the_evaluation_gt_are_an_error(tmp_path):
    bits = np.zeros((48, 64), np.uint32)
    bits[10, 10:20] = 1 << 6  # class 7 in a 4-class dataset
    folder_dataset(tmp_path / "data", CLASSES, ["a"], bits)
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "data")
    with pytest.raises(ValueError, match=r"a\.png"):
        run(tmp_path / "last.pt", tmp_path / "eval")


def test_classes_of_another_dataset_are_an_error(tmp_path):
    folder_dataset(tmp_path / "data", ["cat", "dog", "car", "tree"], ["a"])
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "data")
    with pytest.raises(ValueError, match=r"model's classes.*'cat', 'dog'"):
        run(tmp_path / "last.pt", tmp_path / "eval")


def test_best_pt_selected_on_its_own_training_images_warns(tmp_path, capsys):
    folder_dataset(tmp_path / "data", CLASSES, ["a"])
    folder_checkpoint(tmp_path / "best.pt", tmp_path / "data", train_split="trainval")
    run(tmp_path / "best.pt", tmp_path / "eval", "--pictures", "0")
    out = capsys.readouterr().out
    assert "WARNING" in out and "trained on 'trainval', which contains its validation split 'val'" in out
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "data", train_split="trainval")
    run(tmp_path / "last.pt", tmp_path / "eval", "--pictures", "0")
    assert "WARNING" not in capsys.readouterr().out


def test_model_pt_needs_the_data_root_and_then_works(tmp_path, capsys):
    folder_dataset(tmp_path / "data", CLASSES, ["a", "b"])
    ckpt = folder_checkpoint(tmp_path / "last.pt", tmp_path / "data")
    checkpoint.export_model(ckpt, str(tmp_path / "model.pt"), metric_preset="sbd")
    with pytest.raises(ValueError, match="pass --data-root"):
        run(tmp_path / "model.pt", tmp_path / "eval")
    summary = run(tmp_path / "model.pt", tmp_path / "eval", "--data-root", str(tmp_path / "data"))
    assert summary["dataset"] == "folder" and summary["images"] == 2


def test_command_line_errors_are_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"PK\x03\x04 half written")
    proc = subprocess.run([sys.executable, "evaluate.py", "--ckpt", str(bad)], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"evaluate.py --ckpt: '{bad}' is a truncated zip archive" in proc.stderr.splitlines()[-1]


def test_model_pt_without_its_dataset_name_is_recognised_by_its_classes(tmp_path):
    _, ckpt = tiny_checkpoint(tmp_path / "last.pt")
    checkpoint.export_model(ckpt, str(tmp_path / "model.pt"), metric_preset="sbd")
    shared = torch.load(tmp_path / "model.pt", weights_only=True)
    del shared["dataset"]  # exported by other code: the synthetic class list still names the dataset
    torch.save(shared, tmp_path / "model.pt")
    assert run(tmp_path / "model.pt", tmp_path / "eval", "--limit", "2", "--pictures", "0")["dataset"] == "synthetic"
    shared["model_config"]["class_names"] = ["cat", "dog", "car", "tree"]
    torch.save(shared, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="does not name its dataset: pass --dataset"):
        run(tmp_path / "model.pt", tmp_path / "eval")


def test_sbd_release_prepared_and_evaluated_with_both_sbd_presets(tmp_path):
    """The real path: SBD's release format -> prepare.py sbd -> evaluate.py (sbd, and sbd-original with the
    class maps that prepare writes for the test split)."""
    from edgedata import converters
    from test_prepare import _write_sbd
    names = [f"2008_{i:06d}" for i in range(5)]
    src, _ = _write_sbd(tmp_path, names, np.random.default_rng(0), H=40, W=48)
    (src / "dataset" / "train.txt").write_text("\n".join(names[:3]) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(names[3:]) + "\n")
    converters.prepare_sbd(str(src), str(tmp_path / "sbd"), num_val=1)
    folder_checkpoint(tmp_path / "last.pt", tmp_path / "sbd", datasets.SBD_CLASSES, dataset="sbd")
    for preset in ("sbd", "sbd-original"):
        summary = run(tmp_path / "last.pt", tmp_path / preset, "--preset", preset, "--pictures", "1")
        results = json.loads((tmp_path / preset / "results.json").read_text())
        assert results["preset"] == preset and results["images"] == 2  # SBD test = the release's val list
        assert len(results["classes"]) == 20 and results["mean_ODS"] == pytest.approx(summary["mean_ODS"])
        for k in (1, 20):
            assert (tmp_path / preset / "pred" / f"class_{k:03d}" / f"{names[3]}.png").is_file()


def test_data_root_with_the_synthetic_dataset_is_an_error(ckpt, tmp_path):
    """The synthetic set is generated in memory: a --data-root beside it (from the checkpoint or --dataset synthetic)
    would be ignored without a word, so evaluate.py stops with one line naming the folder, before any inference."""
    (tmp_path / "data").mkdir()
    for extra in ([], ["--dataset", "synthetic"]):  # --limit 1: code that ignores the folder finishes quickly
        with pytest.raises(ValueError, match=r"--data-root \S*data is given, but the dataset is the synthetic") as e:
            run(ckpt, tmp_path / "eval", "--data-root", str(tmp_path / "data"), "--limit", "1", *extra)
        assert "\n" not in str(e.value) and "leave out --data-root" in str(e.value)
    assert not (tmp_path / "eval").exists()  # stopped before writing anything
