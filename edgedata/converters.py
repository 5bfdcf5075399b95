"""Converters of the paper's data (SBD, Cityscapes) into the SEAL layout, and the prepared-folder bookkeeping.

Paper Sec. 4.1.1: the labels were made with SEAL's MATLAB scripts (`demoPreproc.m`, `demoGenGT.m`, `seg2edge.m`);
this is the same rule in Python (edgedata.labels.edge_bits), scipy only to read SBD's .mat files. Run through prepare.py
(`python prepare.py sbd|cityscapes ...`); the layout and the splits are in datasets.py's docstring.
Cityscapes category edges follow SEAL's two passes exactly (cityscapes_edges: candidates from the instance ids, then
the class masks with no ignore list); the official-train images are also written as their 512x512 training tiles
(datasets.py, "Cityscapes tiles"); an image that is not 2048x1024 is named in a WARNING, and official-train images
of different sizes are refused (their tiles cannot be one list).

Bookkeeping shared with prepare.py's `masks` command, beyond the paper: the options are recorded in
`<dst>/prepare.json` (`begin` / `finish`); a re-run with the same options resumes (finished files are kept, the
temporary files of a killed run are removed); a re-run with other options stops and says to use a new --dst or
`--overwrite` (which deletes what an earlier run wrote, `clear`, and rebuilds): labels of two settings never mix.
Every file is written atomically with fsync (util.files.atomic_write); names that leave their folder are refused.
SBD annotations that break the format (a category 0 or > 20, more instances than categories, a missing field or
key, an unreadable .mat) stop the run with an error naming the .mat file.
"""
import functools
import json
import os
import shutil

import numpy as np
from PIL import Image

from edgedata.classes import (CITYSCAPES_CLASSES, CITYSCAPES_IGNORE_LABELS, CITYSCAPES_LABEL_TO_TRAIN, SBD_CLASSES,
                              image_name)
from edgedata.labels import (DATA_HELP, IGNORE_BIT, class_bits, edge_bits, pack_edges, resize_nearest,
                             thin_edges, unpack_edges, write_label)
from edgedata.transforms import TILE, tile_boxes, tile_file
from util.files import atomic_write, read_list, remove_stale_tmp, safe_join, write_list

RECORD = "prepare.json"
EDGE_TYPES = ("cls", "inst")


# ----------------------------------------------------------------------------------- shared by the converters

def begin(dst, options, overwrite=False):
    """Check `dst` against the options it was prepared with (prepare.json); clear it with `overwrite`; remove the
    temporary files of a killed run; record the options. Raises ValueError when the folder holds another setting."""
    os.makedirs(dst, exist_ok=True)
    path = os.path.join(dst, RECORD)
    old = None
    if os.path.isfile(path):
        with open(path) as f:
            old = json.load(f).get("options")
    elif any(os.path.exists(os.path.join(dst, d)) for d in ("label_inst", "label_cls", "gt_eval")):
        old = "unknown (prepared by an older version, no prepare.json)"
    if old is not None and old != options:
        if not overwrite:
            raise ValueError(f"{dst} was prepared with other options ({_differences(old, options)}). Mixing "
                             f"them would leave labels of both settings. "
                             f"Use a new --dst, or add --overwrite to delete the prepared files there and rebuild")
        clear(dst)
    remove_stale_tmp(dst)
    _write_record(dst, {"options": options, "complete": False})


def _differences(old, new):
    if not isinstance(old, dict):
        return str(old)
    return "; ".join(f"{k}: was {old.get(k)!r}, now {new[k]!r}" for k in new if old.get(k) != new[k])


def _write_record(dst, record):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
    atomic_write(os.path.join(dst, RECORD), write)


def finish(dst, options, splits):
    _write_record(dst, {"options": options, "complete": True, "splits": {s: len(n) for s, n in splits.items()}})
    print(f"prepared {dst}: " + ", ".join(f"{s} {len(n)}" for s, n in splits.items()))


def clear(dst):
    """Delete what a prepare run writes in dst (labels, evaluation GT, lists, classes.txt, the image links)."""
    for d in ("label_cls", "label_inst", "gt_eval", "tiles"):
        shutil.rmtree(os.path.join(dst, d), ignore_errors=True)
    for f in os.listdir(dst):
        p = os.path.join(dst, f)
        if (f in (RECORD, "classes.txt") or f.endswith(("_cls.txt", "_inst.txt"))
                or (f in ("image", "leftImg8bit") and os.path.islink(p))):
            os.remove(p)
    print(f"--overwrite: removed the prepared files in {dst}")


