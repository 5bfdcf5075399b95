"""Semantic edge labels: SEAL's mask-to-edge rule, the packed label codec (.bin / .png), nearest resize.

Paper Sec. 4.1.1: the labels were made with SEAL's code (Yu et al., ECCV 2018, `seg2edge.m`, `demoPreproc.m`);
CASENet's `.bin` format and DFF's RGB-packed png are the two on-disk forms the related code reads. Plain numpy.

Labels are kept *packed* until the last moment: one uint32 per pixel, bit k-1 = class k, bit 31 = ignore (the
CASENet/SEAL `.bin` convention). Augmentation moves one (H, W) map instead of K planes; `unpack_edges` makes the
(K, H, W) multi-hot array. On disk a packed map is either
  - `.bin`: raw little-endian uint32, row-major, no header (size H*W*4, H x W taken from the image), or
  - `.png`: DFF's RGB packing (classes 1-8 in B bits 0-7, 9-16 in G, 17-24 in R); when a map has ignore pixels
    this project writes RGBA, alpha = bits 24-31 (so bit 31 = alpha bit 7). A png is ~50x smaller than a `.bin`.
`read_label(path, H, W, num_classes)` refuses a map with class bits beyond K (bits K..30 set): such a file was
made for another class list, and dropping those bits would train or score on wrong labels without a word.

Mask to edge (SEAL's rule, DESIGN.md "Data formats"): pixel p is an edge of class k if some pixel q with
0 < |p-q| <= r has a different value in k's map (k's binary mask for category edges, "cls"; k's instance ids,
0 elsewhere, for instance-sensitive edges, "inst"); q outside the image is skipped; a pair with an ignored pixel is
dropped. Vectorised as one shifted comparison per offset of the disc, for all classes at once.

`disc_offsets(radius)` is the one disc of the project (also the matching tolerance of metrics.py);
`resize_nearest` the one nearest-neighbour resize (MATLAB imresize 'nearest': output pixel i samples input
floor((i + 0.5) * H / h), the pixel whose centre is nearest to the output pixel's centre).
"""
import math
import os

import numpy as np
from PIL import Image

from scoring.thinning import thin
from util.files import atomic_write

IGNORE_BIT = np.uint32(1 << 31)
DATA_HELP = "see docs/data.md"


def disc_offsets(radius):
    """All offsets with dy^2 + dx^2 <= r^2 as int arrays (dy, dx), nearest first ((0, 0) first; ties in row-major
    order). Callers take what they need: mask-to-edge one half of the nonzero ones, metrics all of them."""
    R = int(math.floor(radius))
    dy, dx = np.mgrid[-R:R + 1, -R:R + 1]
    d2 = (dy * dy + dx * dx).ravel()
    keep = np.flatnonzero(d2 <= radius * radius)
    order = keep[np.argsort(d2[keep], kind="stable")]
    return dy.ravel()[order], dx.ravel()[order]


def class_bits(classes):
    """(H, W) ints, 0 = no class, k = class k  ->  uint32 (H, W) with bit k-1 set."""
    shift = (np.clip(classes, 1, 31) - 1).astype(np.uint32)
    return np.where(classes > 0, np.left_shift(np.uint32(1), shift), np.uint32(0)).astype(np.uint32)


def edge_bits(regions, classes, ignore=None, radius=2):
    """SEAL's mask-to-edge for all classes at once, packed: uint32 (H, W), bit k-1 = edge of class k, bit 31 = ignore.

    regions (H, W): the value compared between p and q (the class map for category edges, instance ids for
    instance-sensitive edges; instance ids must be > 0 on class pixels). classes (H, W): 0 = no class, k = class k.
    ignore (H, W) bool: pairs with an ignored pixel make no edge, and ignored pixels get bit 31.
    A differing pair (p, q) makes p (and q) an edge of both their classes: in k's map p and q differ exactly when
    they are different instances of k or one of them is k and the other is not.
    """
    # >>> assignment seal_edges
    H, W = regions.shape
    valid = np.ones((H, W), bool) if ignore is None else ~ignore
    bits = class_bits(classes)
    out = np.where(valid, np.uint32(0), IGNORE_BIT)
    for dy, dx in zip(*disc_offsets(radius)):  # each unordered pair once: the half with dy > 0, or dy = 0, dx > 0
        dy, dx = int(dy), int(dx)
        if dy < 0 or (dy == 0 and dx <= 0) or dy >= H or abs(dx) >= W:
            continue
        p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))  # p and q = p + (dy, dx), both inside
        q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
        differ = (regions[p] != regions[q]) & valid[p] & valid[q]
        pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
        out[p] |= pair
        out[q] |= pair
    return out
    # <<< assignment seal_edges


def mask_to_edges(labels, num_classes, radius=2, ignore_labels=(255,), instances=None):
    """Label map (H, W) (0 background, 1..K classes, ignore_labels) -> edges uint8 (K, H, W) (0/1).

    With `instances` (H, W) (ids > 0 on class pixels, unique within a class) the edges are instance-sensitive.
    A value above K (or below 0) that is not an ignore label is a ValueError naming the values: it would otherwise
    become background without a word. The converters call edge_bits directly; this is the readable entry point.
    """
    labels = np.asarray(labels)
    ignore = np.isin(labels, ignore_labels)
    bad = np.unique(labels[~ignore & ((labels > num_classes) | (labels < 0))])
    if bad.size:
        raise ValueError(f"mask_to_edges: label values {bad[:5].tolist()} are outside 0..{num_classes} "
                         f"(K = {num_classes}) and not ignore labels {list(ignore_labels)}")
    classes = np.where(ignore, 0, labels)
    if instances is None:
        regions = classes
    else:  # make ids unique across classes: (class, instance) pairs
        instances = np.asarray(instances).astype(np.int64)
        regions = classes.astype(np.int64) * (int(instances.max()) + 1) + instances
    return unpack_edges(edge_bits(regions, classes, ignore, radius), num_classes)[0]


