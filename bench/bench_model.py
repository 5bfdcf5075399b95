"""Benchmark the edge model per backbone: parameters, forward+backward time per image, peak memory.
Measures the model of paper Sec. 3.1 (encoder, fusion of Sec. 3.2, decoder).

    python bench/bench_model.py                                   # CUDA if available, else CPU; 512x512
    python bench/bench_model.py --size 256 --backbones tiny resnet18 vgg16 resnet101 efficientnet_b7

Each backbone runs in its own subprocess so that memory figures do not mix. One step is
forward + BCE loss + backward (no optimizer step), batch `--batch`, random weights (no download),
random text features, the model of `--fusion` / `--decoder` with K = `--num-classes`.
- CUDA: bf16 autocast (train.py's mixed-precision path); memory = torch.cuda.max_memory_allocated.
- CPU: fp32; memory = peak resident set size (RSS) of the process over all steps, sampled every
  2 ms, and its rise above the RSS of the built model before the first step (activations,
  gradients, allocator caches). The time is the median over the timed steps: a shared CPU is noisy,
  and on an oversubscribed machine `--threads 1` is both faster and steadier than the default.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BACKBONES = ["tiny", "resnet18", "resnet50", "resnet101", "vgg16", "efficientnet_b0", "efficientnet_b7"]


def get_args_parser():
    p = argparse.ArgumentParser("bench_model", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backbones", nargs="+", default=DEFAULT_BACKBONES, help="encoders.BACKBONES names")
    p.add_argument("--size", type=int, default=512, help="square input size (the paper trains on 512x512 crops)")
    p.add_argument("--batch", type=int, default=1, help="images per step")
    p.add_argument("--steps", type=int, default=3, help="timed steps (after --warmup untimed ones)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (oneDNN / cuDNN pick their kernels)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--fusion", default="product", help="a name of model.FUSIONS")
    p.add_argument("--decoder", default="refine", help="refine | casenet")
    p.add_argument("--num-classes", type=int, default=20, help="K (20 for SBD)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--one", action="store_true", help="internal: run the first backbone here, print one JSON line")
    return p


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_isolated(script, argv):
    """Run `python script argv` in a fresh process, so that its memory figures are its own; return the dict of
    its last `RESULT {json}` line (None if it failed or printed none) and the finished process."""
    proc = subprocess.run([sys.executable, os.path.abspath(script), *argv], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return None, proc
    return json.loads(lines[-1][len("RESULT "):]), proc


class PeakRSS:
    """Samples the resident set size in a thread; `.peak` in MiB."""

    def __enter__(self):
        self.peak, self.running = rss_mb(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss_mb())


def run_one(args):
    """Build one model and time its steps in this process; returns a dict of figures."""
    sys.path.insert(0, ROOT)
    import torch
    import torch.nn.functional as F

    from model import ModelConfig, build_model, count_parameters

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name, K, S = args.backbones[0], args.num_classes, args.size
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=name, fusion=args.fusion, decoder=args.decoder, num_classes=K, pretrained=False)
    model = build_model(cfg, text_features=torch.randn(K, cfg.text_dim)).to(device).train()
    images = torch.rand(args.batch, 3, S, S, device=device)
    edges = (torch.rand(args.batch, K, S, S, device=device) > 0.95).float()

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(images)["logits"]  # (B, K, S, S)
        loss = F.binary_cross_entropy_with_logits(logits.float(), edges)
        loss.backward()
        model.zero_grad(set_to_none=True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    rss_before = rss_mb()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    with PeakRSS() as rss:
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
    seconds = sorted(times[args.warmup:])[args.steps // 2] / args.batch  # median of the timed steps
    result = {"backbone": name, "params_M": count_parameters(model)["total"] / 1e6, "s_per_image": seconds,
              "device": device, "threads": torch.get_num_threads()}
    if device == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
        result["peak_MiB"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["peak_MiB"] = rss.peak
        result["step_rise_MiB"] = rss.peak - rss_before
    return result


def main(args):
    if args.one:
        print("RESULT " + json.dumps(run_one(args)))
        return
    print(f"bench_model: size {args.size}x{args.size}, batch {args.batch}, {args.warmup} warm-up + {args.steps} "
          f"timed steps (forward + BCE + backward, median), fusion {args.fusion}, decoder {args.decoder}, "
          f"K={args.num_classes}, random weights")
    rows = []
    for name in args.backbones:
        r, proc = run_isolated(__file__, ["--one", "--backbones", name] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("one", "backbones")])
        if r is None:
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-2000:]}")
            continue
        rows.append(r)
        extra = f"  (+{r['step_rise_MiB']:.0f} MiB above the built model)" if "step_rise_MiB" in r else ""
        print(f"{name:16s} {r['params_M']:7.2f} M params  {r['s_per_image']:8.3f} s/img  "
              f"peak {r['peak_MiB']:8.0f} MiB{extra}", flush=True)
    if rows:
        r = rows[0]
        where = r.get("gpu", "CPU") + (" bf16 autocast, peak = max_memory_allocated" if r["device"] == "cuda" else
                                       f" fp32, {r['threads']} threads, peak = process RSS")
        print(f"device: {where}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
