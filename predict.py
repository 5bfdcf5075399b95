"""Edges for your own images: `python predict.py --ckpt runs/synthetic/model.pt --input photo.jpg --out edges/`
(beyond the paper: the paper reports benchmark numbers only; this is the inference of Sec. 4.3 on any image).

Per input image it writes
- `class_%03d/<name>.png`: the edge probability of class k (class 1 in class_001) as an 8-bit PNG, the SEAL
  layout that evaluate.py writes and `python metrics.py --pred` reads;
- `pictures/<name>.png`: the image beside its edges coloured by class (util/plots.py's colours, those of evaluate.py's
  picture), with a legend;
- with `--thin`: `thin/class_%03d/<name>.png`, the edges of `p >= --threshold` thinned to one pixel
  (scoring.thinning.thin, MATLAB's bwmorph thin, as the benchmark thins), 0 or 255.

Inputs: image files, folders (their image files, not recursing) and glob patterns. Any image Pillow reads: JPEG,
PNG, BMP, TIFF, WebP, GIF (first frame); grayscale, palette and RGBA (alpha dropped) become RGB; 16-bit and
32-bit images are stretched linearly from their own minimum..maximum to 0..255 (a 12-bit camera image in a
16-bit file would look black if divided by 65535); EXIF orientation is applied, so pictures and PNGs are upright.
Images are read by datasets.read_image, the reader of training and evaluation (there without the EXIF rotation).
An image whose longer side exceeds `--window` runs through the sliding window (edgedata.transforms.sliding_window), a
smaller one whole (the model pads it to a multiple of 32, as in evaluation). The default window, 1024, keeps
photos of ordinary size whole: tiles are averaged where they overlap, and their borders can leave faint seams.

The classes are those the model was trained with: their CLIP text features were computed once when the model
was built and are stored in it. A new class name needs a new training run; this is not an open-vocabulary
model like LSeg.

Reading order (README "Reading order"): 11 of 12; next: prepare.py (data preparation).
"""
import argparse
import glob
import os
import sys
import time
from collections import Counter

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import datasets
from model import model_from_checkpoint
from scoring.thinning import thin
from util import plots
from util.inference import AMP_DTYPES, amp_dtype, amp_name, pick_device, predict, save_pngs, to_uint8


# ---------------------------------------------------------------------------------------------
# inputs


def find_inputs(inputs):
    """--input values -> (image paths, explicitly named files, skipped). A file named on the command line must be
    an image; a folder's or a pattern's other files are skipped with a warning each."""
    paths, named = [], set()
    for given in inputs:
        if os.path.isdir(given):
            found = [os.path.join(given, f) for f in sorted(os.listdir(given))]
            paths += [f for f in found if os.path.isfile(f)]
        elif os.path.isfile(given):
            paths.append(given)
            named.add(given)
        else:
            matches = sorted(f for f in glob.glob(given) if os.path.isfile(f))
            if not matches:
                raise FileNotFoundError(f"predict.py --input {given}: no such file or folder, and no file matches "
                                        f"it as a pattern")
            paths += matches
    seen = set()
    unique = [p for p in paths if not (os.path.abspath(p) in seen or seen.add(os.path.abspath(p)))]
    if not unique:
        raise FileNotFoundError(f"predict.py --input {' '.join(inputs)}: no files found")
    return unique, named


