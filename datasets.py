"""Semantic edge datasets: SBD and Cityscapes in SEAL layout, mask-to-edge, augmentation, synthetic scenes.

Paper Sec. 4.1.1 (SBD: 20 classes, 8498 train / 2857 test; Cityscapes: 19 classes, 2975 train / 500 val, labels
made with SEAL's code) and Sec. 4.1.2 (random scale 0.5-1.5, 512x512 crops, flips; Cityscapes cut into 512 tiles).
The paper made its labels with SEAL's MATLAB scripts; everything here is plain Python (scipy only to read SBD's .mat).
References read for facts: SEAL (Yu et al., ECCV 2018) `demoPreproc.m` / `demoGenGT.m` and `seg2edge.m` for the
edge rule and layout, CASENet for the `.bin` labels, DFF for the RGB-packed png, torchvision
`references/segmentation` for the transforms.

Labels are kept *packed* until the last moment: one uint32 per pixel, bit k-1 = class k, bit 31 = ignore (the
CASENet/SEAL `.bin` convention). Augmentation moves one [H,W] map instead of K planes; `unpack_edges` makes the
[K,H,W] multi-hot tensor. On disk a packed map is either
  - `.bin`: raw little-endian uint32, row-major, no header (size H*W*4, H x W taken from the image), or
  - `.png`: DFF's RGB packing (classes 1-8 in B bits 0-7, 9-16 in G, 17-24 in R); when a map has ignore pixels
    this project writes RGBA, alpha = bits 24-31 (so bit 31 = alpha bit 7). A png is ~50x smaller than a `.bin`.

Mask to edge (SEAL's rule, DESIGN.md "Data formats"): pixel p is an edge of class k if some pixel q with
0 < |p-q| <= r has a different value in k's map (k's binary mask for category edges, "cls"; k's instance ids,
0 elsewhere, for instance-sensitive edges, "inst"); q outside the image is skipped; a pair with an ignored pixel is
dropped. Vectorised as one shifted comparison per offset of the disc, for all classes at once.

Prepared folder layout (written by `python datasets.py prepare-sbd|prepare-cityscapes`, read by SBDEdges /
CityscapesEdges; T = "inst" (instance-sensitive, SEAL's default) or "cls"):
    <root>/image/ -> SBD's img/ (a symlink)      <root>/leftImg8bit/ -> Cityscapes' leftImg8bit/ (a symlink)
    <root>/label_T/<name>.png|.bin               training labels, radius 2, full resolution, packed as above
    <root>/{train,val,trainval,test}_T.txt       SBD lists: "<image> <label>" per line, relative to <root>
    <root>/{train,val}_T.txt                     Cityscapes lists
    <root>/gt_eval/{thin,raw}_T/<name>.png       evaluation GT of the test split (SBD test = SBD val, Cityscapes val)
SBD: `val` is 1000 images held out of SBD train (SEAL's protocol; SEAL's own draw lives in its seed.mat, pass
`--val-list` to reuse it), `trainval` all 8498, `test` SBD's 2857 val images. Eval GT: thin = SBD's original thin
`Boundaries` from the .mat files (inst: GTcls's per-class boundaries plus each GTinst instance's), raw = the
radius-2 labels. Cityscapes eval GT is at half resolution (thin: labels halved with nearest, radius 1, thinned;
raw: full-resolution radius-2 edges halved with nearest), as SEAL's `demoGenGT.m`; its training labels mark
labelIds 2 and 3 as ignore (bit 31). Lists written by SEAL itself work too (`list_file=`): a leading "/" or "../"
is tolerated, and a one-column list gives images without labels (edges all 0).

Every dataset returns {"image": float [3,H,W] in [0,1] (not normalised), "edges": uint8 [K,H,W] 0/1,
"ignore": bool [H,W], "name": str, "index": int} and has `.class_names`, `.metric_preset` (a metrics.PRESETS key),
`.eval_scale` and `.eval_gt(index, mode="thin"|"raw") -> bool ndarray [K,h,w]`: the evaluation GT of image
`index` at the protocol's resolution (h, w = eval_scale * H, W: 1 for SBD and synthetic, 0.5 for Cityscapes).
SBD and synthetic also have `.eval_seg(index) -> int ndarray [H,W]`, the GT class map the `sbd-original` preset
needs (metrics.EdgeBenchmark.update(..., seg=...)).
"""
import argparse
import functools
import math
import os
import shutil

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IGNORE_BIT = np.uint32(1 << 31)

SBD_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
CITYSCAPES_CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle"]
# Cityscapes labelId -> trainId (cityscapesScripts labels.py); every other labelId is "no class" (trainId 255).
CITYSCAPES_LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_IGNORE_LABELS = (2, 3)  # "rectification border", "out of roi": pairs with them make no edge (SEAL)
DATA_HELP = "see README.md, section 'Data'"


