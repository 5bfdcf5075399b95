"""Reproducible training runs: seeding, RNG state save / restore, seeded sampling and augmentation, DDP set-up,
the backend switches (TF32, cudnn, deterministic algorithms) and the run-environment record.

Not a paper section: this is what makes `python train.py ... --resume runs/x/last.pt` repeat the batches,
augmentations and losses of the uninterrupted run (paper Sec. 4.1.2 trains for 200 epochs; long runs get
interrupted). The pieces follow torchvision's references/segmentation (`init_distributed_mode`) and
DistributedSampler's (seed, epoch) shuffle; the per-sample generator follows PyTorch's "Reproducibility" notes.

- `seed_everything(seed)`: torch, numpy and random, in that fixed order.
- `rng_state()` / `set_rng_state(state)`: every global RNG (torch CPU, CUDA, numpy, random) as tensors and plain
  types, so a checkpoint still loads with `torch.load(weights_only=True)`. The global torch RNG matters: dropout,
  EfficientNet's stochastic depth and a CoOp context draw from it.
- `EpochSampler`: DistributedSampler (shuffled by seed + epoch) that yields `epoch * N + i`, so the epoch travels
  with the index into DataLoader workers, also into workers that persist between epochs.
- `SeededAugmentation`: item `epoch * N + i` = sample i augmented with a torch.Generator seeded from
  (seed, epoch, i): the same crop / scale / flip whatever the worker count or resume point.
- `seeded_loader`: the training DataLoader built from these two.
- `init_distributed()`: torchrun's RANK / WORLD_SIZE / LOCAL_RANK; a single process without them.
- `configure_backends(device, deterministic)`: TF32 and cudnn settings, stated in one returned dict.
- `run_environment()`: python / torch / torchvision / numpy versions and the git commit (None outside git).
- `restore_run`: a checkpoint's weights, optimizer, scaler, RNG states back in place.
- `explicit_flags`, `adopt_checkpoint_flags`: --resume takes the flags not given from the checkpoint.
- `format_settings`: train.py's first line, every setting of the run with its source (flag, resumed, paper, ours).
- `log_json`, `format_record`, `mark_superseded`: the run's log.jsonl; on resume the records of the interrupted
  run past the resumed step are marked superseded.
"""
import argparse
import json
import os
import platform
import random
import subprocess

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from util.files import atomic_write


def seed_everything(seed):
    """Seed Python's random, numpy and torch (CPU and every CUDA device) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state():
    """RNG states of torch, CUDA, numpy and random as tensors / plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "random": random.getstate(),
    }


def set_rng_state(state):
    """Restore what `rng_state()` returned (the CUDA states only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["random"]
    random.setstate((version, tuple(internal), gauss_next))


class EpochSampler(DistributedSampler):
    """DistributedSampler (shuffled by seed + epoch) yielding epoch * N + i for its sample i of N: the epoch travels
    with the index to SeededAugmentation, also into workers that persist between epochs."""

    def __iter__(self):
        return (self.epoch * len(self.dataset) + i for i in super().__iter__())


def sample_seed(seed, epoch, index):
    """The augmentation seed of sample `index` in `epoch`: one 64-bit draw of numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0])


class SeededAugmentation(Dataset):
    """Item epoch * N + i (EpochSampler) = sample i of `dataset` (or of the dataset under its Subset), which calls
    `augment` as its transform: `transform` with a torch.Generator seeded from (seed, epoch, i), in any worker."""

    def __init__(self, dataset, transform, seed):
        self.dataset, self.transform, self.seed, self.sample_seed = dataset, transform, seed, None
        (dataset.dataset if isinstance(dataset, Subset) else dataset).transform = self.augment

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        epoch, index = divmod(i, len(self.dataset))
        self.sample_seed = sample_seed(self.seed, epoch, index)
        return self.dataset[index]

    def augment(self, image, bits):
        return self.transform(image, bits, torch.Generator().manual_seed(self.sample_seed))


def seeded_loader(dataset, transform, seed, batch_size, rank=0, world=1, workers=0, persistent=True, pin=False):
    """The training DataLoader whose batches depend only on (seed, epoch): an EpochSampler (a DistributedSampler
    for one process too: --resume repeats the batches) and SeededAugmentation. The loader's own generator: the
    worker seeds it draws are unused, and the global RNG is left alone. Returns (loader, sampler); call
    sampler.set_epoch(epoch) before each epoch."""
    sampler = EpochSampler(dataset, num_replicas=world, rank=rank, seed=seed, drop_last=True)
    loader = DataLoader(SeededAugmentation(dataset, transform, seed), batch_size=batch_size, sampler=sampler,
                        drop_last=True, num_workers=workers, pin_memory=pin, generator=torch.Generator(),
                        persistent_workers=persistent and workers > 0)
    return loader, sampler


