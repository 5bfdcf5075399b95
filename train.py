"""Training: `python train.py --dataset sbd` (paper Sec. 4.1.2).

The whole loop is visible here, in the order a reader expects: seed, data, model,
optimizer, resume, then per step forward (autocast), loss terms, backward
(GradScaler for fp16), gradient clipping, optimizer step, logging; after each
epoch a fast validation and the checkpoints. There is no Trainer class and there
are no callbacks (nanoGPT's train.py; the argparse layout and `train_one_epoch`
follow DETR's main.py / engine.py; the DDP set-up follows torchvision's
references/segmentation).

Paper settings (Sec. 4.1.2) are the defaults for sbd / cityscapes: Adam,
learning rate 1e-4, weight decay 5e-4. The paper says Adam, so the decay is
Adam's L2 penalty added to the gradient (`torch.optim.Adam(weight_decay=...)`),
not AdamW's decoupled decay. Per-dataset defaults (backbone, crop, epochs, ...)
live in one dict, `DATASET_DEFAULTS`, and are printed at start.

    python train.py --dataset synthetic                 # CPU demo, minutes, no downloads
    python train.py --dataset sbd --data-root data/sbd  # the paper's main job, one GPU
    torchrun --nproc_per_node 4 train.py --dataset sbd  # DistributedDataParallel

Checkpoints hold only tensors and plain Python types, so
`torch.load(path, weights_only=True)` reads them; evaluate.py rebuilds the model
from `model_config` and the state dict alone (the CLIP text features are a buffer
of the model, so no CLIP checkpoint is needed there). `--resume` repeats the batches,
augmentations and losses of an uninterrupted run: the shuffle depends only on (seed,
epoch), each augmentation on (seed, epoch, sample) (EpochSampler, SeededAugmentation),
so neither persistent DataLoader workers nor their number change a run.
"""
import argparse
import json
import math
import os
import random
import time
from dataclasses import asdict, replace

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler, Subset
from tqdm import tqdm

import clip_text
import datasets
import losses
import metrics
import model as edge_model
from evaluate import WINDOWS, make_dataset, predict

# Per-dataset defaults: every flag below whose default is None takes its value from here.
# sbd / cityscapes: the paper's settings (Sec. 4.1.2; batch size is our choice, the paper's
# is not known to us). synthetic: a CPU demo that finishes in minutes with no downloads.
DATASET_DEFAULTS = {
    "sbd": dict(data_root="data/sbd", backbone="efficientnet_b7", crop=512, epochs=200,
                batch_size=8, lr=1e-4, clip_weights="ViT-B/32", pretrained=True, eval_every=5,
                print_every=50, workers=8, val_limit=None),
    "cityscapes": dict(data_root="data/cityscapes", backbone="efficientnet_b7", crop=512,
                       epochs=200, batch_size=8, lr=1e-4, clip_weights="ViT-B/32", pretrained=True,
                       eval_every=5, print_every=50, workers=8, val_limit=100),
    "synthetic": dict(data_root=None, backbone="tiny", crop=128, epochs=6, batch_size=8, lr=1e-3,
                      clip_weights="random", pretrained=False, eval_every=1,
                      print_every=20, workers=0, val_limit=None),
}


