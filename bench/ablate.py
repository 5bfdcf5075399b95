"""The fusion ablations of paper Sec. 3.2 (Tables 1, 2, 4: `product` vs `none`), the text-feature controls
(does the language matter?) and the options from related CLIP papers (beyond the paper, off by default), trained
on the synthetic dataset with the same seed and budget, scored with the exact ODS of metrics.py.

    python bench/ablate.py                          # ~15-20 min on a 2-core CPU; writes bench/ablate.md
    python bench/ablate.py --epochs 1 --crop 64 --test-images 8 --only none product "text onehot"

Every run is train.py's own loop (train.main with the flags listed in the table), then util/checkpoint.py's loader
and the exact benchmark (metrics.EdgeBenchmark, the synthetic set's `sbd` preset) on the first --test-images
images of the synthetic test split.

The controls (`text shuffled|random|onehot|learned`, train.py --text-features) give the fusion f_T without
the language: with fixed class names f_T is a constant that FC_T can map anywhere (fusion.py), so a gain of
`product` over `none` that the controls match comes from the extra block, not from the words. That test needs
real CLIP weights: pass `--clip-weights PATH/ViT-B-32.pt`.

Read the table for what it can say. By default the CLIP text encoder has RANDOM weights (no download), so the
class-name features carry no language: the table shows that each option trains end to end, what it adds in
parameters and step time, and where a short run lands; it does not say which option is best on real data.
One seed, a few hundred steps: differences of a few ODS points are within run-to-run noise, and step
times measured on a shared CPU vary by about +-20% between identical configurations (`prompts photo`
and `ensemble` compute exactly what `product` does).
"""
import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import datasets  # noqa: E402
import metrics  # noqa: E402
import model as edge_model  # noqa: E402
import train  # noqa: E402
from model import model_from_checkpoint  # noqa: E402
from util.inference import predict, to_uint8  # noqa: E402

# (row name, source, train.py flags); `product` and `none` are the paper's fusion and its Table-1 baseline,
# `text ...` the controls of --text-features, the rest beyond the paper (off by default)
OPTIONS = [
    ("none", "paper, Table 1 baseline (no text)", ["--fusion", "none"]),
    ("product", "paper Eq. (3-3)-(3-5), our SE-style reading", ["--fusion", "product"]),
    ("product_spatial", "our literal reading of Eq. (3-3)-(3-5)", ["--fusion", "product_spatial"]),
    ("text shuffled", "control: another class's CLIP features", ["--fusion", "product", "--text-features", "shuffled"]),
    ("text random", "control: Gaussian, CLIP norms", ["--fusion", "product", "--text-features", "random"]),
    ("text onehot", "control: one-hot, no language", ["--fusion", "product", "--text-features", "onehot"]),
    ("text learned", "control: trainable K x D, no CLIP", ["--fusion", "product", "--text-features", "learned"]),
    ("cross_attention", "GLE-CLIP 2025, BCA + DAF", ["--fusion", "cross_attention"]),
    ("pixel_text_alignment", "FGAseg 2024, P2Tformer + GCS/LCS", ["--fusion", "pixel_text_alignment"]),
    ("t2p", "FGAseg 2024, T2P loss", ["--fusion", "product", "--t2p-weight", "1.0"]),
    ("contrast", "MTA-CLIP 2024 / CA-CL 2025, mask-text contrast", ["--fusion", "product", "--contrast-weight", "0.1"]),
    ("prompts photo", "CLIP, fixed template", ["--fusion", "product", "--prompts", "photo"]),
    ("prompts ensemble", "CLIP, ensemble mean", ["--fusion", "product", "--prompts", "ensemble"]),
    ("prompts select", "CA-CL 2025 / MTA-CLIP 2024, per-class selection",
     ["--fusion", "product", "--prompts", "select", "--contrast-weight", "0.1", "--select-every", "20"]),
    ("prompts learned", "CoOp 2022, N_ctx=4 learned context", ["--fusion", "product", "--prompts", "learned"]),
]


