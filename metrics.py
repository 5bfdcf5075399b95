"""The semantic edge benchmark: ODS / OIS / AP per class (paper Sec. 4.1.3).

An exact re-implementation, in numpy, of the SBD / SEAL benchmark that the paper (and CASENet,
SEAL, DFF) report. References read for the definitions (no code copied): SEAL's `evaluate_bdry.m`
/ BSDS `collect_eval_bdry.m` (thresholds, counts, ODS, OIS, AP), BSDS `correspondPixels`
(match.cc: `maxDist * diagonal`, `d <= maxDist`), the original SBD benchmark of Hariharan et al.
2011 (`benchmark_code_RELEASE`: `kill_internal_bdries`, interpolated AP) and pyEdgeEval (its
Python port) for the presets. Thinning lives in scoring/thinning.py, the matching in scoring/matching.py
(its simple definition first); the fast training-time approximation in scoring/validation.py.

Per class and per image, for each threshold t of `k / (n + 1)`, k = 1..n (n = 99: 0.01 ... 0.99):
  1. B_t = pred >= t (a prediction equal to t counts: 8-bit PNG values 51/255 = 0.2 hit
     thresholds exactly, so each threshold is the double nearest to k / (n + 1), as 51/255 is),
     thinned to one pixel (`thin` mode, MATLAB's bwmorph thin; `raw` mode keeps B_t);
  2. edge pixels of B_t and of the GT are matched one-to-one when their Euclidean distance is
     <= max_dist * diagonal; cntR = cntP = the MAXIMUM matching size (correspondPixels reaches
     it up to its random tie-breaking), sumR = |GT|, sumP = |B_t|. These four counts are the
     rows CNT_R, SUM_R, CNT_P, SUM_P of a counts array (..., 4, n_t).
Dataset level (collect_eval_bdry): R = sum cntR / sum sumR, P = sum cntP / sum sumP,
F = 2PR/(P+R); ODS = best F over thresholds with linear interpolation between neighbouring
thresholds (100 steps, as `maxF`); OIS = counts of each image's best threshold (first argmax
of its F; for an image without the class every F is 0, so its lowest threshold and all its
false positives are taken, exactly as collect_eval_bdry does, which is why OIS can sit far
below ODS under the SEAL protocol) summed; AP as the protocol's `ap` says (AP_DEFINITIONS).

Presets: `sbd` and `sbd-reanno` (SEAL: 5-pixel margin, tolerance 0.02 / 0.0075), `cityscapes`
(SEAL: GT at half resolution, thinned, tolerance 0.0035) use BSDS Area_PR as AP;
`sbd-original` is SBD's own benchmark: no margin; threshold, thin, then drop the predictions
inside the class's GT segment that are farther than the tolerance from its GT edges; images
without GT edges of the class are skipped for it; AP = interpolated (VOC-style) AP.

Reading order (README "Reading order"): 8 of 12; next: train.py (training).
"""
import math
import os
import sys
from dataclasses import asdict, dataclass

import numpy as np

from edgedata.labels import IGNORE_BIT, read_label, resize_nearest, unpack_edges
from scoring.counts import CNT_P, CNT_R, SUM_P, SUM_R, f_measure, recall_precision, thresholds_for
from scoring.matching import count_thresholds
from scoring.thinning import thin, thin_thresholds

# ----------------------------------------------------------------------------- protocol

AP_DEFINITIONS = {
    "area_pr": "BSDS Area_PR: precision interpolated linearly on recall 0:0.01:1 (zero outside the measured "
               "recall range), summed times 0.01 (SEAL's collect_eval_bdry)",
    "interpolated": "interpolated AP: mean over recall levels r = 0:0.01:1 of the highest precision at any "
                    "threshold with recall >= r, 0 where none (the original SBD benchmark, VOC-style)",
}


@dataclass(frozen=True)
class Protocol:
    name: str
    margin: int = 5            # pixels cropped from every side of prediction and GT (SEAL)
    max_dist: float = 0.02     # matching tolerance, as a fraction of the (cropped) image diagonal
    gt_scale: float = 1.0      # GT resolution relative to the image (Cityscapes: 0.5)
    mode: str = "thin"         # "thin": thin the thresholded prediction; "raw": use it as is
    thin_gt: bool = False      # thin the GT too (Cityscapes GT is thinned by SEAL; SBD GT is used as given)
    kill_internal: bool = False  # sbd-original: drop predictions inside the GT segment far from its edges
    skip_absent: bool = False    # sbd-original: images without the class are not evaluated for it
    nthresh: int = 99
    ap: str = "area_pr"        # AP definition, a key of AP_DEFINITIONS

    def __post_init__(self):
        if self.mode not in ("thin", "raw") or self.ap not in AP_DEFINITIONS:
            raise ValueError(f"metrics.Protocol {self.name!r}: mode must be 'thin' or 'raw' (got {self.mode!r}), "
                             f"ap one of {list(AP_DEFINITIONS)} (got {self.ap!r})")


