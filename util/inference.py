"""Inference shared by train.py (validation), evaluate.py and predict.py: edge probabilities for a batch of
images, the one mixed-precision table, and the device choice. Whole-image inference on SBD and a 512x512 sliding
window on Cityscapes are our choice: the paper names no inference window (Sec. 4.1.2 cuts Cityscapes into 512 tiles
for training only), and the window matches the training tiles.

- `predict(model, images, amp_dtype, window)`: images (B, 3, H, W) in [0, 1] -> sigmoid edge probabilities
  (B, K, H, W) float32. Without a window the model pads to a multiple of 32 and crops back (model.py); with one,
  edgedata.transforms.sliding_window stitches the tiles' logits back, averaged where tiles overlap.
- `AMP_DTYPES` / `amp_dtype(name, device)`: the names `--amp bf16|fp16|off` of every script. No name means bf16
  on CUDA and off on CPU. bf16 is our choice (the paper names no precision).
- `to_uint8(probs)` / `save_pngs(probs8, out_dir, name)`: probabilities as the 8-bit PNGs of the SEAL layout,
  `class_%03d/<name>.png` (class 1 in class_001), which SEAL's MATLAB benchmark and `metrics.py --pred` read.
- `pick_device(name)`: `--device`; no name means CUDA when available, else CPU.
"""
import os

import numpy as np
import torch
from PIL import Image

from edgedata.transforms import sliding_window

# sliding-window tile per dataset, our choice (Cityscapes: 512, the size of the paper's training tiles, Sec. 4.1.2);
# other datasets: the whole image
WINDOWS = {"cityscapes": 512}

# `--amp` name -> autocast dtype (None: full precision)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}


def amp_name(name, device):
    """The `--amp` name to use: `name` itself, or without one bf16 on CUDA and off elsewhere."""
    if name is None:
        return "bf16" if torch.device(device).type == "cuda" else "off"
    if name not in AMP_DTYPES:
        raise ValueError(f"--amp {name!r}: choose one of {list(AMP_DTYPES)}")
    return name


def amp_dtype(name, device):
    """The autocast dtype for `--amp name` on `device` (None = off): default bf16 on CUDA, off on CPU."""
    return AMP_DTYPES[amp_name(name, device)]


def pick_device(name=None):
    """`--device name` as a torch.device; None: cuda when available, else cpu. A CUDA device that is not
    there is an error that says so (no silent CPU fallback)."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"--device {name!r} is not a device name (examples: cpu, cuda, cuda:1): {e}") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: no CUDA GPU is visible to torch {torch.__version__}; "
                             f"use --device cpu (or leave --device out to take what is there)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return device


@torch.no_grad()
def predict(model, images, amp_dtype=None, window=None):
    """images (B, 3, H, W) in [0, 1] -> edge probabilities (B, K, H, W) float32.

    window=None: the whole image (the model pads to a multiple of 32 and crops back);
    window=512: 512x512 tiles stitched back by averaging (Cityscapes).
    """
    device = images.device
    with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        if window is None:
            logits = model(images)["logits"]                                              # (B, K, H, W)
        else:
            logits = sliding_window(lambda x: model(x)["logits"].float(), images, window)  # (B, K, H, W)
    return torch.sigmoid(logits.float())


def to_uint8(probs):
    """Probabilities (K, H, W) in [0, 1] (tensor or array) -> uint8 (K, H, W), round(255 p)."""
    probs = probs.detach().float().cpu().numpy() if torch.is_tensor(probs) else np.asarray(probs, np.float32)
    return (probs * 255).round().astype(np.uint8)


def save_pngs(probs8, out_dir, name):
    """uint8 (K, H, W) -> out_dir/class_%03d/<name>.png, class 1 in class_001 (SEAL layout)."""
    for k in range(probs8.shape[0]):
        path = os.path.join(out_dir, f"class_{k + 1:03d}", name + ".png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(probs8[k]).save(path)
