"""One command that measures a GPU for this project: training throughput, memory, model-FLOPs utilisation
(MFU), torch.compile, inference speed, bf16 numerics, one DDP step, and the exact benchmark on the CPUs.
Measures the training step with the settings of paper Sec. 4.1.2, our inference (util/inference.py: whole image,
512 window on Cityscapes) and the benchmark of Sec. 4.1.3.

    python bench/gpu_check.py [--quick] [--out gpu_check.json]   # ~5 minutes on one GPU (--quick: ~2)
    python bench/gpu_check.py --device cpu --size 64 --batch 2 --steps 2 --backbones tiny --casenet-backbone tiny

Sections, in this order (each asks the time budget first; a figure that cannot be measured is null with its
reason in the section's "reasons": time budget, not applicable on this device, or the error):
- train, per backbone (refine decoder, product fusion, K = 20) and the CASENet baseline (ResNet-101, stride 8,
  deep supervision): images/s of train.py's step (bf16 autocast, channels-last, fused Adam on CUDA; after
  warm-up, synchronised), peak memory, FLOPs per training image (forward + backward / batch), TFLOP/s, MFU;
- profile: where MFU falls short of TARGET_MFU, the top kernels of a short torch.profiler trace;
- inference: images/s on an SBD-sized image (375x500, whole) and a Cityscapes image (1024x2048, 512 window);
- numerics: bf16 vs fp32 (TF32 off) edge probabilities on a fixed input; loss and gradient of one step;
- ddp: train.py on synthetic data under `torchrun --nproc_per_node 1` (NCCL on CUDA, gloo on CPU);
- exact_benchmark: the ODS benchmark's images/s on 1 and N processes (bench_metrics.py's synthetic maps);
- train_compile: the train figures under torch.compile, a subprocess per config, killed at the budget's end.
Random weights and text features (speed does not depend on them; nothing is downloaded).
"""
import argparse
import copy
import gc
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# dense bf16 tensor-core peak in TFLOP/s (datasheets print twice these "with sparsity"); the first match wins.
# Variants not listed (NVL cards, MIG slices, ...) get no MFU unless --peak-tflops is given.
PEAK_BF16_TFLOPS = [(r"H100.*PCIe", "H100 PCIe", 756.0), (r"NVL|MIG", None, None), (r"H100", "H100 SXM", 989.0),
                    (r"H200", "H200", 989.0), (r"A100", "A100", 312.0), (r"L40S", "L40S", 362.0),
                    (r"\bL4\b", "L4", 121.0), (r"RTX 4090", "RTX 4090", 165.0)]
H100_CLASS = re.compile(r"H100|H200")
TARGET_MFU = {"resnet101": 0.40, "efficientnet_b7": 0.20}  # H100-class GPU: 40%, EfficientNet-B7 within 2x of it
TRAIN_KEYS = ("images_per_s", "peak_mem_mib", "gflops_per_image", "achieved_tflops", "mfu")
COMPILE_KEYS = TRAIN_KEYS + ("compile_s",)
INFER_KEYS = ("sbd_images_per_s", "cityscapes_images_per_s")
NUMERICS_KEYS = ("prob_max_abs_diff", "prob_mean_abs_diff", "loss_fp32", "loss_bf16", "loss_rel_diff", "grad_cosine")
DDP_KEYS = ("step_loss", "images_per_s", "wall_s")
EXACT_KEYS = ("images_per_s_1_process", "images_per_s_n_processes", "processes")
MATH_KERNELS = re.compile(r"conv|gemm|cutlass|xmma|wgrad|dgrad|fprop|mm", re.I)  # our heuristic for math kernels
K = 20  # SBD's classes


class Budget:
    """The wall-clock budget of the whole check; every section asks it before it starts."""

    def __init__(self, seconds):
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self):
        return self.seconds - (time.perf_counter() - self.start)

    def skip(self, need_s):
        """None when about `need_s` seconds are left, else the reason stored beside the null figures."""
        return None if self.left() >= need_s else f"skipped: time budget ({self.left():.0f} s left, ~{need_s:.0f} s)"


