"""A synthetic semantic edge dataset: coloured shapes on a textured background, one class per shape.

Beyond the paper (it trains on SBD and Cityscapes only): a built-in dataset so that the whole pipeline (CLIP class
names, fusion, decoder, loss, exact benchmark) runs on a laptop CPU in minutes with no download. The class names
("red disc", "green square", ...) describe what is drawn, so the text features carry real information.
Edges come from the same instance-sensitive mask-to-edge code as SBD (edgedata.labels.edge_bits, SEAL's rule).
"""
import numpy as np
from torch.utils.data import Dataset

from edgedata.labels import edge_bits, thin_edges, unpack_edges
from edgedata.transforms import to_sample

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
    same instance-sensitive mask-to-edge code as SBD (radius `radius`; edge_type="cls": category edges, the class
    map compared instead of the instance ids). Scene `index` depends only on (seed, index).
    `eval_gt(index, "raw")` = the training edges, `"thin"` = radius-1 edges thinned (scoring.thinning), as Cityscapes.
    """
    metric_preset, eval_scale = "sbd", 1.0

    def __init__(self, num_images, size, num_classes=4, seed=0, transform=None, radius=2, edge_type="inst"):
        if not 1 <= num_classes <= len(SYNTHETIC_CLASSES):
            raise ValueError(f"num_classes must be 1..{len(SYNTHETIC_CLASSES)}, got {num_classes}")
        if edge_type not in ("inst", "cls"):
            raise ValueError(f"edge_type must be 'inst' or 'cls', got {edge_type!r}")
        self.num_images, self.num_classes, self.seed = num_images, num_classes, seed
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.transform, self.radius, self.edge_type = transform, radius, edge_type
        self.class_names = SYNTHETIC_CLASSES[:num_classes]

    def __len__(self):
        return self.num_images

    def scene(self, index):
        """-> image uint8 (H, W, 3), classes int (H, W) (0 background, k = class k), instance ids int (H, W)."""
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

    def regions(self, classes, instances):
        """The map SEAL's rule compares: instance ids ("inst", the default) or the class map ("cls")."""
        return instances if self.edge_type == "inst" else classes

    def __getitem__(self, index):
        image, classes, instances = self.scene(index)
        bits = edge_bits(self.regions(classes, instances), classes, radius=self.radius)
        if self.transform is not None:
            image, bits = self.transform(image, bits)
        return to_sample(image, bits, self.num_classes, f"synthetic_{index:05d}", index)

    def label_bits(self, index):
        """Packed labels of scene `index` (datasets.count_unusable_labels reads them)."""
        _, classes, instances = self.scene(index)
        return edge_bits(self.regions(classes, instances), classes, radius=self.radius)

    def eval_seg(self, index):
        return self.scene(index)[1]  # (H, W) class map, 0 background

    def eval_gt(self, index, mode="thin"):
        _, classes, instances = self.scene(index)
        regions = self.regions(classes, instances)
        if mode == "raw":
            return unpack_edges(edge_bits(regions, classes, radius=self.radius), self.num_classes)[0].astype(bool)
        if mode == "thin":
            return thin_edges(unpack_edges(edge_bits(regions, classes, radius=1), self.num_classes)[0])
        raise ValueError(f"mode must be 'thin' or 'raw', got {mode!r}")