PRESETS = {
    "sbd": Protocol("sbd", margin=5, max_dist=0.02),
    "sbd-reanno": Protocol("sbd-reanno", margin=5, max_dist=0.0075),
    "sbd-original": Protocol("sbd-original", margin=0, max_dist=0.02, kill_internal=True, skip_absent=True,
                             ap="interpolated"),
    "cityscapes": Protocol("cityscapes", margin=0, max_dist=0.0035, gt_scale=0.5, thin_gt=True),
}


def get_protocol(preset):
    if isinstance(preset, Protocol):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"metrics.py: unknown preset {preset!r}; valid: {list(PRESETS)}")
    return PRESETS[preset]


def describe(protocol):
    p = get_protocol(protocol)
    return (f"{p.name}: {p.nthresh} thresholds, mode={p.mode}, max_dist={p.max_dist} x diagonal, "
            f"margin={p.margin}px, gt_scale={p.gt_scale}, thin_gt={p.thin_gt}, "
            f"kill_internal={p.kill_internal}, skip_absent={p.skip_absent}, one-to-one maximum matching, "
            f"AP={p.ap}")

# ----------------------------------------------------------------------------- one image


def _resize_bilinear(pred, shape):
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32))[None]
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False, antialias=True)[0].numpy()


def prepare_inputs(pred, gt, protocol, seg=None):
    """Apply the protocol's resolution and margin: pred (K, H, W) float, gt (K, h, w) bool,
    seg (h, w) int or None -> the arrays that are evaluated."""
    protocol = get_protocol(protocol)
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt).astype(bool)
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[0] != gt.shape[0]:
        raise ValueError(f"metrics.py: expected pred (K, H, W) and gt (K, H, W), got {pred.shape} and {gt.shape}")
    if protocol.gt_scale != 1.0 and gt.shape[1:] == pred.shape[1:]:
        size = (int(gt.shape[1] * protocol.gt_scale + 0.5), int(gt.shape[2] * protocol.gt_scale + 0.5))
        gt = resize_nearest(gt, *size)  # GT given at full resolution: nearest, as pyEdgeEval's loader
        seg = None if seg is None else resize_nearest(np.asarray(seg), *size)
    if pred.shape[1:] != gt.shape[1:]:
        pred = _resize_bilinear(pred, gt.shape[1:]).astype(np.float64)
    m = protocol.margin
    if m > 0:
        pred, gt = pred[:, m:-m, m:-m], gt[:, m:-m, m:-m]
        seg = None if seg is None else np.asarray(seg)[m:-m, m:-m]
    return pred, gt, seg


def evaluate_image(pred, gt, protocol="sbd", seg=None):
    """Counts of one image: pred (K, H, W) float in [0, 1], gt (K, H, W) bool, seg (H, W) class
    map (1..K, only for kill_internal) -> (counts (K, 4, n_t) int64, rows CNT_R, SUM_R, CNT_P,
    SUM_P; evaluated (K,) bool: False where the class was skipped, its counts all 0)."""
    protocol = get_protocol(protocol)
    thresholds = thresholds_for(protocol.nthresh)
    pred, gt, seg = prepare_inputs(pred, gt, protocol, seg)
    if protocol.kill_internal and seg is None:
        raise ValueError("metrics.py: preset 'sbd-original' needs `seg`, the GT class map (H, W) "
                         "(value k for class k, 1-based) to remove predictions inside the object")
    K, H, W = gt.shape
    radius = protocol.max_dist * math.sqrt(H * H + W * W)
    do_thin = protocol.mode == "thin"
    counts = np.zeros((K, 4, len(thresholds)), dtype=np.int64)
    evaluated = np.ones(K, dtype=bool)
    for k in range(K):
        g = thin(gt[k]) if (do_thin and protocol.thin_gt) else gt[k]
        if protocol.skip_absent and not g.any():
            evaluated[k] = False
            continue
        maps = thin_thresholds(pred[k], thresholds, do_thin)  # 1. threshold, 2. thin
        inside = np.asarray(seg) == k + 1 if protocol.kill_internal else None
        counts[k] = count_thresholds(maps, g, radius, inside)  # 3. (sbd-original) drop inside, 4. match
    return counts, evaluated