def get_args_parser():
    p = argparse.ArgumentParser("Language-driven semantic edge detection: training", add_help=True)
    # * Data
    p.add_argument("--dataset", default="sbd", choices=sorted(DATASET_DEFAULTS),
                   help="which dataset; also selects the defaults in DATASET_DEFAULTS")
    p.add_argument("--data-root", default=None, help="prepared data folder (README: Data); default per dataset")
    p.add_argument("--crop", type=int, default=None, help="square training crop in pixels (paper: 512)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    p.add_argument("--persistent-workers", default=True, action=argparse.BooleanOptionalAction,
                   help="keep DataLoader workers between epochs (--no-persistent-workers: re-create them each epoch)")
    p.add_argument("--train-split", default="train",
                   help="SBD: train (7498, SEAL's protocol) or trainval (all 8498); Cityscapes: train")
    p.add_argument("--val-split", default="val",
                   help="split of the training-time validation (Cityscapes: val, which is also its test set)")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (quick checks)")
    p.add_argument("--val-limit", type=int, default=None, help="validate on the first N validation images")
    # * Model
    p.add_argument("--backbone", default=None,
                   help="image encoder, see encoders.BACKBONES (the paper's best: efficientnet_b7)")
    p.add_argument("--fusion", default="product",
                   help="cross-modal fusion F, see fusion.FUSIONS ('none' = the Table 1 baseline; issue 7 adds "
                        "cross_attention (GLE-CLIP) and pixel_text_alignment (FGAseg))")
    p.add_argument("--decoder", default="refine", help="'refine' (the paper's decoder D) or 'casenet' (baseline head)")
    p.add_argument("--output-stride", type=int, default=32, help="8 or 16 dilates resnet50/101 (CASENet)")
    p.add_argument("--fusion-dim", type=int, default=32, help="M', text width per class inside the fusion")
    p.add_argument("--deep-supervision", action="store_true", help="add side outputs and their loss term")
    p.add_argument("--clip-weights", default=None,
                   help="CLIP text encoder: 'ViT-B/32' (download), a path to ViT-B-32.pt, or 'random' (no language)")
    p.add_argument("--prompts", default="name",
                   help="class-name prompts: a template set of clip_text.PROMPT_TEMPLATES (name = the paper's bare "
                        "name, photo, ensemble, context), or select (a template per class chosen from --prompt-set, "
                        "CA-CL) or learned (CoOp context vectors); the last two are issue 7's options")
    p.add_argument("--prompt-set", default="context",
                   help="--prompts select: the templates to choose from (a key of clip_text.PROMPT_TEMPLATES)")
    p.add_argument("--select-every", type=int, default=100, help="--prompts select: re-choose templates every N steps")
    p.add_argument("--prompt-context", type=int, default=4, help="--prompts learned: number of context tokens")
    p.add_argument("--attn-dim", type=int, default=256, help="cross_attention / pixel_text_alignment: attention width")
    p.add_argument("--attn-heads", type=int, default=8, help="cross_attention / pixel_text_alignment: attention heads")
    p.add_argument("--lcs-kernel", type=int, default=9, help="pixel_text_alignment: FGAseg's local similarity kernel")
    p.add_argument("--pretrained", default=None, action=argparse.BooleanOptionalAction,
                   help="ImageNet weights for the image encoder (--no-pretrained: train it from scratch)")
    # * Loss
    p.add_argument("--loss", default="reweighted", help="'reweighted' (CASENet), 'bce' or 'dff', see losses.py")
    p.add_argument("--side-weight", type=float, default=1.0, help="weight of the side-output loss term")
    p.add_argument("--t2p-weight", type=float, default=0.0,
                   help="weight of FGAseg's text-pixel loss (adds the t2p head; issue 7; 0 = off, the paper)")
    p.add_argument("--contrast-weight", type=float, default=0.0,
                   help="weight of the mask-text contrastive loss (adds the embedding head; issue 7; 0 = off)")
    p.add_argument("--contrast-temperature", type=float, default=0.07, help="temperature of the contrastive loss")
    p.add_argument("--loss-reduction", default="batch", choices=["batch", "mean"],
                   help="reweighted loss: sum over pixels / batch size (CASENet) or the mean (losses.py)")
    # * Optimizer
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (paper: 1e-4)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="Adam's L2 weight decay (paper: 5e-4)")
    p.add_argument("--schedule", default="constant", choices=["constant", "poly"],
                   help="learning rate over the run: constant, or poly (1 - step/total)^0.9")
    p.add_argument("--batch-size", type=int, default=None, help="images per step and per process")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (paper: 200)")
    p.add_argument("--clip-max-norm", type=float, default=0.0, help="gradient clipping max norm; 0 = off")
    # * Run
    p.add_argument("--amp", default=None, choices=["bf16", "fp16", "off"],
                   help="mixed precision; default bf16 on CUDA, off on CPU")
    p.add_argument("--device", default=None, help="cuda, cpu, ...; default cuda when available")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--seed", type=int, default=42, help="seeds torch, numpy and random (plus the rank)")
    p.add_argument("--out", default=None, help="run folder for checkpoints and log.jsonl; default runs/<dataset>")
    p.add_argument("--resume", default="", help="checkpoint to continue from (e.g. runs/sbd/last.pt)")
    p.add_argument("--eval-every", type=int, default=None, help="validate every N epochs (and after the last)")
    p.add_argument("--print-every", type=int, default=None, help="print one log line every N steps")
    return p