# ----------------------------------------------------------------------------------------- packed labels

def disc_offsets(radius):
    """Half of the offsets (dy, dx) with 0 < dy^2 + dx^2 <= r^2 (the other half is their negation)."""
    r = int(math.floor(radius))
    return [(dy, dx) for dy in range(0, r + 1) for dx in range(-r, r + 1)
            if (dy > 0 or dx > 0) and dy * dy + dx * dx <= radius * radius]


def class_bits(classes):
    """[H,W] ints, 0 = no class, k = class k  ->  uint32 [H,W] with bit k-1 set."""
    shift = (np.clip(classes, 1, 31) - 1).astype(np.uint32)
    return np.where(classes > 0, np.left_shift(np.uint32(1), shift), np.uint32(0)).astype(np.uint32)


def edge_bits(regions, classes, ignore=None, radius=2):
    """SEAL's mask-to-edge for all classes at once, packed: uint32 [H,W], bit k-1 = edge of class k, bit 31 = ignore.

    regions [H,W]: the value compared between p and q (the class map for category edges, instance ids for
    instance-sensitive edges; instance ids must be > 0 on class pixels). classes [H,W]: 0 = no class, k = class k.
    ignore [H,W] bool: pairs with an ignored pixel make no edge, and ignored pixels get bit 31.
    A differing pair (p, q) makes p (and q) an edge of both their classes: in k's map p and q differ exactly when
    they are different instances of k or one of them is k and the other is not.
    """
    H, W = regions.shape
    valid = np.ones((H, W), bool) if ignore is None else ~ignore
    bits = class_bits(classes)
    out = np.where(valid, np.uint32(0), IGNORE_BIT)
    for dy, dx in disc_offsets(radius):
        if dy >= H or abs(dx) >= W:
            continue
        p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))  # p and q = p + (dy, dx), both inside
        q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
        differ = (regions[p] != regions[q]) & valid[p] & valid[q]
        pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
        out[p] |= pair
        out[q] |= pair
    return out


def mask_to_edges(labels, num_classes, radius=2, ignore_labels=(255,), instances=None):
    """Label map [H,W] (0 background, 1..K classes, ignore_labels) -> edges uint8 [K,H,W] (0/1).

    With `instances` [H,W] (ids > 0 on class pixels, unique within a class) the edges are instance-sensitive.
    """
    labels = np.asarray(labels)
    ignore = np.isin(labels, ignore_labels)
    classes = np.where(ignore | (labels > num_classes), 0, labels)
    if instances is None:
        regions = classes
    else:  # make ids unique across classes: (class, instance) pairs
        instances = np.asarray(instances).astype(np.int64)
        regions = classes.astype(np.int64) * (int(instances.max()) + 1) + instances
    return unpack_edges(edge_bits(regions, classes, ignore, radius), num_classes)[0]


def pack_edges(edges, ignore=None):
    """edges [K,H,W] 0/1 (K <= 31), ignore [H,W] bool -> uint32 [H,W]."""
    edges = np.asarray(edges).astype(bool)
    weights = np.left_shift(np.uint32(1), np.arange(edges.shape[0], dtype=np.uint32))  # (K,)
    bits = np.bitwise_or.reduce(np.where(edges, weights[:, None, None], np.uint32(0)), axis=0).astype(np.uint32)
    if ignore is not None:
        bits |= np.where(ignore, IGNORE_BIT, np.uint32(0))
    return bits


