"""Evaluation: `python evaluate.py --ckpt runs/sbd/last.pt` (paper Sec. 4.3, Tables 5 and 6).

1. Rebuild the model from the checkpoint alone (model.model_from_checkpoint): `model_config` and the state
   dict, which holds the CLIP text features as a buffer, so the CLIP checkpoint is not needed here (nanoGPT's
   sample.py does the same). last.pt, best.pt, a shared model.pt or `https://...#sha256=HEX` all work.
2. Whole-image inference (util.inference.predict). SBD: the model pads to a multiple of 32 and crops back.
   Cityscapes: a 512x512 sliding window stitched back.
3. Per-class prediction PNGs in the SEAL layout, `class_%03d/<name>.png` (class 1 = 001), 8-bit probabilities,
   readable by SEAL's MATLAB benchmark and by `python metrics.py --pred`.
4. The exact benchmark of metrics.py with the dataset's protocol (margin, tolerance, thin / raw, AP definition),
   printed with every result as a per-class ODS table like the paper's Tables 5/6, plus results.json (the
   protocol and the PR curves included) and results.md. The GT is the instance-sensitive one (SEAL,
   gt_eval/*_inst), except for `--preset sbd-original`, SBD's own benchmark, which scores category boundaries
   (SBD's GTcls, gt_eval/*_cls) and needs the GT class maps (SBD, folder and synthetic data; Cityscapes has none).
5. Pictures (util/plots.py): image | ground-truth edges | predicted edges for a few test images (picture.png) and the
   precision-recall curves with the ODS points (pr_curves.png).

The metric is fed the same 8-bit quantised probabilities that the PNGs hold, so scoring the PNG folder later
gives the same numbers.

Reading order (README "Reading order"): 10 of 12; next: predict.py (your own images).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

import datasets
from edgedata.synthetic import SYNTHETIC_CLASSES
import metrics
from model import model_from_checkpoint
from util import plots
from util.inference import AMP_DTYPES, WINDOWS, amp_dtype, amp_name, pick_device, predict, save_pngs, to_uint8

# splits each training split contains (a model trained on one of these has seen the images of the other)
CONTAINS = {"trainval": ("train", "val", "trainval"), "train": ("train",), "val": ("val",)}


def dataset_of(ckpt, args):
    """(dataset name, data root) for the evaluation: the flags first, then what the checkpoint records. A
    training checkpoint records both; a shared model.pt records the dataset's name only (its data folder was on
    another machine), so --data-root is needed for every dataset but the generated synthetic one."""
    train_args = ckpt.get("args") or {}
    name = args.dataset or train_args.get("dataset") or ckpt.get("dataset") or known_classes(ckpt)
    if name is None:
        raise ValueError(f"evaluate.py: {args.ckpt} does not name its dataset: pass --dataset "
                         f"({', '.join(datasets.DATASETS)}) and --data-root")
    if name == "synthetic" and args.data_root:  # the synthetic set is generated in memory: it would ignore the folder
        why = "--dataset synthetic" if args.dataset else f"the one {args.ckpt} records"
        raise ValueError(f"evaluate.py: --data-root {args.data_root} is given, but the dataset is the synthetic one "
                         f"({why}), generated in memory, which reads no folder: leave out --data-root, or pass "
                         f"--dataset sbd|cityscapes|folder to evaluate the data in {args.data_root}")
    root = args.data_root or (train_args.get("data_root") if name == train_args.get("dataset") else None)
    if root is None and name != "synthetic":
        raise ValueError(f"evaluate.py: {args.ckpt} records no data folder for --dataset {name} (a shared "
                         f"model.pt does not): pass --data-root, the folder written by `python prepare.py`")
    return name, root


def known_classes(ckpt):
    """The dataset whose class list the model has (sbd, cityscapes, synthetic), else None."""
    names = list(ckpt["model_config"]["class_names"])
    lists = {"sbd": datasets.SBD_CLASSES, "cityscapes": datasets.CITYSCAPES_CLASSES,
             "synthetic": SYNTHETIC_CLASSES[:datasets.SYNTHETIC_NUM_CLASSES]}
    return next((name for name, classes in lists.items() if list(classes) == names), None)


def warn_about_selection(ckpt, args, dataset):
    """WARNING lines when the score would not be a clean test score: best.pt selected on images the run also
    trained on, or the evaluated split is one the model was trained on or selected on."""
    train_args = ckpt.get("args") or {}
    if train_args.get("dataset") != dataset:
        return
    train_split, val_split = train_args.get("train_split"), train_args.get("val_split")
    selected = os.path.basename(args.ckpt.split("#")[0]) == "best.pt"
    if selected and val_split in CONTAINS.get(train_split, (train_split,)):
        print(f"WARNING: {args.ckpt} is best.pt of a run that trained on '{train_split}', which contains its "
              f"validation split '{val_split}': it was selected on images it trained on. Evaluate last.pt (the "
              f"paper's protocol when training on trainval).", flush=True)
    if args.split in CONTAINS.get(train_split, (train_split,)):
        print(f"WARNING: the model was trained on '{train_split}', which contains the evaluated split "
              f"'{args.split}': this score is on training images, not a test score.", flush=True)
    elif selected and args.split == val_split:
        print(f"WARNING: {args.ckpt} was selected on '{val_split}', the evaluated split: the score is "
              f"optimistic; evaluate on the test split.", flush=True)


def default_out(ckpt, split):
    """<checkpoint folder>/eval_<split>; for a URL: eval_<file stem>_<split> in the current folder."""
    if "://" in ckpt:
        return f"eval_{os.path.splitext(os.path.basename(ckpt.split('#')[0]))[0]}_{split}"
    return os.path.join(os.path.dirname(os.path.abspath(ckpt)), f"eval_{split}")


def write_results(out, summary, result, title):
    """results.json (summary + compute()'s per-class dicts, PR curves included) and results.md."""
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(summary, f, indent=1)  # plain types only: compute() returns lists and floats
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"# {title}\n\n{metrics.format_table(result, markdown=True)}\n")