def fill_defaults(args):
    """Replace every None flag by the dataset's default (DATASET_DEFAULTS) and derived values."""
    for key, value in DATASET_DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None:
        args.out = os.path.join("runs", args.dataset)
    return args


# ---------------------------------------------------------------------------------------------
# distributed / seeding / checkpoint helpers


def init_distributed():
    """torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them this is a single process."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank, world, local_rank


def seed_everything(seed):
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
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["random"]
    random.setstate((version, tuple(internal), gauss_next))


def process_state(selector):
    """What a resumed run needs from each process besides the model: its RNG states and, for --prompts select,
    the template-selection evidence it gathered since the last choice (each DDP rank sees its own batches)."""
    state = {"rng": rng_state()}
    if selector is not None:
        state["selector"] = {"sums": selector.sums.cpu().clone(), "counts": selector.counts.cpu().clone()}
    return state


def save_checkpoint(checkpoint, path):
    """Write atomically: a temporary file in the same folder, then os.replace.

    An interrupted write (crash, Ctrl-C, full disk) leaves the previous file intact.
    """
    tmp = path + ".tmp"
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def log_json(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def format_record(record):
    """A log record as one printed line: `key value` pairs, floats to 4 significant digits, without its type."""
    return " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "type")


def outputs_to_float(outputs):
    """The loss is computed in fp32 whatever autocast produced."""
    return {k: v.float() if torch.is_tensor(v) else [s.float() for s in v] if isinstance(v, list) else v
            for k, v in outputs.items()}


class EpochSampler(DistributedSampler):
    """DistributedSampler (shuffled by seed + epoch) yielding epoch * N + i for its sample i of N: the epoch travels
    with the index to SeededAugmentation, also into workers that persist between epochs."""

    def __iter__(self):
        return (self.epoch * len(self.dataset) + i for i in super().__iter__())


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
        self.sample_seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1, np.uint64)[0])
        return self.dataset[index]

    def augment(self, image, bits):
        return self.transform(image, bits, torch.Generator().manual_seed(self.sample_seed))


def learning_rate(args, step, total_steps):
    if args.schedule == "poly":
        return args.lr * (1 - min(step, total_steps) / total_steps) ** 0.9
    return args.lr


# ---------------------------------------------------------------------------------------------
# one epoch of training, and the fast validation


def train_one_epoch(model, criterion, loader, optimizer, scaler, device, amp_dtype, args,
                    epoch, step, total_steps, log_path, is_main, selector=None):
    model.train()
    channels_last = device.type == "cuda"
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not is_main, leave=False,
               dynamic_ncols=True)
    t0, seen, last = time.time(), 0, {}
    for batch in bar:
        images = batch["image"].to(device, non_blocking=True)                       # [B,3,H,W] in [0,1]
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        edges = batch["edges"].to(device, non_blocking=True).float()                # [B,K,H,W]
        ignore = batch["ignore"].to(device, non_blocking=True).bool()               # [B,H,W]
        lr = learning_rate(args, step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            outputs = model(images)                                                 # logits [B,K,H,W]
        terms = criterion(outputs_to_float(outputs), edges, ignore)                 # unweighted terms, fp32
        loss = sum(criterion.weight_dict[k] * v for k, v in terms.items())
        if not torch.isfinite(loss):
            values = {k: v.item() for k, v in terms.items()}
            print(f"ERROR: non-finite loss {loss.item()} at epoch {epoch + 1}, step {step}; "
                  f"terms: {values}. Lower --lr, try --amp off, or check the data.", flush=True)
            raise FloatingPointError(f"non-finite loss, terms {values}")

        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if args.clip_max_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_max_norm)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        if selector is not None:  # --prompts select: gather image evidence, re-choose templates now and then
            selector.update(outputs["pixel_embeddings"].detach(), edges)
            if step % args.select_every == 0:  # DDP broadcasts rank 0's choice (a buffer) on the next forward
                unwrapped = model.module if isinstance(model, DistributedDataParallel) else model
                unwrapped.set_prompt_choice(selector.choose(unwrapped.prompt_bank, unwrapped.prompt_choice))
                if is_main:  # the chosen template of every class, printed and logged
                    bank = clip_text.PROMPT_TEMPLATES[unwrapped.cfg.prompt_templates]
                    chosen = {name: bank[i] for name, i in zip(unwrapped.cfg.class_names,
                                                                 unwrapped.prompt_choice.tolist())}
                    log_json(log_path, {"type": "prompts", "epoch": epoch + 1, "step": step, "templates": chosen})
                    tqdm.write(f"step {step} prompts: " + "; ".join(f"{k}: {v!r}" for k, v in chosen.items()))

        seen += images.shape[0]
        ips = seen * (dist.get_world_size() if dist.is_initialized() else 1) / (time.time() - t0)
        last = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
        bar.set_postfix(loss=f"{last['loss']:.4g}", img_s=f"{ips:.1f}")
        if is_main and (step % args.print_every == 0 or step == 1):
            record = {"type": "train", "epoch": epoch + 1, "step": step, **last, "lr": lr,
                      "images_per_s": round(ips, 2)}
            log_json(log_path, record)
            tqdm.write(format_record(record))
    bar.close()
    return step, last


@torch.no_grad()
def validate(model, loader, device, amp_dtype, num_classes, max_dist, window):
    """Training-time validation with metrics.ApproxEdgeF (fast; the exact ODS is evaluate.py's job)."""
    model.eval()
    meter = metrics.ApproxEdgeF(num_classes, max_dist=max_dist)
    for batch in loader:
        probs = predict(model, batch["image"].to(device), amp_dtype, window)       # [B,K,H,W]
        meter.update(probs, batch["edges"].to(device).bool(), batch["ignore"].to(device).bool())
    model.train()
    return meter.compute()


# ---------------------------------------------------------------------------------------------


def main(args):
    fill_defaults(args)
    rank, world, local_rank = init_distributed()
    is_main = rank == 0
    if args.device is None:
        args.device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.amp is None:
        args.amp = "bf16" if device.type == "cuda" else "off"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[args.amp]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)

    # seed (plus the rank; DDP copies rank 0's weights; augmentations are seeded per sample, SeededAugmentation)
    seed_everything(args.seed + rank)
    log_path = os.path.join(args.out, "log.jsonl")  # appended to: a "start" line separates runs
    if is_main:
        os.makedirs(args.out, exist_ok=True)
        print(f"train.py: dataset {args.dataset}, defaults {DATASET_DEFAULTS[args.dataset]}")
        print("args: " + json.dumps(vars(args), sort_keys=True))
        print(f"device {device}, world size {world}, amp {args.amp}, seed {args.seed} (+rank)")
        log_json(log_path, {"type": "start", "time": time.strftime("%Y-%m-%d %H:%M:%S"), "args": vars(args)})

    # data
    train_set = make_dataset(args.dataset, args.data_root, args.train_split)
    val_set = make_dataset(args.dataset, args.data_root, args.val_split)
    class_names = list(train_set.class_names)
    max_dist = metrics.get_protocol(val_set.metric_preset).max_dist  # tolerance of the fast validation metric
    if args.train_limit is not None:
        train_set = Subset(train_set, range(min(args.train_limit, len(train_set))))
    if args.val_limit is not None:
        val_set = Subset(val_set, range(min(args.val_limit, len(val_set))))
    # a DistributedSampler for one process too: it shuffles by (seed, epoch), so --resume repeats the batches
    train_sampler = EpochSampler(train_set, num_replicas=world, rank=rank, seed=args.seed, drop_last=True)
    train_set = SeededAugmentation(train_set, datasets.TrainTransform(crop=args.crop), args.seed)
    pin = device.type == "cuda"
    # the loader's own generator: the worker seeds it draws are unused, and the global RNG is left alone
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=train_sampler, drop_last=True,
                              num_workers=args.workers, pin_memory=pin, generator=torch.Generator(),
                              persistent_workers=args.persistent_workers and args.workers > 0)
    same_size = args.dataset == "synthetic"  # real images differ in size: validate one at a time
    val_loader = DataLoader(val_set, batch_size=args.batch_size if same_size else 1,
                            sampler=SequentialSampler(val_set), num_workers=min(args.workers, 4), pin_memory=pin)
    if len(train_loader) == 0:
        raise ValueError(f"train.py: {len(train_set)} training images < batch size {args.batch_size}")

    # model
    # --prompts: a fixed template set, or issue 7's select (from the "context" set) / learned modes
    prompt_mode = args.prompts if args.prompts in ("select", "learned") else "fixed"
    templates = {"select": args.prompt_set, "learned": "name"}.get(args.prompts, args.prompts)
    cfg = edge_model.ModelConfig(backbone=args.backbone, fusion=args.fusion, decoder=args.decoder,
                                 num_classes=len(class_names), class_names=class_names,
                                 prompt_templates=templates, prompt_mode=prompt_mode,
                                 prompt_context=args.prompt_context, pretrained=args.pretrained,
                                 output_stride=args.output_stride, fusion_dim=args.fusion_dim,
                                 deep_supervision=args.deep_supervision, clip_weights=args.clip_weights,
                                 t2p_head=args.t2p_weight > 0,
                                 embed_head=args.contrast_weight > 0 or args.prompts == "select",
                                 attn_dim=args.attn_dim, attn_heads=args.attn_heads, lcs_kernel=args.lcs_kernel)
    if args.prompts == "select" and args.contrast_weight == 0:
        print("WARNING: --prompts select compares templates with pixel embeddings that only loss_contrast trains; "
              "with --contrast-weight 0 the choice rests on an untrained projection. Add --contrast-weight 0.1.",
              flush=True)
    context_unused = (args.prompts == "learned" and args.fusion == "none" and args.t2p_weight == 0
                      and args.contrast_weight == 0)
    if context_unused:
        print("WARNING: --prompts learned with --fusion none and no alignment loss: nothing reads the text, so the "
              "context vectors are frozen (they would get no gradient).", flush=True)
    if not args.pretrained:
        print("WARNING: the image encoder starts from RANDOM weights (no ImageNet pre-training): "
              "numbers from this run are not comparable with the paper.", flush=True)
    if args.clip_weights == "random":
        print("WARNING: the CLIP text encoder has RANDOM weights (--clip-weights random): the class-name "
              "features carry no language; numbers from this run are not comparable with the paper.", flush=True)
    if world > 1 and not is_main:
        dist.barrier()  # let rank 0 download CLIP / ImageNet weights alone
    ckpt = None
    if args.resume:  # read first: the text features and weights come from it (no CLIP / ImageNet download)
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
        same = {k: v for k, v in asdict(cfg).items() if k not in ("pretrained", "clip_weights")}
        if {k: ckpt["model_config"].get(k) for k in same} != same:
            raise ValueError(f"train.py: --resume {args.resume} was trained with model_config "
                             f"{ckpt['model_config']}, but the flags give {asdict(cfg)}")
        fixed = cfg.prompt_mode == "fixed"  # select / learned prompts need the text encoder again
        text_features = ckpt["model"]["text_features"] if fixed else None
        model = edge_model.build_model(replace(cfg, pretrained=False), text_features)
    else:
        model = edge_model.build_model(cfg)  # computes the text features once with CLIP, Eq. (3-1)
    model = model.to(device)
    if world > 1 and is_main:
        dist.barrier()  # the other ranks waited: rank 0 fetched the weights into the cache first
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if context_unused:  # also keeps it out of DDP, which raises on a trainable parameter that gets no gradient
        model.prompt_learner.requires_grad_(False)
    if is_main:
        print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in edge_model.count_parameters(model).items()))
    model_without_ddp = model
    if world > 1:  # no find_unused_parameters needed: every trainable parameter is in every step's loss graph
        # (the t2p / embedding heads exist only when their loss weight > 0 or --prompts select reads them; a
        # zero-weighted term still counts; the context that nothing reads is frozen above)
        model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)

    # loss and optimizer (the frozen text encoder has no trainable parameters)
    criterion = losses.EdgeCriterion(loss=args.loss, side_weight=args.side_weight, reduction=args.loss_reduction,
                                     t2p_weight=args.t2p_weight, contrast_weight=args.contrast_weight,
                                     temperature=args.contrast_temperature)
    selector = clip_text.TemplateSelector(cfg.num_classes, cfg.text_dim) if cfg.prompt_mode == "select" else None
    params = [p for p in model_without_ddp.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)  # Adam's L2 decay
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")

    # resume
    start_epoch, step, best_score = 0, 0, -math.inf
    if ckpt is not None:
        model_without_ddp.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step, best_score = ckpt["epoch"], ckpt["step"], ckpt["best_score"]
        set_rng_state(ckpt["rng"][min(rank, len(ckpt["rng"]) - 1)])
        if selector is not None:  # this rank's evidence since the last template choice
            saved = ckpt["selector"][min(rank, len(ckpt["selector"]) - 1)]
            selector.sums, selector.counts = saved["sums"], saved["counts"]
        if is_main:
            print(f"resumed from {args.resume}: epoch {start_epoch}, step {step}, best {best_score:.4f}")

    total_steps = args.epochs * len(train_loader)
    history = []
    t_start = time.time()
    for epoch in range(start_epoch, args.epochs):
        train_sampler.set_epoch(epoch)
        step, last = train_one_epoch(model, criterion, train_loader, optimizer, scaler, device, amp_dtype,
                                     args, epoch, step, total_steps, log_path, is_main, selector)
        record = {"type": "epoch", "epoch": epoch + 1, "step": step, **last,
                  "time_s": round(time.time() - t_start, 1)}

        # validation (rank 0; the others wait in the all_gather below) and checkpoints
        score = None
        if is_main and ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs):
            val = validate(model_without_ddp, val_loader, device, amp_dtype, cfg.num_classes, max_dist,
                           WINDOWS.get(args.dataset))
            score = float(val["mean_F"])
            record.update({f"val_{k}": float(v) for k, v in val.items() if isinstance(v, (int, float))})
        state = process_state(selector)
        states = [state] * world  # every rank's state, so that a resumed DDP run continues exactly
        if world > 1:
            dist.all_gather_object(states, state)
        if is_main:
            improved = score is not None and score > best_score
            best_score = score if improved else best_score
            checkpoint = {"model": model_without_ddp.state_dict(), "optimizer": optimizer.state_dict(),
                          "scaler": scaler.state_dict(), "epoch": epoch + 1, "step": step,
                          "model_config": asdict(cfg), "args": vars(args), "best_score": best_score,
                          "score": score, "rng": [s["rng"] for s in states]}
            if selector is not None:  # per rank: the evidence gathered since the last template choice
                checkpoint["selector"] = [s["selector"] for s in states]
            save_checkpoint(checkpoint, os.path.join(args.out, "last.pt"))
            if improved:
                save_checkpoint(checkpoint, os.path.join(args.out, "best.pt"))
            record["best"] = improved
            log_json(log_path, record)
            history.append(record)
            print(format_record(record), flush=True)
        if world > 1:
            dist.barrier()

    if is_main:
        print(f"done in {time.time() - t_start:.0f} s; best fast-metric mean F {best_score:.4f}; "
              f"checkpoints in {args.out}/ (evaluate: python evaluate.py --ckpt {args.out}/best.pt)")
    if dist.is_initialized():
        dist.destroy_process_group()
    return {"history": history, "best_score": best_score, "out": args.out}


if __name__ == "__main__":
    main(get_args_parser().parse_args())
