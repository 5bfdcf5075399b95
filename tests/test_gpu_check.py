"""bench/gpu_check.py on the CPU with tiny settings: the JSON holds every figure the GPU check promises, each a
number or null with the reason (not applicable on CPU, time budget, error); the MFU arithmetic and the table of
device peaks; a failing config or an exhausted budget is recorded while the rest still runs."""
import importlib.util
import json
import math
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "gpu_check.py")
TINY = ["--device", "cpu", "--size", "64", "--batch", "2", "--steps", "2", "--backbones", "tiny",
        "--casenet-backbone", "tiny", "--compile-backend", "eager", "--profile", "always",
        "--exact-shape", "64", "96", "--compile-configs", "tiny"]
CONFIGS = ["tiny", "casenet_tiny"]
# every figure of the check, written out here (not read from the script) so that a dropped key fails
TRAIN = ["images_per_s", "peak_mem_mib", "gflops_per_image", "achieved_tflops", "mfu"]
FIGURES = {"train": {c: TRAIN for c in CONFIGS},
           "train_compile": {c: TRAIN + ["compile_s"] for c in CONFIGS},
           "inference": {c: ["sbd_images_per_s", "cityscapes_images_per_s"] for c in CONFIGS},
           "profile": {c: ["top_kernels"] for c in CONFIGS},
           "numerics": ["prob_max_abs_diff", "prob_mean_abs_diff", "loss_fp32", "loss_bf16", "loss_rel_diff",
                        "grad_cosine"],
           "ddp": ["step_loss", "images_per_s", "wall_s"],
           "exact_benchmark": ["images_per_s_1_process", "images_per_s_n_processes", "processes"]}