def unpack_edges(bits, num_classes):
    """uint32 [H,W] -> (edges uint8 [K,H,W] 0/1, ignore bool [H,W]), without a per-pixel Python loop."""
    H, W = bits.shape
    planes = np.ascontiguousarray(bits, dtype="<u4").view(np.uint8).reshape(H, W, 4)
    planes = np.ascontiguousarray(planes.transpose(2, 0, 1))  # (4, H, W): byte j holds bits 8j..8j+7
    edges = np.empty((num_classes, H, W), np.uint8)
    for k in range(num_classes):  # one shift per class plane: 6x faster than np.unpackbits + transpose
        np.bitwise_and(np.right_shift(planes[k // 8], k % 8), 1, out=edges[k])
    return edges, planes[3] >= 128  # bit 31 = ignore


def read_label(path, height, width):
    """A packed label file (.bin or RGB/RGBA .png) -> uint32 [H,W]; H x W is the image's size."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file not found: {path} ({DATA_HELP})")
    if path.endswith(".bin"):
        size = os.path.getsize(path)
        if size != height * width * 4:
            raise ValueError(f"{path}: {size} bytes, expected {height}*{width}*4 = {height * width * 4} "
                             f"(one uint32 per pixel of its {width}x{height} image); truncated or wrong image?")
        return np.fromfile(path, dtype="<u4").reshape(height, width).astype(np.uint32)
    with Image.open(path) as img:
        if img.mode not in ("RGB", "RGBA"):
            raise ValueError(f"{path}: mode {img.mode}, expected an RGB/RGBA-packed edge label (DFF format)")
        a = np.asarray(img).astype(np.uint32)
    if a.shape[:2] != (height, width):
        raise ValueError(f"{path}: label is {a.shape[1]}x{a.shape[0]}, its image is {width}x{height}")
    bits = a[:, :, 2] | (a[:, :, 1] << 8) | (a[:, :, 0] << 16)  # DFF: B = classes 1-8, G = 9-16, R = 17-24
    if a.shape[2] == 4:
        bits |= a[:, :, 3] << 24  # this project's RGBA extension: alpha = bits 24-31 (bit 31 = ignore)
    return bits


def _save_atomically(path, save):
    """save(tmp) to a temporary name beside `path` (same extension: PIL picks the format from it), then rename."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    save(tmp)
    os.replace(tmp, path)


def write_label(path, bits):
    """Write a packed map atomically as .bin or RGB(A) .png."""
    bits = np.ascontiguousarray(bits, dtype="<u4")
    if path.endswith(".bin"):
        _save_atomically(path, bits.tofile)
    else:
        b = bits.view(np.uint8).reshape(*bits.shape, 4)  # bytes B, G, R, A
        rgba = np.ascontiguousarray(b[:, :, [2, 1, 0, 3] if b[:, :, 3].any() else [2, 1, 0]])  # RGB if alpha is 0
        _save_atomically(path, Image.fromarray(rgba).save)


def resize_nearest(a, height, width):
    """Nearest-neighbour resize of a label map [H,W] (pixel centres aligned, as MATLAB imresize 'nearest')."""
    H, W = a.shape[:2]
    ys = np.minimum(((np.arange(height) + 0.5) * H / height).astype(np.int64), H - 1)
    xs = np.minimum(((np.arange(width) + 0.5) * W / width).astype(np.int64), W - 1)
    return a[ys[:, None], xs[None, :]]


def thin_edges(edges):
    """Thin each class plane [K,H,W] with metrics.thin (imported here: metrics.py must not import us back)."""
    from metrics import thin
    return np.stack([np.asarray(thin(e), dtype=bool) if e.any() else e.astype(bool) for e in edges])


def to_sample(image, bits, num_classes, name, index):
    """uint8 [H,W,3] image and packed labels -> the sample dict of the contract."""
    edges, ignore = unpack_edges(bits, num_classes)
    image = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)  # (3, H, W)
    image *= np.float32(1 / 255)  # numpy, not torch: torch ops here would spin intra-op threads per sample
    return {"image": torch.from_numpy(image),
            "edges": torch.from_numpy(edges),  # (K, H, W) uint8 0/1
            "ignore": torch.from_numpy(ignore),  # (H, W) bool
            "name": name, "index": index}


# ------------------------------------------------------------------------------ augmentation and tiling

class TrainTransform:
    """Sec. 4.1.2: random scale, pad to the crop (padding = ignore), random crop, random horizontal flip.

    Works on (image uint8 [H,W,3], packed labels uint32 [H,W]); labels are resized with nearest neighbour on the
    same pixel grid as the bilinear image. Every random draw (scale, crop position, flip) comes from `generator`,
    a torch.Generator (train.py seeds one per sample from (seed, epoch, index)), or from torch's global RNG when
    none is given.
    """

    def __init__(self, crop=512, scale=(0.5, 1.5), flip=True):
        self.crop = (crop, crop) if isinstance(crop, int) else tuple(crop)
        self.scale, self.flip = scale, flip

    def __call__(self, image, bits, generator=None):
        H, W = bits.shape
        s = float(torch.empty(()).uniform_(self.scale[0], self.scale[1], generator=generator))
        h, w = max(1, round(H * s)), max(1, round(W * s))
        if (h, w) != (H, W):
            image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
            bits = resize_nearest(bits, h, w)
        ch, cw = self.crop
        if h < ch or w < cw:  # pad bottom/right; padded pixels are ignored by the loss
            ph, pw = max(ch - h, 0), max(cw - w, 0)
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
            bits = np.pad(bits, ((0, ph), (0, pw)), constant_values=IGNORE_BIT)
            h, w = bits.shape
        y0 = int(torch.randint(0, h - ch + 1, (), generator=generator))
        x0 = int(torch.randint(0, w - cw + 1, (), generator=generator))
        image, bits = image[y0:y0 + ch, x0:x0 + cw], bits[y0:y0 + ch, x0:x0 + cw]
        if self.flip and bool(torch.rand((), generator=generator) < 0.5):
            image, bits = image[:, ::-1], bits[:, ::-1]
        return np.ascontiguousarray(image), np.ascontiguousarray(bits)


def tile_boxes(height, width, tile=512, stride=None):
    """Boxes (y0, x0, y1, x1) of size <= tile covering an H x W image exactly; the last row/column of tiles is
    shifted back to end at the border (so tiles overlap instead of running out of the image)."""
    stride = stride or tile

    def starts(n):
        return [0] if n <= tile else list(range(0, n - tile, stride)) + [n - tile]

    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in starts(height) for x in starts(width)]


@torch.no_grad()
def sliding_window(predict, images, tile=512, stride=None):
    """Evaluation by sliding window: predict(crop [B,3,h,w]) -> [B,K,h,w] on each tile, stitched by averaging."""
    B, _, H, W = images.shape
    out, count = None, images.new_zeros(1, 1, H, W)
    for y0, x0, y1, x1 in tile_boxes(H, W, tile, stride):
        p = predict(images[:, :, y0:y1, x0:x1])  # (B, K, h, w)
        if out is None:
            out = p.new_zeros(B, p.shape[1], H, W)
        out[:, :, y0:y1, x0:x1] += p
        count[:, :, y0:y1, x0:x1] += 1
    return out / count  # (B, K, H, W)


# --------------------------------------------------------------------------------- SEAL-layout datasets

def _read_lines(path):
    with open(path) as f:
        return [s.strip() for s in f if s.strip()]


def _resolve(root, path):
    """A list entry relative to root; tolerates SEAL's leading "/" and "../"."""
    path = path.lstrip("/")
    full = os.path.join(root, path)
    while path.startswith("../") and not os.path.exists(full):
        path = path[3:]
        full = os.path.join(root, path)
    return full


def image_name(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return name[:-len("_leftImg8bit")] if name.endswith("_leftImg8bit") else name


class SEALListDataset(Dataset):
    """Images and packed labels listed in a SEAL-style list file; the base of SBDEdges and CityscapesEdges.

    `__getitem__` returns {"image": float [3,H,W] in [0,1], "edges": uint8 [K,H,W], "ignore": bool [H,W],
    "name": str, "index": int}. `eval_gt(index, mode="thin"|"raw")` returns the evaluation ground truth of image
    `index` as bool ndarray [K,h,w] at the protocol's resolution (`eval_scale` times the image size: 1 for SBD,
    0.5 for Cityscapes); `metric_preset` names the metrics.py preset.
    """
    class_names, metric_preset, eval_scale, prepare_command = [], "sbd", 1.0, "prepare-sbd"

    def __init__(self, root, split, transform=None, edge_type="inst", list_file=None, tile=None):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"data root {root} does not exist: run `python datasets.py "
                                    f"{self.prepare_command} --src ... --dst {root}` ({DATA_HELP})")
        self.root, self.split, self.transform, self.edge_type = root, split, transform, edge_type
        self.num_classes = len(self.class_names)
        self.list_file = list_file or os.path.join(root, f"{split}_{edge_type}.txt")
        if not os.path.isfile(self.list_file):
            raise FileNotFoundError(f"list file {self.list_file} not found (splits: train, val, trainval, test; "
                                    f"edge_type: inst, cls) ({DATA_HELP})")
        rows = [line.split() for line in _read_lines(self.list_file)]
        self.items = [(r[0], r[1] if len(r) > 1 else None) for r in rows]
        self.names = [image_name(img) for img, _ in self.items]
        self.boxes = [None]
        if tile and self.items:  # every image is cut into the same tiles (all Cityscapes images are 2048x1024)
            with Image.open(_resolve(root, self.items[0][0])) as im:
                W, H = im.size
            self.boxes = tile_boxes(H, W, tile)

    def __len__(self):
        return len(self.items) * len(self.boxes)

    def load(self, i):
        """Image i as (uint8 [H,W,3], packed labels uint32 [H,W]), full size."""
        img_rel, label_rel = self.items[i]
        path = _resolve(self.root, img_rel)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image not found: {path} (listed in {self.list_file}; {DATA_HELP})")
        with Image.open(path) as im:
            image = np.array(im.convert("RGB"))
        H, W = image.shape[:2]
        bits = np.zeros((H, W), np.uint32) if label_rel is None else read_label(_resolve(self.root, label_rel), H, W)
        return image, bits

    def __getitem__(self, index):
        i, box = divmod(index, len(self.boxes))
        image, bits = self.load(i)
        if self.boxes[box] is not None:
            y0, x0, y1, x1 = self.boxes[box]
            if (y1 > bits.shape[0]) or (x1 > bits.shape[1]):
                raise ValueError(f"{self.items[i][0]}: {bits.shape[1]}x{bits.shape[0]} is smaller than the tiles "
                                 f"made for the first image of {self.list_file}")
            image, bits = image[y0:y1, x0:x1], bits[y0:y1, x0:x1]
        if self.transform is not None:
            image, bits = self.transform(image, bits)
        return to_sample(image, bits, self.num_classes, self.names[i], index)

    def eval_gt(self, index, mode="thin"):
        """Evaluation GT of image `index`: bool [K,h,w] from gt_eval/<mode>_<edge_type>/<name>.png."""
        if mode not in ("thin", "raw"):
            raise ValueError(f"mode must be 'thin' or 'raw', got {mode!r}")
        if len(self.boxes) > 1:
            raise ValueError("eval_gt needs an untiled dataset (tile=None)")
        path = os.path.join(self.root, "gt_eval", f"{mode}_{self.edge_type}", self.names[index] + ".png")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"evaluation GT not found: {path}; it is written for the test split by "
                                    f"`python datasets.py {self.prepare_command}` ({DATA_HELP})")
        with Image.open(path) as im:
            W, H = im.size
        return unpack_edges(read_label(path, H, W), self.num_classes)[0].astype(bool)

    def eval_seg(self, index):
        """GT class map [H,W] int (0 background, k = class k) of image `index`, for the `sbd-original` metric
        preset (kill_internal); written for SBD's test split only (gt_eval/seg/<name>.png)."""
        path = os.path.join(self.root, "gt_eval", "seg", self.names[index] + ".png")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"GT class map not found: {path}; `python datasets.py prepare-sbd` writes it "
                                    f"for SBD's test split ({DATA_HELP})")
        with Image.open(path) as im:
            return np.array(im).astype(np.int64)