def run_option(name, flags, args):
    out = os.path.join(args.out, name.replace(" ", "_"))
    os.makedirs(out, exist_ok=True)
    argv = ["--dataset", "synthetic", "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--crop", str(args.crop), "--seed", str(args.seed), "--eval-every", str(args.epochs), "--val-limit", "8",
            "--print-every", "1000000", "--out", out, *flags]
    if args.clip_weights != "random":  # the synthetic default
        argv += ["--clip-weights", args.clip_weights]
    t0 = time.time()
    with (open(os.path.join(out, "train_output.txt"), "w") as log, contextlib.redirect_stdout(log),
          contextlib.redirect_stderr(log)):  # train.py's own printing and progress bars go to the run folder
        result = train.main(train.parse_args(argv))
    wall = time.time() - t0
    last = result["history"][-1]
    model, ckpt = model_from_checkpoint(os.path.join(out, "last.pt"))  # rebuilt from the checkpoint alone
    test_set = datasets.make_dataset("synthetic", None, "test")
    bench = metrics.EdgeBenchmark(len(test_set.class_names), preset=test_set.metric_preset,
                                  class_names=list(test_set.class_names))
    protocol = metrics.get_protocol(test_set.metric_preset)
    for i in range(min(args.test_images, len(test_set))):
        sample = test_set[i]
        probs = predict(model, sample["image"][None])[0]  # (K, H, W)
        pred = to_uint8(probs).astype(np.float32) / 255  # the 8-bit probabilities evaluate.py scores
        bench.update(pred, test_set.eval_gt(i, protocol.mode), name=sample["name"])
    scores = bench.compute()
    counts = edge_model.count_parameters(model)
    return {"option": name, "flags": " ".join(flags), "trainable": counts["trainable"],
            "s_per_step": last["time_s"] / last["step"], "steps": last["step"],
            "loss_terms": {k: last[k] for k in last if k.startswith("loss_")},
            "mean_ODS": scores["mean_ODS"], "mean_AP": scores["mean_AP"], "wall_s": wall,
            "protocol": scores["protocol_text"]}


def markdown(rows, sources, args):
    base = next((r for r in rows if r["option"] == "product"), rows[0])
    words = ("RANDOM CLIP text weights (no language)" if args.clip_weights == "random" else
             f"CLIP text weights {args.clip_weights}")
    lines = [f"Synthetic dataset, tiny backbone, {words}; {rows[0]['steps']} steps of "
             f"batch {args.batch_size} at {args.crop}x{args.crop}, seed {args.seed}, Adam lr 1e-3; exact ODS on "
             f"{args.test_images} test images ({rows[0]['protocol']}). One seed: differences of a few points "
             "are noise.",
             "", "| option | source | train.py flags | trainable params | vs product | s / step | vs product "
             "| final loss terms | mean ODS | mean AP |", "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        terms = ", ".join(f"{k[5:]} {v:.3g}" for k, v in r["loss_terms"].items())
        lines.append(f"| {r['option']} | {sources[r['option']]} | `{r['flags']}` | {r['trainable']:,} | "
                     f"{r['trainable'] - base['trainable']:+,} | {r['s_per_step']:.2f} | "
                     f"{r['s_per_step'] / base['s_per_step']:.2f}x | {terms} | {100 * r['mean_ODS']:.1f} | "
                     f"{100 * r['mean_AP']:.1f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser("bench/ablate.py: fusion ablations, text-feature controls and related-paper options "
                                "on synthetic data")
    p.add_argument("--epochs", type=int, default=5, help="epochs per option (48 steps each: 384 images, batch 8)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=112, help="training crop (the synthetic train images are 160x160)")
    p.add_argument("--test-images", type=int, default=32, help="synthetic test images (128x128) for the exact ODS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip-weights", default="random",
                   help="CLIP text weights for every row: random (no download) or a path to ViT-B-32.pt")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--only", nargs="*", default=None, help="run only these option names (e.g. none product)")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "ablate"), help="run folders (checkpoints)")
    p.add_argument("--table", default=os.path.join(ROOT, "bench", "ablate.md"), help="markdown table written here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sources = {name: src for name, src, _ in OPTIONS}
    rows, t0 = [], time.time()
    for name, _, flags in OPTIONS:
        if args.only and name not in args.only and name.replace(" ", "_") not in args.only:
            continue
        rows.append(run_option(name, flags, args))
        r = rows[-1]
        print(f"ablate: {name:22s} ODS {100 * r['mean_ODS']:5.1f}  AP {100 * r['mean_AP']:5.1f}  "
              f"{r['s_per_step']:.2f} s/step  {r['trainable']:,} params  ({r['wall_s']:.0f} s)", flush=True)
    table = markdown(rows, sources, args)
    text = (f"# bench/ablate.py\n\n`python bench/ablate.py {' '.join(sys.argv[1:])}`".rstrip()
            + f" ({time.time() - t0:.0f} s)\n\n{table}\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
    with open(args.table, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.table)[0] + ".json", "w") as f:
        json.dump(rows, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
