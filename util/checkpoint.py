"""Checkpoints: writing them safely, reading them with clear errors, and the shareable `model.pt`
(model.model_from_checkpoint rebuilds the model from one). No paper section: this is the house's plumbing;
nanoGPT's train.py / sample.py and CLIP's `_download` are the models.

- `save_checkpoint(ckpt, path)`: refuses a model whose parameters or buffers are not finite (a diverged run must
  not become best.pt and score 0.00), then writes atomically (temporary file in the same folder, fsync, rename),
  so an interrupted write leaves the previous file intact.
- `read_checkpoint(path_or_url, what)`: `torch.load(weights_only=True)` (tensors and plain types only; no code
  runs) with an error naming the path and what the file is instead: missing, empty, truncated, not a zip
  archive, a text file, a bare state dict, a TorchScript archive. `https://...#sha256=HEX` is downloaded once
  into torch's hub cache (torch.hub.get_dir()/checkpoints) and verified.
- `export_model(ckpt, path, metric_preset)`: `model.pt`, the checkpoint to share: weights without optimizer
  state, model_config, class names, the metric preset, the torch/torchvision versions; returns its SHA-256.
"""
import os
import re
import zipfile
from urllib.parse import urlsplit

import torch

from util import files
from util.reproducibility import run_environment

# what every checkpoint this project reads holds (train.py's last.pt / best.pt and model.pt)
MODEL_KEYS = ("model", "model_config")
URL_HELP = "give it as URL#sha256=HEX (export_model and train.py print the SHA-256 of model.pt)"


# ---------------------------------------------------------------------------------------------
# writing


def non_finite_tensors(state_dict):
    """Names of the floating-point tensors in `state_dict` holding inf or NaN."""
    names = [k for k, v in state_dict.items() if torch.is_tensor(v) and v.is_floating_point()]
    if not names:
        return []
    by_device = {}
    for k in names:
        by_device.setdefault(state_dict[k].device, []).append(k)
    finite = {}
    for keys in by_device.values():  # one flag per tensor, one transfer to the host per device
        finite.update(zip(keys, torch.stack([torch.isfinite(state_dict[k]).all() for k in keys]).tolist()))
    return [k for k in names if not finite[k]]


def save_checkpoint(ckpt, path):
    """Write `ckpt` (a dict with the model's state dict under "model") to `path` atomically, after checking
    that every parameter and buffer is finite. A non-finite one raises FloatingPointError and writes nothing:
    the previous file stays as it was."""
    bad = non_finite_tensors(ckpt["model"])
    if bad:
        message = (f"non-finite weights: {len(bad)} parameter/buffer tensor(s) hold inf or NaN (e.g. {bad[:3]}), "
                   f"so {path} was not written (the previous file is kept). The run diverged: lower --lr, "
                   f"try --amp off, or check the data.")
        print("ERROR: " + message, flush=True)
        raise FloatingPointError(message)
    files.atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


# ---------------------------------------------------------------------------------------------
# reading


def split_url(url, what="checkpoint"):
    """'https://host/x/model.pt#sha256=HEX' -> (URL without the fragment, HEX lower case)."""
    base, _, fragment = url.partition("#")
    match = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", fragment)
    if not match:
        raise ValueError(f"{what}: the URL {url!r} carries no SHA-256 (or not 64 hex digits): a download is only "
                         f"used when it is verified; {URL_HELP}")
    return base, match.group(1).lower()


def fetch(url, what):
    """Download `URL#sha256=HEX` once into torch.hub.get_dir()/checkpoints, verified; the cached path."""
    base, sha256 = split_url(url, what)
    name = os.path.basename(urlsplit(base).path) or "checkpoint.pt"
    target = os.path.join(torch.hub.get_dir(), "checkpoints", f"{sha256[:8]}-{name}")  # two files, one name
    try:
        return files.download_verified(base, sha256, target, f"the checkpoint {name}")
    except RuntimeError as e:  # offline, or the hash differs: say which flag it came from
        raise ValueError(f"{what}: {e}") from None


