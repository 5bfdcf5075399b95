"""Pictures for the numbers, drawn with pillow only (no matplotlib): edge maps coloured by class,
precision-recall curves of the benchmark (paper Sec. 4.1.3), training curves.

- `colour_edges`, `make_picture`: image | ground-truth edges | predicted edges per row, coloured
  by class with a legend (evaluate.py's picture.png; predict.py's image | predicted edges).
- `label_picture`: a prepared label (edges by class, ignored pixels grey) beside its image
  (`prepare.py show`).
- `pr_curves(result, path)`: one panel per class and one for the mean, the PR curve over the
  thresholds, iso-F contours, the ODS point marked and its value in the title (pr_curves.png).
  The mean panel's curve is OUR definition (the benchmark defines no mean curve): recall and
  precision averaged over the classes at each threshold; the mean ODS in its title is the mean
  of the class ODS values (as in the paper's tables), which is not a point of that curve.
- `compare_pr([(label, result), ...], path)`: several runs overlaid, with a legend
  (`python metrics.py --plot A/results.json B/results.json --out cmp.png`).
- `training_curves(log_path, path)`: loss terms and the fast validation F against the step,
  from train.py's log.jsonl (records of a run that a resume superseded are dropped).
`result` is the dict of metrics.EdgeBenchmark.compute() (evaluate.py's results.json holds it).
"""
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# 20 distinct colours (enough for SBD's 20 and Cityscapes' 19 classes)
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 200, 200), (240, 50, 230), (150, 150, 0), (0, 128, 128), (170, 110, 40),
           (128, 0, 0), (0, 0, 128), (128, 128, 128), (255, 180, 0), (0, 90, 40),
           (190, 100, 160), (100, 70, 255), (200, 60, 0), (90, 140, 0), (0, 0, 0)]
IGNORE_COLOUR = (200, 200, 200)
RUN_COLOURS = [(0, 90, 200), (220, 30, 30), (245, 130, 48), (145, 30, 180), (0, 0, 0), (240, 50, 230),
               (128, 0, 0), (0, 160, 160)]  # compare_pr: no green (the iso-F contours are green)
PAD = 10