def link_or_copy(src, dst):
    if os.path.lexists(dst):
        return
    try:
        os.symlink(os.path.abspath(src), dst, target_is_directory=True)
    except OSError as e:
        print(f"WARNING: cannot symlink {dst} -> {src} ({e}); copying the images instead")
        shutil.copytree(src, dst)


def run_all(fn, jobs, workers, desc):
    from tqdm import tqdm
    if workers > 1:
        import multiprocessing
        with multiprocessing.Pool(workers) as pool:
            for _ in tqdm(pool.imap_unordered(fn, jobs, chunksize=4), total=len(jobs), desc=desc):
                pass
    else:
        for job in tqdm(jobs, desc=desc):
            fn(job)


def output_paths(dst, name, ext, eval_gt):
    """Files written for image `name`: training labels {T: path} and, when `eval_gt`, the evaluation GT
    {(mode, T): path} and the class map {"seg": path}."""
    outs = {t: safe_join(os.path.join(dst, f"label_{t}"), name + ext, f"image name {name!r}") for t in EDGE_TYPES}
    gts = {(m, t): os.path.join(dst, "gt_eval", f"{m}_{t}", name + ".png") for m in ("thin", "raw")
           for t in EDGE_TYPES} if eval_gt else {}
    if eval_gt:
        gts["seg"] = os.path.join(dst, "gt_eval", "seg", name + ".png")
    return outs, gts


def make_dirs(dst):
    for d in ["label_cls", "label_inst", "gt_eval/seg"] + [f"gt_eval/{m}_{t}" for m in ("thin", "raw")
                                                            for t in EDGE_TYPES]:
        os.makedirs(os.path.join(dst, d), exist_ok=True)


def write_lists(dst, splits, image_rel, ext):
    """<dst>/<split>_<T>.txt for every split: "<image> <label>" rows (util.files.write_list)."""
    for split, names in splits.items():
        for t in EDGE_TYPES:
            write_list(os.path.join(dst, f"{split}_{t}.txt"), [(image_rel(n), f"label_{t}/{n}{ext}") for n in names])


def plain_name(name, what):
    """An entry of SBD's lists: a bare image name (no folder part, not absolute, nothing that leaves the folder)."""
    if "/" in name or "\\" in name or name in (".", "..") or os.path.isabs(name):
        raise ValueError(f"{what}: '{name}' is not a plain image name (SBD's lists name files like 2008_000002; a "
                         f"folder part or '..' would read or write outside the data folders)")
    return name


def read_names(path):
    """SBD's train.txt / val.txt: one image name per line (the whole line: a name may hold spaces)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [plain_name(n, f"{path}, line {i}") for i, n in enumerate(lines, 1) if n]


def save_png(path, array):
    atomic_write(path, Image.fromarray(array).save)


# -------------------------------------------------------------------------------------------------------- SBD

def load_mat(path, key, fields):
    """SBD's GTcls / GTinst struct from a .mat, with clear errors naming the file."""
    from scipy.io import loadmat  # scipy is needed by `prepare.py sbd` only
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is --src SBD's benchmark_RELEASE (with dataset/cls, "
                                f"dataset/inst)? ({DATA_HELP})")
    try:
        mat = loadmat(path, struct_as_record=False, squeeze_me=False)
    except Exception as e:  # scipy raises ValueError, TypeError, OSError ... on a damaged file
        raise ValueError(f"{path}: cannot read the .mat file ({type(e).__name__}: {e}); download SBD again") from e
    if key not in mat:
        raise ValueError(f"{path}: no '{key}' in the .mat (keys: {sorted(k for k in mat if not k.startswith('__'))})"
                         f"; is it an SBD {key} annotation?")
    struct = mat[key][0, 0]
    missing = [f for f in fields if not hasattr(struct, f)]
    if missing:
        raise ValueError(f"{path}: {key} has no field {missing} (fields: {list(struct._fieldnames)}); "
                         f"not SBD's format")
    return struct


def _dense(m):
    return (m.toarray() if hasattr(m, "toarray") else np.asarray(m)) != 0


