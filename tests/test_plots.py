"""util/plots.py: every picture is written, has the expected layout, and shows what it should (colours where the
curves and edges are); the mean PR curve's definition; resumed logs; `metrics.py --plot`."""
import json
import math

import numpy as np
import pytest
from PIL import Image

import metrics
from util import plots


def small_result(seed=0, shift=1, names=("cat", "dog")):
    """A real EdgeBenchmark result on two classes: GT lines, predictions shifted by `shift` plus noise."""
    rng = np.random.default_rng(seed)
    proto = metrics.Protocol("t", margin=0, max_dist=1.5 / math.hypot(24, 24), nthresh=19)
    bench = metrics.EdgeBenchmark(len(names), proto, class_names=list(names))
    for _ in range(2):
        gt = np.zeros((len(names), 24, 24), bool)
        gt[0, 8, 2:22] = gt[1, 2:22, 12] = True
        pred = np.roll(gt, shift, axis=1) * rng.uniform(0.5, 1, gt.shape) + 0.3 * rng.random(gt.shape) * (
            rng.random(gt.shape) < 0.1)
        bench.update(pred, gt)
    return bench.compute()


def colour_pixels(path, rgb, tol=40):
    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).sum(-1) < tol).sum())


def test_colour_edges():
    edges = np.zeros((3, 4, 5), np.float32)
    edges[1, 2, 3] = 1.0
    edges[2, 0, 0] = 0.5
    out = plots.colour_edges(edges)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert tuple(out[2, 3]) == plots.PALETTE[1] and tuple(out[1, 1]) == (255, 255, 255)
    assert tuple(out[0, 0]) == tuple(np.uint8(v) for v in (np.array(plots.PALETTE[2]) + 255) / 2)


@pytest.mark.parametrize("titles", [("image", "ground-truth edges", "predicted edges"), ("image", "predicted edges")])
def test_make_picture_any_number_of_panels(tmp_path, titles):
    edges = np.zeros((2, 40, 60), np.float32)
    edges[1, 20, 5:55] = 1
    image = np.full((40, 60, 3), 90, np.uint8)
    rows = [(f"im{i}", image, *[edges] * (len(titles) - 1)) for i in range(2)]
    plots.make_picture(rows, ["cat", "dog"], tmp_path / "p.png", titles=titles, height=100)
    im = Image.open(tmp_path / "p.png")
    assert im.height > 2 * 100 and im.width >= 150 * len(titles)  # two rows of panels 150 px wide, plus margins
    assert colour_pixels(tmp_path / "p.png", plots.PALETTE[1], 5) >= (len(titles) - 1) * 2 * 100  # the dog's edges
    with pytest.raises(ValueError, match="edge maps for titles"):
        plots.make_picture([("x", image, edges)], ["cat", "dog"], tmp_path / "q.png")


def test_label_picture(tmp_path):
    edges = np.zeros((3, 30, 40), np.uint8)
    edges[2, 10, 5:35] = 1
    ignore = np.zeros((30, 40), bool)
    ignore[:5] = True
    plots.label_picture(np.zeros((30, 40, 3), np.uint8), edges, ignore, ["a", "b", "c"], tmp_path / "l.png")
    assert colour_pixels(tmp_path / "l.png", plots.PALETTE[2], 5) > 30 * 9  # class c's line, scaled up 9x
    assert colour_pixels(tmp_path / "l.png", plots.IGNORE_COLOUR, 5) > 5 * 40 * 9 * 9 * 0.9
    assert colour_pixels(tmp_path / "l.png", plots.PALETTE[0], 5) == 0  # class a is absent: not in the legend


def test_mean_curve_is_the_per_threshold_mean():
    result = small_result()
    R, P = plots.mean_curve(result)
    c = list(result["classes"].values())
    assert R.tolist() == pytest.approx([(a + b) / 2 for a, b in zip(c[0]["recall"], c[1]["recall"])])
    assert P.tolist() == pytest.approx([(a + b) / 2 for a, b in zip(c[0]["precision"], c[1]["precision"])])