def nice_ticks(lo, hi, n=6):
    """About n round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    raw = (hi - lo) / max(n - 1, 1) or 1
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    return [v for v in np.arange(math.floor(lo / step), math.ceil(hi / step) + 1) * step if lo <= v <= hi]


def wrap(draw, text, fnt, width):
    """Split `text` into lines no wider than `width` pixels (at spaces)."""
    lines, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}".strip()
        if line and text_size(draw, trial, fnt)[0] > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines


def font(size=14):
    return ImageFont.load_default(size=size)  # pillow's built-in scalable font: no system font needed


def text_size(draw, text, fnt):
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=fnt)
    return x1 - x0, y1 - y0

# ----------------------------------------------------------------------------- edge pictures


def colour_edges(edges):
    """edges (K, H, W) float in [0, 1] -> (H, W, 3) uint8: white background, each pixel in the colour
    of its strongest class, as dark as its strength."""
    edges = np.asarray(edges, dtype=np.float32)
    strength = edges.max(0)                                                          # (H, W)
    colour = np.array(PALETTE, dtype=np.float32)[edges.argmax(0) % len(PALETTE)]    # (H, W, 3)
    out = 255 * (1 - strength[..., None]) + colour * strength[..., None]
    return out.clip(0, 255).astype(np.uint8)


def legend(draw, entries, x, y, width, fnt):
    """Colour swatches with labels [(label, rgb), ...] in as many columns as fit in `width`; returns the height."""
    if not entries:
        return 0
    col_w = max(text_size(draw, label, fnt)[0] for label, _ in entries) + 34
    cols = max(1, min(len(entries), width // col_w))
    line = fnt.size + 8
    for i, (label, rgb) in enumerate(entries):
        lx, ly = x + (i % cols) * col_w, y + (i // cols) * line
        draw.rectangle([lx, ly + 2, lx + 16, ly + 2 + fnt.size], fill=rgb, outline=(90, 90, 90))
        draw.text((lx + 22, ly), label, fill="black", font=fnt)
    return ((len(entries) + cols - 1) // cols) * line


def class_entries(class_names):
    return [(f"{k + 1} {name}", PALETTE[k % len(PALETTE)]) for k, name in enumerate(class_names)]


def _grid_picture(rows, titles, entries, path, height):
    """rows: (name, [uint8 (H, W, 3) panel, ...]) -> one PNG: titles on top, a name under each row,
    the legend at the bottom."""
    fnt, small = font(16), font(14)
    scaled = []
    for name, panels in rows:
        h, w = panels[0].shape[:2]
        size = (max(1, round(w * height / h)), height)
        scaled.append((name, [Image.fromarray(p).resize(size, Image.BILINEAR if i == 0 else Image.NEAREST)
                              for i, p in enumerate(panels)]))
    ncol = max(len(p) for _, p in scaled)
    col_w = [max(p[c].width for _, p in scaled if c < len(p)) for c in range(ncol)]
    width = max(sum(col_w) + PAD * (ncol + 1), 360)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend_h = legend(probe, entries, PAD, 0, width - 2 * PAD, small)
    title_h, label_h = fnt.size + 2 * PAD, small.size + 8
    canvas = Image.new("RGB", (width, title_h + len(scaled) * (height + label_h + PAD) + legend_h + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    x = PAD
    for c, title in enumerate(titles[:ncol]):
        draw.text((x, PAD // 2), title, fill="black", font=fnt)
        x += col_w[c] + PAD
    y = title_h
    for name, panels in scaled:
        x = PAD
        for c, panel in enumerate(panels):
            canvas.paste(panel, (x, y))
            draw.rectangle([x - 1, y - 1, x + panel.width, y + panel.height], outline=(160, 160, 160))
            x += col_w[c] + PAD
        draw.text((PAD, y + height + 3), name, fill="black", font=small)
        y += height + label_h + PAD
    legend(draw, entries, PAD, y, width - 2 * PAD, small)
    canvas.save(path)


def make_picture(rows, class_names, path, titles=("image", "ground-truth edges", "predicted edges"), height=200):
    """rows: (name, image (H, W, 3) uint8, *edge maps (K, H, W) in [0, 1]) with len(titles) - 1 edge maps
    each -> one PNG, the maps coloured by class (colour_edges), a legend of the classes at the bottom."""
    out = []
    for name, image, *maps in rows:
        if len(maps) != len(titles) - 1:
            raise ValueError(f"util/plots.py: make_picture: row {name!r} has {len(maps)} edge maps for titles {titles}")
        out.append((name, [np.asarray(image, dtype=np.uint8)] + [colour_edges(m) for m in maps]))
    _grid_picture(out, titles, class_entries(class_names), path, height)


def label_picture(image, edges, ignore, class_names, path, height=360):
    """A prepared label: image (H, W, 3) uint8 | its edges (K, H, W) coloured by class, ignored pixels
    (H, W) bool grey; the legend lists the classes present with their edge-pixel counts."""
    edges = np.asarray(edges).astype(np.float32)
    shown = colour_edges(edges)
    if ignore is not None:
        shown[np.asarray(ignore, dtype=bool) & (edges.max(0) == 0)] = IGNORE_COLOUR
    counts = edges.reshape(len(edges), -1).sum(1).astype(int)
    entries = [(f"{k + 1} {class_names[k]} ({counts[k]} px)", PALETTE[k % len(PALETTE)])
               for k in np.flatnonzero(counts)]
    if ignore is not None and np.asarray(ignore).any():
        entries.append((f"ignored ({int(np.asarray(ignore).sum())} px)", IGNORE_COLOUR))
    _grid_picture([("", [np.asarray(image, dtype=np.uint8), shown])], ("image", "edges by class (label)"),
                  entries or [("no edges in this label", (255, 255, 255))], path, height)

# ----------------------------------------------------------------------------- charts


class Panel:
    """One chart: data coordinates (x0..x1, y0..y1; log y optional) mapped into a box of the canvas,
    axes with ticks and labels, a title above."""

    def __init__(self, canvas, box, xlim, ylim, xlabel, ylabel, title, log_y=False, ticks=None):
        self.canvas, self.draw, self.log_y = canvas, ImageDraw.Draw(canvas), log_y
        draw = self.draw
        self.fnt, self.small = font(15), font(12)
        left, top, right, bottom = box
        self.box = (left + 48, top + 2 * self.fnt.size + 26, right - 12, bottom - 40)  # plot area
        self.xlim, self.ylim = xlim, (math.log10(ylim[0]), math.log10(ylim[1])) if log_y else ylim
        L, T, R, B = self.box
        self.title_xy = (L, top + 4)
        for i, line in enumerate(title.split("\n")[:2]):
            self.title_parts([(line, (0, 0, 0))], i)
        xt, yt = ticks or (nice_ticks(*xlim), None)
        for v in xt:
            px = self.px(v, self.ylim[0] if not log_y else ylim[0])[0]
            draw.line([px, T, px, B], fill=(232, 232, 232))
            label = f"{v:g}" if abs(v) < 1e4 else f"{v:.0e}"
            w, _ = text_size(draw, label, self.small)
            draw.text((px - w / 2, B + 4), label, fill="black", font=self.small)
        yt = yt if yt is not None else ([10 ** e for e in range(math.floor(self.ylim[0]), math.ceil(self.ylim[1]) + 1)
                                         if self.ylim[0] <= e <= self.ylim[1]] if log_y else nice_ticks(*ylim))
        for v in yt:
            py = self.px(xlim[0], v)[1]
            draw.line([L, py, R, py], fill=(232, 232, 232))
            label = f"{v:g}"
            w, h = text_size(draw, label, self.small)
            draw.text((L - w - 5, py - h / 2 - 2), label, fill="black", font=self.small)
        draw.rectangle(self.box, outline=(60, 60, 60))  # after the grid lines, which would cover it
        w, _ = text_size(draw, xlabel, self.small)
        draw.text(((L + R) / 2 - w / 2, B + 20), xlabel, fill="black", font=self.small)
        self._vertical_text(ylabel, left + 2, (T + B) / 2)

    def title_parts(self, parts, line):
        """Title line `line` (0 or 1) from coloured pieces [(text, rgb), ...]."""
        x, y = self.title_xy[0], self.title_xy[1] + line * (self.fnt.size + 4)
        for text, rgb in parts:
            self.draw.text((x, y), text, fill=rgb, font=self.fnt)
            x += text_size(self.draw, text + " ", self.fnt)[0] + 4

    def _vertical_text(self, text, x, yc):
        w, h = text_size(self.draw, text, self.small)
        img = Image.new("L", (w + 4, h + 6), 0)
        ImageDraw.Draw(img).text((2, 0), text, fill=255, font=self.small)
        img = img.rotate(90, expand=True)
        self.canvas.paste((0, 0, 0), (int(x), int(yc - img.height / 2)), img)

    def px(self, x, y):
        L, T, R, B = self.box
        if self.log_y:
            y = math.log10(max(y, 10 ** self.ylim[0]))
        fx = (x - self.xlim[0]) / ((self.xlim[1] - self.xlim[0]) or 1)
        fy = (y - self.ylim[0]) / ((self.ylim[1] - self.ylim[0]) or 1)
        return L + fx * (R - L), B - fy * (B - T)

    def line(self, xs, ys, colour, width=2):
        pts = [self.px(x, y) for x, y in zip(xs, ys)]
        if len(pts) > 1:
            self.draw.line(pts, fill=colour, width=width, joint="curve")
        elif pts:
            self.marker(xs[0], ys[0], colour, 3)

    def marker(self, x, y, colour, r=5, filled=True):
        px, py = self.px(x, y)
        self.draw.ellipse([px - r, py - r, px + r, py + r], fill=colour if filled else None, outline=colour,
                          width=2)

    def text(self, x, y, text, colour, fnt=None):
        self.draw.text(self.px(x, y), text, fill=colour, font=fnt or self.small)


def iso_f(panel):
    """Iso-F contours F = 0.1 ... 0.9: P = F R / (2R - F), labelled where they cross the diagonal (R = P = F)."""
    for f in np.arange(1, 10) / 10:
        r = np.linspace(f / (2 - f), 1, 60)  # P <= 1 from R = F / (2 - F) on
        panel.line(r, f * r / (2 * r - f), (170, 215, 170), width=1)
        if round(10 * f) % 2 == 0:
            panel.text(f + 0.01, f + 0.055, f"F={f:.1f}", (110, 165, 110))


def pr_points(R, P):
    """(recall, precision) of the thresholds that have predictions (BSDS plots drop the (0, 0) points)."""
    R, P = np.asarray(R, dtype=np.float64), np.asarray(P, dtype=np.float64)
    keep = (R > 0) | (P > 0)
    return R[keep], P[keep]


def _panels(names, path, draw_panel, header=None, footer=(), size=300):
    """A grid of square PR panels (one per name), an optional header drawer (returns its height), footer lines."""
    cols = min(5, len(names))
    rows = (len(names) + cols - 1) // cols
    small = font(13)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = cols * size + PAD * 2
    head_h = header(probe, width) if header else 0  # measured on a scratch canvas
    footer = [w for line in footer for w in wrap(probe, line, small, width - 2 * PAD)]
    foot_h = len(footer) * (small.size + 6) + PAD
    canvas = Image.new("RGB", (width, head_h + rows * size + foot_h + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    if header:
        header(draw, width)
    for i, name in enumerate(names):
        x, y = PAD + (i % cols) * size, head_h + (i // cols) * size
        draw_panel(canvas, (x, y, x + size - 8, y + size - 4), name)
    for j, line in enumerate(footer):
        draw.text((PAD, head_h + rows * size + 4 + j * (small.size + 6)), line, fill=(60, 60, 60), font=small)
    canvas.save(path)


def mean_curve(result):
    """Our mean PR curve: recall and precision averaged over the classes at each threshold."""
    cl = list(result["classes"].values())
    return np.mean([c["recall"] for c in cl], axis=0), np.mean([c["precision"] for c in cl], axis=0)


def _check(result, what):
    for name, c in result.get("classes", {}).items():
        missing = [k for k in ("recall", "precision", "ODS", "ODS_recall", "ODS_precision") if k not in c]
        if missing:
            raise ValueError(f"util/plots.py: {what}: class {name!r} has no {missing}; expected the dict of "
                             "metrics.EdgeBenchmark.compute() (evaluate.py's results.json, metrics.py --out)")
    if not result.get("classes"):
        raise ValueError(f"util/plots.py: {what}: no 'classes' with PR curves (metrics.EdgeBenchmark.compute()'s dict)")


def pr_curves(result, path):
    """pr_curves.png: one panel per class and one for the mean (see the module docstring for its
    definition); PR curve, iso-F contours, the ODS point (filled) and ODS x 100 in the title."""
    _check(result, "pr_curves")
    names = list(result["classes"]) + ["mean"]
    blue = (0, 90, 200)

    def draw_panel(canvas, box, name):
        if name == "mean":
            R, P = mean_curve(result)
            title = f"mean curve of {len(names) - 1} classes\nmean ODS {100 * result['mean_ODS']:.1f}"
        else:
            c = result["classes"][name]
            R, P = c["recall"], c["precision"]
            title = (f"{name}\nODS {100 * c['ODS']:.1f}  AP {100 * c['AP']:.1f}" if "AP" in c else
                     f"{name}\nODS {100 * c['ODS']:.1f}")
        panel = Panel(canvas, box, (0, 1), (0, 1), "recall", "precision", title)
        iso_f(panel)
        r, p = pr_points(R, P)
        panel.line(r, p, blue)
        if name == "mean":
            if r.size:
                best = int(np.argmax(2 * r * p / np.maximum(r + p, 1e-12)))
                panel.marker(r[best], p[best], blue, filled=False)
        else:
            panel.marker(c["ODS_recall"], c["ODS_precision"], (220, 30, 30))

    protocol = result.get("protocol_text", "")
    _panels(names, path, draw_panel, footer=[
        f"protocol {protocol}; {result.get('num_images', '?')} images" if protocol else "",
        "red dot: the ODS point (best F over thresholds, interpolated). Green: iso-F contours.",
        "mean panel: recall and precision averaged over the classes at each threshold (our definition); "
        "open circle: best F on that curve;",
        "its title gives the mean of the class ODS values (the tables' mean ODS)."])


def load_run(path):
    """(label, result) of a results.json (evaluate.py's, or metrics.py --out's); label = its folder's name."""
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"util/plots.py: cannot read {path} ({e}); evaluate.py writes <out>/results.json, "
                         "metrics.py --out too") from e
    folder = os.path.dirname(os.path.abspath(path))
    label = os.path.basename(folder)
    if label.startswith("eval_"):  # evaluate.py's <run>/eval_<split>: the run's folder tells runs apart
        label = f"{os.path.basename(os.path.dirname(folder))}/{label}"
    return label or str(path), result