# ----------------------------------------------------------------------------- dataset scores


def ods_interpolated(thresholds, R, P):
    """BSDS/SEAL `maxF`: best F on the PR curve with 100 linear steps between neighbouring
    thresholds (strictly better than the first point wins, in scan order)."""
    # >>> assignment ods
    d = np.linspace(0, 1, 100)[None, :]  # MATLAB linspace(0, 1)
    t = thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)
    r = R[1:, None] * d + R[:-1, None] * (1 - d)
    p = P[1:, None] * d + P[:-1, None] * (1 - d)
    f = f_measure(r, p).ravel()
    best = int(np.argmax(f)) if f.size else 0
    if f.size == 0 or f[best] <= f_measure(R[0], P[0]):
        return float(thresholds[0]), float(R[0]), float(P[0]), float(f_measure(R[0], P[0]))
    return float(t.ravel()[best]), float(r.ravel()[best]), float(p.ravel()[best]), float(f[best])
    # <<< assignment ods


def area_pr(R, P):
    """BSDS `Area_PR`: precision interpolated on recall 0:0.01:1 (unique recalls, first
    occurrence; zero outside the measured range), summed times 0.01."""
    # >>> assignment ods
    Ru, first = np.unique(R, return_index=True)
    if Ru.size < 2:
        return 0.0
    return float(np.interp(np.linspace(0, 1, 101), Ru, P[first], left=0.0, right=0.0).sum() * 0.01)
    # <<< assignment ods


def interpolated_ap(R, P):
    """Interpolated AP: mean over r = 0, 0.01, ..., 1 of max{P_t : R_t >= r}, 0 where no threshold
    reaches r (levels k / 100, each the double nearest to it, so a recall of exactly 0.3 reaches r = 0.3)."""
    R, P = np.asarray(R, dtype=np.float64), np.asarray(P, dtype=np.float64)
    levels = np.arange(101) / 100
    reach = R[None, :] >= levels[:, None]  # (101, n_t)
    return float(np.where(reach, P[None, :], 0.0).max(axis=1, initial=0.0).mean())


def average_precision(R, P, definition="area_pr"):
    """AP of one PR curve by the protocol's definition (a key of AP_DEFINITIONS)."""
    return {"area_pr": area_pr, "interpolated": interpolated_ap}[definition](R, P)


def _evaluate_job(args):
    pred, gt, protocol, seg = args
    return evaluate_image(pred, gt, protocol, seg)


