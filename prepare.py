"""Prepare the data once, and look at it: SBD, Cityscapes or your own masks -> the SEAL layout; stats; show.

    python prepare.py sbd --src benchmark_RELEASE --dst data/sbd [--format png|bin] [--radius 2] [--workers 8]
    python prepare.py cityscapes --src CITYSCAPES --dst data/cityscapes [--val-cities zurich]
    python prepare.py masks --images DIR --masks DIR --classes names.txt --dst ROOT [--instances DIR]
    python prepare.py stats --data-root data/sbd [--dataset sbd] [--split train]
    python prepare.py show --data-root ROOT --name NAME [--out x.png]

nanoGPT keeps its one-off `prepare.py` beside the data the same way. The paper's datasets are converted by
edgedata/converters.py (Sec. 4.1.1, SEAL's rule); `masks` (beyond the paper) turns ordinary segmentation masks into
the same layout: mask value k (1..K) = line k of names.txt, 0 = background, --ignore-index ignored, any other value an
error naming the mask; images and masks paired by file name without extension; splits by a seeded draw
(split_names); evaluation GT for val and test as for the synthetic set (thin = radius-1 edges thinned, raw = the
training labels). `stats` prints the edge-pixel share per class (paper Sec. 4.2.4: 3.2% of the pixels against 30.5%
for segmentation); `show` draws a prepared label (.bin or .png) in colour with a legend (plots.label_picture).
Re-runs and kills: edgedata/converters.py's docstring (prepare.json, --overwrite, temporary files).

Reading order (README "Reading order"): 12 of 12; the last of the top level.
"""
import argparse
import functools
import json
import os
import sys

import numpy as np
from PIL import Image

from datasets import (CITYSCAPES_CLASSES, DATASETS, SBD_CLASSES, image_name, image_size, make_dataset,
                      read_class_names, read_image)
from edgedata.converters import (EDGE_TYPES, RECORD, begin, finish, link_or_copy, make_dirs, output_paths,
                                 prepare_cityscapes, prepare_sbd, read_index_png, run_all, save_png, write_lists)
from edgedata.labels import IGNORE_BIT, edge_bits, pack_edges, read_label, thin_edges, unpack_edges, write_label
from util.files import atomic_write, read_list, safe_join

# ---------------------------------------------------------------------------------------------- your own masks

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTS = (".png", ".bmp", ".tif", ".tiff")  # lossless only: a JPEG mask has no exact class ids