def sbd_regions(cls, inst, cls_path, inst_path):
    """Check one SBD annotation and return (class map, instance ids, class of each instance pixel), all (H, W)."""
    K = len(SBD_CLASSES)
    seg = np.asarray(cls.Segmentation).astype(np.int64)  # (H, W): 0 background, 1..20
    ids = np.asarray(inst.Segmentation).astype(np.int64)  # (H, W): 0 background, i = instance i
    cats = np.asarray(inst.Categories, np.int64).ravel()  # instance i has class cats[i-1]
    if seg.shape != ids.shape:
        raise ValueError(f"{cls_path} is {seg.shape}, {inst_path} is {ids.shape}: the two annotations must match")
    bad = np.unique(seg[(seg > K) & (seg != 255)])
    if bad.size:
        raise ValueError(f"{cls_path}: class values {bad.tolist()} in Segmentation; SBD has classes 1..{K}")
    if ((cats < 1) | (cats > K)).any():
        raise ValueError(f"{inst_path}: instance categories {cats.tolist()}; each must be 1..{K} (category 0 or "
                         f"> {K} breaks SBD's format)")
    n_ids = int(ids[ids != 255].max(initial=0))
    if n_ids > len(cats):
        raise ValueError(f"{inst_path}: instance ids up to {n_ids} but only {len(cats)} categories; every "
                         f"instance needs its category")
    inst_cls = np.where((ids > 0) & (ids != 255), np.concatenate([[0], cats])[np.clip(ids, 0, len(cats))], 0)
    return seg, ids, inst_cls, cats


def prepare_sbd_image(name, src, dst, ext, test_names, radius):
    """One SBD image: radius-r labels (cls, inst) and, for the test split, the thin and raw evaluation GT."""
    test = name in test_names
    outs, gts = output_paths(dst, name, ext, eval_gt=test)
    if all(os.path.exists(p) for p in [*outs.values(), *gts.values()]):
        return  # finished by an earlier run with the same options
    cls_path, inst_path = os.path.join(src, "cls", name + ".mat"), os.path.join(src, "inst", name + ".mat")
    cls = load_mat(cls_path, "GTcls", ("Segmentation", "Boundaries"))
    inst = load_mat(inst_path, "GTinst", ("Segmentation", "Boundaries", "Categories"))
    seg, ids, inst_cls, cats = sbd_regions(cls, inst, cls_path, inst_path)
    ignore_c, ignore_i = seg == 255, ids == 255  # SBD has no void label; kept for safety
    bits = {"cls": edge_bits(seg, np.where(ignore_c, 0, seg), ignore_c, radius),
            "inst": edge_bits(ids, inst_cls, ignore_i, radius)}
    for t in outs:
        write_label(outs[t], bits[t])
    if test:
        K = len(SBD_CLASSES)
        boundaries, inst_boundaries = cls.Boundaries.ravel(), inst.Boundaries.ravel()
        if len(boundaries) != K or len(inst_boundaries) != len(cats):
            raise ValueError(f"{cls_path} / {inst_path}: {len(boundaries)} class and {len(inst_boundaries)} "
                             f"instance Boundaries, expected {K} and {len(cats)}")
        thin_cls = np.stack([_dense(boundaries[k]) for k in range(K)])  # SBD's own thin boundaries
        thin_inst = thin_cls.copy()  # instance-sensitive: the class boundaries plus each instance's outline
        for i, b in enumerate(inst_boundaries):  # one cell per instance
            thin_inst[cats[i] - 1] |= _dense(b)
        write_label(gts["thin", "cls"], pack_edges(thin_cls))
        write_label(gts["thin", "inst"], pack_edges(thin_inst))
        for t in EDGE_TYPES:
            write_label(gts["raw", t], bits[t] & ~IGNORE_BIT)
        save_png(gts["seg"], np.where(ignore_c, 0, seg).astype(np.uint8))