def nulls(keys, reason, out=None):
    """Set `keys` of `out` to null, with `reason` in out["reasons"]."""
    out = {} if out is None else out
    out.update(dict.fromkeys(keys))
    out.setdefault("reasons", {}).update(dict.fromkeys(keys, reason))
    return out


def run_subprocess(cmd, budget, what, keys, out):
    """(stdout, None), or (None, `out` with `keys` null and why: killed with all its children (torchrun's worker,
    inductor's compile workers) at the budget's end, or failed (its output from the first traceback on))."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, so that the kill reaches them all
    try:
        stdout, stderr = proc.communicate(timeout=max(budget.left() - 3, 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, nulls(keys, f"skipped: time budget ({what} did not finish in time)", out)
    if proc.returncode == 0:
        return stdout, None
    text = stdout + stderr
    out["output"] = text[text.find("Traceback"):][:3000] if "Traceback" in text else text[-3000:]
    return None, nulls(keys, f"error: {what} exited with {proc.returncode} (see output)", out)


def peak_tflops(device_name, override=None):
    """(dense bf16 peak TFLOP/s or None, where it comes from or why it is unknown) for a device name."""
    if override:
        return override, "--peak-tflops"
    label, tflops = next(((lb, tf) for pattern, lb, tf in PEAK_BF16_TFLOPS if re.search(pattern, device_name)),
                         (0, None))
    return (tflops, f"table: {label}") if tflops else (None, f"no bf16 peak known for {device_name!r}; "
                                                             f"pass --peak-tflops")


def timed(fn, n, device):
    """Seconds for n calls of fn, the device synchronised before and after."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return time.perf_counter() - t0


def reset_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def configs(args):
    """(key, ModelConfig fields) of every training config: the paper's model per backbone, then CASENet."""
    out = [(b, dict(backbone=b, fusion="product", decoder="refine")) for b in args.backbones]
    b = args.casenet_backbone  # CASENet: dilated ResNet (output stride 8), deep supervision, no text fusion
    return out + [(f"casenet_{b}", dict(backbone=b, fusion="none", decoder="casenet", deep_supervision=True,
                                        output_stride=8 if b.startswith("resnet") else 32))]


def build(fields, device):
    import model as edge_model
    cfg = edge_model.ModelConfig(**fields, num_classes=K, class_names=[f"class{k}" for k in range(K)],
                                 pretrained=False)
    model = edge_model.build_model(cfg, text_features=torch.randn(K, cfg.text_dim)).to(device).train()
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def make_batch(B, H, W, device, seed=0):
    """Images (B, 3, H, W) in [0, 1], sparse edges (B, K, H, W), no ignored pixels (B, H, W); fixed by `seed`."""
    g, layout = torch.Generator().manual_seed(seed), torch.channels_last if device.type == "cuda" else None
    images = torch.rand(B, 3, H, W, generator=g).to(device, memory_format=layout or torch.contiguous_format)
    edges = (torch.rand(B, K, H, W, generator=g) < 0.02).float().to(device)
    return images, edges, torch.zeros(B, H, W, dtype=torch.bool, device=device)


def loss_of(model, criterion, batch, amp_dtype):
    """train.py's forward: autocast forward, the loss terms in fp32 (train.outputs_to_float), their weighted sum."""
    images, edges, ignore = batch
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        outputs = model(images)  # logits (B, K, H, W)
    from train import outputs_to_float  # train.py's own cast of the outputs to fp32
    terms = criterion(outputs_to_float(outputs), edges, ignore)
    return sum(criterion.weight_dict[k] * v for k, v in terms.items())