class SBDEdges(SEALListDataset):
    """SBD (20 classes). split: train (7498), val (1000 held out of SBD train), trainval (8498), test (2857)."""
    class_names, metric_preset, eval_scale, prepare_command = SBD_CLASSES, "sbd", 1.0, "prepare-sbd"


class CityscapesEdges(SEALListDataset):
    """Cityscapes (19 train ids). split: train (2975), val (500). tile="auto": train images are cut into 512x512
    tiles (Sec. 4.1.2; 8 per image), val images are whole; evaluation GT is at half resolution."""
    class_names, metric_preset, eval_scale, prepare_command = CITYSCAPES_CLASSES, "cityscapes", 0.5, \
        "prepare-cityscapes"

    def __init__(self, root, split, transform=None, edge_type="inst", list_file=None, tile="auto"):
        if tile == "auto":
            tile = 512 if split in ("train", "trainval") else None
        super().__init__(root, split, transform, edge_type, list_file, tile)


# ------------------------------------------------------------------------------------ synthetic dataset

SYNTHETIC_CLASSES = ["red disc", "green square", "blue triangle", "yellow ring", "magenta cross", "cyan ellipse",
                     "orange diamond", "white striped bar"]
SYNTHETIC_COLOURS = [(220, 40, 40), (40, 190, 60), (50, 80, 225), (235, 215, 40), (215, 50, 205), (40, 205, 215),
                     (245, 140, 25), (240, 240, 240)]


