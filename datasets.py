"""Semantic edge datasets: SBD and Cityscapes in SEAL layout, your own masks (`folder`), and `make_dataset`.

Paper Sec. 4.1.1 (SBD: 20 classes, 8498 train / 2857 test; Cityscapes: 19 classes, 2975 train / 500 val, labels
made with SEAL's code) and Sec. 4.1.2 (Cityscapes cut into 512x512 tiles). The label codec and SEAL's edge rule are in
edgedata/labels.py, augmentation and tiling in edgedata/transforms.py, the synthetic scenes in edgedata/synthetic.py;
the one-off converters that write the layout below are in edgedata/converters.py (SBD, Cityscapes) and prepare.py
(your own masks, and the command line: `python prepare.py sbd|cityscapes|masks|stats|show`).

Prepared folder layout (T = "inst" (instance-sensitive, SEAL's default) or "cls"):
    <root>/image/ or <root>/leftImg8bit/         the images (a symlink to the source)
    <root>/label_T/<name>.png|.bin               training labels, radius 2, full resolution, packed (edgedata/labels.py)
    <root>/{train,val,trainval,test}_T.txt       lists: "<image> <label>" per line, relative to <root>
    <root>/gt_eval/{thin,raw}_T/<name>.png       evaluation GT (packed png) of the evaluated images
    <root>/gt_eval/seg/<name>.png                GT class map of the test images (SBD, folder: sbd-original)
    <root>/classes.txt                           folder datasets: one class name per line (the names fed to CLIP)
    <root>/prepare.json                          the options the folder was prepared with (prepare.py)
    <root>/tiles/<file>_<y0>_<x0>_<y1>_<x1>.*    Cityscapes: the 512x512 training tiles of every official-train
                                                 image and label (edgedata/transforms.tile_file)
Splits: SBD train 7498 / val 1000 (held out of SBD train) / trainval 8498 / test 2857 (SBD val).
Cityscapes train / val = a held-out part of the official train set (whole cities, default zurich) / trainval
2975 / test = the official val 500, on which the paper reports: the checkpoint is never selected on the images it
is scored on. A Cityscapes folder prepared by an older version has no test list: prepare it again (--overwrite).

List files (util.files.read_list): a leading "/" is SEAL's way of writing "relative to the data root" and is read so;
an entry that leaves the root (`..`) is refused; a one-column list gives images without labels (edges all 0).

Every dataset returns {"image": float (3, H, W) in [0, 1] (not normalised), "edges": uint8 (K, H, W) 0/1,
"ignore": bool (H, W), "name": str, "index": int} and has `.class_names`, `.metric_preset` (a metrics.PRESETS key),
`.eval_scale` and `.eval_gt(index, mode="thin"|"raw") -> bool ndarray (K, h, w)`: the evaluation GT of image
`index` at the protocol's resolution (h, w = eval_scale * H, W: 1 for SBD and synthetic, 0.5 for Cityscapes).
SBD, folder and synthetic also have `.eval_seg(index) -> int ndarray (H, W)`, the GT class map the `sbd-original`
preset needs (Cityscapes has none: its `.eval_seg` is None). `.label_bits(index) -> uint32 (H, W)`: the packed
labels alone (count_unusable_labels reads them).

Cityscapes tiles (Sec. 4.1.2): sample j of a tiled split is tile j % 8 of image j // 8. Cutting the tile out of
the decoded 2048x1024 image would decode every image and label 8 times per epoch; prepare.py writes each tile as
its own lossless file instead, and the loader reads only the tile (about 8x less decoding). We chose files over a
per-worker cache of the last decoded image: a cache only helps when an image's 8 tiles reach the same worker one
after the other, which needs a sampler that keeps them together (batches of tiles of one image); prepared tiles
keep the shuffle, the batches, the seeded augmentation and --resume exactly as they were, and a tile read from its
file equals the crop of the decoded image pixel for pixel (tests/test_cityscapes.py). A folder prepared without
tiles still trains (whole image decoded, then cropped: the same samples) with a WARNING; running prepare.py again
with the same options adds them.

Reading order (README "Reading order"): 7 of 12; next: metrics.py (the benchmark).
"""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
import torch
from torch.utils.data import Dataset, Subset

from edgedata.classes import (CITYSCAPES_CLASSES, CITYSCAPES_IGNORE_LABELS,  # noqa: F401 (datasets.X names them)
                              CITYSCAPES_LABEL_TO_TRAIN, SBD_CLASSES, image_name)
