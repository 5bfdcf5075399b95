"""Evaluation: `python evaluate.py --ckpt runs/sbd/best.pt` (paper Sec. 4.3, Tables 5 and 6).

1. Rebuild the model from the checkpoint alone: `model_config` (a plain dict written by
   train.py) and the state dict, which holds the CLIP text features as a buffer, so the
   CLIP checkpoint is not needed here (nanoGPT's sample.py does the same).
2. Whole-image inference. SBD: the model pads to a multiple of 32 and crops back.
   Cityscapes: 512x512 sliding window stitched back (datasets.py's helper).
3. Per-class prediction PNGs in the SEAL layout, `class_%03d/<name>.png` (class 1 = 001),
   8-bit probabilities, readable by SEAL's MATLAB benchmark and by metrics.evaluate_folder.
4. The exact benchmark of metrics.py with the dataset's preset (margin, tolerance, thin /
   raw), printed as a per-class ODS table like the paper's Tables 5/6, plus results.json and
   results.md.
5. A picture for a few test images: image | ground-truth edges | predicted edges, coloured
   by class, with a legend (picture.png).

The metric is fed the same 8-bit quantised probabilities that the PNGs hold, so evaluating
the PNG folder later gives the same numbers.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

import datasets
import metrics
import model as edge_model

# synthetic splits: (image size, number of images, seed); 4 classes (red disc, green square, blue
# triangle, yellow ring) keep the CPU demo fast
SYNTHETIC_SPLITS = {"train": (160, 384, 0), "val": (128, 48, 1), "test": (128, 64, 2)}
SYNTHETIC_NUM_CLASSES = 4
# sliding-window inference tile per dataset (Cityscapes: 512x512, datasets.sliding_window); others: whole image
WINDOWS = {"cityscapes": 512}

# 20 distinct colours (enough for SBD's 20 and Cityscapes' 19 classes)
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 200, 200), (240, 50, 230), (150, 150, 0), (0, 128, 128), (170, 110, 40),
           (128, 0, 0), (0, 0, 128), (128, 128, 128), (255, 180, 0), (0, 90, 40),
           (190, 100, 160), (100, 70, 255), (200, 60, 0), (90, 140, 0), (0, 0, 0)]


# ---------------------------------------------------------------------------------------------
# data and inference (train.py uses these two for its validation)


def make_dataset(name, root, split, transform=None):
    """The dataset object for `name` and `split` ('train', 'val' or 'test'; Cityscapes: 'train', 'val')."""
    if name == "synthetic":  # generated in memory; different seeds make the three splits disjoint
        if split not in SYNTHETIC_SPLITS:
            raise ValueError(f"synthetic dataset: unknown split {split!r}; choose one of {list(SYNTHETIC_SPLITS)}")
        size, count, seed = SYNTHETIC_SPLITS[split]
        return datasets.SyntheticEdges(num_images=count, size=size, num_classes=SYNTHETIC_NUM_CLASSES, seed=seed,
                                       transform=transform)
    if root is None or not os.path.isdir(root):
        raise FileNotFoundError(
            f"data root '{root}' for --dataset {name} does not exist. Download and prepare the data as the "
            f"README's 'Data' section says (python datasets.py prepare-{name} --src ... --dst {root or 'DIR'}), "
            f"then pass --data-root.")
    cls = {"sbd": datasets.SBDEdges, "cityscapes": datasets.CityscapesEdges}[name]
    if name == "cityscapes" and split == "test":
        split = "val"  # the paper's Cityscapes results are on val (test labels are not public)
    return cls(root, split, transform=transform)


@torch.no_grad()
def predict(model, images, amp_dtype=None, window=None):
    """images [B,3,H,W] in [0,1] -> edge probabilities [B,K,H,W] float32.

    window=None: whole image (the model pads to a multiple of 32 and crops back);
    window=512: sliding 512x512 window stitched back (Cityscapes).
    """
    device = images.device
    with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        if window is None:
            logits = model(images)["logits"]                                         # [B,K,H,W]
        else:
            logits = datasets.sliding_window(lambda x: model(x)["logits"].float(), images, window)  # [B,K,H,W]
    return torch.sigmoid(logits.float())


# ---------------------------------------------------------------------------------------------
# checkpoint -> model


def load_model(path, device="cpu"):
    """Rebuild the EdgeModel from a train.py checkpoint; clear errors for any other file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"evaluate.py: checkpoint '{path}' not found (train.py writes runs/<dataset>/best.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or one holding arbitrary Python objects
        raise ValueError(f"evaluate.py: '{path}' is not a checkpoint written by train.py "
                         f"(torch.load(weights_only=True) failed: {type(e).__name__}: {str(e)[:200]})") from e
    missing = [k for k in ("model", "model_config", "args") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"evaluate.py: '{path}' is not a checkpoint written by train.py: it lacks {missing} "
                         f"(a bare state dict or another project's checkpoint?)")
    try:  # the weights come from the state dict: never download ImageNet weights here
        model = edge_model.load_model(ckpt["model_config"], ckpt["model"])
    except ValueError as e:
        raise ValueError(f"evaluate.py: '{path}': {e}") from e
    return model.to(device).eval(), ckpt