def _shape_mask(k, u, v):
    """Class k's shape in unit coordinates (u, v) (already rotated and scaled)."""
    if k == 0:
        return u * u + v * v <= 1  # disc
    if k == 1:
        return np.maximum(abs(u), abs(v)) <= 0.8  # square
    if k == 2:
        return (v <= 0.5) & (v >= -1 + np.sqrt(3) * abs(u))  # equilateral triangle
    if k == 3:
        return (u * u + v * v <= 1) & (u * u + v * v >= 0.3)  # ring
    if k == 4:
        return ((abs(u) <= 0.3) & (abs(v) <= 1)) | ((abs(v) <= 0.3) & (abs(u) <= 1))  # cross
    if k == 5:
        return u * u + (v / 0.55) ** 2 <= 1  # ellipse
    if k == 6:
        return abs(u) + abs(v) <= 1  # diamond
    return (abs(u) <= 1.1) & (abs(v) <= 0.45)  # bar


class SyntheticEdges(Dataset):
    """Deterministic scenes of 2-5 overlapping shapes on a noisy grey background; class k has its own shape and
    colour (SYNTHETIC_CLASSES, e.g. "red disc"), so a tiny CNN learns it in minutes on a CPU. Edges come from the
    same instance-sensitive mask-to-edge code as SBD (radius `radius`). Scene `index` depends only on (seed, index).
    `eval_gt(index, "raw")` = the training edges, `"thin"` = radius-1 edges thinned (metrics.thin), as Cityscapes.
    """
    metric_preset, eval_scale = "sbd", 1.0

    def __init__(self, num_images, size, num_classes=4, seed=0, transform=None, radius=2):
        if not 1 <= num_classes <= len(SYNTHETIC_CLASSES):
            raise ValueError(f"num_classes must be 1..{len(SYNTHETIC_CLASSES)}, got {num_classes}")
        self.num_images, self.num_classes, self.seed = num_images, num_classes, seed
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.transform, self.radius = transform, radius
        self.class_names = SYNTHETIC_CLASSES[:num_classes]

    def __len__(self):
        return self.num_images

    def scene(self, index):
        """-> image uint8 [H,W,3], classes int [H,W] (0 background, k = class k), instance ids int [H,W]."""
        rng = np.random.default_rng([self.seed, index])
        H, W = self.size
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        grey = rng.uniform(70, 170) + rng.uniform(-12, 12, size=3)
        image = np.broadcast_to(grey, (H, W, 3)) + rng.normal(0, 10, (H, W, 3))
        image = image + 15 * np.sin(xx / rng.uniform(4, 12) + rng.uniform(0, 6))[..., None]  # background texture
        classes, instances = np.zeros((H, W), np.int64), np.zeros((H, W), np.int64)
        for j in range(1, int(rng.integers(2, 6)) + 1):  # later shapes occlude earlier ones
            k = int(rng.integers(self.num_classes))
            s = rng.uniform(0.12, 0.28) * min(H, W)
            cy, cx, a = rng.uniform(0.1 * H, 0.9 * H), rng.uniform(0.1 * W, 0.9 * W), rng.uniform(0, np.pi)
            u = ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / s
            v = (-(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)) / s
            mask = _shape_mask(k, u, v)
            colour = np.array(SYNTHETIC_COLOURS[k]) + rng.uniform(-20, 20, size=3)
            if k == 7:  # the striped bar: dark stripes across it
                colour = colour * (0.45 + 0.55 * (np.sin(u * 9)[mask] > 0))[:, None]
            image[mask] = colour + rng.normal(0, 8, (int(mask.sum()), 3))
            classes[mask], instances[mask] = k + 1, j
        return np.clip(image, 0, 255).astype(np.uint8), classes, instances

    def __getitem__(self, index):
        image, classes, instances = self.scene(index)
        bits = edge_bits(instances, classes, radius=self.radius)
        if self.transform is not None:
            image, bits = self.transform(image, bits)
        return to_sample(image, bits, self.num_classes, f"synthetic_{index:05d}", index)

    def eval_seg(self, index):
        return self.scene(index)[1]  # (H, W) class map, 0 background

    def eval_gt(self, index, mode="thin"):
        _, classes, instances = self.scene(index)
        if mode == "raw":
            return unpack_edges(edge_bits(instances, classes, radius=self.radius), self.num_classes)[0].astype(bool)
        if mode == "thin":
            return thin_edges(unpack_edges(edge_bits(instances, classes, radius=1), self.num_classes)[0])
        raise ValueError(f"mode must be 'thin' or 'raw', got {mode!r}")