def prepare_sbd(src, dst, fmt="png", radius=2, num_val=1000, val_list=None, workers=0, seed=0, overwrite=False):
    """SBD benchmark_RELEASE -> the layout in datasets.py's docstring."""
    src = os.path.join(src, "dataset") if os.path.isdir(os.path.join(src, "dataset")) else src
    for need in ("img", "cls", "inst", "train.txt", "val.txt"):
        if not os.path.exists(os.path.join(src, need)):
            raise FileNotFoundError(f"{os.path.join(src, need)} missing: --src must be SBD's benchmark_RELEASE "
                                    f"(or its dataset/ folder) ({DATA_HELP})")
    lists = {s: os.path.join(src, f"{s}.txt") for s in ("train", "val")}
    train, test = (read_names(lists[s]) for s in ("train", "val"))
    if val_list:
        val = {image_name(r[0]) for r in read_list(val_list)}
        unknown = sorted(val - set(train))  # val is held out of SBD's train list: other names cannot be in it
        if len(unknown) == len(val):
            raise ValueError(f"--val-list {val_list}: none of its {len(val)} names is in SBD's train list "
                             f"{lists['train']}{f' (e.g. {unknown[0]})' if unknown else ''}; it must name the "
                             f"images to hold out of SBD train")
        if unknown:
            print(f"WARNING: --val-list {val_list}: {len(unknown)} of its {len(val)} names are not in SBD's train "
                  f"list {lists['train']} and are left out of val ({', '.join(unknown[:5])}"
                  f"{', ...' if len(unknown) > 5 else ''})")
    else:  # a fixed draw of num_val names (SEAL's own draw is in its seed.mat)
        val = {train[i] for i in np.random.default_rng(seed).permutation(len(train))[:num_val]}
    options = {"command": "sbd", "src": os.path.abspath(src), "format": fmt, "radius": float(radius),
               "num_val": num_val, "val_list": val_list and os.path.abspath(val_list), "seed": seed}
    begin(dst, options, overwrite)
    make_dirs(dst)
    link_or_copy(os.path.join(src, "img"), os.path.join(dst, "image"))
    ext = "." + fmt
    fn = functools.partial(prepare_sbd_image, src=src, dst=dst, ext=ext, test_names=set(test), radius=radius)
    run_all(fn, train + test, workers, "prepare sbd")
    splits = {"train": [n for n in train if n not in val], "val": [n for n in train if n in val],
              "trainval": train, "test": test}
    write_lists(dst, splits, lambda n: f"image/{n}.jpg", ext)
    finish(dst, options, splits)


# ------------------------------------------------------------------------------------------------- Cityscapes

CITYSCAPES_LUT = np.zeros(256, np.int64)  # labelId -> 0 (no class) or train id + 1
for _label_id, _train_id in CITYSCAPES_LABEL_TO_TRAIN.items():
    CITYSCAPES_LUT[_label_id] = _train_id + 1


CITYSCAPES_SIZE = (2048, 1024)  # (width, height) of every Cityscapes image: 8 training tiles of 512x512
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # not Cityscapes' 8-bit RGB images


def cityscapes_edges(label_ids, inst_ids, radius):
    """Cityscapes labelIds / instanceIds (H, W) -> {"inst": packed edges, "cls": packed edges} (19 train ids),
    labelIds 2 and 3 ignored, as SEAL's demoPreproc.m / demoGenGT.m make them.

    SEAL first finds candidates, `seg2edge(instIdMap, r, [2 3]', 'regular')`: pixels with a pixel of another
    instance id within r, pairs with an ignored pixel dropped. Then, per class k, `seg2edge_fast(map, candidates,
    r, [], 'regular')` keeps the candidates that have a pixel of another value of k's map within r, with NO ignore
    list: the instance ids inside k ("inst", identical to edge_bits on the instance ids) or k's binary mask ("cls").
    So a pixel of k that is a candidate (another instance of k within r) and has an ignored pixel within r is a
    category edge of k even when no valid non-k pixel is near: edge_bits, which drops every pair with an ignored
    pixel, misses exactly these pixels, and they are added here."""
    classes = CITYSCAPES_LUT[np.clip(label_ids, 0, 255)]  # (H, W): 0 = no class, k = train id k-1
    ignore = np.isin(label_ids, CITYSCAPES_IGNORE_LABELS)
    inst = edge_bits(inst_ids, classes, ignore, radius)
    candidate_own = inst & class_bits(classes)  # the pixel's own class bit where it is a SEAL candidate
    cls = edge_bits(classes, classes, ignore, radius)
    # an ignored pixel within r of a valid pixel p (candidate_own is 0 on ignored pixels): the ignore mask differs
    # between p and it, which edge_bits marks in bit 0 when every pixel is "class 1" and nothing is ignored
    near_ignore = edge_bits(ignore.astype(np.uint8), np.ones_like(classes), None, radius) & np.uint32(1)
    return {"inst": inst, "cls": cls | np.where(near_ignore > 0, candidate_own, np.uint32(0))}