class EdgeBenchmark:
    """Accumulator of the exact benchmark: `update` per image, `compute()` at the end.

    num_classes: K; preset: a name of PRESETS or a Protocol; class_names: for the table;
    workers: > 0 evaluates images in that many processes (update returns at once;
    compute() waits; "spawn" processes, so the calling script needs the usual
    `if __name__ == "__main__":` guard). update(pred (K, H, W) float 0..1, gt (K, H, W) bool,
    seg=None): numpy arrays or torch tensors; seg (H, W) is the GT class map (value k for
    class k, 1-based) that only `sbd-original` needs. A prediction of another size than
    the GT is resized to it (bilinear, antialiased); for Cityscapes (gt_scale 0.5) a GT
    given at the prediction's size is first downsampled by nearest neighbour.
    """

    def __init__(self, num_classes, preset="sbd", class_names=None, workers=0):
        self.protocol = get_protocol(preset)
        self.num_classes = K = num_classes
        self.class_names = list(class_names) if class_names is not None else [str(k + 1) for k in range(K)]
        if len(self.class_names) != K:
            raise ValueError(f"metrics.py: {len(self.class_names)} class names for {K} classes")
        self.thresholds = thresholds_for(self.protocol.nthresh)
        self.counts = np.zeros((K, 4, len(self.thresholds)), dtype=np.int64)  # summed over images
        self.ois_counts = np.zeros((K, 4), dtype=np.int64)  # at each image's best threshold
        self.images_per_class = np.zeros(K, dtype=np.int64)  # images evaluated for each class
        self.num_images = 0
        self.workers = workers
        self._pool, self._pending = None, []

    def update(self, pred, gt, name=None, seg=None):
        """`name` is accepted for the callers' convenience and not used."""
        pred, gt = _to_numpy(pred), _to_numpy(gt)
        seg = None if seg is None else _to_numpy(seg)
        if pred.ndim != 3 or pred.shape[0] != self.num_classes:
            raise ValueError(f"metrics.py: pred must be (K={self.num_classes}, H, W), got {pred.shape}")
        job = (pred, gt, self.protocol, seg)
        if self.workers <= 0:
            self.add_counts(*_evaluate_job(job))
            return
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        self._pending.append(self._pool.submit(_evaluate_job, job))
        while len(self._pending) > 4 * self.workers:  # bounded memory
            self.add_counts(*self._pending.pop(0).result())

    def add_counts(self, counts, evaluated):
        """Accumulate one image's counts (K, 4, n_t) and evaluated (K,) (from evaluate_image)."""
        self.counts += counts
        # >>> assignment ods
        F = f_measure(*recall_precision(counts))  # (K, n_t)
        best = np.argmax(F, axis=1)  # first maximum, as collect_eval_bdry's find(F == max(F))
        self.ois_counts += counts[np.arange(self.num_classes), :, best]
        # <<< assignment ods
        self.images_per_class += evaluated
        self.num_images += 1

    def compute(self):
        while self._pending:
            self.add_counts(*self._pending.pop(0).result())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        R, P = recall_precision(self.counts)  # (K, n_t)
        oR, oP = recall_precision(self.ois_counts[..., None])  # (K, 1)
        classes = {}
        for k, name in enumerate(self.class_names):
            t, r, p, f = ods_interpolated(self.thresholds, R[k], P[k])
            classes[name] = {"ODS": f, "ODS_threshold": t, "ODS_recall": r, "ODS_precision": p,
                             "OIS": float(f_measure(oR[k, 0], oP[k, 0])),
                             "AP": average_precision(R[k], P[k], self.protocol.ap),
                             "images": int(self.images_per_class[k]), "recall": R[k].tolist(),
                             "precision": P[k].tolist()}
        mean = {m: float(np.mean([c[m] for c in classes.values()])) for m in ("ODS", "OIS", "AP")}
        return {"protocol": asdict(self.protocol), "protocol_text": describe(self.protocol),
                "ap_definition": AP_DEFINITIONS[self.protocol.ap],
                "thresholds": self.thresholds.tolist(), "num_images": self.num_images, "classes": classes,
                "mean_ODS": mean["ODS"], "mean_OIS": mean["OIS"], "mean_AP": mean["AP"]}

    def format_table(self, result=None):
        return format_table(self.compute() if result is None else result)

    def __str__(self):
        return self.format_table()


def format_table(result, markdown=False):
    """The Table-5/6-like table of a compute() result: one column per class and the mean, rows
    ODS / OIS / AP (x100), the protocol on the first line. markdown=True: a Markdown table."""
    names = list(result["classes"]) + ["mean"]
    rows = {m: [c[m] for c in result["classes"].values()] + [result[f"mean_{m}"]] for m in ("ODS", "OIS", "AP")}
    head = f"protocol {result['protocol_text']}; {result['num_images']} images"
    if markdown:
        lines = [head, "", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {m} | " + " | ".join(f"{100 * v:.1f}" for v in vals) + " |" for m, vals in rows.items()]
        return "\n".join(lines)
    widths = [max(5, len(n)) for n in names]  # full class names, never cut
    lines = [head, "metric " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths))]
    lines += [f"{m:<6} " + " ".join(f"{100 * v:{w}.1f}" for v, w in zip(vals, widths)) for m, vals in rows.items()]
    return "\n".join(lines)


def _to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.dtype.is_floating_point else x.detach().cpu().numpy()
    return np.asarray(x)

# ----------------------------------------------------------------------------- folders


PNG_RANGES = {"1": 1, "L": 255, "I;16": 65535, "I;16B": 65535, "I;16L": 65535}  # PIL mode -> full-scale value