# ---------------------------------------------------------------------------------------------


def get_args_parser():
    p = argparse.ArgumentParser(prog="evaluate.py", description="Language-driven semantic edge detection: evaluation")
    p.add_argument("--ckpt", required=True, help="last.pt / best.pt / model.pt written by train.py, or "
                   "https://.../model.pt#sha256=HEX (downloaded once into the torch hub cache, verified)")
    p.add_argument("--dataset", default=None, choices=datasets.DATASETS, help="default: the checkpoint's")
    p.add_argument("--data-root", default=None, help="prepared data folder; default: the one used for training "
                   "(needed for a shared model.pt)")
    p.add_argument("--split", default="test", help="split to evaluate (SBD test = SBD val, Cityscapes: the "
                   "official val)")
    p.add_argument("--out", default=None, help="output folder; default <ckpt folder>/eval_<split>")
    p.add_argument("--preset", default=None, choices=list(metrics.PRESETS), help="benchmark protocol; default: "
                   "the dataset's")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--pictures", type=int, default=4, help="test images shown in picture.png")
    p.add_argument("--workers", type=int, default=0, help="processes for the exact metric")
    p.add_argument("--amp", default=None, choices=list(AMP_DTYPES), help="default bf16 on CUDA, off on CPU")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1; default cuda when available")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    return p