def run_check(out_dir, *flags):
    out = os.path.join(out_dir, "gpu_check.json")
    proc = subprocess.run([sys.executable, SCRIPT, *TINY, "--out", out, *flags], cwd=out_dir, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    with open(out) as f:
        return json.load(f), proc.stdout


def figures(result):
    """(where, section dict, key) of every promised figure."""
    for name, spec in FIGURES.items():
        for sub, keys in (spec.items() if isinstance(spec, dict) else [(None, spec)]):
            section = result[name] if sub is None else result[name][sub]
            yield from ((f"{name}/{sub or ''}", section, key) for key in keys)


def check_present(result):
    """Every figure is there: a finite number (or the profile's table), or null with a reason string."""
    for where, section, key in figures(result):
        assert key in section, f"{where}: no {key!r}"
        if section[key] is None:
            reason = section.get("reasons", {}).get(key)
            assert isinstance(reason, str) and reason, f"{where}/{key}: null without a reason"
        elif key != "top_kernels":
            assert isinstance(section[key], (int, float)) and not isinstance(section[key], bool), (where, key)
            assert math.isfinite(section[key]), (where, key)


def check_flop_rate(train):
    """The units of the figures: GFLOP per image x images/s = GFLOP/s = achieved TFLOP/s x 1000."""
    assert train["achieved_tflops"] > 0
    assert train["achieved_tflops"] == pytest.approx(train["gflops_per_image"] * train["images_per_s"] / 1000,
                                                     rel=1e-9)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return run_check(str(tmp_path_factory.mktemp("gpu_check")))


def test_cpu_run_has_every_figure(full):
    result, stdout = full
    check_present(result)
    for c in CONFIGS:  # what applies on a CPU is measured ...
        train = result["train"][c]
        assert train["images_per_s"] > 0 and train["gflops_per_image"] > 0
        check_flop_rate(train)
        assert result["inference"][c]["sbd_images_per_s"] > 0 and result["inference"][c]["cityscapes_images_per_s"] > 0
        top = result["profile"][c]["top_kernels"]["top"]
        assert top and all(row["ms_per_step"] >= 0 and row["calls"] > 0 for row in top)
        # ... and what does not apply says why
        assert train["peak_mem_mib"] is None and "CPU" in train["reasons"]["peak_mem_mib"]
        assert train["mfu"] is None and "--peak-tflops" in train["reasons"]["mfu"]
    compiled = result["train_compile"]  # the eager backend here (dynamo's graph capture, no code generation)
    assert compiled["tiny"]["images_per_s"] > 0 and compiled["tiny"]["compile_s"] > 0
    check_flop_rate(compiled["tiny"])
    assert compiled["tiny"]["gflops_per_image"] == pytest.approx(result["train"]["tiny"]["gflops_per_image"])
    assert compiled["casenet_tiny"]["reasons"]["images_per_s"] == "not run: compiled configs: ['tiny']"
    assert result["inference"]["tiny"]["shapes"] == {"sbd": "47x62, whole image", "cityscapes": "128x256, window 64"}
    n = result["numerics"]  # bf16 autocast stays close to fp32
    assert 0 < n["prob_max_abs_diff"] < 0.05 and n["loss_rel_diff"] < 0.05 and n["grad_cosine"] > 0.9
    assert result["ddp"]["backend"].startswith("gloo") and result["ddp"]["step_loss"] > 0, result["ddp"].get("output")
    assert result["exact_benchmark"]["images_per_s_1_process"] > 0
    assert result["exact_benchmark"]["images_per_s_n_processes"] > 0
    assert "MFU" in stdout and "numerics" in stdout and "top kernels, tiny" in stdout


def test_failing_config_is_recorded_and_flops_do_not_depend_on_the_batch(full, tmp_path):
    result, _ = run_check(str(tmp_path), "--backbones", "no_such_backbone", "tiny", "--batch", "1",
                          "--peak-tflops", "4.0", "--skip", "numerics", "ddp", "exact", "compile")
    bad = result["train"]["no_such_backbone"]
    assert bad["images_per_s"] is None and bad["reasons"]["images_per_s"].startswith("error:")
    assert result["inference"]["no_such_backbone"]["reasons"]["sbd_images_per_s"].startswith("error:")
    tiny = result["train"]["tiny"]
    assert tiny["images_per_s"] > 0  # the next config still ran
    assert result["meta"]["peak_bf16_tflops"] == 4.0 and result["meta"]["peak_source"] == "--peak-tflops"
    check_flop_rate(tiny)
    assert tiny["mfu"] == pytest.approx(tiny["achieved_tflops"] / 4.0, rel=1e-9)  # a fraction of the given peak
    # FLOPs per image: the count of one step of batch 1 is that of batch 2 divided by 2 (up to the few
    # batch-independent FLOPs, e.g. the fusion's projection of the K text features: 0.3% here)
    assert tiny["gflops_per_image"] == pytest.approx(full[0]["train"]["tiny"]["gflops_per_image"], rel=0.01)
    assert result["numerics"]["reasons"]["grad_cosine"] == "skipped: --skip"
    check_present(result)


def test_exhausted_budget_skips_every_section_with_the_reason(tmp_path):
    result, _ = run_check(str(tmp_path), "--budget-s", "0.001")
    check_present(result)
    for where, section, key in figures(result):
        assert section[key] is None, (where, key)
        reason = section["reasons"][key]
        assert reason.startswith("skipped: time budget") or reason.startswith("not run: compiled configs"), reason


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_table_and_mfu_arithmetic():
    gc = load_script()
    for name, peak in [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H200", 989.0),
                       ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA L40S", 362.0), ("NVIDIA L4", 121.0),
                       ("NVIDIA GeForce RTX 4090", 165.0), ("NVIDIA L40", None), ("NVIDIA H100 NVL", None),
                       ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", None), ("cpu", None)]:
        assert gc.peak_tflops(name)[0] == peak, name
    assert gc.peak_tflops("NVIDIA L40", override=181.0) == (181.0, "--peak-tflops")
    # 50 GFLOP per image at 4000 images/s = 200 TFLOP/s = 20.2% of an H100 SXM
    out = gc.add_mfu({"images_per_s": 4000.0}, 50e9, gc.peak_tflops("NVIDIA H100 80GB HBM3"))
    assert out["gflops_per_image"] == pytest.approx(50.0) and out["achieved_tflops"] == pytest.approx(200.0)
    assert out["mfu"] == pytest.approx(200.0 / 989.0)
    out = gc.add_mfu({"images_per_s": 4000.0}, 50e9, gc.peak_tflops("cpu"))
    assert out["mfu"] is None and "--peak-tflops" in out["reasons"]["mfu"]


def test_flop_count_of_grouped_convolution_backward():
    """forward + backward = 3x forward for a dense and a depthwise convolution (torch's own formula gives 66x for
    the depthwise one: its weight gradient counted as dense)."""
    import torch

    gc = load_script()
    for groups in (1, 64):
        conv = torch.nn.Conv2d(64, 64, 3, padding=1, groups=groups)
        x = torch.rand(2, 64, 16, 16, requires_grad=True)
        with gc.flop_counter() as counter:
            conv(x)
        forward = counter.get_total_flops()
        assert forward == 2 * 2 * 16 * 16 * 64 * (64 // groups) * 9  # 2 FLOPs per multiply-add
        with gc.flop_counter() as counter:
            conv(x).sum().backward()
        assert counter.get_total_flops() == 3 * forward, groups


def test_subprocess_is_killed_with_its_children_at_the_budget_end(tmp_path):
    """A compile or torchrun subprocess still running when the budget ends is killed with its children (its own
    process group); a failing one leaves its traceback in the JSON."""
    gc = load_script()
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(60)\n")
    t0 = time.perf_counter()
    stdout, out = gc.run_subprocess([sys.executable, "-c", code], gc.Budget(8), "a sleeper", ["x"], {})
    assert time.perf_counter() - t0 < 30  # not the 60 s of the sleepers: the budget holds
    assert stdout is None and out["x"] is None and out["reasons"]["x"].startswith("skipped: time budget")
    child = int(pid_file.read_text())
    for _ in range(50):  # the grandchild is gone (or a zombie waiting for init)
        try:
            with open(f"/proc/{child}/status") as f:
                if "State:\tZ" in f.read():
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"process {child} still runs after the budget's end")
    stdout, out = gc.run_subprocess([sys.executable, "-c", "1 / 0"], gc.Budget(60), "a failure", ["x"], {})
    assert stdout is None and out["reasons"]["x"] == "error: a failure exited with 1 (see output)"
    assert out["output"].startswith("Traceback") and "ZeroDivisionError" in out["output"]