def test_pr_curves_and_compare(tmp_path):
    a, b = small_result(0, 1), small_result(1, 2)
    plots.pr_curves(a, tmp_path / "pr.png")
    im = Image.open(tmp_path / "pr.png")
    assert im.width >= 3 * 290 and im.height >= 300  # three panels (cat, dog, mean) in one row
    assert colour_pixels(tmp_path / "pr.png", (220, 30, 30)) > 40  # the two red ODS dots
    assert colour_pixels(tmp_path / "pr.png", (0, 90, 200)) > 100  # the blue curves
    out = tmp_path / "cmp.png"
    plots.compare_pr([("A", a), ("B", b)], out)
    assert colour_pixels(out, plots.RUN_COLOURS[0]) > 100 and colour_pixels(out, plots.RUN_COLOURS[1]) > 100
    del a["classes"]["cat"]["ODS_recall"]
    with pytest.raises(ValueError, match=r"class 'cat' has no \['ODS_recall'\]"):
        plots.pr_curves(a, tmp_path / "bad.png")


def test_metrics_cli_plot(tmp_path):
    for name, seed in (("runA", 0), ("runB", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(small_result(seed, 1 + seed)))
    out = tmp_path / "cmp.png"
    runs = metrics.main(["--plot", str(tmp_path / "runA" / "results.json"), str(tmp_path / "runB" / "results.json"),
                         "--out", str(out)])
    assert [label for label, _ in runs] == ["runA", "runB"] and Image.open(out).width > 800
    with pytest.raises(SystemExit):
        metrics.main(["--plot", str(tmp_path / "runA" / "results.json")])  # no --out
    with pytest.raises(SystemExit):
        metrics.main(["--plot", str(tmp_path / "missing.json"), "--out", str(out)])
    with pytest.raises(ValueError, match=r"missing\.json"):
        plots.load_run(tmp_path / "missing.json")


def write_log(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_read_log_drops_what_a_resume_superseded(tmp_path):
    log = tmp_path / "log.jsonl"
    first = [{"type": "start", "resumed_from_step": None}] + [
        {"type": "train", "step": s, "loss": 1.0} for s in (10, 20, 30, 40)] + [
        {"type": "epoch", "step": 40, "val_mean_F": 0.9}, {"type": "train", "step": 50, "loss": 9, "superseded": True}]
    second = [{"type": "start", "resumed_from_step": 20}, {"type": "train", "step": 30, "loss": 0.5},
              {"type": "epoch", "step": 40, "val_mean_F": 0.4}]
    write_log(log, first + second)
    kept = plots.read_log(log)
    assert [(r["type"], r.get("step")) for r in kept] == [("start", None), ("train", 10), ("train", 20),
                                                          ("start", None), ("train", 30), ("epoch", 40)]
    assert kept[-1]["val_mean_F"] == 0.4 and kept[-2]["loss"] == 0.5
    log.write_text('{"type": "train"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        plots.read_log(log)


def test_training_curves(tmp_path):
    log = tmp_path / "log.jsonl"
    records = [{"type": "start", "resumed_from_step": None}]
    for s in range(0, 200, 10):
        records.append({"type": "train", "step": s, "loss": 5 * math.exp(-s / 50) + 0.1, "loss_edge": 0.1 + s / 1e3})
        if s % 50 == 40:
            records.append({"type": "epoch", "step": s, "val_mean_F": 0.3 + s / 400})
    write_log(log, records)
    plots.training_curves(log, tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size == (1000, 470)
    assert colour_pixels(tmp_path / "curves.png", (0, 90, 200)) > 50  # the validation curve
    assert colour_pixels(tmp_path / "curves.png", (220, 30, 30)) > 10  # its best point
    write_log(log, records[:1])  # a run that has not logged a step yet: an empty chart, no crash
    plots.training_curves(log, tmp_path / "empty.png")
    assert Image.open(tmp_path / "empty.png").size == (1000, 470)


def test_nice_ticks():
    assert plots.nice_ticks(0, 680) == [0, 100, 200, 300, 400, 500, 600]
    assert plots.nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