def output_names(paths):
    """A distinct output name per input path: its stem, or, where stems repeat (a/x.jpg, b/x.jpg, x.png), its
    path relative to the inputs' common folder with '/' written '__' (a__x), plus the extension if that still
    repeats (x_jpg, x_png)."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    repeated = {s for s, n in Counter(stems).items() if n > 1}
    common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    names = []
    for p, stem in zip(paths, stems):
        if stem in repeated:
            rel = os.path.relpath(os.path.abspath(p), common)
            stem = os.path.splitext(rel)[0].replace(os.sep, "__")
        names.append(stem)
    counts = Counter(names)
    return [n + "_" + os.path.splitext(p)[1].lstrip(".").lower() if counts[n] > 1 else n
            for p, n in zip(paths, names)]


# ---------------------------------------------------------------------------------------------


def get_args_parser():
    p = argparse.ArgumentParser(prog="predict.py", description="Language-driven semantic edge detection: edges for your own images")
    p.add_argument("--ckpt", required=True, help="model.pt / last.pt / best.pt written by train.py, or "
                   "https://.../model.pt#sha256=HEX (downloaded once into the torch hub cache, verified)")
    p.add_argument("--input", required=True, nargs="+", help="image files, folders (not recursed) or glob "
                   "patterns (quote them: 'photos/*.jpg')")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1; default cuda when available, else cpu")
    p.add_argument("--window", type=int, default=1024, help="images whose longer side exceeds this run through a "
                   "window x window sliding window (bounds the memory; tile borders can leave faint seams); "
                   "0: always the whole image")
    p.add_argument("--thin", action="store_true", help="also write thin binary edges (p >= --threshold, thinned)")
    p.add_argument("--threshold", type=float, default=None, help="threshold of --thin (default 0.5); implies --thin")
    p.add_argument("--amp", nargs="?", const="bf16", default=None, choices=list(AMP_DTYPES),
                   help="autocast dtype; --amp alone = bf16; default bf16 on CUDA, off on CPU")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    return p


def main(args):
    args.thin = args.thin or args.threshold is not None
    args.threshold = 0.5 if args.threshold is None else args.threshold
    if not 0 < args.threshold < 1:
        raise ValueError(f"predict.py --threshold {args.threshold}: choose a value between 0 and 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    Image.MAX_IMAGE_PIXELS = None  # any size: the sliding window bounds the model's memory, not the image's
    device = pick_device(args.device)
    amp = amp_name(args.amp, device)
    dtype = amp_dtype(amp, device)
    paths, named = find_inputs(args.input)
    model, ckpt = model_from_checkpoint(args.ckpt, device, "predict.py --ckpt")
    class_names = list(ckpt["model_config"]["class_names"])
    print(f"predict.py: {args.ckpt} ({ckpt['model_config']['backbone']}), {len(paths)} file(s), device {device}, "
          f"amp {amp}")
    print(f"classes ({len(class_names)}): " + ", ".join(f"{k + 1} {n}" for k, n in enumerate(class_names)))
    print("These classes are fixed at training time: the text features of their names were computed when the "
          "model was built and are stored in it, so a new class name needs a new training run (this is not an "
          "open-vocabulary model like LSeg).")
    names = output_names(paths)
    renamed = [(p, n) for p, n in zip(paths, names) if n != os.path.splitext(os.path.basename(p))[0]]
    for p, n in renamed:
        print(f"NOTE: {p} is written as '{n}' (another input has the same name)")

    pictures = os.path.join(args.out, "pictures")
    os.makedirs(pictures, exist_ok=True)
    titles = ("image", "edge probabilities") + ((f"thin edges, p >= {args.threshold:g}",) if args.thin else ())
    done, skipped, t0 = 0, 0, time.time()
    for path, name in tqdm(list(zip(paths, names)), desc="predict", unit="image", file=sys.stderr):
        try:
            image = datasets.read_image(path, upright=True)  # (H, W, 3) uint8, EXIF orientation applied
        except ValueError as e:  # not an image, truncated or corrupt; the message starts with the path
            if path in named:
                raise ValueError(f"predict.py --input {e}") from e
            tqdm.write(f"WARNING: skipped {e}", file=sys.stderr)
            skipped += 1
            continue
        H, W = image.shape[:2]
        x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float() / 255          # (1, 3, H, W)
        window = args.window if args.window and max(H, W) > args.window else None
        probs8 = to_uint8(predict(model, x, dtype, window)[0])                               # (K, H, W)
        save_pngs(probs8, args.out, name)
        panels = [probs8.astype(np.float32) / 255]
        if args.thin:
            level = np.ceil(255 * args.threshold - 1e-6)  # p8 / 255 >= T, exactly, on the 8-bit values
            edges = np.stack([thin(p >= level) for p in probs8])                              # (K, H, W) bool
            save_pngs(edges.astype(np.uint8) * 255, os.path.join(args.out, "thin"), name)
            panels.append(edges.astype(np.float32))
        plots.make_picture([(name, image, *panels)], class_names, os.path.join(pictures, name + ".png"),
                           titles=titles, height=min(H, 480))  # full size up to 480 rows: thin edges stay visible
        done += 1
    seconds = time.time() - t0
    if done == 0:
        raise ValueError(f"predict.py: none of the {len(paths)} input file(s) is an image (see the warnings)")
    print(f"{done} image(s) in {seconds:.1f} s ({done / seconds:.2f} images/s on {device})"
          f"{f', {skipped} file(s) skipped' if skipped else ''}")
    out = args.out.rstrip("/") or "/"
    print(f"wrote {out}/class_%03d/<name>.png, {out}/pictures/<name>.png"
          f"{f', {out}/thin/class_%03d/<name>.png' if args.thin else ''}")
    return {"images": done, "skipped": skipped, "names": names, "seconds": seconds}


if __name__ == "__main__":
    try:
        main(get_args_parser().parse_args())
    except (FileNotFoundError, ValueError) as e:  # the errors name the file and the fix: one line, no traceback
        sys.exit(str(e) if str(e).startswith("predict.py") else f"predict.py: error: {e}")