def files_by_stem(folder, exts, what):
    """{stem: file name} of the files in `folder` with one of `exts`; two files with one stem is an error."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--{what} {folder} is not a folder")
    out = {}
    for f in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(f)
        if ext.lower() not in exts or f.startswith("."):
            continue
        if stem in out:
            raise ValueError(f"--{what} {folder}: '{out[stem]}' and '{f}' have the same name; images and masks are "
                             f"paired by name, so each name must appear once")
        out[stem] = f
    return out


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def split_names(names, val_fraction, test_fraction, seed):
    """A seeded draw: permute the sorted names with numpy's default_rng(seed); the first round(test_fraction * n)
    are test, the next round(val_fraction * n) val, the rest train (each list sorted)."""
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    n_test, n_val = round(test_fraction * len(names)), round(val_fraction * len(names))
    pick = [names[i] for i in order]
    test, val, train = pick[:n_test], pick[n_test:n_test + n_val], pick[n_test + n_val:]
    return {"train": sorted(train), "val": sorted(val), "trainval": sorted(train + val), "test": sorted(test)}


def prepare_mask_image(job, dirs, dst, ext, num_classes, ignore_index, radius, eval_names):
    """One image of `prepare.py masks`: class ids (and instance ids) -> labels; evaluation GT for val and test."""
    name, image_file, mask_file, inst_file = job
    outs, gts = output_paths(dst, name, ext, eval_gt=name in eval_names)
    if all(os.path.exists(p) for p in [*outs.values(), *gts.values()]):
        return
    mask_path = os.path.join(dirs["masks"], mask_file)
    mask = read_index_png(mask_path)
    W, H = image_size(os.path.join(dirs["images"], image_file))
    if mask.shape != (H, W):
        raise ValueError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_file} is {W}x{H}; "
                         f"a mask must have its image's size")
    ignore = mask == ignore_index
    bad = np.unique(mask[(mask > num_classes) & ~ignore])
    if bad.size:
        raise ValueError(f"{mask_path}: value(s) {bad[:10].tolist()} but --classes names {num_classes} classes "
                         f"(0 = background, 1..{num_classes} = the classes, {ignore_index} = ignore); fix the mask, "
                         f"the class list or --ignore-index")
    classes = np.where(ignore, 0, mask)
    regions = {"cls": classes, "inst": classes}
    if inst_file is not None:
        inst_path = os.path.join(dirs["instances"], inst_file)
        ids = read_index_png(inst_path)
        if ids.shape != mask.shape:
            raise ValueError(f"{inst_path} is {ids.shape[1]}x{ids.shape[0]}, its mask {mask.shape[1]}x{mask.shape[0]}")
        regions["inst"] = classes * (int(ids.max()) + 1) + ids  # (class, instance) pairs: ids need not be unique
    bits, thin = {}, {}
    for t in outs:
        if t == "inst" and regions["inst"] is classes:  # no instance masks: the cls results, not computed twice
            bits[t], thin[t] = bits["cls"], thin.get("cls")
        else:
            bits[t] = edge_bits(regions[t], classes, ignore, radius)
            if gts:  # thin = radius-1 edges thinned (as Cityscapes and the synthetic set)
                thin[t] = pack_edges(thin_edges(unpack_edges(edge_bits(regions[t], classes, ignore, 1),
                                                             num_classes)[0]))
        write_label(outs[t], bits[t])
        if gts:  # raw = the training labels
            write_label(gts["raw", t], bits[t] & ~IGNORE_BIT)
            write_label(gts["thin", t], thin[t])
    if gts:
        save_png(gts["seg"], classes.astype(np.uint8))


def prepare_masks(images, masks, classes, dst, instances=None, ignore_index=255, radius=2, fmt="png",
                  val_fraction=0.1, test_fraction=0.1, seed=0, workers=0, overwrite=False):
    """Segmentation masks (value k = class on line k of `classes`, 0 background) -> the prepared SEAL layout."""
    names = read_class_names(classes)
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction}: each >= 0, together "
                         f"< 1 (the rest is train)")
    if 1 <= ignore_index <= len(names):
        raise ValueError(f"--ignore-index {ignore_index} is a class value (1..{len(names)}); use 255 or another "
                         f"value above {len(names)}")
    dirs = {"images": images, "masks": masks, "instances": instances}
    found = {"images": files_by_stem(images, IMAGE_EXTS, "images"), "masks": files_by_stem(masks, MASK_EXTS, "masks")}
    if instances:
        found["instances"] = files_by_stem(instances, MASK_EXTS, "instances")
    for a, b in (("images", "masks"), ("masks", "images"), ("masks", "instances")):
        alone = sorted(set(found[a]) - set(found.get(b, found[a])))
        if alone:
            raise ValueError(f"{len(alone)} of the {a} in {dirs[a]} have no {b[:-1]} of the same name in {dirs[b]} "
                             f"(e.g. {alone[:5]}); images, masks (and instance masks) are paired by file name "
                             f"without extension")
    if not found["masks"]:
        raise ValueError(f"no masks ({'/'.join(MASK_EXTS)}) in {masks}")
    options = {"command": "masks", "images": os.path.abspath(images), "masks": os.path.abspath(masks),
               "instances": instances and os.path.abspath(instances), "classes": names, "ignore_index": ignore_index,
               "radius": float(radius), "format": fmt, "val_fraction": val_fraction, "test_fraction": test_fraction,
               "seed": seed}
    begin(dst, options, overwrite)
    make_dirs(dst)
    link_or_copy(images, os.path.join(dst, "image"))
    atomic_write(os.path.join(dst, "classes.txt"), functools.partial(write_lines, lines=names))  # one per line
    splits = split_names(found["masks"], val_fraction, test_fraction, seed)
    for split in [s for s in ("val", "test") if not splits[s]]:
        print(f"WARNING: the {split} split is empty ({len(found['masks'])} images x --{split}-fraction "
              f"{val_fraction if split == 'val' else test_fraction} rounds to 0)")
    if not instances:
        print("no --instances: the instance-sensitive labels (label_inst) equal the category ones (label_cls)")
    jobs = [(n, found["images"][n], found["masks"][n], found.get("instances", {}).get(n)) for n in splits["trainval"]
            + splits["test"]]
    fn = functools.partial(prepare_mask_image, dirs=dirs, dst=dst, ext="." + fmt, num_classes=len(names),
                           ignore_index=ignore_index, radius=radius, eval_names=set(splits["val"] + splits["test"]))
    run_all(fn, jobs, workers, "prepare masks")
    write_lists(dst, splits, lambda n: f"image/{found['images'][n]}", "." + fmt)
    finish(dst, options, splits)


# ------------------------------------------------------------------------------------------------ stats, show

def print_stats(dataset_name, root, split, edge_type="inst", limit=None):
    """`prepare.py stats`: the edge-pixel share per class and overall (and the segmentation share)."""
    from datasets import edge_statistics
    ds = make_dataset(dataset_name, root, split, edge_type=edge_type)
    s = edge_statistics(ds, limit)
    radius = getattr(ds, "radius", None) or _recorded(root).get("radius", "?")
    if not s["images"]:
        raise ValueError(f"the {split} split of {root} has no images")
    print(f"{dataset_name}{' ' + root if root else ''} split {split}: {s['images']} images, "
          f"{s['pixels']} labelled pixels; label type {edge_type}, edge radius {radius}")
    seg = s["seg"] or [None] * len(s["classes"])
    print(f"{'class':<20} {'edge %':>8} {'segment %':>10}")
    for name, e, g in zip(s["classes"] + ["all classes"], s["edge"] + [s["edge_all"]], seg + [s["seg_all"]]):
        print(f"{name:<20} {100 * e:8.2f} {'-' if g is None else f'{100 * g:.2f}':>10}")
    print("(paper Sec. 4.2.4: edge pixels are 3.2% of the pixels, against 30.5% for segmentation)" +
          ("" if s["seg"] else "; no GT class maps for this split" + (" (Cityscapes has none)" if getattr(
              ds, "eval_seg", None) is None else " (written for the test split)")))
    return s


def _recorded(root):
    path = os.path.join(root or "", RECORD)
    if not root or not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f).get("options", {})


def show_label(root, name, out=None, what="label", edge_type="inst"):
    """`prepare.py show`: image `name` of a prepared folder with its labels (what = label | thin | raw, the
    training labels or the evaluation GT) coloured by class, with a legend; ignored pixels marked."""
    from util import plots
    command = _recorded(root).get("command")
    if os.path.isfile(os.path.join(root, "classes.txt")):
        names = read_class_names(os.path.join(root, "classes.txt"))
    else:
        names = (CITYSCAPES_CLASSES if command == "cityscapes" or os.path.isdir(os.path.join(root, "leftImg8bit"))
                 else SBD_CLASSES)
    for f in sorted(os.listdir(root)):
        if f.endswith(f"_{edge_type}.txt"):
            rows = [r for r in read_list(os.path.join(root, f)) if image_name(r[0]) == name]
            if rows:
                break
    else:
        raise ValueError(f"no image named {name!r} in the {edge_type} lists of {root}")
    image = read_image(safe_join(root, rows[0][0].lstrip("/"), f))
    if what == "label":
        path = safe_join(root, rows[0][1].lstrip("/"), f)
    else:
        path = os.path.join(root, "gt_eval", f"{what}_{edge_type}", name + ".png")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: the evaluation GT ({what}) is written for the images of the "
                                    f"val and test lists only, and {name!r} is not one of them; use --what label")
    if path.endswith(".bin"):
        H, W = image.shape[:2]
    else:
        with Image.open(path) as im:
            W, H = im.size
    edges, ignore = unpack_edges(read_label(path, H, W, len(names)), len(names))
    if image.shape[:2] != (H, W):  # Cityscapes evaluation GT is at half resolution
        image = np.asarray(Image.fromarray(image).resize((W, H), Image.BILINEAR))
    out = out or f"{name}_{what}_{edge_type}.png"
    plots.label_picture(image, edges, ignore, names, out)
    print(f"{path}: {int(edges.any(0).sum())} edge pixels, {int(ignore.sum())} ignored, classes present: "
          f"{[n for n, e in zip(names, edges) if e.any()]}; picture written to {out}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Prepare semantic edge labels (no MATLAB), and look at them.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_sbd = sub.add_parser("sbd", help="SBD benchmark_RELEASE -> data root")
    p_cs = sub.add_parser("cityscapes", help="Cityscapes -> data root")
    p_m = sub.add_parser("masks", help="your own segmentation masks -> data root")
    for p in (p_sbd, p_cs, p_m):
        p.add_argument("--dst", required=True, help="output data root (e.g. data/sbd)")
        p.add_argument("--format", default="png", choices=["png", "bin"], help="training label files: RGB(A) "
                       "png (small) or SEAL/CASENet uint32 .bin (750 KB per SBD image, 8 MB per Cityscapes one)")
        p.add_argument("--radius", type=float, default=2, help="edge radius of the training labels (SEAL: 2)")
        p.add_argument("--workers", type=int, default=0, help="processes (0: this one)")
        p.add_argument("--overwrite", action="store_true", help="delete what an earlier run with other options "
                       "wrote in --dst and rebuild")
    for p in (p_sbd, p_cs):
        p.add_argument("--src", required=True, help="SBD: benchmark_RELEASE; Cityscapes: folder with "
                                                    "leftImg8bit/ and gtFine/")
    p_sbd.add_argument("--num-val", type=int, default=1000, help="images held out of SBD train as 'val'")
    p_sbd.add_argument("--val-list", default=None, help="file naming the held-out images (e.g. SEAL's val.txt)")
    p_cs.add_argument("--val-cities", default="zurich", help="comma-separated cities of the official train set "
                      "held out as 'val' (checkpoint selection); 'test' is the official val")
    p_m.add_argument("--images", required=True, help="folder of images (jpg/png/bmp/tif/webp)")
    p_m.add_argument("--masks", required=True, help="folder of masks with the images' names: PNG of class ids "
                     "(palette PNGs: the index), 0 background, k = line k of --classes")
    p_m.add_argument("--classes", required=True, help="names.txt: one class name per line (fed to CLIP)")
    p_m.add_argument("--instances", default=None, help="optional folder of instance-id PNGs (same names)")
    p_m.add_argument("--ignore-index", type=int, default=255, help="mask value that is ignored")
    p_m.add_argument("--val-fraction", type=float, default=0.1, help="share of the images drawn for val")
    p_m.add_argument("--test-fraction", type=float, default=0.1, help="share of the images drawn for test")
    for p in (p_sbd, p_m):
        p.add_argument("--seed", type=int, default=0, help="seed of the held-out draw")
    p_st = sub.add_parser("stats", help="edge-pixel share per class of a prepared dataset")
    p_st.add_argument("--dataset", default=None, choices=DATASETS, help="default: from the folder")
    p_st.add_argument("--split", default="train", help="train, val, trainval or test")
    p_st.add_argument("--limit", type=int, default=None, help="first N images only")
    p_sh = sub.add_parser("show", help="render a prepared label as a coloured picture with a legend")
    p_sh.add_argument("--name", required=True, help="image name (file name without extension)")
    p_sh.add_argument("--out", default=None, help="picture path (default <name>_<what>_<type>.png)")
    p_sh.add_argument("--what", default="label", choices=["label", "thin", "raw"],
                      help="training label or evaluation GT (thin / raw)")
    for p in (p_st, p_sh):
        p.add_argument("--data-root", default=None, help="prepared data root")
        p.add_argument("--edge-type", default="inst", choices=EDGE_TYPES, help="instance-sensitive or category")
    args = parser.parse_args(argv)
    command = args.command
    try:
        if command == "sbd":
            prepare_sbd(args.src, args.dst, args.format, args.radius, args.num_val, args.val_list, args.workers,
                        args.seed, args.overwrite)
        elif command == "cityscapes":
            prepare_cityscapes(args.src, args.dst, args.format, args.workers, args.val_cities.split(","),
                               args.radius, args.overwrite)
        elif command == "masks":
            prepare_masks(args.images, args.masks, args.classes, args.dst, args.instances, args.ignore_index,
                          args.radius, args.format, args.val_fraction, args.test_fraction, args.seed, args.workers,
                          args.overwrite)
        elif command == "stats":
            name = args.dataset or {"masks": "folder"}.get(_recorded(args.data_root).get("command"),
                                                           _recorded(args.data_root).get("command"))
            if name is None:
                parser.error(f"--dataset is needed ({args.data_root} has no {RECORD})")
            print_stats(name, args.data_root, args.split, args.edge_type, args.limit)
        else:
            if args.data_root is None:
                parser.error("show needs --data-root")
            show_label(args.data_root, args.name, args.out, args.what, args.edge_type)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"prepare.py {command}: error: {e}")


if __name__ == "__main__":
    main()