def read_prediction_png(path):
    """One class's prediction PNG -> float64 (H, W) in [0, 1], scaled by the full range of its bit depth
    (8-bit / 255, 16-bit / 65535, 1-bit / 1); colour, palette or alpha images are refused, naming the file."""
    from PIL import Image
    with Image.open(path) as im:
        mode = "I;16" if im.mode == "I" and im.format == "PNG" else im.mode  # older Pillow: 16-bit gray as "I"
        if mode not in PNG_RANGES:
            raise ValueError(f"metrics.py: prediction {path} has mode {im.mode} ({len(im.getbands())} channel(s)); "
                             "expected one gray PNG per class (8-bit 0..255 or 16-bit 0..65535 = probability "
                             "0..1), as evaluate.py and predict.py write")
        return np.asarray(im).astype(np.float64) / PNG_RANGES[mode]


def evaluate_folder(pred_dir, gt_dir, num_classes, preset="sbd", class_names=None, names=None,
                    seg_dir=None, workers=0):
    """Evaluate SEAL-layout prediction PNGs `pred_dir/class_%03d/<name>.png` (read_prediction_png) against GT
    in `gt_dir`: binary PNGs in the same layout (nonzero = edge; used when `gt_dir/class_001` exists),
    else one packed label `<name>.png|.bin` per image (edgedata/labels.py's format, as `prepare.py sbd|cityscapes`
    writes in <root>/gt_eval/{thin,raw}_{inst,cls}; ignore bit unused) at the prediction's size or the
    preset's GT resolution (prepared Cityscapes GT is at half). `seg_dir`: `<name>.png` class maps for
    `sbd-original` (packed GT: default <gt_dir>/../seg). names default to the PNG stems of
    pred_dir/class_001; a name that leaves its folder is refused. Returns EdgeBenchmark.compute()'s dict
    (and prints the table)."""
    from PIL import Image
    from tqdm import tqdm

    from util.files import safe_join
    protocol, K = get_protocol(preset), num_classes
    fix = "see the README 'Evaluate' section; `python prepare.py sbd|cityscapes` writes GT"

    def need(root, name, what):
        path = safe_join(str(root), name, f"metrics.py: {what} name")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"metrics.py: missing {what} {path} ({fix})")
        return path

    first = os.path.join(pred_dir, "class_001")
    if names is None:
        if not os.path.isdir(first):
            raise FileNotFoundError(f"metrics.py: {first} not found; predictions must be laid out as "
                                    "pred_dir/class_%03d/<name>.png (SEAL), see the README 'Evaluate' section")
        names = sorted(f[:-4] for f in os.listdir(first) if f.endswith(".png"))
    per_class = os.path.isdir(os.path.join(gt_dir, "class_001"))
    if protocol.kill_internal and seg_dir is None and not per_class:
        seg_dir = os.path.join(os.path.dirname(os.path.normpath(gt_dir)), "seg")

    def load_pred(name):
        maps = []
        for k in range(K):
            path = need(os.path.join(pred_dir, f"class_{k + 1:03d}"), name + ".png", "prediction")
            maps.append(read_prediction_png(path))
            if maps[-1].shape != maps[0].shape:
                raise ValueError(f"metrics.py: prediction {path} is {maps[-1].shape[::-1]} (W, H), but class_001's "
                                 f"map of {name} is {maps[0].shape[::-1]}: all class maps of an image have its size")
        return np.stack(maps)  # (K, H, W)

    def gt_size(path, size, H, W):  # the GT is at the prediction's size or at the protocol's GT scale
        s = protocol.gt_scale
        sizes = [(H, W), (int(H * s + 0.5), int(W * s + 0.5)), (int(H * s), int(W * s))]
        if size is None:  # a .bin: the size its byte count fits
            size = next((hw for hw in sizes if hw[0] * hw[1] * 4 == os.path.getsize(path)), None)
        if size not in sizes:
            raise ValueError(f"metrics.py: GT {path} is {size[::-1] if size else 'ill-sized'}, expected the "
                             f"prediction's (W, H) {(W, H)} or the {protocol.name} GT size {sizes[1][::-1]} "
                             f"(predict at full image size; {fix})")
        return size

    def load_gt_class(path, H, W):  # one class's binary GT PNG -> bool (H, W); nonzero = edge
        with Image.open(path) as im:
            m = np.asarray(im)
            if m.ndim != 2:
                raise ValueError(f"metrics.py: GT {path} has mode {im.mode} ({len(im.getbands())} channels); "
                                 "expected one gray or 1-bit PNG per class (nonzero = edge)")
        gt_size(path, m.shape, H, W)
        return m > 0

    def load_gt_classes(name, H, W):
        return np.stack([load_gt_class(need(os.path.join(gt_dir, f"class_{k + 1:03d}"), name + ".png", "class map"),
                                       H, W) for k in range(K)])

    def load_packed(name, H, W):
        path = os.path.join(gt_dir, name + ".png")
        path = path if os.path.isfile(path) else need(gt_dir, name + ".bin", f"GT {path} or")
        size = None  # a .bin: gt_size takes the size its byte count fits
        if path.endswith(".png"):
            with Image.open(path) as im:
                size = im.size[::-1]
        size = gt_size(path, size, H, W)
        return unpack_edges(read_label(path, *size, num_classes=K) & ~IGNORE_BIT, K)[0].astype(bool)

    bench = EdgeBenchmark(K, protocol, class_names, workers)
    for name in tqdm(names, desc="ODS benchmark"):
        pred = load_pred(name)
        gt = (load_gt_classes if per_class else load_packed)(name, *pred.shape[1:])
        seg = (None if seg_dir is None else
               np.asarray(Image.open(need(seg_dir, name + ".png", "GT class map (sbd-original)"))))
        bench.update(pred, gt, seg=seg)
    result = bench.compute()
    print(format_table(result))
    return result