# ----------------------------------------------------------------------------------- prepare commands

def _link_or_copy(src, dst):
    if os.path.lexists(dst):
        return
    try:
        os.symlink(os.path.abspath(src), dst, target_is_directory=True)
    except OSError as e:
        print(f"WARNING: cannot symlink {dst} -> {src} ({e}); copying the images instead")
        shutil.copytree(src, dst)


def _run_all(fn, jobs, workers, desc):
    from tqdm import tqdm
    if workers > 1:
        import multiprocessing
        with multiprocessing.Pool(workers) as pool:
            for _ in tqdm(pool.imap_unordered(fn, jobs, chunksize=4), total=len(jobs), desc=desc):
                pass
    else:
        for job in tqdm(jobs, desc=desc):
            fn(job)


def _mat_struct(path, key):
    from scipy.io import loadmat  # scipy is needed by prepare-sbd only
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is --src SBD's benchmark_RELEASE (with dataset/cls, "
                                f"dataset/inst)? ({DATA_HELP})")
    return loadmat(path, struct_as_record=False, squeeze_me=False)[key][0, 0]


def _dense(m):
    return (m.toarray() if hasattr(m, "toarray") else np.asarray(m)) != 0


def _output_paths(dst, name, ext, eval_gt):
    """Files prepare-* writes for image `name`: training labels {T: path} and, when `eval_gt` (the evaluated split),
    the evaluation GT {(mode, T): path}; empty when not."""
    outs = {t: os.path.join(dst, f"label_{t}", name + ext) for t in ("cls", "inst")}
    gts = {(m, t): os.path.join(dst, "gt_eval", f"{m}_{t}", name + ".png") for m in ("thin", "raw")
           for t in ("cls", "inst")} if eval_gt else {}
    return outs, gts


def _output_dirs(dst):
    """The folders _output_paths names."""
    gt_dirs = [f"gt_eval/{m}_{t}" for m in ("thin", "raw") for t in ("cls", "inst")]
    return [os.path.join(dst, d) for d in ["label_cls", "label_inst", *gt_dirs]]