def compare_pr(runs, path):
    """Several runs [(label, result), ...] overlaid: one panel per class (the classes of the first run)
    and the mean, one colour per run, the legend with each run's mean ODS on top."""
    if not runs:
        raise ValueError("util/plots.py: compare_pr: no runs given")
    for label, result in runs:
        _check(result, f"run {label!r}")
    first = list(runs[0][1]["classes"])
    for label, result in runs[1:]:
        if list(result["classes"]) != first:
            raise ValueError(f"util/plots.py: compare_pr: run {label!r} has the classes {list(result['classes'])}, run "
                             f"{runs[0][0]!r} has {first}: compare runs of one class list")
    names = first + ["mean"]
    colours = [RUN_COLOURS[i % len(RUN_COLOURS)] for i in range(len(runs))]
    fnt = font(16)

    def header(draw, width):
        entries = [(f"{label}: mean ODS {100 * r['mean_ODS']:.1f}", c) for (label, r), c in zip(runs, colours)]
        return legend(draw, entries, PAD, PAD, width - 2 * PAD, fnt) + 2 * PAD

    def draw_panel(canvas, box, name):
        panel = Panel(canvas, box, (0, 1), (0, 1), "recall", "precision", name if name != "mean" else "mean (ODS: mean)")
        panel.title_parts([("ODS", (0, 0, 0))] + [(
            f"{100 * (r['mean_ODS'] if name == 'mean' else r['classes'].get(name, {}).get('ODS', math.nan)):.1f}", c)
            for (_, r), c in zip(runs, colours)], 1)
        iso_f(panel)
        for (label, result), colour in zip(runs, colours):
            if name == "mean":
                r, p = pr_points(*mean_curve(result))
            elif name in result["classes"]:
                c = result["classes"][name]
                r, p = pr_points(c["recall"], c["precision"])
                panel.marker(c["ODS_recall"], c["ODS_precision"], colour, r=4)
            else:
                continue
            panel.line(r, p, colour)

    _panels(names, path, draw_panel, header=header, footer=[
        "Titles: ODS x 100 of each run in its colour; dots: the ODS points. Green: iso-F contours.",
        "Mean panel: recall and precision averaged over the classes at each threshold (our definition); its title "
        "gives the mean of the class ODS values."])

