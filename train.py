"""Training: `python train.py --dataset sbd` (paper Sec. 4.1.2).

The loop is visible here, in the order a reader expects: config, data, model, optimizer, resume, then per step
forward (autocast), loss terms, backward (GradScaler for fp16), clipping, optimizer step, logging; after each
epoch a fast validation, the checkpoints and curves.png. No Trainer class, no callbacks (nanoGPT's train.py; the
parser and `train_one_epoch` follow DETR's main.py / engine.py, DDP torchvision's references/segmentation).
Seeding, RNG states, seeded augmentation and the resume rules live in util/reproducibility.py.

The paper's settings (Sec. 4.1.2) are the defaults for sbd / cityscapes: Adam (its L2 decay; `--optimizer adamw`
decouples it), lr 1e-4, weight decay 5e-4, 200 epochs, 512 x 512 crops, all training images (trainval), random
scaling 0.5-1.5 for SBD, random flips. Ours: batch 8, a constant lr, CASENet's reweighted loss, bf16 on CUDA,
horizontal flips with p = 0.5, unscaled Cityscapes tiles, a Cityscapes epoch = all 8 tiles of every image. With
trainval the validation only monitors (no best.pt; evaluate last.pt); `--train-split train` selects best.pt on
the held-out split (SEAL's protocol). Checkpoints hold only tensors and plain types (torch.load(weights_only=True)).

    python train.py --dataset synthetic                 # CPU demo, minutes, no downloads
    python train.py --dataset sbd --data-root data/sbd  # the paper's main job, one GPU
    torchrun --nproc_per_node 4 train.py --dataset sbd  # DistributedDataParallel

Reading order (README "Reading order"): 9 of 12; next: evaluate.py (evaluation).
"""
import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, SequentialSampler, Subset
from tqdm import tqdm

import datasets
from edgedata.transforms import TrainTransform
import losses
import metrics
import model as edge_model
from related import losses as related_losses
from related import prompts as related_prompts
from scoring.validation import validate
from util import plots
from util.checkpoint import export_model, read_checkpoint, save_checkpoint
from util.inference import WINDOWS, amp_dtype, amp_name, pick_device
from util.reproducibility import (adopt_checkpoint_flags, configure_backends, explicit_flags, format_record,
                                  format_settings, init_distributed, log_json, mark_superseded, restore_run, rng_state,
                                  run_environment, seed_everything, seeded_loader)

# Defaults of the flags whose default is None. PAPER: only what the paper prints (Sec. 4.1.2: crops, epochs, lr, scaling
# 0.5-1.5 for SBD, ImageNet init; Table 3's best backbone; CLIP ViT-B/32, Sec. 3.1.2; all training images, Sec. 4.1.1;
# Adam and weight decay 5e-4 are the parser's defaults). OURS: what the paper does not print.
PAPER = dict(backbone="efficientnet_b7", crop=512, epochs=200, lr=1e-4, clip_weights="ViT-B/32", pretrained=True,
             train_split="trainval", scale_range=[0.5, 1.5])
OURS = dict(data_root=None, batch_size=8, eval_every=5, print_every=50, workers=min(8, os.cpu_count() or 1),
            val_limit=None)  # workers: 8, or fewer on a machine with fewer cores
# Cityscapes' val_limit and unscaled tiles are ours (scaling: SBD only). synthetic: a CPU demo, minutes, all ours.
DATASET_DEFAULTS = {
    "sbd": {**PAPER, **OURS, "data_root": "data/sbd"},
    "cityscapes": {**PAPER, **OURS, "data_root": "data/cityscapes", "val_limit": 100, "scale_range": [1.0, 1.0]},
    "folder": {**PAPER, **OURS},
    "synthetic": dict(data_root=None, backbone="tiny", crop=128, epochs=6, batch_size=8, lr=1e-3, eval_every=1,
                      clip_weights="random", pretrained=False, print_every=20, workers=0, val_limit=None,
                      train_split="train", scale_range=[0.5, 1.5]),
}
# --resume: flags that define the model (a conflicting explicit value is an error) and flags of this launch only
MODEL_FLAGS = ("dataset", "backbone", "fusion", "decoder", "output_stride", "fusion_dim", "deep_supervision",
               "prompts", "prompt_set", "prompt_context", "attn_dim", "attn_heads", "lcs_kernel", "text_features")