from edgedata.labels import DATA_HELP, IGNORE_BIT, read_label, unpack_edges
from edgedata.synthetic import SyntheticEdges
from edgedata.transforms import TILE, tile_boxes, tile_file, to_sample
from util.files import read_list, safe_join

# synthetic splits: (image size, number of images, seed); different seeds make the three splits disjoint
SYNTHETIC_SPLITS = {"train": (160, 384, 0), "val": (128, 48, 1), "test": (128, 64, 2)}
SYNTHETIC_NUM_CLASSES = 4
DATASETS = ("synthetic", "sbd", "cityscapes", "folder")


HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # one channel of 16/32-bit integers or floats


def to_rgb(im):
    """A PIL image of any mode -> uint8 (H, W, 3) RGB: grayscale and palette expanded, alpha dropped, and a 16-bit
    or 32-bit (integer or float) image stretched linearly from its own minimum..maximum to 0..255 (a 12-bit camera
    image in a 16-bit file would come out black if divided by 65535; a constant image is 0)."""
    if im.mode in HIGH_DEPTH_MODES:  # PIL's convert would clip at 255
        a = np.asarray(im, dtype=np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        return np.repeat(a.round().astype(np.uint8)[..., None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # a palette with a transparent colour: through RGBA, whose alpha is dropped
    return np.array(im.convert("RGB"))


def read_image(path, upright=False):
    """An image file -> uint8 (H, W, 3) RGB (to_rgb; GIF and multi-page TIFF: the first frame), the one reader of
    training, evaluation, prepare.py and predict.py. upright=True applies the EXIF orientation (predict.py: the
    user looks at upright photos); the default reads the stored pixel grid, the one the masks and labels are drawn
    on. A truncated file or one that is not an image is a ValueError naming it (PIL's LOAD_TRUNCATED_IMAGES stays
    False: no half-grey images)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: {path} ({DATA_HELP})")
    try:
        with Image.open(path) as im:
            im.seek(0)
            return to_rgb(ImageOps.exif_transpose(im) if upright else im)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image Pillow can read") from e
    except (OSError, SyntaxError, ValueError) as e:  # PIL: truncated or corrupt
        raise ValueError(f"{path}: cannot decode the image ({e}); the file is truncated or not an image: "
                         f"copy or download it again") from e


def image_size(path):
    """(width, height) of an image from its header only; an unreadable file is an error naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: {path} ({DATA_HELP})")
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the image ({e}); the file is truncated or not an image: copy or "
                         f"download it again") from e


class SEALListDataset(Dataset):
    """Images and packed labels listed in a SEAL-style list file; the base of SBDEdges, CityscapesEdges and
    FolderEdges. `eval_gt(index, mode)` reads gt_eval/<mode>_<edge_type>/<name>.png; `metric_preset` names the
    metrics.py preset. Labels with class bits beyond K are refused, naming the file (edgedata.labels.read_label)."""
    class_names, metric_preset, eval_scale, prepare_command = [], "sbd", 1.0, "sbd"

    def __init__(self, root, split, transform=None, edge_type="inst", list_file=None, tile=None):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"data root {root} does not exist: run `python prepare.py "
                                    f"{self.prepare_command} ... --dst {root}` ({DATA_HELP})")
        self.root, self.split, self.transform, self.edge_type = root, split, transform, edge_type
        self.num_classes = len(self.class_names)
        self.list_file = list_file or os.path.join(root, f"{split}_{edge_type}.txt")
        if not os.path.isfile(self.list_file):
            raise FileNotFoundError(f"list file {self.list_file} not found (splits: train, val, trainval, test; "
                                    f"edge_type: inst, cls): `python prepare.py {self.prepare_command} ... --dst "
                                    f"{root}` writes the lists ({DATA_HELP})")
        self.items = []
        for i, row in enumerate(read_list(self.list_file), 1):
            what = f"{self.list_file}, line {i}"
            paths = [safe_join(root, p.lstrip("/"), what) for p in row]  # leading "/": SEAL's root-relative form
            self.items.append((paths[0], paths[1] if len(paths) > 1 else None))
        self.names = [image_name(img) for img, _ in self.items]
        self.boxes = [None]
        self.tiles = False  # read the tiles prepare.py wrote (<root>/tiles) instead of cropping the decoded image
        if tile and self.items:  # every image is cut into the same tiles (all Cityscapes images are 2048x1024)
            W, H = image_size(self.items[0][0])
            self.boxes = tile_boxes(H, W, tile)
            self.tiles = os.path.isdir(os.path.join(root, "tiles"))
            if not self.tiles and len(self.boxes) > 1:
                print(f"WARNING: {root} has no tiles/ folder (prepared by an older version): each of the "
                      f"{len(self.boxes)} tiles of an image decodes the whole {W}x{H} image and label "
                      f"({len(self.boxes)}x the decoding; same samples). Run `python prepare.py {self.prepare_command}"
                      f" --src ... --dst {root}` again with the same options to add the tiles.", flush=True)

    def __len__(self):
        return len(self.items) * len(self.boxes)

    def load(self, i):
        """Image i as (uint8 (H, W, 3), packed labels uint32 (H, W)), full size."""
        image_path, label_path = self.items[i]
        image = read_image(image_path)
        H, W = image.shape[:2]
        if label_path is None:
            return image, np.zeros((H, W), np.uint32)
        return image, read_label(label_path, H, W, self.num_classes)

    def label_bits(self, i):
        """Packed labels of image i without decoding the image (its size comes from the file header)."""
        image_path, label_path = self.items[i]
        W, H = image_size(image_path)
        return np.zeros((H, W), np.uint32) if label_path is None else read_label(label_path, H, W, self.num_classes)

    def load_tile(self, i, box):
        """Tile `box` (y0, x0, y1, x1) of image i from the files prepare.py wrote (edgedata.transforms.tile_file),
        or None where they are missing (then the caller crops the decoded image: the same pixels)."""
        image_path, label_path = self.items[i]
        if not self.tiles or label_path is None:
            return None
        image_tile, label_tile = tile_file(self.root, image_path, box), tile_file(self.root, label_path, box)
        if not (os.path.isfile(image_tile) and os.path.isfile(label_tile)):
            return None
        return read_image(image_tile), read_label(label_tile, box[2] - box[0], box[3] - box[1], self.num_classes)

    def __getitem__(self, index):
        i, j = divmod(index, len(self.boxes))
        box = self.boxes[j]
        tile = None if box is None else self.load_tile(i, box)
        image, bits = self.load(i) if tile is None else tile
        if box is not None and tile is None:  # no tile files: crop the decoded image (the same pixels)
            y0, x0, y1, x1 = box
            if (y1 > bits.shape[0]) or (x1 > bits.shape[1]):
                raise ValueError(f"{self.items[i][0]}: {bits.shape[1]}x{bits.shape[0]} is smaller than the tiles "
                                 f"made for the first image of {self.list_file}")
            image, bits = image[y0:y1, x0:x1], bits[y0:y1, x0:x1]
        if self.transform is not None:
            image, bits = self.transform(image, bits)
        return to_sample(image, bits, self.num_classes, self.names[i], index)

    def eval_gt(self, index, mode="thin"):
        """Evaluation GT of image `index`: bool (K, h, w) from gt_eval/<mode>_<edge_type>/<name>.png."""
        if mode not in ("thin", "raw"):
            raise ValueError(f"mode must be 'thin' or 'raw', got {mode!r}")
        if len(self.boxes) > 1:
            raise ValueError("eval_gt needs an untiled dataset (tile=None)")
        path = os.path.join(self.root, "gt_eval", f"{mode}_{self.edge_type}", self.names[index] + ".png")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"evaluation GT not found: {path}; it is written for the evaluated splits by "
                                    f"`python prepare.py {self.prepare_command}` "
                                    f"({DATA_HELP})")
        with Image.open(path) as im:
            W, H = im.size
        return unpack_edges(read_label(path, H, W, self.num_classes), self.num_classes)[0].astype(bool)

    def eval_seg(self, index):
        """GT class map (H, W) int (0 background, k = class k) of image `index`, for the `sbd-original` metric
        preset (kill_internal); written for the test split only (gt_eval/seg/<name>.png)."""
        path = os.path.join(self.root, "gt_eval", "seg", self.names[index] + ".png")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"GT class map not found: {path}; `python prepare.py "
                                    f"{self.prepare_command}` writes it for the test "
                                    f"split ({DATA_HELP})")
        with Image.open(path) as im:
            seg = np.array(im).astype(np.int64)
        if seg.max(initial=0) > self.num_classes:
            raise ValueError(f"{path}: class {seg.max()} in the GT class map, but the dataset has "
                             f"{self.num_classes} classes; prepare the data again ({DATA_HELP})")
        return seg