# ----------------------------------------------------------------------------- training curves


def read_log(log_path):
    """The records of log.jsonl that describe the run as it stands: records marked "superseded" are dropped,
    and so are records of an earlier run with step > S that precede a "start" record resuming from step S."""
    records = []
    with open(log_path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"util/plots.py: {log_path} line {n} is not JSON ({e}); a log.jsonl of "
                                 f"train.py?") from e
            if rec.get("superseded"):
                continue
            if rec.get("type") == "start" and rec.get("resumed_from_step") is not None:
                s = rec["resumed_from_step"]
                records = [r for r in records if r.get("step") is None or r["step"] <= s]
            records.append(rec)
    return records


def training_curves(log_path, path):
    """curves.png from train.py's log.jsonl: left, the total loss and each loss term of the "train" records
    against the step (log scale when they span more than a decade); right, the fast validation F
    (scoring.validation.ApproxEdgeF, "val_mean_F" of the "epoch" records) against the step."""
    records = read_log(log_path)
    train = [r for r in records if r.get("type") == "train" and "step" in r]
    val = [r for r in records if r.get("type") == "epoch" and r.get("val_mean_F") is not None]
    keys = sorted({k for r in train for k, v in r.items() if k.startswith("loss") and isinstance(v, (int, float))},
                  key=lambda k: (k != "loss", k))
    canvas = Image.new("RGB", (1000, 470), "white")
    draw = ImageDraw.Draw(canvas)
    steps = [r["step"] for r in train] + [r["step"] for r in val]
    xlim = (min(steps, default=0), max(max(steps, default=1), min(steps, default=0) + 1))
    values = [r[k] for r in train for k in keys if r.get(k) is not None and r[k] > 0 and math.isfinite(r[k])]
    lo, hi = (min(values), max(values)) if values else (0.1, 1.0)
    log_y = hi / lo > 10
    ylim = (10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))) if log_y else (0, hi * 1.05 or 1)
    xt = sorted({int(v) for v in nice_ticks(*xlim)})
    loss = Panel(canvas, (PAD, 0, 560, 400), xlim, ylim, "step", "loss" + (" (log scale)" if log_y else ""),
                 f"training loss ({len(train)} records)", log_y=log_y, ticks=(xt, None))
    entries = []
    for i, k in enumerate(keys):
        pts = [(r["step"], r[k]) for r in train if r.get(k) is not None and math.isfinite(r[k])]
        colour = (0, 0, 0) if k == "loss" else PALETTE[i % len(PALETTE)]
        loss.line([p[0] for p in pts], [p[1] for p in pts], colour, width=3 if k == "loss" else 2)
        entries.append((k if k != "loss" else "loss (total, weighted)", colour))
    legend(draw, entries, PAD + 48, 410, 520, font(13))
    vf = Panel(canvas, (590, 0, 990, 400), xlim, (0, 1), "step", "mean F (approximate)",
               "fast validation F\n(approximate, not the benchmark)", ticks=(xt, None))
    vf.line([r["step"] for r in val], [r["val_mean_F"] for r in val], (0, 90, 200))
    for r in val:
        vf.marker(r["step"], r["val_mean_F"], (0, 90, 200), r=3)
    if val:
        best = max(val, key=lambda r: r["val_mean_F"])
        vf.marker(best["step"], best["val_mean_F"], (220, 30, 30), r=6, filled=False)
        draw.text((590 + 48, 410), f"best {best['val_mean_F']:.3f} at step {best['step']} (red circle)",
                  fill="black", font=font(13))
    canvas.save(path)
