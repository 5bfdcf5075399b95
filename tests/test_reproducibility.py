"""util/reproducibility.py: seeding, RNG state round trips, the (seed, epoch)-shuffled sampler, the per-sample seeded
augmentation, the --resume flag rules, the log marking of a resume, the run-environment record, the backends."""
import argparse
import json
import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset

from util import reproducibility as R


def test_seed_everything_repeats_every_rng():
    draws = []
    for _ in range(2):
        R.seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(()))))
    assert draws[0] == draws[1]
    R.seed_everything(8)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) != draws[0]


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    R.seed_everything(3)
    torch.rand(5), np.random.rand(2), random.random()  # move every RNG away from its seed
    torch.save({"rng": R.rng_state()}, tmp_path / "s.pt")
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.randn(1))
    R.seed_everything(99)
    R.set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    again = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.randn(1))
    assert torch.equal(again[0], expected[0]) and np.array_equal(again[1], expected[1])
    assert again[2] == expected[2] and np.array_equal(again[3], expected[3])


class Items(Dataset):
    """Sample i = (i, the transform's output on a fixed input); the transform is set by SeededAugmentation."""

    def __init__(self, n):
        self.n, self.transform = n, None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i, self.transform(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint32))


def draw(image, bits, generator):
    return float(torch.rand((), generator=generator))  # what a random crop / scale / flip would draw


def test_epoch_sampler_travels_the_epoch_with_the_index():
    sampler = R.EpochSampler(list(range(10)), num_replicas=1, rank=0, seed=0, drop_last=True)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(3)
    third = list(sampler)
    assert sorted(first) == list(range(10)) and sorted(third) == list(range(30, 40))
    assert [i - 30 for i in third] != first  # another shuffle per epoch
    sampler.set_epoch(3)
    assert list(sampler) == third  # and the same one again (a resume)


def test_augmentation_depends_on_seed_epoch_and_sample_only():
    data = R.SeededAugmentation(Items(5), draw, seed=0)
    epoch0 = [data[i][1] for i in range(5)]
    epoch1 = [data[5 + i][1] for i in range(5)]
    assert [data[5 + i][0] for i in range(5)] == list(range(5))  # item epoch * N + i is sample i
    assert len(set(epoch0)) == 5  # each sample its own draw
    assert all(a != b for a, b in zip(epoch0, epoch1))  # the seed depends on the epoch
    assert [data[i][1] for i in reversed(range(5))] == epoch0[::-1]  # not on the order (or worker) asking
    assert [R.SeededAugmentation(Items(5), draw, seed=1)[i][1] for i in range(5)] != epoch0  # on the seed


def test_augmentation_under_a_subset_numbers_the_subset():
    data = R.SeededAugmentation(Subset(Items(10), range(4)), draw, seed=0)
    assert len(data) == 4 and data[4 + 2][0] == 2  # epoch 1, sample 2 of the first four
    assert data[2][1] == R.SeededAugmentation(Items(4), draw, seed=0)[2][1]


def test_distributed_is_one_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert R.init_distributed() == (0, 1, 0)


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("--fusion", default="product")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--crop", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--workers", type=int, default=None)
    return p


def test_explicit_flags_are_the_ones_given():
    assert R.explicit_flags(parser(), ["--lr", "0.1", "--fusion", "product"]) == ["fusion", "lr"]
    assert R.explicit_flags(parser(), []) == []


def test_resume_takes_the_flags_not_given_from_the_checkpoint():
    saved = {"fusion": "none", "lr": 0.01, "crop": 64, "out": "runs/a", "workers": 8}
    rules = dict(model_flags=("fusion",), place_flags=("out",), launch_flags=("workers",))

    def given(argv):
        args = parser().parse_args(argv)
        args.explicit = R.explicit_flags(parser(), argv)
        return args

    args = given(["--out", "runs/b"])
    assert R.adopt_checkpoint_flags(args, saved, "x.pt", parser(), **rules) == []
    assert (args.fusion, args.lr, args.crop, args.out, args.workers) == ("none", 0.01, 64, "runs/b", None)
    args = given(["--lr", "0.1"])
    assert R.adopt_checkpoint_flags(args, saved, "x.pt", parser(), **rules) == ["--lr 0.1 (checkpoint: 0.01)"]
    assert args.lr == 0.1
    with pytest.raises(ValueError, match=r"x\.pt.*--fusion product \(checkpoint: none\)"):
        R.adopt_checkpoint_flags(given(["--fusion", "product"]), saved, "x.pt", parser(), **rules)  # the default,
        # but given explicitly
    args = parser().parse_args(["--crop", "32"])  # no args.explicit: the flags that differ from their default
    assert R.adopt_checkpoint_flags(args, saved, "x.pt", parser(), **rules) == ["--crop 32 (checkpoint: 64)"]
    assert args.crop == 32 and args.fusion == "none"