# ----------------------------------------------------------------------------- command line


def main(argv=None):
    """`python metrics.py --pred DIR --gt DIR --preset sbd`: score a folder of SEAL-layout PNGs;
    `python metrics.py --plot A/results.json B/results.json --out cmp.png`: overlay their PR curves."""
    import argparse
    import json
    p = argparse.ArgumentParser(description="Exact ODS / OIS / AP table of a folder of SEAL-layout predictions, "
                                "or (--plot) a picture of the PR curves of several results.json files.")
    p.add_argument("--pred", default=None, help="predictions: class_%%03d/<name>.png, 8- or 16-bit probabilities")
    p.add_argument("--gt", default=None, help="GT: <root>/gt_eval/thin_inst (packed <name>.png|.bin from "
                   "`python prepare.py sbd|cityscapes`) or binary class_%%03d/<name>.png")
    p.add_argument("--preset", default="sbd", choices=list(PRESETS), help="protocol (README 'Evaluate')")
    p.add_argument("--classes", default=None, help="sbd, cityscapes, a number N or a classes.txt (prepare.py masks); "
                   "default: the preset's dataset")
    p.add_argument("--seg", default=None, help="sbd-original: <name>.png GT class maps (default <gt>/../seg)")
    p.add_argument("--workers", type=int, default=0, help="benchmark processes (0: this one)")
    p.add_argument("--out", default=None, help="write the result (PR curves included) as JSON here; with --plot: "
                   "the PNG to write")
    p.add_argument("--plot", nargs="+", default=None, metavar="RESULTS_JSON",
                   help="draw the PR curves of these results.json files (one panel per class and the mean, "
                        "one line per file, labelled by its folder) into --out, then stop")
    args = p.parse_args(argv)
    if args.plot:
        from util import plots
        if not args.out or not args.out.lower().endswith(".png"):
            p.error("--plot needs --out PICTURE.png")
        try:
            runs = [plots.load_run(path) for path in args.plot]
            plots.compare_pr(runs, args.out)
        except (OSError, ValueError) as e:  # a missing file, or a results.json without PR curves: say which
            p.error(str(e))
        print(f"wrote {args.out}")
        return runs
    if not args.pred or not args.gt:
        p.error("--pred and --gt are required (or --plot RESULTS_JSON ... --out PICTURE.png)")
    import datasets  # the class names live there (datasets.py never imports metrics.py)
    classes = args.classes or ("cityscapes" if args.preset == "cityscapes" else "sbd")
    names = {"sbd": datasets.SBD_CLASSES, "cityscapes": datasets.CITYSCAPES_CLASSES}.get(classes)
    if names is None and classes.endswith(".txt"):
        names = datasets.read_class_names(classes)
    if names is None and not (classes.isdigit() and 0 < int(classes) < 32):
        p.error(f"--classes must be sbd, cityscapes, a number 1..31 or a classes.txt, got {classes!r}")
    names = names or [str(k + 1) for k in range(int(classes))]
    result = evaluate_folder(args.pred, args.gt, len(names), args.preset, names, seg_dir=args.seg,
                             workers=args.workers)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:  # the errors name the file and the fix: one line, no traceback
        sys.exit(f"metrics.py: error: {str(e).removeprefix('metrics.py: ')}")