PLACE_FLAGS = ("data_root", "out", "clip_weights", "pretrained")  # where things are: may differ without warning
LAUNCH_FLAGS = ("resume", "device", "threads", "workers", "persistent_workers", "print_every", "compile", "explicit")


def get_args_parser():
    p = argparse.ArgumentParser(prog="train.py", description="Language-driven semantic edge detection: training")
    # * Data
    p.add_argument("--dataset", default="sbd", choices=sorted(DATASET_DEFAULTS),
                   help="which dataset; also selects the defaults in DATASET_DEFAULTS")
    p.add_argument("--data-root", default=None, help="prepared data folder (README: Data); default per dataset")
    p.add_argument("--crop", type=int, default=None, help="square training crop in pixels (paper: 512)")
    p.add_argument("--scale-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="random rescaling of training images (SBD default 0.5 1.5, the paper's Sec. 4.1.2; "
                        "Cityscapes default 1 1: tiles are not rescaled)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    p.add_argument("--persistent-workers", default=True, action=argparse.BooleanOptionalAction,
                   help="keep DataLoader workers between epochs (--no-persistent-workers: re-create them each epoch)")
    p.add_argument("--train-split", default=None,
                   help="SBD / Cityscapes / folder: trainval (default: all training images, as the paper; no best.pt, "
                        "evaluate last.pt) or train (SEAL's protocol: best.pt chosen on the held-out val split)")
    p.add_argument("--val-split", default="val",
                   help="split of the training-time validation (held out of 'train', inside 'trainval')")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (quick checks)")
    p.add_argument("--val-limit", type=int, default=None, help="validate on the first N validation images")
    # * Model
    p.add_argument("--backbone", default=None,
                   help="image encoder, see encoders.BACKBONES (the paper's best: efficientnet_b7)")
    p.add_argument("--fusion", default="product",
                   help="cross-modal fusion F, see model.FUSIONS: product (the paper), 'none' (the Table 1 baseline), "
                        "product_spatial (our literal reading of Eq. (3-3)-(3-5)), product_diff, concat_diff, lseg; "
                        "beyond the paper (off by default): cross_attention (GLE-CLIP), pixel_text_alignment (FGAseg)")
    p.add_argument("--text-features", default="clip", choices=edge_model.TEXT_FEATURES,
                   help="f_T: clip (the paper: CLIP features of the class names) or a control that tests whether "
                        "the language matters: shuffled (each class gets another class's CLIP features), random "
                        "(Gaussian, CLIP norms), onehot, learned (a trainable K x D parameter, no CLIP)")
    p.add_argument("--decoder", default="refine", help="'refine' (the paper's decoder D) or 'casenet' (baseline head)")
    p.add_argument("--output-stride", type=int, default=32, help="8 or 16 dilates resnet50/101 (CASENet)")
    p.add_argument("--fusion-dim", type=int, default=32, help="M, text width per class inside the fusion")
    p.add_argument("--deep-supervision", action="store_true", help="add side outputs and their loss term")
    p.add_argument("--clip-weights", default=None,
                   help="CLIP text encoder: 'ViT-B/32' (download), a path to ViT-B-32.pt, or 'random' (no language)")
    p.add_argument("--prompts", default="name",
                   help="class-name prompts: a template set of related/prompts.py (name = the paper's "
                        "bare name; photo, ensemble, context); beyond the paper (off by default): select (a template "
                        "per class chosen from --prompt-set, CA-CL) or learned (CoOp context vectors)")
    p.add_argument("--prompt-set", default="context",
                   help="--prompts select: the templates to choose from (a template set of related/prompts.py)")
    p.add_argument("--select-every", type=int, default=100, help="--prompts select: re-choose templates every N steps")
    p.add_argument("--prompt-context", type=int, default=4, help="--prompts learned: number of context tokens")
    p.add_argument("--attn-dim", type=int, default=256,
                   help="cross_attention / pixel_text_alignment: attention width A")
    p.add_argument("--attn-heads", type=int, default=8, help="cross_attention / pixel_text_alignment: attention heads")
    p.add_argument("--lcs-kernel", type=int, default=9, help="pixel_text_alignment: FGAseg's local similarity kernel")
    p.add_argument("--pretrained", default=None, action=argparse.BooleanOptionalAction,
                   help="ImageNet weights for the image encoder (--no-pretrained: train it from scratch)")
    # * Loss
    p.add_argument("--loss", default="reweighted", help="'reweighted' (CASENet's, our choice), 'bce' or 'dff'")
    p.add_argument("--side-weight", type=float, default=1.0, help="weight of the side-output loss term")
    p.add_argument("--t2p-weight", type=float, default=0.0,
                   help="weight of FGAseg's text-pixel loss (adds the t2p head); beyond the paper (off by default)")
    p.add_argument("--contrast-weight", type=float, default=0.0,
                   help="weight of the mask-text contrastive loss (adds the embedding head); beyond the paper "
                        "(off by default)")
    p.add_argument("--contrast-temperature", type=float, default=0.07, help="temperature of the contrastive loss")
    p.add_argument("--loss-reduction", default="batch", choices=["batch", "mean"],
                   help="reweighted loss: sum over pixels / batch size (CASENet) or the mean (losses.py); with "
                        "'mean' the weight decay dominates the gradient (docs/training.md)")
    # * Optimizer
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw"],
                   help="adam (the paper: L2 decay added to the gradient) or adamw (decoupled decay)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (paper: 1e-4)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="weight decay (paper: 5e-4)")
    p.add_argument("--schedule", default="constant", choices=["constant", "poly"],
                   help="learning rate over the run: constant, or poly (1 - step/total)^0.9")
    p.add_argument("--batch-size", type=int, default=None, help="images per step and per process")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (paper: 200)")
    p.add_argument("--clip-max-norm", type=float, default=0.0, help="gradient clipping max norm; 0 = off")
    # * Run
    p.add_argument("--amp", default=None, choices=["bf16", "fp16", "off"],
                   help="mixed precision; default bf16 on CUDA, off on CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (minutes of compiling first)")
    p.add_argument("--deterministic", action="store_true",
                   help="torch's deterministic algorithms, cudnn.benchmark off (slower on CUDA)")
    p.add_argument("--device", default=None, help="cuda, cpu, ...; default cuda when available")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--seed", type=int, default=42, help="seeds torch, numpy and random (plus the rank)")
    p.add_argument("--out", default=None, help="run folder for checkpoints and log.jsonl; default runs/<dataset>")
    p.add_argument("--resume", default="",
                   help="checkpoint to continue from (e.g. runs/sbd/last.pt); the flags not given come from it")
    p.add_argument("--eval-every", type=int, default=None, help="validate every N epochs (and after the last)")
    p.add_argument("--print-every", type=int, default=None,
                   help="print and log one line every N steps (the only steps that wait for the GPU)")
    return p


def parse_args(argv=None):
    """Parse the flags and record which were given explicitly (`args.explicit`: --resume takes the others)."""
    args = get_args_parser().parse_args(argv)
    args.explicit = explicit_flags(get_args_parser(), argv)
    return args


def fill_defaults(args):
    """Replace every None flag by the dataset's default (DATASET_DEFAULTS) and derived values."""
    for key, value in DATASET_DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None:
        args.out = os.path.join("runs", args.dataset)
    return args


# ---------------------------------------------------------------------------------------------
# one epoch of training


@dataclass
class RunContext:
    """What an epoch of training needs besides the model, loss, data and optimizer."""
    args: argparse.Namespace  # lr, schedule, epochs, clip_max_norm, print_every
    device: torch.device
    amp_dtype: torch.dtype  # None: full precision
    total_steps: int
    log_path: str
    is_main: bool
    selector: object = None  # related_prompts.TemplateSelector for --prompts select
    epoch: int = 0
    step: int = 0  # optimizer steps done so far, over all epochs


def outputs_to_float(outputs):
    """The loss is computed in fp32 whatever autocast produced."""
    return {k: v.float() if torch.is_tensor(v) else [s.float() for s in v] if isinstance(v, list) else v
            for k, v in outputs.items()}


def train_one_epoch(model, criterion, loader, optimizer, scaler, run):
    """One pass over `loader`; advances run.step; returns the last step's loss terms as floats."""
    args, device = run.args, run.device
    model.train()
    bar = tqdm(loader, desc=f"epoch {run.epoch + 1}/{args.epochs}", disable=not run.is_main, leave=False,
               dynamic_ncols=True)
    t0, seen, checked = time.time(), 0, run.step + 1
    # a device-side flag: no host-device sync per step; it is read at print steps and at the end of the epoch
    non_finite = torch.zeros((), dtype=torch.bool, device=device)
    for i, batch in enumerate(bar):
        images = batch["image"].to(device, non_blocking=True)                       # (B, 3, H, W) in [0, 1]
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        edges = batch["edges"].to(device, non_blocking=True).float()                # (B, K, H, W)
        ignore = batch["ignore"].to(device, non_blocking=True).bool()               # (B, H, W)
        lr = (args.lr * (1 - min(run.step, run.total_steps) / run.total_steps) ** 0.9 if args.schedule == "poly"
              else args.lr)  # constant: our choice (the paper states none)
        for group in optimizer.param_groups:
            group["lr"] = lr

        with torch.autocast(device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
            outputs = model(images)                                                 # logits (B, K, H, W)
        terms = criterion(outputs_to_float(outputs), edges, ignore)                 # unweighted terms, fp32
        loss = sum(criterion.weight_dict[k] * v for k, v in terms.items())
        non_finite |= ~torch.isfinite(loss.detach())

        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if args.clip_max_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_max_norm)
        scaler.step(optimizer)
        scaler.update()
        run.step += 1
        if run.selector is not None:  # --prompts select: gather evidence, re-choose templates now and then
            chosen = run.selector.after_step(model, outputs, edges, run.step)
            if chosen is not None and run.is_main:  # the chosen template of every class, printed and logged
                log_json(run.log_path, {"type": "prompts", "epoch": run.epoch + 1, "step": run.step,
                                        "templates": chosen})
                tqdm.write(f"step {run.step} prompts: " + "; ".join(f"{k}: {v!r}" for k, v in chosen.items()))

        seen += images.shape[0]
        print_step = run.step % args.print_every == 0 or run.step == 1
        if print_step or i == len(loader) - 1:  # the only host-device syncs of the loop
            if non_finite.item():  # a loss since step `checked` was inf/NaN: stop, naming the terms
                values = {k: v.item() for k, v in terms.items()}
                print(f"ERROR: non-finite loss between steps {checked} and {run.step} (checked every --print-every "
                      f"steps); terms at step {run.step}: {values}. Lower --lr, try --amp off, or check the data.",
                      flush=True)
                raise FloatingPointError(f"non-finite loss, terms {values}")
            checked = run.step + 1
            ips = seen * (dist.get_world_size() if dist.is_initialized() else 1) / (time.time() - t0)
            last = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
            bar.set_postfix(loss=f"{last['loss']:.4g}", img_s=f"{ips:.1f}")
            if run.is_main and print_step:
                record = {"type": "train", "epoch": run.epoch + 1, "step": run.step, **last, "lr": lr,
                          "images_per_s": round(ips, 2)}
                log_json(run.log_path, record)
                tqdm.write(format_record(record))
    bar.close()
    return last


# ---------------------------------------------------------------------------------------------
# the parts of a run: data, model, resume, end of epoch


def build_data(args, rank, world, device):
    """Training loader (seeded shuffle and augmentation, util/reproducibility.py) and validation loader."""
    train_set = datasets.make_dataset(args.dataset, args.data_root, args.train_split)
    val_set = datasets.make_dataset(args.dataset, args.data_root, args.val_split)
    if args.train_limit is not None:
        train_set = Subset(train_set, range(min(args.train_limit, len(train_set))))
    if args.val_limit is not None:
        val_set = Subset(val_set, range(min(args.val_limit, len(val_set))))
    if rank == 0:
        with torch.random.fork_rng(devices=[]):  # the check must leave the global RNG where the seed put it
            all_ignore, no_positive = datasets.count_unusable_labels(train_set, workers=args.workers)
        if no_positive:
            print(f"WARNING: {no_positive} of {len(train_set)} training samples have no edge pixel ({all_ignore} of "
                  f"them are all ignore): they teach 'no edge' only (an all-ignore one adds exactly 0 to the loss). "
                  f"Check the prepared labels (python prepare.py stats --data-root {args.data_root}).", flush=True)
    train_loader, sampler = seeded_loader(train_set, TrainTransform(crop=args.crop, scale=tuple(args.scale_range)),
                                          args.seed, args.batch_size, rank, world, args.workers,
                                          args.persistent_workers, pin=device.type == "cuda")
    same_size = args.dataset == "synthetic"  # real images differ in size: validate one at a time
    val_loader = DataLoader(val_set, batch_size=args.batch_size if same_size else 1, sampler=SequentialSampler(val_set),
                            num_workers=min(args.workers, 4), pin_memory=device.type == "cuda")
    if len(train_loader) == 0:
        raise ValueError(f"train.py: {len(train_set)} training images < batch size {args.batch_size} x {world} "
                         f"processes; lower --batch-size")
    return train_loader, sampler, val_loader


def model_config(args, class_names):
    """ModelConfig from the flags; --prompts: a fixed template set, or select (from --prompt-set) / learned."""
    prompt_mode = args.prompts if args.prompts in ("select", "learned") else "fixed"
    templates = {"select": args.prompt_set, "learned": "name"}.get(args.prompts, args.prompts)
    return edge_model.ModelConfig(
        backbone=args.backbone, fusion=args.fusion, decoder=args.decoder, num_classes=len(class_names),
        class_names=list(class_names), prompt_templates=templates, prompt_mode=prompt_mode,
        prompt_context=args.prompt_context, pretrained=args.pretrained, output_stride=args.output_stride,
        fusion_dim=args.fusion_dim, deep_supervision=args.deep_supervision, clip_weights=args.clip_weights,
        text_features=args.text_features, t2p_head=args.t2p_weight > 0,
        embed_head=args.contrast_weight > 0 or args.prompts == "select", attn_dim=args.attn_dim,
        attn_heads=args.attn_heads, lcs_kernel=args.lcs_kernel)


def build_model(args, cfg, ckpt, device, is_main):
    """The model on `device`: from the checkpoint's text features on --resume, else f_T = E_T(T) computed once
    (Sec. 3.1.2). WARNINGs for settings whose numbers are not comparable with the paper's or that do nothing (the
    one for random CLIP weights is clip_text.random_text_encoder's, printed where they are made)."""
    warnings = [
        (args.prompts == "select" and args.contrast_weight == 0, "--prompts select compares templates with pixel "
         "embeddings that only loss_contrast trains; with --contrast-weight 0 the choice rests on an untrained "
         "projection. Add --contrast-weight 0.1."),
        (not args.pretrained, "the image encoder starts from RANDOM weights (no ImageNet pre-training): numbers "
         "from this run are not comparable with the paper."),
        (args.prompts == "learned" and args.fusion == "none" and args.t2p_weight == 0 and args.contrast_weight == 0,
         "--prompts learned with --fusion none and no alignment loss: nothing reads the text, so the context "
         "vectors are frozen (they would get no gradient).")]
    for condition, text in warnings if is_main else []:
        if condition:
            print("WARNING: " + text, flush=True)
    if ckpt is not None:  # the text features and weights come from it (no CLIP / ImageNet download)
        same = {k: v for k, v in asdict(cfg).items() if k not in ("pretrained", "clip_weights")}
        if {k: ckpt["model_config"].get(k) for k in same} != same:
            raise ValueError(f"train.py: --resume {args.resume} was trained with model_config "
                             f"{ckpt['model_config']}, but the flags give {asdict(cfg)}")
        # only learned prompts need the text encoder again (select's prompt bank is a saved buffer)
        needs_encoder = cfg.prompt_mode == "learned"
        model = edge_model.build_model(replace(cfg, pretrained=False), None if needs_encoder
                                       else ckpt["model"]["text_features"])
    else:
        model = edge_model.build_model(cfg)
    if args.batch_size == 1 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError(f"train.py: --batch-size 1 with the BatchNorm layers of --backbone {args.backbone}: "
                         f"BatchNorm normalises each channel with the statistics of the batch, which one image gives "
                         f"badly (and a 1x1 feature map not at all: 'Expected more than 1 value per channel'). Use "
                         f"--batch-size 2 or more (lower --crop to fit the memory).")
    if warnings[2][0]:  # the unused context: also keeps it out of DDP, which raises on a parameter with no gradient
        model.prompt_learner.requires_grad_(False)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def configure(args, local_rank, is_main):
    """Flags (the checkpoint's on --resume, then the dataset's defaults), device, backends, seed, log start."""
    ckpt = None
    if args.resume:
        ckpt = read_checkpoint(args.resume, "train.py --resume", required=(
            "model", "model_config", "args", "optimizer", "scaler", "epoch", "step", "best_score", "rng"))
        differ = adopt_checkpoint_flags(args, ckpt["args"], args.resume, get_args_parser(), MODEL_FLAGS,
                                        PLACE_FLAGS, LAUNCH_FLAGS)
        if differ and is_main:
            print(f"WARNING: --resume {args.resume} with other training hyper-parameters: {'; '.join(differ)}. The "
                  f"run continues with them, so it will not repeat the uninterrupted run.", flush=True)
    given = {k for k in DATASET_DEFAULTS[args.dataset] if getattr(args, k) is not None}  # flags or the checkpoint
    fill_defaults(args)
    device = (pick_device(args.device) if args.device else
              torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"))  # torchrun: this rank's GPU
    args.device, args.amp = str(device), amp_name(args.amp, device)
    backends = configure_backends(device, args.deterministic)  # TF32, cudnn.benchmark, deterministic
    if args.threads:
        torch.set_num_threads(args.threads)
    log_path = os.path.join(args.out, "log.jsonl")  # appended to: a "start" line opens every run
    if is_main:
        os.makedirs(args.out, exist_ok=True)
        paper = PAPER if args.dataset != "synthetic" else {}  # the synthetic demo's settings are all ours
        print(f"train.py: dataset {args.dataset}; settings of this run: "
              f"{format_settings(args, DATASET_DEFAULTS[args.dataset], paper, given)}")
        print("args: " + json.dumps(vars(args), sort_keys=True))
        print(f"device {device}, amp {args.amp}, seed {args.seed} (+rank), backends {backends}")
        if ckpt is not None:  # the steps after the checkpoint run again: mark the earlier records of them
            mark_superseded(log_path, ckpt["step"])
        log_json(log_path, {"type": "start", "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "resumed_from_step": ckpt["step"] if ckpt else None, "env": run_environment(),
                            "backends": backends, "args": vars(args)})
    return ckpt, device, log_path


def main(args):
    rank, world, local_rank = init_distributed()
    is_main = rank == 0
    ckpt, device, log_path = configure(args, local_rank, is_main)
    seed_everything(args.seed + rank)  # plus the rank; DDP copies rank 0's weights; augmentation: per sample

    # data; with --train-split trainval the validation images are training images: no best.pt
    train_loader, train_sampler, val_loader = build_data(args, rank, world, device)
    val_set = getattr(val_loader.dataset, "dataset", val_loader.dataset)  # under the --val-limit Subset
    max_dist = metrics.get_protocol(val_set.metric_preset).max_dist  # tolerance of the fast validation metric
    select_best = args.train_split != "trainval"

    # model, loss, optimizer (the frozen text encoder has no trainable parameters)
    cfg = model_config(args, val_set.class_names)
    if world > 1 and not is_main:
        dist.barrier()  # let rank 0 download CLIP / ImageNet weights alone
    model = model_without_ddp = build_model(args, cfg, ckpt, device, is_main)
    if world > 1 and is_main:
        dist.barrier()  # the other ranks waited: rank 0 fetched the weights into the cache first
    if is_main:
        print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in edge_model.count_parameters(model).items()))
    if world > 1:  # every trainable parameter is in every step's loss graph (zero-weighted terms still count)
        model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    if args.compile:  # the training forward and backward; validation runs the plain module
        model = torch.compile(model)
    extra = (related_losses.AlignmentLosses(args.t2p_weight, args.contrast_weight, args.contrast_temperature)
             if cfg.t2p_head or cfg.embed_head else None)  # beyond the paper (off by default)
    criterion = losses.EdgeCriterion(args.loss, args.side_weight, reduction=args.loss_reduction, extra_terms=extra)
    params = [p for p in model_without_ddp.parameters() if p.requires_grad]
    adam = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[args.optimizer]  # L2 decay / decoupled decay
    optimizer = adam(params, lr=args.lr, weight_decay=args.weight_decay, fused=True if device.type == "cuda" else None)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    selector = (related_prompts.TemplateSelector(cfg.num_classes, cfg.text_dim, every=args.select_every)
                if cfg.prompt_mode == "select" else None)
    run = RunContext(args, device, amp_dtype(args.amp, device), args.epochs * len(train_loader), log_path, is_main,
                     selector)

    # resume
    start_epoch, best_score = 0, -math.inf
    if ckpt is not None:
        start_epoch, run.step, best_score = restore_run(ckpt, model_without_ddp, optimizer, scaler, selector, rank)
        if is_main:
            print(f"resumed from {args.resume}: epoch {start_epoch}, step {run.step}, best {best_score:.4f}")

    # the loop: an epoch of training, validation (rank 0; the others wait in all_gather), checkpoints, curves
    history, t_start = [], time.time()
    for run.epoch in range(start_epoch, args.epochs):
        train_sampler.set_epoch(run.epoch)
        last = train_one_epoch(model, criterion, train_loader, optimizer, scaler, run)
        record = {"type": "epoch", "epoch": run.epoch + 1, "step": run.step, **last,
                  "time_s": round(time.time() - t_start, 1)}
        score = None
        if is_main and ((run.epoch + 1) % args.eval_every == 0 or run.epoch + 1 == args.epochs):
            val = validate(model_without_ddp, val_loader, device, run.amp_dtype, cfg.num_classes, max_dist,
                           WINDOWS.get(args.dataset))
            score = float(val["mean_F"])
            record.update({f"val_{k}": float(v) for k, v in val.items() if isinstance(v, (int, float))})
            record["val_images_in_training"] = not select_best  # then it only monitors: no best.pt
        state = {"rng": rng_state(), **({"selector": selector.state_dict()} if selector else {})}
        states = [state] * world  # every rank's state, so that a resumed DDP run continues exactly
        if world > 1:
            dist.all_gather_object(states, state)
        if is_main:
            improved = select_best and score is not None and score > best_score
            best_score = score if improved else best_score
            checkpoint = {"model": model_without_ddp.state_dict(), "optimizer": optimizer.state_dict(),
                          "scaler": scaler.state_dict(), "epoch": run.epoch + 1, "step": run.step,
                          "model_config": asdict(cfg), "args": vars(args), "best_score": best_score,
                          "score": score, "metric_preset": val_set.metric_preset, "rng": [s["rng"] for s in states]}
            if selector is not None:  # per rank: the evidence gathered since the last template choice
                checkpoint["selector"] = [s["selector"] for s in states]
            # best.pt BEFORE last.pt records the new best: a kill in between leaves last.pt at the previous
            # epoch, whose resume repeats this one. save_checkpoint refuses inf/NaN weights (a diverged run).
            if improved:
                save_checkpoint(checkpoint, os.path.join(args.out, "best.pt"))
            save_checkpoint(checkpoint, os.path.join(args.out, "last.pt"))
            record["best"] = improved
            log_json(log_path, record)
            history.append(record)
            print(format_record(record), flush=True)
            try:  # a picture must not end a long run: say so and go on
                plots.training_curves(log_path, os.path.join(args.out, "curves.png"))
            except (OSError, ValueError) as e:
                print(f"WARNING: curves.png not updated: {e}", flush=True)
        if world > 1:
            dist.barrier()

    if is_main:
        finish(args, select_best, best_score, time.time() - t_start)
    if dist.is_initialized():
        dist.destroy_process_group()
    return {"history": history, "best_score": best_score, "out": args.out}


def finish(args, select_best, best_score, seconds):
    """model.pt beside last.pt from the checkpoint to evaluate (weights only), and the evaluate command."""
    chosen = "best.pt" if select_best and os.path.isfile(os.path.join(args.out, "best.pt")) else "last.pt"
    if select_best:
        print(f"done in {seconds:.0f} s; best fast-metric mean F {best_score:.4f} on the held-out {args.val_split}")
    else:
        print(f"done in {seconds:.0f} s; no best.pt: the validation images are in --train-split {args.train_split}, "
              f"so the fast validation only monitored the run; evaluate last.pt")
    if os.path.isfile(os.path.join(args.out, chosen)):  # (a resume with no epoch left writes none)
        export_model(read_checkpoint(os.path.join(args.out, chosen), chosen), os.path.join(args.out, "model.pt"))
    print(f"checkpoints in {args.out}/; evaluate: python evaluate.py --ckpt {args.out}/{chosen}", flush=True)


if __name__ == "__main__":
    try:
        main(parse_args())
    except (ValueError, FileNotFoundError, FloatingPointError) as e:  # the clear errors: no traceback
        sys.exit(f"train.py: error: {str(e).removeprefix('train.py: ')}")