def main(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    amp = amp_name(args.amp, device)
    dtype = amp_dtype(amp, device)
    model, ckpt = model_from_checkpoint(args.ckpt, device, "evaluate.py --ckpt")
    cfg, class_names = ckpt["model_config"], list(ckpt["model_config"]["class_names"])
    dataset, root = dataset_of(ckpt, args)
    # SBD's own benchmark (Hariharan et al. 2011) scores category boundaries (GTcls); SEAL's `sbd` and the other
    # presets score the instance-sensitive GT
    edge_type = "cls" if args.preset == "sbd-original" else "inst"
    test_set = datasets.make_dataset(dataset, root, args.split, edge_type=edge_type)
    preset = args.preset or test_set.metric_preset  # the dataset's protocol (metrics.PRESETS)
    protocol = metrics.get_protocol(preset)
    if protocol.kill_internal and getattr(test_set, "eval_seg", None) is None:
        raise ValueError(f"evaluate.py: --preset {preset} needs GT class maps (it drops predictions inside the GT "
                         f"segments), and --dataset {dataset} has none: use --preset {test_set.metric_preset}")
    if list(test_set.class_names) != class_names:
        raise ValueError(f"evaluate.py: the model's classes {class_names} are not the dataset's "
                         f"{list(test_set.class_names)} (--dataset {dataset}, --data-root {root}): evaluate on "
                         f"the data it was trained for")
    n = len(test_set) if args.limit is None else min(args.limit, len(test_set))
    if n == 0:
        raise ValueError(f"evaluate.py: no images to evaluate: "
                         f"{getattr(test_set, 'list_file', args.split)} lists {len(test_set)} images"
                         f"{'' if args.limit is None else f' (--limit {args.limit})'}; check the list file "
                         f"or prepare the data again")
    warn_about_selection(ckpt, args, dataset)
    if protocol.kill_internal:
        test_set.eval_seg(0)  # a missing class map stops here, naming the file, before any inference
    out = args.out or default_out(args.ckpt, args.split)
    os.makedirs(out, exist_ok=True)
    print(f"evaluate.py: {args.ckpt} (epoch {ckpt.get('epoch')}, backbone {cfg['backbone']}, "
          f"fusion {cfg['fusion']}), {dataset} {args.split}: {n} images, device {device}, amp {amp}")
    print(f"protocol: {metrics.describe(protocol)}")
    gt_where = f"gt_eval/{protocol.mode}_{edge_type}" if root and dataset != "synthetic" else "generated"
    print(f"ground truth: {'category' if edge_type == 'cls' else 'instance-sensitive'} boundaries "
          f"(edge_type {edge_type}, {gt_where})")

    bench = metrics.EdgeBenchmark(len(class_names), preset=preset, class_names=class_names, workers=args.workers)
    window = WINDOWS.get(dataset)
    png_dir = os.path.join(out, "pred")
    rows, t0 = [], time.time()
    for i in tqdm(range(n), desc="evaluate", unit="image", file=sys.stderr):
        sample = test_set[i]
        probs = predict(model, sample["image"][None].to(device), dtype, window)[0]              # (K, H, W)
        probs8 = to_uint8(probs)                                                  # what the PNGs hold
        save_pngs(probs8, png_dir, sample["name"])
        pred = probs8.astype(np.float32) / 255
        gt = test_set.eval_gt(i, protocol.mode)       # (K, h, w) bool at the protocol's resolution
        seg = test_set.eval_seg(i) if protocol.kill_internal else None  # GT class map, sbd-original only
        bench.update(pred, gt, name=sample["name"], seg=seg)
        if len(rows) < args.pictures:
            image = (sample["image"].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
            rows.append((sample["name"], image, sample["edges"].numpy(), pred))
    result = bench.compute()
    t_total = time.time() - t0

    print(metrics.format_table(result))
    summary = {"checkpoint": args.ckpt if "://" in args.ckpt else os.path.abspath(args.ckpt), "dataset": dataset,
               "split": args.split, "images": n, "preset": preset, "edge_type": edge_type,
               "protocol": result["protocol"],
               "protocol_text": result["protocol_text"], "ap_definition": result["ap_definition"],
               "mean_ODS": result["mean_ODS"], "mean_OIS": result["mean_OIS"], "mean_AP": result["mean_AP"],
               "classes": result["classes"], "thresholds": result["thresholds"],
               "inference_and_metric_s": round(t_total, 1), "epoch": ckpt.get("epoch"), "model_config": cfg}
    write_results(out, summary, result, f"{dataset} {args.split}: {args.ckpt}\n\nbackbone `{cfg['backbone']}`, "
                  f"fusion `{cfg['fusion']}`, decoder `{cfg['decoder']}`, epoch {ckpt.get('epoch')}")
    plots.pr_curves(result, os.path.join(out, "pr_curves.png"))
    if rows:
        plots.make_picture(rows, class_names, os.path.join(out, "picture.png"))
    print(f"AP: {result['ap_definition']}")  # the table's first line names the protocol
    print(f"mean ODS {100 * summary['mean_ODS']:.2f}  ({n} images, inference and benchmark {t_total:.0f} s, "
          f"{t_total / n:.2f} s per image)")
    print(f"wrote {png_dir}/class_%03d/<name>.png, {out}/results.json, results.md, pr_curves.png"
          f"{', picture.png' if rows else ''}")
    return summary


if __name__ == "__main__":
    try:
        main(get_args_parser().parse_args())
    except (FileNotFoundError, ValueError) as e:  # the errors name the file and the fix: one line, no traceback
        sys.exit(str(e) if str(e).startswith("evaluate.py") else f"evaluate.py: error: {e}")