class SBDEdges(SEALListDataset):
    """SBD (20 classes). split: train (7498), val (1000 held out of SBD train), trainval (8498), test (2857)."""
    class_names, metric_preset, eval_scale, prepare_command = SBD_CLASSES, "sbd", 1.0, "sbd"


class CityscapesEdges(SEALListDataset):
    """Cityscapes (19 train ids). split: train (official train minus the held-out cities), val (the held-out
    cities), trainval (2975), test (official val, 500). tile="auto": training images are cut into 512x512 tiles
    (Sec. 4.1.2; 8 per image), val/test images are whole; evaluation GT is at half resolution.
    An epoch is every tile of every training image (trainval: 2975 x 8 = 23,800 samples): our reading of the
    paper's epochs; an epoch of 2975 images (one tile each) is the other, 8x shorter for the same 200 epochs. We
    read "the images are cut into tiles" as making the tiles the training samples."""
    class_names, metric_preset, eval_scale = CITYSCAPES_CLASSES, "cityscapes", 0.5
    prepare_command = "cityscapes"

    eval_seg = None  # no GT class maps (edgedata/converters.py writes none): the sbd-original preset is SBD's protocol

    def __init__(self, root, split, transform=None, edge_type="inst", list_file=None, tile="auto"):
        if tile == "auto":
            tile = TILE if split in ("train", "trainval") else None
        super().__init__(root, split, transform, edge_type, list_file, tile)


