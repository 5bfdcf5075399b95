"""Training augmentation and tiling: random scale, pad, crop, flip (Sec. 4.1.2); tiles, sliding window, samples.

Paper Sec. 4.1.2: random scaling (0.5 to 1.5) and 512x512 crops for SBD; Cityscapes images are cut into 512x512
tiles. The paper states the scale augmentation for SBD only, so the Cityscapes default here is no rescaling
(`scale=None`); our reading, and train.py's `--scale-range` sets it for either dataset. Random flips are the
paper's (Sec. 4.1.2: "both datasets use data augmentation, including random flips"); that they are horizontal with
p = 0.5 is our reading (the paper says neither; `flip=False` turns them off).
Follows torchvision `references/segmentation/transforms.py` (pad with the ignore label, then crop), on packed
labels (edgedata/labels.py): one uint32 map moves instead of K planes.
"""
import os

import numpy as np
import torch
from PIL import Image

from edgedata.labels import IGNORE_BIT, resize_nearest, unpack_edges


class TrainTransform:
    """Sec. 4.1.2: random scale, pad to the crop (padding = ignore), random crop, random flip (horizontal, p = 0.5:
    our reading).

    Works on (image uint8 (H, W, 3), packed labels uint32 (H, W)); labels are resized with nearest neighbour on the
    same pixel grid as the bilinear image. Every random draw (scale, crop position, flip) comes from `generator`,
    a torch.Generator (train.py seeds one per sample from (seed, epoch, index)), or from torch's global RNG when
    none is given. scale=None (or (1, 1)): no rescaling and no scale draw (the Cityscapes default).
    """

    def __init__(self, crop=512, scale=(0.5, 1.5), flip=True):
        self.crop = (crop, crop) if isinstance(crop, int) else tuple(crop)
        if scale is not None:
            scale = (float(scale[0]), float(scale[1]))
            if not 0 < scale[0] <= scale[1]:
                raise ValueError(f"scale range must be (low, high) with 0 < low <= high, got {scale}")
            if scale == (1.0, 1.0):
                scale = None
        self.scale, self.flip = scale, flip

    def __call__(self, image, bits, generator=None):
        H, W = bits.shape
        h, w = H, W
        if self.scale is not None:
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

    def __repr__(self):
        return f"TrainTransform(crop={self.crop}, scale={self.scale}, flip={self.flip})"


def tile_boxes(height, width, tile=512, stride=None):
    """Boxes (y0, x0, y1, x1) of size <= tile covering an H x W image exactly; the last row/column of tiles is
    shifted back to end at the border (so tiles overlap instead of running out of the image)."""
    stride = stride or tile

    def starts(n):
        return [0] if n <= tile else list(range(0, n - tile, stride)) + [n - tile]

    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in starts(height) for x in starts(width)]


TILE = 512  # Sec. 4.1.2: Cityscapes training images are cut into 512x512 tiles (8 of a 2048x1024 image)


def tile_file(root, path, box):
    """Where prepare.py keeps the pixels of `box` (y0, x0, y1, x1) of the file `path` (an image or a packed label
    under `root`): <root>/tiles/<path relative to root, without extension>_<y0>_<x0>_<y1>_<x1><extension>.
    A tile holds exactly the pixels of the crop (lossless png / .bin), so reading it equals decoding the whole file
    and cropping: the training loader decodes 512x512 pixels per sample instead of the whole 2048x1024 image."""
    stem, ext = os.path.splitext(os.path.relpath(path, root))
    y0, x0, y1, x1 = box
    return os.path.join(root, "tiles", f"{stem}_{y0}_{x0}_{y1}_{x1}{ext}")


@torch.no_grad()
def sliding_window(predict, images, tile=512, stride=None):
    """Evaluation by sliding window: predict(crop (B, 3, h, w)) -> (B, K, h, w) on each tile, stitched by averaging."""
    B, _, H, W = images.shape
    out, count = None, images.new_zeros(1, 1, H, W)
    for y0, x0, y1, x1 in tile_boxes(H, W, tile, stride):
        p = predict(images[:, :, y0:y1, x0:x1])  # (B, K, h, w)
        if out is None:
            out = p.new_zeros(B, p.shape[1], H, W)
        out[:, :, y0:y1, x0:x1] += p
        count[:, :, y0:y1, x0:x1] += 1
    return out / count  # (B, K, H, W)


def to_sample(image, bits, num_classes, name, index):
    """uint8 (H, W, 3) image and packed labels -> the sample dict every dataset returns: {"image": float (3, H, W)
    in [0, 1] (not normalised), "edges": uint8 (K, H, W) 0/1, "ignore": bool (H, W), "name": str, "index": int}."""
    edges, ignore = unpack_edges(bits, num_classes)
    image = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)  # (3, H, W)
    image *= np.float32(1 / 255)  # numpy, not torch: torch ops here would spin intra-op threads per sample
    return {"image": torch.from_numpy(image),
            "edges": torch.from_numpy(edges),  # (K, H, W) uint8 0/1
            "ignore": torch.from_numpy(ignore),  # (H, W) bool
            "name": name, "index": index}