def pack_edges(edges, ignore=None):
    """edges (K, H, W) 0/1 (K <= 31), ignore (H, W) bool -> uint32 (H, W)."""
    edges = np.asarray(edges).astype(bool)
    weights = np.left_shift(np.uint32(1), np.arange(edges.shape[0], dtype=np.uint32))  # (K,)
    bits = np.bitwise_or.reduce(np.where(edges, weights[:, None, None], np.uint32(0)), axis=0).astype(np.uint32)
    if ignore is not None:
        bits |= np.where(ignore, IGNORE_BIT, np.uint32(0))
    return bits


def unpack_edges(bits, num_classes):
    """uint32 (H, W) -> (edges uint8 (K, H, W) 0/1, ignore bool (H, W)), without a per-pixel Python loop."""
    H, W = bits.shape
    planes = np.ascontiguousarray(bits, dtype="<u4").view(np.uint8).reshape(H, W, 4)
    planes = np.ascontiguousarray(planes.transpose(2, 0, 1))  # (4, H, W): byte j holds bits 8j..8j+7
    edges = np.empty((num_classes, H, W), np.uint8)
    for k in range(num_classes):  # one shift per class plane: 6x faster than np.unpackbits + transpose
        np.bitwise_and(np.right_shift(planes[k // 8], k % 8), 1, out=edges[k])
    return edges, planes[3] >= 128  # bit 31 = ignore


def extra_class_bits(bits, num_classes):
    """The class bits beyond K (bits K..30) set anywhere in a packed map, as a list of class numbers k > K."""
    extra = np.bitwise_or.reduce(bits.ravel() & ~IGNORE_BIT, initial=np.uint32(0)) >> np.uint32(num_classes)
    return [num_classes + 1 + i for i in range(31 - num_classes) if (int(extra) >> i) & 1]


def read_label(path, height, width, num_classes=None):
    """A packed label file (.bin or RGB/RGBA .png) -> uint32 (H, W); H x W is the image's size. With num_classes,
    a map with class bits beyond K is refused, naming the file (bit 31, ignore, is fine)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file not found: {path} ({DATA_HELP})")
    if path.endswith(".bin"):
        size = os.path.getsize(path)
        if size != height * width * 4:
            raise ValueError(f"{path}: {size} bytes, expected {height}*{width}*4 = {height * width * 4} "
                             f"(one uint32 per pixel of its {width}x{height} image); truncated or wrong image?")
        bits = np.fromfile(path, dtype="<u4").reshape(height, width).astype(np.uint32)
    else:
        with Image.open(path) as img:
            if img.mode not in ("RGB", "RGBA"):
                raise ValueError(f"{path}: mode {img.mode}, expected an RGB/RGBA-packed edge label (DFF format)")
            a = np.asarray(img)  # (H, W, 3 or 4) uint8
        if a.shape[:2] != (height, width):
            raise ValueError(f"{path}: label is {a.shape[1]}x{a.shape[0]}, its image is {width}x{height}")
        le = np.zeros((height, width, 4), np.uint8)  # the bytes of a little-endian uint32: bits 0-7, ..., 24-31
        le[:, :, :3] = a[:, :, 2::-1]  # DFF: B = classes 1-8, G = 9-16, R = 17-24
        if a.shape[2] == 4:
            le[:, :, 3] = a[:, :, 3]  # this project's RGBA extension: alpha = bits 24-31 (bit 31 = ignore)
        bits = le.view("<u4")[:, :, 0].astype(np.uint32)
    if num_classes is not None:
        extra = extra_class_bits(bits, num_classes)
        if extra:
            raise ValueError(f"{path}: class bits {extra[:5]} set, but the dataset has {num_classes} classes: the "
                             f"label was made for another class list; prepare the data again ({DATA_HELP})")
    return bits


def write_label(path, bits):
    """Write a packed map atomically (util.files.atomic_write, with fsync) as .bin or RGB(A) .png."""
    bits = np.ascontiguousarray(bits, dtype="<u4")
    if path.endswith(".bin"):
        atomic_write(path, bits.tofile)
    else:
        b = bits.view(np.uint8).reshape(*bits.shape, 4)  # bytes B, G, R, A
        rgba = np.ascontiguousarray(b[:, :, [2, 1, 0, 3] if b[:, :, 3].any() else [2, 1, 0]])  # RGB if alpha is 0
        atomic_write(path, Image.fromarray(rgba).save)


def resize_nearest(a, height, width):
    """Nearest-neighbour resize of the last two axes (..., H, W) -> (..., height, width), pixel centres aligned as
    MATLAB imresize 'nearest': output i samples input floor((i + 0.5) * H / height) (4 -> 2 rows: 1, 3)."""
    H, W = a.shape[-2:]
    ys = np.minimum(((np.arange(height) + 0.5) * H / height).astype(np.int64), H - 1)
    xs = np.minimum(((np.arange(width) + 0.5) * W / width).astype(np.int64), W - 1)
    return a[..., ys[:, None], xs[None, :]]


def thin_edges(edges):
    """Thin each class plane of edges (K, H, W) with scoring.thinning.thin (bwmorph 'thin', Inf) -> bool (K, H, W)."""
    return np.stack([np.asarray(thin(e), dtype=bool) if e.any() else e.astype(bool) for e in edges])