class FolderEdges(SEALListDataset):
    """Your own data, prepared by `python prepare.py masks` (beyond the paper): class names from root/classes.txt
    (line k = class k, the names fed to CLIP), splits train / val / trainval / test, evaluated like SBD."""
    metric_preset, eval_scale, prepare_command = "sbd", 1.0, "masks"

    def __init__(self, root, split, transform=None, edge_type="inst", list_file=None):
        self.class_names = read_class_names(os.path.join(root, "classes.txt"))
        super().__init__(root, split, transform, edge_type, list_file)


def read_class_names(path):
    """classes.txt: one class name per line (blank lines and surrounding spaces ignored) -> list of K <= 31 names."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: a folder dataset is made by `python prepare.py masks --images "
                                f"DIR --masks DIR --classes names.txt --dst ROOT` ({DATA_HELP})")
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if not 1 <= len(names) <= 31:
        raise ValueError(f"{path}: {len(names)} class names; 1 to 31 are supported (one bit per class in the "
                         f"packed labels, bit 31 = ignore)")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: class names repeat ({sorted(n for n in set(names) if names.count(n) > 1)}); "
                         f"each line must name a different class")
    return names


def make_dataset(name, root, split, transform=None, edge_type="inst"):
    """The dataset object for `name` (synthetic, sbd, cityscapes, folder) and `split` (train, val, trainval, test;
    synthetic: train, val, test). edge_type: "inst" (instance-sensitive, SEAL's default) or "cls" (category
    boundaries, what SBD's own benchmark, the `sbd-original` preset, scores): the lists, labels and evaluation GT
    read (<split>_<edge_type>.txt, gt_eval/<mode>_<edge_type>)."""
    if edge_type not in ("inst", "cls"):
        raise ValueError(f"edge_type must be 'inst' or 'cls', got {edge_type!r}")
    if name == "synthetic":  # generated in memory
        if split not in SYNTHETIC_SPLITS:
            raise ValueError(f"synthetic dataset: unknown split {split!r}; choose one of {list(SYNTHETIC_SPLITS)}")
        size, count, seed = SYNTHETIC_SPLITS[split]
        return SyntheticEdges(num_images=count, size=size, num_classes=SYNTHETIC_NUM_CLASSES, seed=seed,
                              transform=transform, edge_type=edge_type)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")
    command = {"sbd": "sbd --src ...", "cityscapes": "cityscapes --src ...",
               "folder": "masks --images DIR --masks DIR --classes names.txt"}[name]
    if root is None or not os.path.isdir(root):
        raise FileNotFoundError(
            f"data root '{root}' for --dataset {name} does not exist. Download and prepare the data as the "
            f"docs/data.md says (python prepare.py {command} --dst {root or 'DIR'}), then pass "
            f"--data-root.")
    if name == "folder":
        return FolderEdges(root, split, transform=transform, edge_type=edge_type)
    if name == "cityscapes":
        return CityscapesEdges(root, split, transform=transform, edge_type=edge_type)
    return SBDEdges(root, split, transform=transform, edge_type=edge_type)


class _LabelCheck(Dataset):
    """Image i of `dataset` -> (all-ignore count, no-positive count) over the tiles `tiles[i]` (count_unusable_labels
    runs it through a DataLoader so that its workers read the labels in parallel)."""

    def __init__(self, dataset, tiles):
        self.dataset, self.tiles = dataset, tiles

    def __len__(self):
        return len(self.tiles)

    def __getitem__(self, j):
        i, boxes = self.tiles[j]
        bits = self.dataset.label_bits(i)
        all_ignore = no_positive = 0
        for box in boxes:
            b = bits if box is None else bits[box[0]:box[2], box[1]:box[3]]
            ignored = (b & IGNORE_BIT) != 0
            all_ignore += bool(ignored.all())
            no_positive += not (b[~ignored] != 0).any()  # class bits on a pixel that is not ignored
        return all_ignore, no_positive


def count_unusable_labels(dataset, limit=None, workers=0):
    """(samples whose labels are all ignore, samples with no positive edge pixel) among the first `limit` samples
    of `dataset` (all when None; a torch Subset counts its own samples), reading only the packed labels (no image
    decoding, no augmentation) in `workers` processes, with a progress bar. Tiled datasets count per tile
    (Cityscapes: 8 per image). Labels with class bits beyond K raise, naming the file."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm
    indices = range(len(dataset))
    while isinstance(dataset, Subset):  # train.py's --train-limit
        indices, dataset = [dataset.indices[i] for i in indices], dataset.dataset
    boxes = getattr(dataset, "boxes", [None])
    per_image = {}
    for index in list(indices)[:limit]:
        i, box = divmod(index, len(boxes))
        per_image.setdefault(i, []).append(boxes[box])
    loader = DataLoader(_LabelCheck(dataset, list(per_image.items())), batch_size=None, num_workers=workers,
                        generator=torch.Generator())  # its own generator: the global RNG stays untouched
    all_ignore = no_positive = 0
    for a, n in tqdm(loader, total=len(per_image), desc="checking training labels", leave=False):
        all_ignore, no_positive = all_ignore + int(a), no_positive + int(n)
    return all_ignore, no_positive


def edge_statistics(dataset, limit=None):
    """Share of edge pixels per class and overall among the non-ignored pixels of the first `limit` images (paper
    Sec. 4.2.4: edges are 3.2% of the pixels, segmentation 30.5%), and, where the dataset has GT class maps, the
    share of those same non-ignored pixels inside each class's segments -> dict: "classes", "edge" (per class),
    "edge_all", "seg", "seg_all" (None without class maps), "images", "pixels"."""
    from tqdm import tqdm
    K = dataset.num_classes
    n = len(dataset) // len(getattr(dataset, "boxes", [None]))
    n = n if limit is None else min(n, limit)
    edge, seg, pixels, seg_pixels, any_edge, any_seg = np.zeros(K), np.zeros(K), 0, 0, 0, 0
    for i in tqdm(range(n), desc="edge statistics"):
        edges, ignore = unpack_edges(dataset.label_bits(i), K)
        valid = ~ignore
        edge += edges[:, valid].sum(1)
        any_edge += int(edges[:, valid].any(0).sum())
        pixels += int(valid.sum())
        if seg is not None and getattr(dataset, "eval_seg", None) is not None:
            try:
                classes = dataset.eval_seg(i)  # (H, W): 0 background, k = class k
            except FileNotFoundError:
                seg = None  # class maps are written for the test split only
                continue
            if classes.shape != valid.shape:
                raise ValueError(f"image {i} ({dataset.names[i] if hasattr(dataset, 'names') else i}): GT class "
                                 f"map {classes.shape}, labels {valid.shape}; prepare the data again ({DATA_HELP})")
            classes = classes[valid]  # the same non-ignored pixels as the edge share, so the two compare
            seg += np.bincount(classes, minlength=K + 1)[1:K + 1]
            any_seg, seg_pixels = any_seg + int((classes > 0).sum()), seg_pixels + classes.size
    share = {"classes": list(dataset.class_names), "edge": (edge / max(pixels, 1)).tolist(),
             "edge_all": any_edge / max(pixels, 1), "seg": None, "seg_all": None, "images": n, "pixels": pixels}
    if seg is not None and seg_pixels:
        share.update(seg=(seg / seg_pixels).tolist(), seg_all=any_seg / seg_pixels)
    return share
