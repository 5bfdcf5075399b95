"""train.py end to end on the synthetic dataset (CPU, no downloads).

One short training run (tiny backbone, 64x64 crops, 3 epochs) is shared by the tests: its loss falls and its
fast-metric F rises; resuming from its epoch-2 checkpoint repeats epoch 3 exactly (also with a model that draws
from the global RNG, with persistent DataLoader workers, and with two DDP processes); the log, checkpoints,
curves.png and model.pt are complete; faults (non-finite loss or weights, a kill between best.pt and last.pt,
batch size 1 with BatchNorm, unusable labels, conflicting --resume flags) give a clear error or warning.
"""
import json
import os
import shutil

import pytest
import torch
from PIL import Image

import train


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 spinning threads per process are many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_args(out, *extra):
    return train.parse_args(
        ["--dataset", "synthetic", "--out", str(out), "--crop", "64", "--epochs", "3", "--train-limit", "96",
         "--val-limit", "16", "--batch-size", "8", "--print-every", "1", "--seed", "0", *extra])


def read_log(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def train_keeping_epochs(out, *extra, crash=None):
    """Train; keep a copy of every epoch's last.pt as epoch<N>.pt. `crash(path, checkpoint)` may raise to
    simulate a kill while a checkpoint is written."""
    original = train.save_checkpoint

    def save_and_keep(checkpoint, path):
        if crash is not None:
            crash(path, checkpoint)
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


def test_log_opens_with_the_run_environment(run):
    out, _ = run
    start = read_log(out)[0]
    assert start["type"] == "start" and start["resumed_from_step"] is None
    assert start["env"]["torch"] == torch.__version__ and "torchvision" in start["env"]
    commit = start["env"]["git_commit"]
    assert commit is None or len(commit) == 40
    assert start["backends"]["deterministic"] is False and start["args"]["train_split"] == "train"


def test_checkpoint_is_plain_and_complete(run):
    out, _ = run
    ckpt = torch.load(os.path.join(out, "last.pt"), map_location="cpu", weights_only=True)
    for key in ("model", "optimizer", "scaler", "epoch", "step", "model_config", "args", "best_score", "rng",
                "metric_preset"):
        assert key in ckpt, key
    assert ckpt["epoch"] == 3 and ckpt["step"] == 36
    assert ckpt["model_config"]["backbone"] == "tiny" and ckpt["args"]["dataset"] == "synthetic"
    assert ckpt["model_config"]["text_features"] == "clip"
    assert "text_features" in ckpt["model"]  # evaluate.py needs no CLIP checkpoint
    best = torch.load(os.path.join(out, "best.pt"), map_location="cpu", weights_only=True)
    assert best["score"] == ckpt["best_score"]  # the checkpoint that best.pt holds scored what last.pt records
    shared = torch.load(os.path.join(out, "model.pt"), map_location="cpu", weights_only=True)
    assert "optimizer" not in shared and shared["epoch"] == best["epoch"]  # model.pt = best.pt's weights
    assert all(torch.equal(shared["model"][k], best["model"][k]) for k in best["model"])
    with Image.open(os.path.join(out, "curves.png")) as im:  # a drawn figure, not an empty or blank file
        assert im.format == "PNG" and 400 <= im.width <= 4000 and 300 <= im.height <= 4000, im.size
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    chromatic = {c for _, c in colours if max(c) - min(c) > 60}  # the curves' colours, not grey text or axes
    assert len(chromatic) > 2, chromatic
    assert not [f for f in os.listdir(out) if ".tmp" in f]


def test_resume_continues_exactly(run, tmp_path):
    out, _ = run
    train.main(train_args(tmp_path, "--resume", os.path.join(out, "epoch2.pt")))
    full = [r for r in read_log(out) if r["type"] == "train" and r["epoch"] == 3]
    resumed = [r for r in read_log(tmp_path) if r["type"] == "train"]
    assert [(r["step"], r["loss"]) for r in resumed] == [(r["step"], r["loss"]) for r in full]
    a = torch.load(os.path.join(out, "last.pt"), weights_only=True)["model"]
    b = torch.load(os.path.join(tmp_path, "last.pt"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_log(tmp_path)[0]["resumed_from_step"] == 24


def test_resume_restores_the_global_rng(tmp_path):
    """EfficientNet's stochastic depth draws from torch's global RNG in every training step: interrupted after
    epoch 1 and resumed == uninterrupted only when the resume restores that RNG too."""
    extra = ["--backbone", "efficientnet_b0", "--no-pretrained", "--crop", "32", "--epochs", "2", "--train-limit",
             "8", "--val-limit", "2", "--batch-size", "4"]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_keeping_epochs(full, *extra)
    train.main(train_args(resumed, *extra, "--resume", str(full / "epoch1.pt")))
    a = [(r["step"], r["loss"]) for r in read_log(full) if r["type"] == "train" and r["epoch"] == 2]
    b = [(r["step"], r["loss"]) for r in read_log(resumed) if r["type"] == "train"]
    assert len(a) == 2 and b == a


def test_the_seed_alone_sets_the_model_initialisation(tmp_path, monkeypatch):
    """Nothing between seeding and building the model (data set-up, the label check, the log) may draw from the
    global RNG: the model's initial weights, and so the whole run, depend on --seed alone."""
    import model as edge_model
    seen, original = [], edge_model.build_model

    def build(*a, **k):
        seen.append(torch.get_rng_state())
        return original(*a, **k)

    monkeypatch.setattr(edge_model, "build_model", build)
    train.main(train_args(tmp_path, "--epochs", "1", "--train-limit", "16", "--val-limit", "4"))
    torch.manual_seed(0)
    assert torch.equal(seen[0], torch.get_rng_state())


def test_resume_in_the_same_folder_marks_the_repeated_records(run, tmp_path):
    """Resuming in the run folder repeats the steps after the checkpoint: the earlier records of those steps
    are marked superseded, so no step counts twice."""
    out, _ = run
    for name in ("log.jsonl", "epoch2.pt"):
        shutil.copy(os.path.join(out, name), tmp_path / name)
    train.main(train_args(tmp_path, "--resume", str(tmp_path / "epoch2.pt")))
    log = read_log(tmp_path)
    live = [r["step"] for r in log if r["type"] == "train" and not r.get("superseded")]
    assert live == list(range(1, 37))  # every step once
    assert sum(r.get("superseded", False) for r in log) == 12 + 1  # epoch 3's train records and its epoch record
    assert [r["resumed_from_step"] for r in log if r["type"] == "start"] == [None, 24]


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
def test_resume_continues_exactly_with_related_prompts(prompts, tmp_path):
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


def test_kill_while_writing_best_keeps_best_and_last_consistent(tmp_path):
    """Killed while best.pt of the last epoch is written: last.pt must not already record the new best score
    (else the resume has nothing left to do and best.pt stays at the older model)."""
    extra = ["--epochs", "2", "--train-limit", "16", "--val-limit", "8"]

    def kill_at_last_best(path, checkpoint):
        if path.endswith("best.pt") and checkpoint["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_keeping_epochs(tmp_path, *extra, crash=kill_at_last_best)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1
    train.main(train_args(tmp_path, *extra, "--resume", str(tmp_path / "last.pt")))
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert last["epoch"] == 2 and best["score"] == last["best_score"]


def test_non_finite_loss_stops_the_run_and_names_the_terms(tmp_path, monkeypatch, capsys):
    import losses

    def nan_terms(self, outputs, edges, ignore=None):
        return {"loss_edge": outputs["logits"].sum() * float("nan")}

    monkeypatch.setattr(losses.EdgeCriterion, "forward", nan_terms)
    with pytest.raises(FloatingPointError, match="loss_edge"):
        train.main(train_args(tmp_path, "--epochs", "1"))
    assert "non-finite loss" in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "last.pt")


def test_diverged_weights_are_never_saved(tmp_path, monkeypatch, capsys):
    """A finite loss but a BatchNorm running variance gone to inf: no best.pt / last.pt, the non-finite message."""
    original = train.train_one_epoch

    def diverge(model, *rest):
        result = original(model, *rest)
        next(b for name, b in model.named_buffers() if name.endswith("running_var")).fill_(float("inf"))
        return result

    monkeypatch.setattr(train, "train_one_epoch", diverge)
    with pytest.raises(FloatingPointError, match="non-finite"):
        train.main(train_args(tmp_path, "--epochs", "1", "--train-limit", "16", "--val-limit", "8"))
    assert "lower --lr" in capsys.readouterr().out.lower()
    assert not os.path.exists(tmp_path / "last.pt") and not os.path.exists(tmp_path / "best.pt")


def test_batch_size_one_with_batchnorm_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--batch-size 1.*BatchNorm.*--batch-size 2"):
        train.main(train_args(tmp_path, "--batch-size", "1", "--epochs", "1"))


def test_labels_without_edges_are_warned_about(tmp_path, monkeypatch, capsys):
    from edgedata import synthetic
    original = synthetic.SyntheticEdges.scene

    def empty_scene(self, index):  # scenes 0-3: background only (no shape, so no edge pixel)
        image, classes, instances = original(self, index)
        if index < 4:
            classes[:], instances[:] = 0, 0
        return image, classes, instances

    monkeypatch.setattr(synthetic.SyntheticEdges, "scene", empty_scene)
    train.main(train_args(tmp_path, "--epochs", "1", "--train-limit", "16", "--val-limit", "8"))
    assert "WARNING: 4 of 16 training samples have no edge pixel" in capsys.readouterr().out


def test_resume_flags(run, tmp_path, capsys):
    """--resume takes the flags not given from the checkpoint; a conflicting model flag is an error naming both
    values; another training hyper-parameter a warning."""
    out, _ = run
    ckpt = os.path.join(out, "epoch2.pt")
    with pytest.raises(ValueError, match=r"--fusion none \(checkpoint: product\)"):
        train.main(train.parse_args(["--dataset", "synthetic", "--fusion", "none", "--resume", ckpt]))
    # no --dataset, --crop, --epochs: they come from the checkpoint
    args = train.parse_args(["--resume", ckpt, "--out", str(tmp_path), "--lr", "0.002", "--print-every", "1"])
    train.main(args)
    printed = capsys.readouterr().out
    assert "WARNING: --resume" in printed and "--lr 0.002 (checkpoint: 0.001)" in printed
    assert args.dataset == "synthetic" and args.crop == 64 and args.epochs == 3 and args.lr == 0.002
    assert [r["step"] for r in read_log(tmp_path) if r["type"] == "train"][0] == 25


def test_train_split_trainval_writes_no_best(tmp_path, capsys):
    """SBD's default trains on trainval, which holds the validation images: no best.pt, evaluate last.pt;
    `--train-split train` selects best.pt on the held-out images (SEAL's protocol)."""
    import numpy as np
    import scipy.io  # noqa: F401  (a dev requirement: test_prepare writes SBD's .mat files with it)

    from edgedata import converters
    from test_prepare import _write_sbd
    names = [f"2008_{i:06d}" for i in range(6)]
    src, _ = _write_sbd(tmp_path, names, np.random.default_rng(0), H=40, W=48)
    (src / "dataset" / "train.txt").write_text("\n".join(names[:4]) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(names[4:]) + "\n")
    root = tmp_path / "sbd"
    converters.prepare_sbd(str(src), str(root), num_val=1)
    common = ["--dataset", "sbd", "--data-root", str(root), "--backbone", "tiny", "--no-pretrained",
              "--clip-weights", "random", "--epochs", "1", "--crop", "32", "--batch-size", "2", "--workers", "0"]
    train.main(train.parse_args([*common, "--out", str(tmp_path / "trainval")]))
    printed = capsys.readouterr().out
    assert not (tmp_path / "trainval" / "best.pt").exists() and (tmp_path / "trainval" / "model.pt").exists()
    assert "no best.pt" in printed and "--ckpt " + str(tmp_path / "trainval" / "last.pt") in printed
    epoch = [r for r in read_log(tmp_path / "trainval") if r["type"] == "epoch"][0]
    assert epoch["val_images_in_training"] is True and epoch["best"] is False
    train.main(train.parse_args([*common, "--train-split", "train", "--out", str(tmp_path / "train")]))
    assert (tmp_path / "train" / "best.pt").exists()
    assert torch.load(tmp_path / "train" / "best.pt", weights_only=True)["model_config"]["num_classes"] == 20


def test_paper_defaults_hold_only_what_the_paper_prints():
    """PAPER: Sec. 4.1.2's crops, epochs, lr, scaling, ImageNet init, plus the backbone, CLIP and training images
    it names; batch size, validation interval, logging and workers are ours (OURS). Adam, 5e-4: the parser's."""
    assert train.PAPER == dict(backbone="efficientnet_b7", crop=512, epochs=200, lr=1e-4, clip_weights="ViT-B/32",
                               pretrained=True, train_split="trainval", scale_range=[0.5, 1.5])
    assert not set(train.PAPER) & set(train.OURS) and "batch_size" in train.OURS and "workers" in train.OURS
    for name in ("sbd", "cityscapes", "folder"):
        assert set(train.DATASET_DEFAULTS[name]) == set(train.PAPER) | set(train.OURS), name
    args = train.parse_args([])
    assert args.optimizer == "adam" and args.weight_decay == 5e-4


def test_flags_reach_the_model_the_optimizer_and_the_augmentation(tmp_path):
    args = train.fill_defaults(train_args(tmp_path, "--text-features", "onehot", "--scale-range", "1", "1"))
    assert train.model_config(args, ["a", "b"]).text_features == "onehot"
    loader = train.build_data(args, 0, 1, torch.device("cpu"))[0]
    assert loader.dataset.transform.scale in (None, (1.0, 1.0))  # no rescaling (and no scale draw)
    assert train.DATASET_DEFAULTS["cityscapes"]["scale_range"] == [1.0, 1.0]  # tiles are not rescaled
    assert train.DATASET_DEFAULTS["sbd"]["scale_range"] == [0.5, 1.5]  # the paper's Sec. 4.1.2
    assert train.DATASET_DEFAULTS["sbd"]["train_split"] == "trainval"  # all 8,498 images, as the paper
    adam, adamw = tmp_path / "adam", tmp_path / "adamw"
    for out, name in ((adam, "adam"), (adamw, "adamw")):
        train.main(train_args(out, "--optimizer", name, "--epochs", "1", "--train-limit", "16", "--val-limit", "4",
                              "--weight-decay", "0.5"))
    a = torch.load(adam / "last.pt", weights_only=True)
    b = torch.load(adamw / "last.pt", weights_only=True)
    assert a["args"]["optimizer"] == "adam" and b["args"]["optimizer"] == "adamw"
    assert any(not torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # decoupled decay differs


def test_the_step_does_not_wait_for_the_device(tmp_path, monkeypatch):
    """Values come back to the host (`.item()` in train.py) only at print steps and at the end of the epoch."""
    import sys
    calls, item = [], torch.Tensor.item

    def counting_item(self):
        if sys._getframe(1).f_code.co_filename == train.__file__:  # train.py's own calls, not the data pipeline's
            calls.append(1)
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    original = train.train_one_epoch

    def counted(*a):
        calls.clear()
        result = original(*a)
        counted.per_epoch = len(calls)
        return result

    monkeypatch.setattr(train, "train_one_epoch", counted)
    train.main(train_args(tmp_path, "--epochs", "1", "--train-limit", "64", "--val-limit", "4", "--print-every", "100"))
    assert counted.per_epoch == 2 * 3  # steps 1 and 8 of 8: the non-finite flag, the loss, loss_edge


def test_missing_data_root_is_a_clear_error(tmp_path):
    args = train.parse_args(["--dataset", "sbd", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="nowhere.*docs/data.md"):
        train.main(args)


def test_compile_trains_on_cpu(tmp_path, monkeypatch):
    """--compile: torch.compile's graph capture and AOT autograd run train.py's step on a CPU, and the checkpoint
    holds the plain module's keys. The "aot_eager" backend skips inductor's C++ code generation, which takes
    minutes on a shared 2-core machine (the default inductor backend was run by hand: it trains too)."""
    import functools
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    train.main(train_args(tmp_path, "--compile", "--epochs", "1", "--train-limit", "16", "--val-limit", "4"))
    assert [r["step"] for r in read_log(tmp_path) if r["type"] == "epoch"] == [2]
    keys = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert "text_features" in keys and not [k for k in keys if k.startswith("_orig_mod")]


def test_weight_decay_weighs_nothing_with_the_summed_loss_and_dominates_with_the_mean():
    """bench/weight_decay_ratio.py's README figure in small: ||wd w|| / ||g|| << 1 for --loss-reduction batch,
    and K x H x W times larger for mean, which divides the same sum by the K x H x W values of an image."""
    import importlib.util

    import losses
    import model as edge_model
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "weight_decay_ratio.py")
    spec = importlib.util.spec_from_file_location("weight_decay_ratio", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    K = 4
    cfg = edge_model.ModelConfig(backbone="tiny", num_classes=K, class_names=list("abcd"), pretrained=False,
                                 clip_weights="random")
    model = edge_model.build_model(cfg, text_features=torch.randn(K, 512)).train()
    images, edges = torch.rand(2, 3, 64, 64), (torch.rand(2, K, 64, 64) < 0.01).float()
    batch, _ = bench.ratios(model, losses.EdgeCriterion(reduction="batch"), images, edges, 5e-4)
    mean, _ = bench.ratios(model, losses.EdgeCriterion(reduction="mean"), images, edges, 5e-4)
    assert batch < 1e-2 and mean / batch == pytest.approx(K * 64 * 64, rel=1e-3)


def test_ddp_resume_continues_exactly(tmp_path):
    """Two processes (torchrun, gloo on CPU): interrupted after epoch 1 and resumed == uninterrupted, each rank
    restoring its own RNG state. Three short launches of train.py as a user runs it."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--dataset", "synthetic", "--crop", "64", "--train-limit", "32", "--val-limit", "4", "--batch-size",
              "4", "--print-every", "1", "--seed", "0", "--backbone", "efficientnet_b0"]

    def launch(out, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               os.path.join(root, "train.py"), *common, "--out", str(out), *extra]
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=200)
        assert done.returncode == 0, done.stderr[-2000:]

    launch(tmp_path / "full", "--epochs", "2")
    launch(tmp_path / "part", "--epochs", "1")
    launch(tmp_path / "resumed", "--epochs", "2", "--resume", str(tmp_path / "part" / "last.pt"))
    a = [(r["step"], r["loss"]) for r in read_log(tmp_path / "full") if r["type"] == "train" and r["epoch"] == 2]
    b = [(r["step"], r["loss"]) for r in read_log(tmp_path / "resumed") if r["type"] == "train"]
    assert len(a) == 4 and b == a
    ckpt = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2 and not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])


def train_capturing_optimizer(out, *extra):
    """train.main(train_args(out, *extra)), keeping what the first train_one_epoch call received: the optimizer,
    the scaler (and its state then), the run's total steps and the steps per epoch."""
    seen, original = {}, train.train_one_epoch

    def capture(model, criterion, loader, optimizer, scaler, run):
        if not seen:
            seen.update(optimizer=optimizer, scaler=scaler, scaler_state=scaler.state_dict(),
                        total_steps=run.total_steps, steps_per_epoch=len(loader))
        return original(model, criterion, loader, optimizer, scaler, run)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "train_one_epoch", capture)
        train.main(train_args(out, *extra))
    return seen


@pytest.mark.parametrize("name, decay", [("adam", 0.3), ("adamw", 0.02)])
def test_poly_schedule_and_optimizer_follow_the_flags(tmp_path, name, decay):
    """--schedule poly: the lr logged at step s (1-based) is lr0 * (1 - (s - 1) / total) ** 0.9 with total =
    epochs x steps per epoch (2 x 3 here): the first step has lr0, none has 0. --optimizer picks the class (Adam:
    L2 decay in the gradient; AdamW: decoupled) and --weight-decay reaches every param group (Adam's default 0
    and AdamW's 0.01 are not the values asked for)."""
    seen = train_capturing_optimizer(tmp_path, "--schedule", "poly", "--epochs", "2", "--train-limit", "24",
                                     "--val-limit", "4", "--optimizer", name, "--weight-decay", str(decay))
    lr0, total = 1e-3, 2 * 3  # the synthetic dataset's default lr; 24 images / batch 8 = 3 steps per epoch
    logged = [(r["step"], r["lr"]) for r in read_log(tmp_path) if r["type"] == "train"]
    assert [s for s, _ in logged] == list(range(1, total + 1))
    for step, lr in logged:
        assert lr == pytest.approx(lr0 * (1 - (step - 1) / total) ** 0.9, rel=1e-12), step
    assert seen["steps_per_epoch"] == 3 and seen["total_steps"] == total
    optimizer = seen["optimizer"]
    assert type(optimizer) is {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    groups = optimizer.param_groups
    assert groups and all(g["weight_decay"] == decay for g in groups)
    assert all(g.get("decoupled_weight_decay", name == "adamw") == (name == "adamw") for g in groups)
    assert all(g["lr"] == pytest.approx(logged[-1][1]) for g in groups)  # the lr of the last step
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["optimizer"]["param_groups"]
    assert all(g["weight_decay"] == decay for g in saved)


def test_resume_restores_the_fp16_loss_scale(tmp_path):
    """--amp fp16 (a CPU autocast here, with the enabled CPU GradScaler that train.py builds there): the checkpoint
    holds the scaler's state and --resume puts it back, so the resumed run steps at the saved loss scale (1024,
    written into the checkpoint) and growth tracker, not at a fresh scaler's 65536."""
    common = ("--amp", "fp16", "--crop", "32", "--train-limit", "16", "--val-limit", "2")
    train.main(train_args(tmp_path / "part", *common, "--epochs", "1"))
    ckpt = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert ckpt["args"]["amp"] == "fp16" and {"scale", "_growth_tracker"} <= set(ckpt["scaler"])
    ckpt["scaler"].update(scale=1024.0, _growth_tracker=1)
    torch.save(ckpt, tmp_path / "resume.pt")
    seen = train_capturing_optimizer(tmp_path / "resumed", *common, "--epochs", "2", "--resume",
                                     str(tmp_path / "resume.pt"))
    assert seen["scaler"].is_enabled()
    assert seen["scaler_state"]["scale"] == 1024.0 and seen["scaler_state"]["_growth_tracker"] == 1