def make_step(model, batch, amp_dtype, device):
    """One training step as train.py's: forward, loss, backward, Adam step (fused on CUDA)."""
    import losses
    criterion = losses.EdgeCriterion(loss="reweighted")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=5e-4,
                                 fused=device.type == "cuda")

    def step():
        loss = loss_of(model, criterion, batch, amp_dtype)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def run_steps(step, args, device, budget, out):
    """Warm-up, then timed steps (fewer when the budget is short): images/s and peak memory into `out`."""
    for _ in range(args.warmup):
        step()
    step_s = timed(step, 1, device)
    n = min(args.steps, int((budget.left() - 5) / max(step_s, 1e-6)))
    if n < 1:
        return nulls(("images_per_s", "peak_mem_mib"), budget.skip(step_s * args.steps + 5), out)
    out["images_per_s"], out["timed_steps"] = args.batch * n / timed(step, n, device), n
    if device.type == "cuda":
        out["peak_mem_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        return out
    return nulls(["peak_mem_mib"], "not applicable on CPU (torch.cuda.max_memory_allocated is CUDA's)", out)


def add_mfu(out, flops_per_image, peak):
    """Achieved TFLOP/s and MFU from images/s and the FLOPs per image (counted in eager mode)."""
    out["gflops_per_image"] = flops_per_image / 1e9 if flops_per_image else None
    if out.get("images_per_s") is None or not flops_per_image:
        return nulls(("gflops_per_image", "achieved_tflops", "mfu")[1 if flops_per_image else 0:],
                     "no images/s or no FLOP count", out)
    out["achieved_tflops"] = flops_per_image * out["images_per_s"] / 1e12  # model FLOP/s, in units of 1e12
    out["mfu"] = out["achieved_tflops"] / peak[0] if peak[0] else None  # model-FLOPs utilisation
    return out if peak[0] else nulls(["mfu"], peak[1], out)


def top_kernels(step, device, steps=3, top=12):
    """The `top` kernels (CUDA: kernels by self device time; CPU: operators by self CPU time) of `steps` steps."""
    from torch.profiler import ProfilerActivity, profile
    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        timed(step, steps, device)
    events = [e for e in prof.key_averages() if not cuda or e.device_type == torch.autograd.DeviceType.CUDA]
    cost = (lambda e: e.self_device_time_total) if cuda else (lambda e: e.self_cpu_time_total)  # microseconds
    total = sum(cost(e) for e in events) or 1.0
    return {"kind": "CUDA kernels by self device time" if cuda else "CPU operators by self CPU time",
            "ms_per_step": total / 1e3 / steps,
            "math_share": sum(cost(e) for e in events if MATH_KERNELS.search(e.key)) / total,
            "top": [{"name": e.key[:140], "calls": e.count, "ms_per_step": cost(e) / 1e3 / steps,
                     "share": cost(e) / total} for e in sorted(events, key=cost, reverse=True)[:top]]}


def measure_inference(model, args, amp_dtype, device, budget):
    """Images/s of util.inference.predict on one SBD-sized image (whole) and one Cityscapes image (sliding window)."""
    from util.inference import predict
    s, out = args.size / 512, {"shapes": {}}
    model.eval()
    for name, H, W, window in (("sbd", 375, 500, None), ("cityscapes", 1024, 2048, args.size)):
        H, W = round(H * s), round(W * s)
        out["shapes"][name] = f"{H}x{W}, " + (f"window {window}" if window else "whole image")
        if budget.skip(10):
            nulls([f"{name}_images_per_s"], budget.skip(10), out)
            continue
        images = make_batch(1, H, W, device)[0]
        run = lambda: predict(model, images, amp_dtype, window)  # noqa: E731
        once = timed(run, 2, device) / 2  # warm-up: cudnn.benchmark tunes each new shape
        n = max(1, min(args.steps // 2, int((budget.left() - 5) / max(once, 1e-6))))
        out[f"{name}_images_per_s"] = n / timed(run, n, device)
    model.train()
    return out


def measure_numerics(key, fields, args, device):
    """bf16 autocast vs fp32 on a fixed input: edge probabilities (eval), loss and gradient of one step (train).
    TF32 is off meanwhile (CUDA): the reference is plain fp32 (and autocast's fp32 ops, e.g. the loss, too)."""
    import losses
    from util.inference import predict
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        torch.manual_seed(0)
        model = build(fields, device)
        batch, state = make_batch(2, args.size, args.size, device, seed=1), copy.deepcopy(model.state_dict())
        diff = (predict(model.eval(), batch[0], None) - predict(model, batch[0], torch.bfloat16)).abs()
        criterion, loss, grad = losses.EdgeCriterion(loss="reweighted"), {}, {}
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            model.load_state_dict(state)  # the same weights and BatchNorm statistics for both
            model.train().zero_grad(set_to_none=True)
            value = loss_of(model, criterion, batch, dtype)
            value.backward()
            loss[name] = value.item()
            grad[name] = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    return {"config": key, "input": f"2x3x{args.size}x{args.size}, seed 1", "fp32_reference": "TF32 off",
            "prob_max_abs_diff": diff.max().item(), "prob_mean_abs_diff": diff.mean().item(),
            "loss_fp32": loss["fp32"], "loss_bf16": loss["bf16"],
            "loss_rel_diff": abs(loss["bf16"] - loss["fp32"]) / max(abs(loss["fp32"]), 1e-12),
            "grad_cosine": torch.nn.functional.cosine_similarity(grad["fp32"], grad["bf16"], dim=0).item()}


def run_ddp(args, device, budget):
    """train.py on the synthetic dataset for one short epoch under torchrun with one process."""
    flags = ["train.py", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "16", "--val-limit", "4",
             "--batch-size", "8", "--device", str(device)]
    out = {"backend": "nccl" if device.type == "cuda" else "gloo (NCCL needs CUDA)", "world_size": 1,
           "command": "torchrun --standalone --nproc_per_node 1 " + " ".join(flags)}
    if budget.skip(30):
        return nulls(DDP_KEYS, budget.skip(30), out)
    with tempfile.TemporaryDirectory() as run_dir:
        t0 = time.perf_counter()
        stdout, failed = run_subprocess([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                         "--nproc_per_node", "1"] + flags + ["--out", run_dir], budget,
                                        "train.py under torchrun", DDP_KEYS, out)
        log = os.path.join(run_dir, "log.jsonl")
        train = ([r for r in map(json.loads, open(log)) if r.get("type") == "train" and not r.get("superseded")]
                 if stdout is not None and os.path.isfile(log) else [])
    if failed or not train:
        return failed or nulls(DDP_KEYS, "error: train.py wrote no train record in log.jsonl", out)
    out["wall_s"], out["step_loss"] = time.perf_counter() - t0, train[0]["loss"]
    out["images_per_s"] = train[-1]["images_per_s"]  # train.py's own figure over its first steps (with warm-up)
    return out


def measure_exact(args, budget):
    """Images/s of the exact benchmark's per-image work (metrics.evaluate_image, preset sbd) on synthetic SBD-like
    maps: in this process, and in a warmed-up pool of N spawn processes (as evaluate.py --workers N)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    import numpy as np
    import metrics
    from bench_metrics import synthetic_image
    N, rng = os.cpu_count() or 1, np.random.default_rng(0)
    maps = [synthetic_image(rng, *args.exact_shape, K=K)[:2] for _ in range(4)]
    out = {"processes": N, "maps": f"{args.exact_shape[0]}x{args.exact_shape[1]}, K={K}, bench_metrics.py"}
    if budget.skip(5):
        return nulls(EXACT_KEYS[:2], budget.skip(5), out)
    t0 = time.perf_counter()
    for pred, gt in maps:
        metrics.evaluate_image(pred, gt, "sbd")
    out["images_per_s_1_process"] = len(maps) / (time.perf_counter() - t0)
    n = 2 * N * len(maps)
    if budget.skip(15 + n / N / out["images_per_s_1_process"]):
        return nulls(["images_per_s_n_processes"], budget.skip(15 + n / N / out["images_per_s_1_process"]), out)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(N, mp_context=mp.get_context("spawn")) as pool:
        for _ in range(20):  # until N sleeps of 0.3 s run side by side: every process started and idle
            t1 = time.perf_counter()
            if list(pool.map(time.sleep, [0.3] * N)) and time.perf_counter() - t1 < 0.55:
                break
        out["pool_start_s"], t0 = time.perf_counter() - t0, time.perf_counter()
        list(pool.map(metrics.evaluate_image, *zip(*maps * (2 * N)), ["sbd"] * n))
        out["images_per_s_n_processes"] = n / (time.perf_counter() - t0)
    return out


def compile_worker(args):
    """Subprocess: the train figures of one config under torch.compile; prints one `RESULT {json}` line."""
    from util.reproducibility import configure_backends
    device = torch.device(args.device)
    configure_backends(device)  # train.py's TF32 / cudnn settings
    model = torch.compile(build(json.loads(args.compile_worker), device), backend=args.compile_backend)
    step = make_step(model, make_batch(args.batch, args.size, args.size, device), torch.bfloat16, device)
    reset_memory(device)
    out = {"compile_s": timed(step, 1, device)}  # the first step compiles forward and backward
    print("RESULT " + json.dumps(run_steps(step, args, device, Budget(1e9), out)), flush=True)


def run_compile(key, fields, args, budget, result, peak):
    """One config under torch.compile in a subprocess, killed when the budget runs out; MFU from the eager FLOPs."""
    if budget.skip(20):
        return nulls(COMPILE_KEYS, budget.skip(20))
    flags = [f"--{k}={getattr(args, k.replace('-', '_'))}" for k in
             ("device", "size", "batch", "steps", "compile-backend")]
    stdout, failed = run_subprocess([sys.executable, os.path.abspath(__file__), "--compile-worker",
                                     json.dumps(fields)] + flags, budget, f"torch.compile of {key}", COMPILE_KEYS, {})
    if failed:
        return failed
    out = json.loads([line for line in stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    gflops = result["train"].get(key, {}).get("gflops_per_image")  # the model's FLOPs do not change when compiled
    return add_mfu({**out, "backend": args.compile_backend}, gflops and gflops * 1e9, peak)


def flop_counter():
    """torch's FlopCounterMode with our formula for the convolution backward: torch's counts the weight gradient
    of a grouped convolution as if it were dense, `groups` times too many (EfficientNet-B7's depthwise layers:
    2770 instead of 204 GFLOP per 512x512 training image). Here the input gradient and the weight gradient each
    cost what the forward convolution costs (the usual backward = 2x forward)."""
    from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

    def conv_backward(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                      output_padding, groups, output_mask, out_shape=None, **kwargs):
        forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)  # w_shape holds C_in / groups
        return forward * (int(output_mask[0]) + int(output_mask[1]))
    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward})


def measure_train(key, fields, args, amp_dtype, device, budget, peak, result):
    """The train, profile and inference figures of one config into `result` (memory statistics reset before)."""
    model = build(fields, device)
    step = make_step(model, make_batch(args.batch, args.size, args.size, device), amp_dtype, device)
    step()  # the first step: cudnn.benchmark tunes, Adam allocates its state
    with flop_counter() as counter:
        step()
    flops = counter.get_total_flops() / args.batch
    out = result["train"][key] = add_mfu(run_steps(step, args, device, budget, {"config": fields}), flops, peak)
    mfu, target = out.get("mfu"), TARGET_MFU.get(fields["backbone"]) if fields["decoder"] == "refine" else None
    out["mfu_target"] = target  # defined for an H100-class GPU (meta: h100_class)
    why = (None if args.profile == "always" else "MFU unknown on this device" if mfu is None else
           "no MFU target" if not target else "meets its MFU target" if mfu >= target else None)
    reason = f"not run: {why}" if why else budget.skip(15)
    result["profile"][key] = nulls(["top_kernels"], reason) if reason else {"top_kernels": top_kernels(step, device)}
    result["inference"][key] = measure_inference(model, args, amp_dtype, device, budget)


def print_table(result):
    def f(x, spec):
        return "-" if x is None else format(x, spec)
    m, n, d, e = result["meta"], result["numerics"], result["ddp"], result["exact_benchmark"]
    print(f"\ngpu_check: {m['device_name']}, torch {m['torch']}, {m['size']}x{m['size']}, batch {m['batch']}, "
          f"amp {m['amp']}, peak {m['peak_bf16_tflops']} TFLOP/s ({m['peak_source']})\n{'config':<22}{'img/s':>8}"
          f"{'GiB':>6}{'GFLOP/img':>10}{'TFLOP/s':>8}{'MFU':>7}{'compiled':>9}{'MFU':>7}{'SBD img/s':>10}{'City':>7}")
    for key, t in result["train"].items():
        c, i, mem = result["train_compile"].get(key, {}), result["inference"].get(key, {}), t.get("peak_mem_mib")
        print(f"{key:<22}{f(t.get('images_per_s'), '.1f'):>8}{f(mem and mem / 1024, '.1f'):>6}"
              f"{f(t.get('gflops_per_image'), '.1f'):>10}{f(t.get('achieved_tflops'), '.1f'):>8}"
              f"{f(t.get('mfu'), '.1%'):>7}{f(c.get('images_per_s'), '.1f'):>9}{f(c.get('mfu'), '.1%'):>7}"
              f"{f(i.get('sbd_images_per_s'), '.1f'):>10}{f(i.get('cityscapes_images_per_s'), '.2f'):>7}")
    for key, tk in ((k, p["top_kernels"]) for k, p in result["profile"].items() if p.get("top_kernels")):
        print(f"top kernels, {key} ({tk['kind']}, {tk['ms_per_step']:.1f} ms/step, math {tk['math_share']:.0%}):")
        for r in tk["top"]:
            print(f"  {r['share']:6.1%} {r['ms_per_step']:8.2f} ms {r['calls']:6d}x  {r['name'][:90]}")
    print(f"numerics ({n.get('config')}): max |p_bf16 - p_fp32| {f(n.get('prob_max_abs_diff'), '.2e')}, loss fp32 "
          f"{f(n.get('loss_fp32'), '.5g')} bf16 {f(n.get('loss_bf16'), '.5g')}, grad cos "
          f"{f(n.get('grad_cosine'), '.5f')}"
          f"\nddp ({d.get('backend')}): loss {f(d.get('step_loss'), '.4g')}, {f(d.get('wall_s'), '.0f')} s; exact "
          f"benchmark {f(e.get('images_per_s_1_process'), '.2f')} img/s on 1 process, "
          f"{f(e.get('images_per_s_n_processes'), '.2f')} on {e.get('processes')}")
    for key, t in ((k, t) for k, t in result["train"].items() if t.get("mfu_target")):
        met = "unknown" if t["mfu"] is None else "met" if t["mfu"] >= t["mfu_target"] else "NOT met"
        print(f"MFU target {key}: {f(t['mfu'], '.1%')} vs {t['mfu_target']:.0%}: {met}"
              f"{'' if m['h100_class'] else ' (the target is for an H100-class GPU)'}")
    parts = [r for name, s in result.items() if name != "meta" for r in [s, *s.values()] if isinstance(r, dict)]
    print("".join(f"null figures: {why}\n" for why in sorted({w for r in parts for w in r.get("reasons", {}).values()}))
          + f"elapsed {m['elapsed_s']:.0f} s of a {m['budget_s']:.0f} s budget")


def get_args_parser():
    p = argparse.ArgumentParser("gpu_check: throughput, memory, MFU, numerics, DDP of this project on one device")
    p.add_argument("--quick", action="store_true", help="~2 minutes: fewer steps, only ResNet-101 compiled")
    p.add_argument("--out", default="gpu_check.json", help="the JSON result (rewritten after every section)")
    p.add_argument("--device", default=None, help="cuda or cpu; default cuda when available")
    p.add_argument("--size", type=int, default=512, help="square training crop (paper: 512)")
    p.add_argument("--batch", type=int, default=8, help="training batch (train.py's default: 8)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per config (default 10, --quick 5)")
    p.add_argument("--backbones", nargs="+", default=["vgg16", "resnet101", "efficientnet_b7"])
    p.add_argument("--casenet-backbone", default="resnet101", help="the CASENet baseline's (stride 8 when a ResNet)")
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of the device (overrides table)")
    p.add_argument("--budget-s", type=float, default=None, help="time budget in seconds (default 300, --quick 120)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: fast, for tests)")
    p.add_argument("--compile-configs", nargs="*", default=None, help="default all (--quick: resnet101)")
    p.add_argument("--profile", default="auto", choices=["auto", "always"], help="auto: where MFU < target")
    p.add_argument("--exact-shape", type=int, nargs=2, default=[320, 480], help="H W of the benchmark's maps")
    p.add_argument("--skip", nargs="*", default=[], choices=["train", "numerics", "ddp", "exact", "compile"],
                   help="sections not to run (their figures are null with the reason 'skipped: --skip')")
    p.add_argument("--compile-worker", default=None, help=argparse.SUPPRESS)  # internal: one compiled config
    return p


def main(args):
    quick = args.quick
    args.steps, args.warmup = args.steps or (5 if quick else 10), 2 if quick else 3
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.compile_worker:
        return compile_worker(args)
    from util.files import atomic_write
    from util.inference import pick_device
    from util.reproducibility import configure_backends
    device, budget = pick_device(args.device), Budget(args.budget_s or (120 if quick else 300))
    cuda, backends = device.type == "cuda", configure_backends(device)  # train.py's TF32 / cudnn settings
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    amp_dtype, peak = torch.bfloat16, peak_tflops(name, args.peak_tflops)
    result = {"meta": {
        "device": str(device), "device_name": name,
        "gpu_memory_gib": torch.cuda.get_device_properties(device).total_memory / 2**30 if cuda else None,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda
        else None, "cpu_count": os.cpu_count(), "peak_bf16_tflops": peak[0], "peak_source": peak[1],
        "h100_class": bool(H100_CLASS.search(name)),
        "size": args.size, "batch": args.batch, "amp": "bf16", "channels_last": cuda, "fused_adam": cuda,
        "backends": backends, "num_classes": K, "budget_s": budget.seconds, "section_s": {}, "args": vars(args)},
        "train": {}, "train_compile": {}, "inference": {}, "profile": {}}

    def run(where, name, keys, fn, skip_name, need_s=0):
        """where[name] = fn() (where None: fn fills `result`), or `keys` null with the reason; save; the reason."""
        reason, t0 = "skipped: --skip" if skip_name in args.skip else budget.skip(need_s), time.perf_counter()
        try:
            out = None if reason else fn()
        except Exception as e:  # e.g. out of memory: recorded in the JSON, and the next section runs
            reason = f"error: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"
            print(f"ERROR {name}: {reason}", flush=True)
        if where is not None:
            where[name] = nulls(keys, reason) if reason else out
        result["meta"]["section_s"][f"{skip_name}/{name}"] = time.perf_counter() - t0
        save()
        return reason

    def save():
        result["meta"]["elapsed_s"] = budget.seconds - budget.left()
        atomic_write(args.out, lambda tmp: open(tmp, "w").write(json.dumps(result, indent=1)))

    all_configs = configs(args)
    for key, fields in all_configs:
        reason = run(None, key, (), lambda: measure_train(key, fields, args, amp_dtype, device, budget, peak,
                                                          result), "train", 20 if quick else 30)
        for part, keys in (("train", TRAIN_KEYS), ("inference", INFER_KEYS), ("profile", ["top_kernels"])):
            if reason:  # not (all) measured: what is missing is null with the reason
                result[part].setdefault(key, nulls(keys, reason))
        reset_memory(device)
        print(f"train {key}: {result['train'][key].get('images_per_s')} images/s", flush=True)
    numerics = next(((k, f) for k, f in all_configs if f["backbone"] == "resnet101"), all_configs[0])
    run(result, "numerics", NUMERICS_KEYS, lambda: measure_numerics(*numerics, args, device), "numerics", 20)
    run(result, "ddp", DDP_KEYS, lambda: run_ddp(args, device, budget), "ddp")
    run(result, "exact_benchmark", EXACT_KEYS, lambda: measure_exact(args, budget), "exact")
    wanted = args.compile_configs if args.compile_configs is not None else (["resnet101"] if quick else None)
    for key, fields in sorted(all_configs, key=lambda c: c[0] not in TARGET_MFU):  # the MFU-target configs first
        if wanted is not None and key not in wanted:
            result["train_compile"][key] = nulls(COMPILE_KEYS, f"not run: compiled configs: {wanted}")
            continue
        run(result["train_compile"], key, COMPILE_KEYS, lambda: run_compile(key, fields, args, budget, result, peak),
            "compile")
    save()
    print_table(result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