# ---------------------------------------------------------------------------------------------
# outputs: PNGs, tables, picture


def save_pngs(probs, out_dir, name):
    """probs [K,H,W] uint8 -> out_dir/class_%03d/<name>.png, class 1 in class_001 (SEAL layout)."""
    for k in range(probs.shape[0]):
        path = os.path.join(out_dir, f"class_{k + 1:03d}", name + ".png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(probs[k]).save(path)


def colour_edges(edges):
    """edges [K,H,W] float in [0,1] -> [H,W,3] uint8: white background, each pixel in the colour
    of its strongest class, as dark as its strength."""
    edges = np.asarray(edges, dtype=np.float32)
    strength = edges.max(0)                                                          # [H,W]
    colour = np.array(PALETTE, dtype=np.float32)[edges.argmax(0) % len(PALETTE)]    # [H,W,3]
    out = 255 * (1 - strength[..., None]) + colour * strength[..., None]
    return out.clip(0, 255).astype(np.uint8)


def make_picture(rows, class_names, path, height=200):
    """rows: list of (name, image [H,W,3] uint8, gt [K,H,W], pred [K,H,W]) -> one PNG with a legend."""
    font = ImageFont.load_default()
    panels = []
    for name, image, gt, pred in rows:
        h, w = image.shape[:2]
        size = (max(1, round(w * height / h)), height)
        panels.append([Image.fromarray(p).resize(size, Image.NEAREST if i else Image.BILINEAR)
                       for i, p in enumerate((image, colour_edges(gt), colour_edges(pred)))])
    pad, title_h, label_h = 8, 22, 16
    col_w = [max(r[c].width for r in panels) for c in range(3)]
    width = sum(col_w) + pad * 4
    legend_cols = max(1, width // 150)
    legend_h = ((len(class_names) + legend_cols - 1) // legend_cols) * 18 + pad
    total_h = title_h + len(panels) * (height + label_h + pad) + legend_h + pad
    canvas = Image.new("RGB", (width, total_h), "white")
    draw = ImageDraw.Draw(canvas)
    x = pad
    for c, title in enumerate(("image", "ground-truth edges", "predicted edges")):
        draw.text((x, 5), title, fill="black", font=font)
        x += col_w[c] + pad
    y = title_h
    for (name, *_), row in zip(rows, panels):
        x = pad
        for c, panel in enumerate(row):
            canvas.paste(panel, (x, y))
            x += col_w[c] + pad
        draw.text((pad, y + height + 2), name, fill="black", font=font)
        y += height + label_h + pad
    for i, cname in enumerate(class_names):  # legend: a colour swatch and the class name
        lx = pad + (i % legend_cols) * 150
        ly = y + (i // legend_cols) * 18
        draw.rectangle([lx, ly + 2, lx + 12, ly + 14], fill=PALETTE[i % len(PALETTE)])
        draw.text((lx + 18, ly + 2), f"{i + 1} {cname}", fill="black", font=font)
    canvas.save(path)


def markdown_table(result):
    """Per-class ODS / OIS / AP (x100) in the layout of the paper's Tables 5/6, the mean last."""
    names = list(result["classes"])
    lines = [f"protocol: {result['protocol_text']}; {result['num_images']} images", "",
             "| metric | " + " | ".join(names) + " | mean |", "|---" * (len(names) + 2) + "|"]
    for m in ("ODS", "OIS", "AP"):
        cells = " | ".join(f"{100 * c[m]:.1f}" for c in result["classes"].values())
        lines.append(f"| {m} | {cells} | {100 * result[f'mean_{m}']:.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def get_args_parser():
    p = argparse.ArgumentParser("Language-driven semantic edge detection: evaluation", add_help=True)
    p.add_argument("--ckpt", required=True, help="checkpoint written by train.py (best.pt or last.pt)")
    p.add_argument("--data-root", default=None, help="prepared data folder; default: the one used for training")
    p.add_argument("--split", default="test", help="split to evaluate (SBD test = SBD val, Cityscapes val)")
    p.add_argument("--out", default=None, help="output folder; default <ckpt folder>/eval_<split>")
    p.add_argument("--preset", default=None, help="metrics.PRESETS name; default per dataset")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--pictures", type=int, default=4, help="test images shown in picture.png")
    p.add_argument("--workers", type=int, default=0, help="processes for the exact metric")
    p.add_argument("--amp", default=None, choices=["bf16", "fp16", "off"], help="default bf16 on CUDA, off on CPU")
    p.add_argument("--device", default=None, help="default cuda when available")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    return p


def main(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = args.amp or ("bf16" if device.type == "cuda" else "off")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]
    model, ckpt = load_model(args.ckpt, device)
    train_args, cfg = ckpt["args"], ckpt["model_config"]
    dataset = train_args["dataset"]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.ckpt)), f"eval_{args.split}")
    test_set = make_dataset(dataset, args.data_root or train_args.get("data_root"), args.split)
    preset = args.preset or test_set.metric_preset  # the dataset's protocol (metrics.PRESETS)
    protocol = metrics.get_protocol(preset)
    n = len(test_set) if args.limit is None else min(args.limit, len(test_set))
    os.makedirs(out, exist_ok=True)
    class_names = list(cfg["class_names"])
    print(f"evaluate.py: {args.ckpt} (epoch {ckpt.get('epoch')}, backbone {cfg['backbone']}, "
          f"fusion {cfg['fusion']}), {dataset} {args.split}: {n} images, device {device}, amp {amp}")
    print(f"protocol: {protocol}")

    bench = metrics.EdgeBenchmark(len(class_names), preset=preset, class_names=class_names, workers=args.workers)
    window = WINDOWS.get(dataset)
    png_dir = os.path.join(out, "pred")
    rows, t0 = [], time.time()
    for i in range(n):
        sample = test_set[i]
        probs = predict(model, sample["image"][None].to(device), amp_dtype, window)[0]   # [K,H,W]
        probs8 = (probs.cpu().numpy() * 255).round().astype(np.uint8)                  # what the PNGs hold
        save_pngs(probs8, png_dir, sample["name"])
        pred = probs8.astype(np.float32) / 255
        gt = test_set.eval_gt(i, protocol.mode)       # [K,h,w] bool at the protocol's resolution
        seg = test_set.eval_seg(i) if protocol.kill_internal else None  # GT class map, sbd-original only
        bench.update(pred, gt, name=sample["name"], seg=seg)
        if len(rows) < args.pictures:
            image = (sample["image"].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
            rows.append((sample["name"], image, sample["edges"].numpy(), pred))
    result = bench.compute()
    t_total = time.time() - t0

    print(bench.format_table(result))
    per_class = {name: {m: c[m] for m in ("ODS", "OIS", "AP", "ODS_threshold")}
                 for name, c in result["classes"].items()}
    summary = {"checkpoint": os.path.abspath(args.ckpt), "dataset": dataset, "split": args.split, "images": n,
               "preset": preset, "protocol": result["protocol"], "protocol_text": result["protocol_text"],
               "mean_ODS": result["mean_ODS"], "mean_OIS": result["mean_OIS"], "mean_AP": result["mean_AP"],
               "classes": per_class, "inference_and_metric_s": round(t_total, 1),
               "epoch": ckpt.get("epoch"), "model_config": cfg, "pr_curves": {
                   name: {"recall": c["recall"], "precision": c["precision"]} for name, c in result["classes"].items()},
               "thresholds": result["thresholds"]}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(to_jsonable(summary), f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"# {dataset} {args.split}: {args.ckpt}\n\nbackbone `{cfg['backbone']}`, fusion `{cfg['fusion']}`, "
                f"decoder `{cfg['decoder']}`, epoch {ckpt.get('epoch')}\n\n{markdown_table(result)}\n")
    if rows:
        make_picture(rows, class_names, os.path.join(out, "picture.png"))
    print(f"mean ODS {100 * summary['mean_ODS']:.2f}  ({n} images, inference and benchmark {t_total:.0f} s)")
    print(f"wrote {png_dir}/class_%03d/<name>.png, {out}/results.json, results.md, picture.png")
    return summary


def to_jsonable(x):
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return to_jsonable(x.tolist())
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