def test_mark_superseded_marks_only_the_repeated_steps(tmp_path):
    path = tmp_path / "log.jsonl"
    records = [{"type": "start"}, {"type": "train", "step": 1}, {"type": "train", "step": 2},
               {"type": "epoch", "step": 2}, {"type": "train", "step": 3}, {"type": "epoch", "step": 4}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert R.mark_superseded(str(path), 2) == 2
    marked = [json.loads(line).get("superseded", False) for line in path.read_text().splitlines()]
    assert marked == [False, False, False, False, True, True]
    assert R.mark_superseded(str(tmp_path / "none.jsonl"), 2) == 0  # a fresh folder: nothing to mark


def test_run_environment_names_versions_and_the_commit(tmp_path):
    env = R.run_environment()
    assert env["torch"] == torch.__version__ and env["torchvision"] and env["python"]
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
    assert R.git_commit(str(tmp_path)) is None  # not a git checkout: no failure, no commit


def test_deterministic_switch_and_backends_on_cpu():
    before = torch.are_deterministic_algorithms_enabled()
    try:
        settings = R.configure_backends(torch.device("cpu"), deterministic=True)
        assert torch.are_deterministic_algorithms_enabled() and settings["deterministic"] is True
        assert settings["cudnn_benchmark"] == "n/a (cpu)"
    finally:
        torch.use_deterministic_algorithms(before)
    assert R.configure_backends(torch.device("cpu"))["deterministic"] is False


def test_format_settings_names_the_source_of_every_setting():
    """train.py's first line: the effective values after the flags, each marked flag / resumed / paper / ours."""
    import train
    from util.reproducibility import format_settings
    args = train.parse_args(["--dataset", "sbd", "--batch-size", "4", "--epochs", "200"])
    args.lr = 3e-4  # as --resume adopts a checkpoint's value: set before the defaults, but not on the command line
    given = {k for k in train.DATASET_DEFAULTS["sbd"] if getattr(args, k) is not None}
    train.fill_defaults(args)
    line = format_settings(args, train.DATASET_DEFAULTS["sbd"], train.PAPER, given)
    assert "batch_size 4 (flag)" in line and "epochs 200 (flag)" in line  # explicit, even where it equals the paper
    assert "lr 0.0003 (resumed)" in line
    assert "backbone efficientnet_b7 (paper)" in line and "crop 512 (paper)" in line
    assert "eval_every 5 (ours)" in line and "data_root data/sbd (ours)" in line
    assert "(ours)" not in format_settings(args, {"crop": 0}, train.PAPER, set())  # crop 512 is the paper's
    demo = train.fill_defaults(train.parse_args(["--dataset", "synthetic"]))
    assert "(paper)" not in format_settings(demo, train.DATASET_DEFAULTS["synthetic"], {}, set())


def test_restore_run_brings_back_an_enabled_grad_scaler(tmp_path):
    """--amp fp16: train.py builds torch.amp.GradScaler(device.type, enabled=True) and checkpoints its state_dict;
    restore_run must put the saved scale (1024, after back-offs from the 65536 start) and growth tracker back,
    through a weights_only checkpoint, else the resumed run restarts at 65536 and skips steps to back off again.
    The CPU scaler is the one train.py builds on a CPU; it is enabled there (CUDA's is disabled without a GPU)."""
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters())
    saved = torch.amp.GradScaler("cpu", enabled=True, init_scale=1024.0, growth_interval=100)
    saved.load_state_dict({**saved.state_dict(), "_growth_tracker": 37})
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": saved.state_dict(),
                "rng": [R.rng_state()], "epoch": 2, "step": 20, "best_score": 0.5}, tmp_path / "last.pt")
    scaler = torch.amp.GradScaler("cpu", enabled=True, growth_interval=100)
    assert scaler.is_enabled() and scaler.get_scale() == 65536.0  # the fresh scaler of a resumed run
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert R.restore_run(ckpt, model, optimizer, scaler, None, rank=0) == (2, 20, 0.5)
    assert scaler.is_enabled() and scaler.get_scale() == 1024.0
    assert scaler.state_dict() == saved.state_dict()  # scale, growth tracker, factors, interval