def read_index_png(path):
    """A label PNG (class ids, instance ids, palette indices) -> int64 (H, W), with errors naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found ({DATA_HELP})")
    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L", "1", "I", "I;16", "I;16L", "I;16B"):
                raise ValueError(f"{path}: mode {im.mode}: not a map of ids (a colour mask?); save the class ids as "
                                 f"a palette or 8/16-bit grayscale PNG (value k = class k)")
            return np.array(im).astype(np.int64)  # palette PNG: the index, not the colour
    except OSError as e:
        raise ValueError(f"{path}: cannot decode ({e}); the file is truncated or not an image") from e


def image_header(path):
    """((width, height), mode) of an image from its header, with an error naming the file."""
    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the image ({e}); the file is truncated or not an image") from e


def check_cityscapes_sizes(images, headers, tiled):
    """A WARNING naming every image that is not 2048x1024 (its tiles are not Cityscapes' 8); a ValueError where
    the tiling cannot hold: official-train images (`tiled`) of different sizes (a dataset cuts every image into the
    tiles of its first one) or a 16-bit image (a tile would not decode like the crop of the image)."""
    odd = []
    for name, path in images.items():
        (W, H), mode = headers[name]
        if mode in HIGH_DEPTH_MODES:
            raise ValueError(f"{path}: mode {mode}; Cityscapes leftImg8bit images are 8-bit RGB PNGs")
        if (W, H) != CITYSCAPES_SIZE:
            odd.append(name)
    for name in odd[:10]:
        (W, H), _ = headers[name]
        print(f"WARNING: {images[name]} is {W}x{H}, not Cityscapes' 2048x1024" + (
            f": training cuts it into {len(tile_boxes(H, W, TILE))} tile(s) of {TILE}x{TILE} (a 2048x1024 image "
            f"gives 8)" if name in tiled else ""), flush=True)
    if len(odd) > 10:
        print(f"WARNING: {len(odd) - 10} more images are not 2048x1024", flush=True)
    sizes = {}
    for name in (n for n in images if n in tiled):  # in list order: the first image names the tiles
        sizes.setdefault(headers[name][0], name)
    if len(sizes) > 1:
        (a, na), (b, nb) = list(sizes.items())[:2]
        raise ValueError(f"{images[na]} is {a[0]}x{a[1]} but {images[nb]} is {b[0]}x{b[1]}: the training splits "
                         f"cut every image into the {TILE}x{TILE} tiles of their first image, which cannot hold for "
                         f"images of different sizes; give every official-train image one size (Cityscapes: "
                         f"2048x1024) or leave the others out of --src")


def prepare_cityscapes_image(job, src, dst, ext, eval_names, tiled, headers, radius):
    """One Cityscapes image: radius-r labels (cls, inst); for val and test the half-resolution evaluation GT; for
    the official-train images (`tiled`) the 512x512 training tiles of the image and its labels (tile_file)."""
    source_split, city, name = job
    outs, gts = output_paths(dst, name, ext, eval_gt=name in eval_names)
    gts.pop("seg", None)  # no sbd-original protocol on Cityscapes
    image_rel = os.path.join("leftImg8bit", source_split, city, name + "_leftImg8bit.png")
    (W, H), _ = headers[name]
    boxes = tile_boxes(H, W, TILE) if name in tiled else []
    sources = [*outs.items(), ("image", os.path.join(dst, image_rel))]  # the image through the dst/leftImg8bit link
    tiles = {t: [tile_file(dst, p, b) for b in boxes] for t, p in sources}
    if all(os.path.exists(p) for p in [*outs.values(), *gts.values(), *(p for t in tiles.values() for p in t)]):
        return
    base = os.path.join(src, "gtFine", source_split, city, name + "_gtFine_")
    label_ids, inst_ids = read_index_png(base + "labelIds.png"), read_index_png(base + "instanceIds.png")
    if label_ids.shape != (H, W) or inst_ids.shape != (H, W):
        raise ValueError(f"{base}labelIds.png is {label_ids.shape[1]}x{label_ids.shape[0]}, instanceIds.png "
                         f"{inst_ids.shape[1]}x{inst_ids.shape[0]}, their image {os.path.join(src, image_rel)} "
                         f"{W}x{H}: the label maps must have their image's size")
    K = len(CITYSCAPES_CLASSES)
    bits = cityscapes_edges(label_ids, inst_ids, radius)
    if gts:  # half resolution (SEAL's demoGenGT.m): raw = radius-r edges halved; thin = halved, radius 1, thinned
        h, w = H // 2, W // 2
        half = cityscapes_edges(resize_nearest(label_ids, h, w), resize_nearest(inst_ids, h, w), radius=1)
    for t in outs:
        write_label(outs[t], bits[t])
        if gts:
            write_label(gts["raw", t], resize_nearest(bits[t], h, w) & ~IGNORE_BIT)
            write_label(gts["thin", t], pack_edges(thin_edges(unpack_edges(half[t], K)[0])))
        for (y0, x0, y1, x1), path in zip(boxes, tiles[t]):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_label(path, bits[t][y0:y1, x0:x1])
    if boxes:  # the stored pixels in the file's own mode: a tile decodes exactly like the crop of the whole image
        with Image.open(os.path.join(src, image_rel)) as im:
            im.load()
            for (y0, x0, y1, x1), path in zip(boxes, tiles["image"]):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                atomic_write(path, functools.partial(im.crop((x0, y0, x1, y1)).save, format="PNG", compress_level=1))


def prepare_cityscapes(src, dst, fmt="png", workers=0, val_cities=("zurich",), radius=2, overwrite=False):
    """Cityscapes leftImg8bit + gtFine -> train (official train minus `val_cities`), val (`val_cities`, whole
    cities so that frames of one sequence never straddle the split), trainval (2975), test (official val, 500).
    The held-out city (zurich by default) is ours: the paper trains on the 2975 images and names no validation."""
    for need in ("leftImg8bit", "gtFine"):
        if not os.path.isdir(os.path.join(src, need)):
            raise FileNotFoundError(f"{os.path.join(src, need)} missing: --src must hold leftImg8bit/ and gtFine/ "
                                    f"from leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip ({DATA_HELP})")
    jobs = {"train": [], "val": []}
    for source_split in jobs:
        for city in sorted(os.listdir(os.path.join(src, "leftImg8bit", source_split))):
            for f in sorted(os.listdir(os.path.join(src, "leftImg8bit", source_split, city))):
                if f.endswith("_leftImg8bit.png"):
                    jobs[source_split].append((source_split, city, f[:-len("_leftImg8bit.png")]))
    cities = sorted({c for _, c, _ in jobs["train"]})
    val_cities = sorted(set(val_cities))
    if not val_cities or set(val_cities) - set(cities):
        raise ValueError(f"--val-cities {','.join(val_cities)}: not all are cities of the Cityscapes train split "
                         f"({', '.join(cities)})")
    images = {n: os.path.join(src, "leftImg8bit", s, c, f"{n}_leftImg8bit.png")
              for s, c, n in jobs["train"] + jobs["val"]}
    headers = {n: image_header(p) for n, p in images.items()}
    tiled = {n for _, _, n in jobs["train"]}  # train and trainval are tiled (datasets.CityscapesEdges)
    check_cityscapes_sizes(images, headers, tiled)
    options = {"command": "cityscapes", "src": os.path.abspath(src), "format": fmt, "radius": float(radius),
               "val_cities": val_cities}
    begin(dst, options, overwrite)
    make_dirs(dst)
    link_or_copy(os.path.join(src, "leftImg8bit"), os.path.join(dst, "leftImg8bit"))
    held_out = [j for j in jobs["train"] if j[1] in val_cities]
    eval_names = {n for _, _, n in held_out + jobs["val"]}  # evaluation GT for val and test
    ext = "." + fmt
    fn = functools.partial(prepare_cityscapes_image, src=src, dst=dst, ext=ext, eval_names=eval_names, tiled=tiled,
                           headers=headers, radius=radius)
    run_all(fn, jobs["train"] + jobs["val"], workers, "prepare cityscapes")
    where = {n: f"leftImg8bit/{s}/{c}/{n}_leftImg8bit.png" for s, c, n in jobs["train"] + jobs["val"]}
    splits = {"train": [n for _, c, n in jobs["train"] if c not in val_cities], "val": [n for _, _, n in held_out],
              "trainval": [n for _, _, n in jobs["train"]], "test": [n for _, _, n in jobs["val"]]}
    write_lists(dst, splits, where.get, ext)
    finish(dst, options, splits)