def init_distributed():
    """torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them this is a single process: (0, 1, 0)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank, world, local_rank


def configure_backends(device, deterministic=False):
    """Set and return the numeric switches of a run, so that they can be printed and logged.

    CUDA: TF32 for fp32 matrix products and convolutions (the ops autocast leaves in fp32: the loss, the
    fusion's small FCs under --amp off), a 10-bit mantissa that training tolerates; cudnn.benchmark picks the
    fastest convolution algorithm per shape (our choice; the paper states none of this). CPU: nothing changes
    (TF32 and cudnn do not apply). `deterministic`: torch.use_deterministic_algorithms(True, warn_only=True)
    and cudnn.benchmark off; warn_only because some CUDA backward kernels (e.g. bilinear upsampling) have no
    deterministic version: torch then prints a warning naming each such op instead of stopping the run, so read
    the warnings before calling a CUDA run bit-exact. CUBLAS_WORKSPACE_CONFIG is set as cuBLAS requires.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = not deterministic
        settings = {"matmul_tf32": True, "cudnn_tf32": True, "cudnn_benchmark": not deterministic}
    else:
        settings = {"matmul_tf32": "n/a (cpu)", "cudnn_tf32": "n/a (cpu)", "cudnn_benchmark": "n/a (cpu)"}
    return {**settings, "deterministic": bool(deterministic)}


def git_commit(folder=None):
    """`git rev-parse HEAD` of the checkout holding `folder` (default: this file's); None outside git."""
    folder = folder or os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git installed, or it hung
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def run_environment():
    """What a log's first line records so that a run can be traced: versions and the code's commit."""
    import torchvision

    return {"python": platform.python_version(), "torch": str(torch.__version__),  # str: a plain type in checkpoints
            "torchvision": str(torchvision.__version__),
            "numpy": np.__version__, "cuda": torch.version.cuda, "git_commit": git_commit()}


# ---------------------------------------------------------------------------------------------
# resuming: which flags come from the checkpoint, and the run's log


def restore_run(ckpt, model, optimizer, scaler, selector, rank):
    """Load a checkpoint's weights, optimizer and scaler, and this rank's RNG states (the global torch RNG too:
    dropout and EfficientNet's stochastic depth draw from it) and prompt-selection evidence (`selector`, or None).
    Returns (epochs done, optimizer steps done, best score)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"][min(rank, len(ckpt["rng"]) - 1)])
    if selector is not None:  # this rank's evidence since the last template choice
        selector.load_state_dict(ckpt["selector"][min(rank, len(ckpt["selector"]) - 1)])
    return ckpt["epoch"], ckpt["step"], ckpt["best_score"]


def explicit_flags(parser, argv):
    """The destinations of the flags given on the command line `argv` (parsed again with no defaults)."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return sorted(vars(parser.parse_args(argv)))


def adopt_checkpoint_flags(args, saved, path, parser, model_flags, place_flags, launch_flags):
    """--resume: every flag not given explicitly (`args.explicit`, else: differs from `parser`'s default) takes
    the checkpoint's value (`saved` = its args), except the `launch_flags` of this launch (device, workers, ...).
    An explicit model flag that conflicts is an error; returns the explicit training hyper-parameters that differ
    (not `place_flags` paths) as "--flag mine (checkpoint: theirs)": the run will not repeat the uninterrupted one."""
    explicit = getattr(args, "explicit", None)
    if explicit is None:  # a Namespace that did not come through train.parse_args
        defaults = vars(parser.parse_args([]))
        explicit = [k for k, v in vars(args).items() if v != defaults.get(k)]
    conflicts, differ = [], []
    for key, value in saved.items():
        if key in launch_flags or not hasattr(args, key):
            continue
        mine = getattr(args, key)
        if key not in explicit:
            setattr(args, key, value)
        elif mine != value and key in model_flags:
            conflicts.append(f"--{key.replace('_', '-')} {mine} (checkpoint: {value})")
        elif mine != value and key not in place_flags:
            differ.append(f"--{key.replace('_', '-')} {mine} (checkpoint: {value})")
    if conflicts:
        raise ValueError(f"train.py: --resume {path} holds a model trained with other model flags: "
                         f"{'; '.join(conflicts)}. Leave these flags out (they come from the checkpoint) or "
                         f"start a new run without --resume.")
    return differ  # the caller prints the warning (on one DDP rank)


def log_json(path, record):
    """Append one record to the run's log.jsonl."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def format_settings(args, defaults, paper, given):
    """The run's effective value of every flag in `defaults` and where it came from: the command line (`flag`),
    the checkpoint on --resume (`resumed`), or the default, which is the paper's (`paper`: equal to `paper`'s value)
    or ours. `given`: the flags that were set before the defaults were filled in."""
    explicit = getattr(args, "explicit", None)  # None: args not from train.parse_args, every given value is a flag

    def source(key):
        if key in (given if explicit is None else explicit):
            return "flag"
        if key in given:
            return "resumed"
        return "paper" if key in paper and paper[key] == getattr(args, key) else "ours"
    return ", ".join(f"{key} {getattr(args, key)} ({source(key)})" for key in defaults)


def format_record(record):
    """A log record as one printed line: `key value` pairs, floats to 4 significant digits, without its type."""
    return " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "type")


def mark_superseded(log_path, step):
    """A resumed run repeats the steps after `step`: mark the earlier run's records past it with
    "superseded": true (rewritten atomically), so plots and readers of log.jsonl do not count them twice."""
    if not os.path.isfile(log_path):
        return 0
    with open(log_path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    marked = 0
    for r in records:
        if r.get("type") != "start" and r.get("step", 0) > step and not r.get("superseded"):
            r["superseded"], marked = True, marked + 1
    if marked:
        def write(tmp):
            with open(tmp, "w") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))
        atomic_write(log_path, write)
    return marked
