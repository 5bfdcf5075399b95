"""train.py and evaluate.py end to end on the synthetic dataset (CPU, no downloads).

One short training run (tiny backbone, 64x64 crops, 3 epochs) is shared by the tests: its loss
falls and its fast-metric F rises; resuming from its epoch-2 checkpoint repeats epoch 3 exactly,
and so does a run with persistent DataLoader workers (the same losses as without workers);
an interrupted checkpoint write leaves the previous file loadable; evaluate.py on its checkpoint
writes the SEAL-layout PNGs, the results files and the picture; wrong inputs fail clearly.
"""
import json
import os
import shutil

import pytest
import torch
from PIL import Image

import evaluate
import train


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 spinning threads per process are many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_args(out, *extra):
    return train.get_args_parser().parse_args(
        ["--dataset", "synthetic", "--out", str(out), "--crop", "64", "--epochs", "3", "--train-limit", "96",
         "--val-limit", "16", "--batch-size", "8", "--print-every", "1", "--seed", "0", *extra])


def read_log(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def train_keeping_epochs(out, *extra):
    """Train; keep a copy of every epoch's last.pt as epoch<N>.pt."""
    original = train.save_checkpoint

    def save_and_keep(checkpoint, path):
        original(checkpoint, path)
        if path.endswith("last.pt"):
            shutil.copy(path, os.path.join(out, f"epoch{checkpoint['epoch']}.pt"))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "save_checkpoint", save_and_keep)
        return train.main(train_args(out, *extra))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The shared run: 3 epochs of 12 steps."""
    out = tmp_path_factory.mktemp("run")
    return out, train_keeping_epochs(out)


def test_training_learns(run):
    out, result = run
    log = read_log(out)
    losses = [r["loss"] for r in log if r["type"] == "train"]
    assert len(losses) == 3 * 12  # 96 images / batch 8, every step logged
    assert sum(losses[-6:]) / 6 < 0.8 * sum(losses[:6]) / 6, losses
    f = [r["val_mean_F"] for r in log if r["type"] == "epoch"]
    assert len(f) == 3 and f[-1] > f[0], f
    assert result["best_score"] == max(f)


def test_checkpoint_is_plain_and_complete(run):
    out, _ = run
    ckpt = torch.load(os.path.join(out, "last.pt"), map_location="cpu", weights_only=True)
    for key in ("model", "optimizer", "scaler", "epoch", "step", "model_config", "args", "best_score", "rng"):
        assert key in ckpt, key
    assert ckpt["epoch"] == 3 and ckpt["step"] == 36
    assert ckpt["model_config"]["backbone"] == "tiny" and ckpt["args"]["dataset"] == "synthetic"
    assert "text_features" in ckpt["model"]  # evaluate.py needs no CLIP checkpoint
    assert os.path.isfile(os.path.join(out, "best.pt"))
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_resume_continues_exactly(run, tmp_path):
    out, _ = run
    train.main(train_args(tmp_path, "--resume", os.path.join(out, "epoch2.pt")))
    full = [r for r in read_log(out) if r["type"] == "train" and r["epoch"] == 3]
    resumed = [r for r in read_log(tmp_path) if r["type"] == "train"]
    assert [r["step"] for r in resumed] == [r["step"] for r in full]
    assert resumed[0]["loss"] == pytest.approx(full[0]["loss"], rel=1e-5)
    assert resumed[-1]["loss"] == pytest.approx(full[-1]["loss"], rel=1e-4)
    a = torch.load(os.path.join(out, "last.pt"), weights_only=True)["model"]
    b = torch.load(os.path.join(tmp_path, "last.pt"), weights_only=True)["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_workers_persist_without_changing_the_run(run, tmp_path):
    """Augmentations are seeded by (seed, epoch, sample): two persistent workers give the shared run's losses (no
    workers) step for step, and resuming that run after epoch 1 with one persistent worker repeats epoch 2."""
    out, _ = run
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_keeping_epochs(full, "--workers", "2", "--epochs", "2")  # constant lr: epochs 1-2 of the 3-epoch run
    train.main(train_args(resumed, "--workers", "1", "--epochs", "2", "--resume", str(full / "epoch1.pt")))
    assert train_args(full).persistent_workers  # the default

    def losses(path, epochs):
        return [(r["step"], r["loss"]) for r in read_log(path) if r["type"] == "train" and r["epoch"] in epochs]

    assert losses(full, (1, 2)) == losses(out, (1, 2))  # workers 2 == workers 0, exactly
    assert losses(resumed, (2,)) == losses(full, (2,))


@pytest.mark.parametrize("prompts", [
    # CoOp: the learned context, its Adam state and the text_features buffer must all come back
    ["--prompts", "learned", "--prompt-context", "2"],
    # CA-CL: a choice at steps 3 and 6, so the evidence of step 4 (epoch 1) must survive in the checkpoint
    ["--prompts", "select", "--select-every", "3", "--contrast-weight", "0.1"],
], ids=["learned", "select"])
def test_resume_continues_exactly_with_issue7_prompts(prompts, tmp_path):
    """Interrupted after epoch 1 of 2 (4 steps each) and resumed == uninterrupted; the random CLIP (ViT-B/32
    shaped) is fast enough here: the learned context runs it every step."""
    extra = ["--epochs", "2", "--train-limit", "32", "--val-limit", "8", *prompts]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_keeping_epochs(full, *extra)
    train.main(train_args(resumed, *extra, "--resume", str(full / "epoch1.pt")))
    a = [r for r in read_log(full) if r["type"] in ("train", "prompts") and r["epoch"] == 2]
    b = [r for r in read_log(resumed) if r["type"] in ("train", "prompts")]
    assert [(r["type"], r["step"]) for r in b] == [(r["type"], r["step"]) for r in a]
    assert b[0]["loss"] == pytest.approx(a[0]["loss"], rel=1e-5)  # the next step after the interruption
    assert [r.get("templates") for r in b] == [r.get("templates") for r in a]  # the same templates chosen
    a = torch.load(full / "last.pt", weights_only=True)
    b = torch.load(resumed / "last.pt", weights_only=True)
    key = {"learned": "prompt_learner.ctx", "select": "prompt_choice"}[prompts[1]]
    assert key in a["model"] and set(a["model"]) == set(b["model"])
    for k in a["model"]:  # every weight and buffer: ctx, text_features, prompt_bank, prompt_choice, ...
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-4, atol=1e-5, msg=k)
    if "selector" in a:  # the evidence gathered since the last choice
        torch.testing.assert_close(b["selector"], a["selector"], rtol=1e-4, atol=1e-5)


def test_interrupted_write_keeps_previous_checkpoint(run, tmp_path, monkeypatch):
    out, _ = run
    path = str(tmp_path / "last.pt")
    shutil.copy(os.path.join(out, "epoch1.pt"), path)

    def crash(obj, f, *a, **k):  # half a file, then the process "dies"
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint({"epoch": 99}, path)
    monkeypatch.undo()
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_evaluate_writes_pngs_results_and_picture(run, tmp_path):
    out, _ = run
    args = evaluate.get_args_parser().parse_args(
        ["--ckpt", os.path.join(out, "best.pt"), "--out", str(tmp_path), "--limit", "4", "--pictures", "3"])
    summary = evaluate.main(args)
    for k in range(1, 5):  # 4 synthetic classes, SEAL layout
        png = tmp_path / "pred" / f"class_{k:03d}" / "synthetic_00000.png"
        assert png.is_file()
        assert Image.open(png).size == (128, 128) and Image.open(png).mode == "L"
    results = json.loads((tmp_path / "results.json").read_text())
    assert 0 <= results["mean_ODS"] <= 1 and results["images"] == 4
    assert results["mean_ODS"] == pytest.approx(summary["mean_ODS"])
    assert "ODS" in (tmp_path / "results.md").read_text()
    picture = Image.open(tmp_path / "picture.png")
    assert picture.width > 3 * 128 and picture.height > 3 * 128


def test_evaluate_sbd_original_protocol_uses_the_class_maps(run, tmp_path):
    # sbd-original skips images without the class and drops predictions inside the GT segment that are far from
    # its edges: both only remove false positives, so with the same predictions its ODS is never below `sbd`'s.
    out, _ = run
    summaries = {}
    for preset in ("sbd", "sbd-original"):
        args = evaluate.get_args_parser().parse_args(
            ["--ckpt", os.path.join(out, "best.pt"), "--out", str(tmp_path / preset), "--limit", "4",
             "--pictures", "0", "--preset", preset])
        summaries[preset] = evaluate.main(args)
    results = json.loads((tmp_path / "sbd-original" / "results.json").read_text())
    assert results["preset"] == "sbd-original"
    assert summaries["sbd-original"]["mean_ODS"] >= summaries["sbd"]["mean_ODS"] - 1e-9


def test_missing_data_root_is_a_clear_error(tmp_path):
    args = train.get_args_parser().parse_args(
        ["--dataset", "sbd", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="nowhere.*README"):
        train.main(args)


def test_wrong_checkpoints_are_clear_errors(run, tmp_path):
    out, _ = run
    bare = tmp_path / "resnet.pth"  # a bare state dict of some other network
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, bare)
    with pytest.raises(ValueError, match="not a checkpoint written by train.py"):
        evaluate.load_model(str(bare))
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a checkpoint written by train.py"):
        evaluate.load_model(str(text))
    ckpt = torch.load(os.path.join(out, "best.pt"), weights_only=True)
    ckpt["model_config"]["decoder"] = "casenet"  # the weights belong to another architecture
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    with pytest.raises(ValueError, match="another model"):
        evaluate.load_model(str(other))
    with pytest.raises(FileNotFoundError, match="not found"):
        evaluate.load_model(str(tmp_path / "missing.pt"))


def test_non_finite_loss_stops_the_run_and_names_the_terms(tmp_path, monkeypatch, capsys):
    import losses

    def nan_terms(self, outputs, edges, ignore=None):
        return {"loss_edge": outputs["logits"].sum() * float("nan")}

    monkeypatch.setattr(losses.EdgeCriterion, "forward", nan_terms)
    with pytest.raises(FloatingPointError, match="loss_edge"):
        train.main(train_args(tmp_path, "--epochs", "1"))
    assert "non-finite loss" in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "last.pt")


def test_sbd_layout_end_to_end(tmp_path):
    """The real path: SBD's release format -> prepare-sbd -> train.py --dataset sbd -> evaluate.py (sbd protocol)."""
    pytest.importorskip("scipy")
    import numpy as np

    import datasets
    from test_datasets import _write_sbd
    names = [f"2008_{i:06d}" for i in range(6)]
    src, _ = _write_sbd(tmp_path, names, np.random.default_rng(0), H=40, W=48)
    (src / "dataset" / "train.txt").write_text("\n".join(names[:4]) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(names[4:]) + "\n")
    root, out = tmp_path / "sbd", tmp_path / "run"
    datasets.prepare_sbd(str(src), str(root), num_val=1)
    args = train.get_args_parser().parse_args(
        ["--dataset", "sbd", "--data-root", str(root), "--backbone", "tiny", "--no-pretrained",
         "--clip-weights", "random", "--epochs", "1", "--crop", "32", "--batch-size", "3", "--workers", "0",
         "--amp", "off", "--out", str(out)])
    train.main(args)
    ckpt = torch.load(out / "best.pt", weights_only=True)
    assert ckpt["model_config"]["num_classes"] == 20 and ckpt["args"]["dataset"] == "sbd"
    summary = evaluate.main(evaluate.get_args_parser().parse_args(
        ["--ckpt", str(out / "best.pt"), "--out", str(tmp_path / "eval"), "--pictures", "1"]))
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["preset"] == "sbd" and results["images"] == 2  # SBD test = the release's val list
    assert len(results["classes"]) == 20 and results["mean_ODS"] == pytest.approx(summary["mean_ODS"])
    for k in (1, 20):
        assert (tmp_path / "eval" / "pred" / f"class_{k:03d}" / f"{names[4]}.png").is_file()