def _prepare_sbd_image(name, src, dst, ext, test_names, radius):
    """One SBD image: radius-r labels (cls, inst) and, for the test split, the thin and raw evaluation GT."""
    test = name in test_names
    outs, gts = _output_paths(dst, name, ext, eval_gt=test)
    if test:
        gts["seg"] = os.path.join(dst, "gt_eval", "seg", name + ".png")  # the class map sbd-original needs
    if all(os.path.exists(p) for p in [*outs.values(), *gts.values()]):
        return  # finished by an earlier run
    cls = _mat_struct(os.path.join(src, "cls", name + ".mat"), "GTcls")
    inst = _mat_struct(os.path.join(src, "inst", name + ".mat"), "GTinst")
    seg = cls.Segmentation.astype(np.int64)  # (H, W): 0 background, 1..20
    ids = inst.Segmentation.astype(np.int64)  # (H, W): 0 background, i = instance i
    cats = np.asarray(inst.Categories, np.int64).ravel()  # instance i has class cats[i-1]
    ignore_c, ignore_i = seg == 255, ids == 255  # SBD has no void label; kept for safety
    inst_cls = np.where((ids > 0) & ~ignore_i, np.concatenate([[0], cats])[np.clip(ids, 0, len(cats))], 0)
    bits = {"cls": edge_bits(seg, np.where(ignore_c, 0, seg), ignore_c, radius),
            "inst": edge_bits(ids, inst_cls, ignore_i, radius)}
    for t in outs:
        write_label(outs[t], bits[t])
    if test:
        K = len(SBD_CLASSES)
        thin_cls = np.stack([_dense(cls.Boundaries.ravel()[k]) for k in range(K)])  # SBD's own thin boundaries
        thin_inst = thin_cls.copy()  # instance-sensitive: the class boundaries plus each instance's outline
        for i, b in enumerate(inst.Boundaries.ravel()):  # one cell per instance
            thin_inst[cats[i] - 1] |= _dense(b)
        write_label(gts["thin", "cls"], pack_edges(thin_cls))
        write_label(gts["thin", "inst"], pack_edges(thin_inst))
        for t in ("cls", "inst"):
            write_label(gts["raw", t], bits[t] & ~IGNORE_BIT)
        _save_atomically(gts["seg"], Image.fromarray(cls.Segmentation.astype(np.uint8)).save)


def prepare_sbd(src, dst, fmt="png", radius=2, num_val=1000, val_list=None, workers=0, seed=0):
    """SBD benchmark_RELEASE -> the layout in the module docstring."""
    src = os.path.join(src, "dataset") if os.path.isdir(os.path.join(src, "dataset")) else src
    for need in ("img", "cls", "inst", "train.txt", "val.txt"):
        if not os.path.exists(os.path.join(src, need)):
            raise FileNotFoundError(f"{os.path.join(src, need)} missing: --src must be SBD's benchmark_RELEASE "
                                    f"(or its dataset/ folder) ({DATA_HELP})")
    train, test = _read_lines(os.path.join(src, "train.txt")), _read_lines(os.path.join(src, "val.txt"))
    if val_list:
        val = {image_name(s.split()[0]) for s in _read_lines(val_list)}
    else:  # a fixed draw of num_val names (SEAL's own draw is in its seed.mat)
        val = {train[i] for i in np.random.default_rng(seed).permutation(len(train))[:num_val]}
    for d in _output_dirs(dst) + [os.path.join(dst, "gt_eval", "seg")]:
        os.makedirs(d, exist_ok=True)
    _link_or_copy(os.path.join(src, "img"), os.path.join(dst, "image"))
    ext = "." + fmt
    fn = functools.partial(_prepare_sbd_image, src=src, dst=dst, ext=ext, test_names=set(test), radius=radius)
    _run_all(fn, train + test, workers, "prepare-sbd")
    splits = {"train": [n for n in train if n not in val], "val": [n for n in train if n in val],
              "trainval": train, "test": test}
    for split, names in splits.items():
        for t in ("cls", "inst"):
            with open(os.path.join(dst, f"{split}_{t}.txt"), "w") as f:
                f.writelines(f"image/{n}.jpg label_{t}/{n}{ext}\n" for n in names)
    print(f"SBD prepared in {dst}: " + ", ".join(f"{s} {len(n)}" for s, n in splits.items()))


def _cityscapes_bits(label_ids, inst_ids, edge_type, radius):
    """Cityscapes labelIds / instanceIds [H,W] -> packed edges (19 train ids), labelIds 2 and 3 ignored."""
    lut = np.zeros(256, np.int64)
    for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN.items():
        lut[label_id] = train_id + 1
    classes = lut[np.clip(label_ids, 0, 255)]  # (H, W): 0 = no class, k = train id k-1
    ignore = np.isin(label_ids, CITYSCAPES_IGNORE_LABELS)
    regions = inst_ids if edge_type == "inst" else classes
    return edge_bits(regions, classes, ignore, radius)