def is_torchscript(path):
    """A TorchScript archive (torch.jit.save): torch.load would hand it to torch.jit.load, which runs its code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(m.endswith("/constants.pkl") or "/code/" in m for m in z.namelist())


def describe_file(path):
    """What a file that torch.load refused is, in words, from its first bytes and its structure."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if size == 0:
        return "an empty file (0 bytes; an interrupted write, copy or download): copy or download it again"
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return (f"a truncated zip archive ({size:,} bytes; the directory at its end is missing): an "
                    f"interrupted write, copy or download. Copy or download it again (or use last.pt)")
        if is_torchscript(path):
            return "a TorchScript archive (torch.jit.save; not loaded: it would run its code), not a checkpoint"
        with zipfile.ZipFile(path) as z:
            members = z.namelist()
        if not any(m.endswith("/data.pkl") for m in members):
            return f"a zip archive but not a torch.save file (it holds e.g. {members[:3]})"
        return "a damaged torch.save archive (a member cannot be read): copy or download it again"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer (a text file naming the real one): fetch the file with `git lfs pull`"
    if b"\0" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            kind = "an HTML page (a download that returned a web page?)" if "<html" in text.lower() else "a text file"
            return f"{kind}, starting {text[:60]!r}"
    if head[:1] == b"\x80":
        return f"a truncated or damaged file in torch's legacy (pre-zip) format ({size:,} bytes)"
    return f"not a zip archive (torch.save writes zip archives; it starts with bytes {head[:8].hex(' ')})"


def read_checkpoint(path_or_url, what="checkpoint", required=MODEL_KEYS):
    """The checkpoint dict at a path or `URL#sha256=HEX`, read with weights_only=True (no code runs). Anything
    else is an error naming the path, what the file is, and what to do; `what` names the flag
    (e.g. "predict.py --ckpt"). `required`: the keys it must hold."""
    path = path_or_url
    if path_or_url.startswith(("https://", "http://")):
        path = fetch(path_or_url, what)
    if os.path.isdir(path):
        raise ValueError(f"{what}: '{path}' is a folder; give a checkpoint file in it (last.pt, best.pt, model.pt)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: '{path}' not found (train.py writes runs/<dataset>/last.pt, best.pt and "
                                f"model.pt)")
    if is_torchscript(path):
        raise ValueError(f"{what}: '{path}' is {describe_file(path)}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, damaged, or holding arbitrary Python objects
        glob = re.search(r"GLOBAL ([\w.]+)", str(e))
        if glob and zipfile.is_zipfile(path):  # a complete archive whose pickle names a class: not ours
            kind = (f"a torch file holding Python objects ({glob.group(1)}) that a safe load refuses: it was not "
                    f"written by this project's train.py (whose checkpoints hold only tensors and plain types)")
        else:
            kind = describe_file(path)
        raise ValueError(f"{what}: '{path}' is {kind}.") from None
    if isinstance(ckpt, dict) and ckpt and all(torch.is_tensor(v) for v in ckpt.values()):
        raise ValueError(f"{what}: '{path}' is a bare state dict ({len(ckpt)} tensors, e.g. {list(ckpt)[:2]}), "
                         f"not a checkpoint of this project: train.py's last.pt / best.pt and model.pt are dicts "
                         f"with {list(MODEL_KEYS)}; the model_config is what rebuilds the model.")
    missing = [k for k in required if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        held = sorted(map(str, ckpt))[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{what}: '{path}' is not a checkpoint of this project: it lacks {missing} "
                         f"(it holds {held}); use last.pt, best.pt or model.pt written by train.py.")
    return ckpt


# ---------------------------------------------------------------------------------------------
# sharing


def export_model(ckpt, path, metric_preset=None):
    """Write `model.pt` from a training checkpoint: the weights (no optimizer, scaler or RNG state), the
    model_config, the class names, the metric preset (a metrics.PRESETS name), the training dataset's name, the
    epoch and the torch/torchvision versions. Returns its SHA-256 (printed, with how to share it)."""
    preset = metric_preset or ckpt.get("metric_preset")
    if preset is None:
        raise ValueError("export_model: no metric preset given (pass metric_preset=the dataset's metric_preset)")
    args = ckpt.get("args") or {}
    model_pt = {"model": {k: v.detach().cpu() for k, v in ckpt["model"].items()},
                "model_config": dict(ckpt["model_config"]),
                "class_names": list(ckpt["model_config"]["class_names"]), "metric_preset": preset,
                "dataset": args.get("dataset", ckpt.get("dataset")), "epoch": ckpt.get("epoch"),
                "versions": run_environment()}
    save_checkpoint(model_pt, path)
    sha256 = files.sha256_of(path)
    print(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MB), SHA-256 {sha256}; to share it, upload it and "
          f"give its address as https://.../{os.path.basename(path)}#sha256={sha256} (evaluate.py / predict.py "
          f"--ckpt take that address)")
    return sha256