def _prepare_cityscapes_image(job, src, dst, ext):
    split, city, name = job
    outs, gts = _output_paths(dst, name, ext, eval_gt=split == "val")
    if all(os.path.exists(p) for p in [*outs.values(), *gts.values()]):
        return
    base = os.path.join(src, "gtFine", split, city, name + "_gtFine_")
    label_ids = np.array(Image.open(base + "labelIds.png")).astype(np.int64)
    inst_ids = np.array(Image.open(base + "instanceIds.png")).astype(np.int64)
    K = len(CITYSCAPES_CLASSES)
    for t in outs:
        bits = _cityscapes_bits(label_ids, inst_ids, t, radius=2)
        write_label(outs[t], bits)
        if gts:  # half resolution: raw = radius-2 edges halved; thin = halved labels, radius 1, thinned
            h, w = label_ids.shape[0] // 2, label_ids.shape[1] // 2
            write_label(gts["raw", t], resize_nearest(bits, h, w) & ~IGNORE_BIT)
            half = _cityscapes_bits(resize_nearest(label_ids, h, w), resize_nearest(inst_ids, h, w), t, radius=1)
            write_label(gts["thin", t], pack_edges(thin_edges(unpack_edges(half, K)[0])))


def prepare_cityscapes(src, dst, fmt="png", workers=0):
    """Cityscapes leftImg8bit + gtFine -> the layout in the module docstring (splits train and val)."""
    for need in ("leftImg8bit", "gtFine"):
        if not os.path.isdir(os.path.join(src, need)):
            raise FileNotFoundError(f"{os.path.join(src, need)} missing: --src must hold leftImg8bit/ and gtFine/ "
                                    f"from leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip ({DATA_HELP})")
    for d in _output_dirs(dst):
        os.makedirs(d, exist_ok=True)
    _link_or_copy(os.path.join(src, "leftImg8bit"), os.path.join(dst, "leftImg8bit"))
    ext, jobs = "." + fmt, {"train": [], "val": []}
    for split in jobs:
        for city in sorted(os.listdir(os.path.join(src, "leftImg8bit", split))):
            for f in sorted(os.listdir(os.path.join(src, "leftImg8bit", split, city))):
                if f.endswith("_leftImg8bit.png"):
                    jobs[split].append((split, city, f[:-len("_leftImg8bit.png")]))
    fn = functools.partial(_prepare_cityscapes_image, src=src, dst=dst, ext=ext)
    _run_all(fn, jobs["train"] + jobs["val"], workers, "prepare-cityscapes")
    for split, items in jobs.items():
        for t in ("cls", "inst"):
            with open(os.path.join(dst, f"{split}_{t}.txt"), "w") as f:
                f.writelines(f"leftImg8bit/{s}/{c}/{n}_leftImg8bit.png label_{t}/{n}{ext}\n" for s, c, n in items)
    print(f"Cityscapes prepared in {dst}: train {len(jobs['train'])}, val {len(jobs['val'])}")


def main():
    parser = argparse.ArgumentParser(description="Prepare SBD / Cityscapes semantic edge labels (no MATLAB).")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare-sbd", "prepare-cityscapes"):
        p = sub.add_parser(name)
        p.add_argument("--src", required=True, help="SBD: benchmark_RELEASE; Cityscapes: folder with "
                                                    "leftImg8bit/ and gtFine/")
        p.add_argument("--dst", required=True, help="output data root (e.g. data/sbd, data/cityscapes)")
        p.add_argument("--format", default="png", choices=["png", "bin"], help="training label files: RGB(A) "
                       "png (small) or SEAL/CASENet uint32 .bin (750 KB per SBD image, 8 MB per Cityscapes one)")
        p.add_argument("--workers", type=int, default=0, help="processes (0: this one)")
        if name == "prepare-sbd":
            p.add_argument("--radius", type=float, default=2, help="edge radius of the training labels")
            p.add_argument("--num-val", type=int, default=1000, help="images held out of SBD train as 'val'")
            p.add_argument("--val-list", default=None, help="file naming the held-out images (e.g. SEAL's val.txt)")
            p.add_argument("--seed", type=int, default=0, help="seed of the held-out draw")
    args = parser.parse_args()
    if args.command == "prepare-sbd":
        prepare_sbd(args.src, args.dst, args.format, args.radius, args.num_val, args.val_list, args.workers,
                    args.seed)
    else:
        prepare_cityscapes(args.src, args.dst, args.format, args.workers)


if __name__ == "__main__":
    main()
