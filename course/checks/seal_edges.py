"""Checks of the assignment `seal_edges`: SEAL's mask-to-edge rule (paper Sec. 4.1.1; SEAL's `seg2edge.m`).

The student writes the body of `edge_bits(regions, classes, ignore, radius)` in edgedata/labels.py. The rule
(DESIGN.md "Data formats"): pixel p is an edge of class k if some pixel q with 0 < |p - q| <= r has a different
value in k's map (k's binary mask for category edges, k's instance ids for instance-sensitive edges); q outside
the image is skipped; a pair with an ignored pixel is dropped. The checks call the given entry point
`mask_to_edges` (labels -> (K, H, W) edges) and `edge_bits` itself (the ignore bit): hand-worked cases and the
rule applied pixel by pixel on small random maps.
"""
import numpy as np

from edgedata.labels import IGNORE_BIT, edge_bits, mask_to_edges


def _cols(edge_map):
    """The columns that hold edge pixels (for maps whose edges are whole columns)."""
    return np.flatnonzero(np.asarray(edge_map).any(axis=0)).tolist()


def check_single_pixel_disc():
    """one class pixel on background: its edges fill the disc of radius r around it (r = 1, 1.5, 2, 2.5)"""
    want = {1: 5, 1.5: 9, 2: 13, 2.5: 21}  # offsets with dy^2 + dx^2 <= r^2, the pixel itself included
    got = {}
    for r, n in want.items():
        labels = np.zeros((11, 11), np.int64)
        labels[5, 5] = 1
        e = mask_to_edges(labels, 1, radius=r)[0]
        got[r] = int(e.sum())
        yy, xx = np.nonzero(e)
        inside = ((yy - 5) ** 2 + (xx - 5) ** 2 <= r * r).all()
        assert got[r] == n and inside, (
            f"expected {n} edge pixels at radius {r} (the pixel and every q with |p - q| <= {r}), got {got[r]}"
            f"{'' if inside else ' some outside the disc'}; use the Euclidean distance and <=: `<` drops the "
            f"pixels at exactly r (radius 2: (0, +-2), (+-2, 0)), a square window max(|dy|, |dx|) <= r adds its "
            f"corners, a 4-neighbourhood ignores r, and rounding r to an integer loses (1, 2) at sqrt(5) = 2.24 "
            f"from radius 2.5")
    return f"expected {want}, got {got}"


def check_both_sides_and_both_classes():
    """the boundary of two classes makes edges on both sides, in both classes' maps"""
    labels = np.zeros((6, 10), np.int64)
    labels[:, :5] = 1
    labels[:, 5:] = 2
    e = mask_to_edges(labels, 2, radius=1)
    got = (_cols(e[0]), _cols(e[1]))
    assert got == ([4, 5], [4, 5]) and e[:, :, [4, 5]].all(), (
        f"expected class 1 and class 2 edges both in columns [4, 5], got {list(got[0])} and {list(got[1])}; in class "
        f"k's own map (k or not k) the two pixels of a differing pair differ, so both become edges of k: the edge "
        f"is 2r pixels thick and lies on both sides of the boundary, and a pair marks both pixels with the classes of "
        f"both")
    return f"expected columns ([4, 5], [4, 5]), got {got}"


def check_image_border():
    """pixels outside the image are skipped: the image border is not an edge"""
    labels = np.zeros((8, 10), np.int64)
    labels[:, :4] = 1  # class 1 fills columns 0..3 and touches the left, top and bottom borders
    e = mask_to_edges(labels, 1, radius=2)[0]
    rows_ok = e[:, 2:6].all()
    assert _cols(e) == [2, 3, 4, 5] and rows_ok, (
        f"expected edges in columns [2, 3, 4, 5] on every row, got columns {_cols(e)} "
        f"(rows {np.flatnonzero(e.any(1)).tolist()}); "
        f"a neighbour q outside the image is skipped, not compared: np.roll wraps q around to the other side and "
        f"padding with 0 (background) makes the border an edge")
    full = mask_to_edges(np.ones((5, 6), np.int64), 1, radius=2)[0]
    assert full.sum() == 0, (f"expected no edge in an image that is all class 1, got {int(full.sum())} edge pixels; "
                             f"the image border is not a boundary: skip q outside the image")
    return "expected columns [2, 3, 4, 5] and none for a full image, got them"


def check_ignore_drops_pairs():
    """a pair with an ignored pixel makes no edge; pairs across it still do; ignored pixels get bit 31"""
    labels = np.zeros((6, 10), np.int64)
    labels[:, :5] = 1
    labels[:, 5] = 255  # an ignored column between class 1 (columns 0..4) and background (6..9)
    e = mask_to_edges(labels, 1, radius=2)[0]
    assert _cols(e) == [4, 6] and e[:, [4, 6]].all(), (
        f"expected class 1 edges in columns [4, 6] only, got {_cols(e)}; the pairs (3, 5) and (4, 5) hold the ignored "
        f"column and are dropped, but columns 4 and 6 are 2 apart, both valid and different, so they are edges; "
        f"treating the ignored pixels as background gives [3, 4, 5, 6]; skipping every pixel near an ignored one "
        f"gives []")
    regions = np.where(labels == 255, 0, labels)
    bits = np.asarray(edge_bits(regions, regions, labels == 255, 2))
    ignored = (bits & IGNORE_BIT) != 0
    assert bits.dtype == np.uint32 and np.array_equal(ignored, labels == 255) and not (bits[labels == 255] & 1).any(), (
        f"expected edge_bits to return uint32 with bit 31 set exactly on the 6 ignored pixels and no class bit there, "
        f"got dtype {bits.dtype}, bit 31 on {int(ignored.sum())} pixels; start from IGNORE_BIT where ignore is True")
    return "expected columns [4, 6] and bit 31 on the ignored column, got them"


def check_instances():
    """instance-sensitive edges separate two touching instances of one class; category edges do not"""
    labels = np.ones((6, 10), np.int64)  # all class 1
    inst = np.ones((6, 10), np.int64)
    inst[:, 5:] = 2  # two instances side by side
    cat = mask_to_edges(labels, 1, radius=1)[0]
    ins = mask_to_edges(labels, 1, radius=1, instances=inst)[0]
    assert cat.sum() == 0 and _cols(ins) == [4, 5], (
        f"expected no category edge and instance edges in columns [4, 5], got {int(cat.sum())} and {_cols(ins)}; "
        f"compare the `regions` values (instance ids here), not `classes`: the bits say which classes a pair marks, "
        f"the regions say whether p and q differ")
    return "expected 0 category edges and instance columns [4, 5], got them"


def _rule(labels, K, r, ignore_label=255):
    """The rule, pixel by pixel and class by class (slow, obviously right)."""
    H, W = labels.shape
    R = int(np.floor(r))
    out = np.zeros((K, H, W), np.uint8)
    for k in range(1, K + 1):
        m = labels == k  # k's binary map
        for y in range(H):
            for x in range(W):
                if labels[y, x] == ignore_label:
                    continue
                for dy in range(-R, R + 1):
                    for dx in range(-R, R + 1):
                        qy, qx = y + dy, x + dx
                        inside = 0 <= qy < H and 0 <= qx < W
                        if (dy or dx) and dy * dy + dx * dx <= r * r and inside and (
                                labels[qy, qx] != ignore_label and m[qy, qx] != m[y, x]):
                            out[k - 1, y, x] = 1
    return out


def check_random_maps_against_the_rule():
    """6 random label maps (3 classes, ignored pixels, radii 1..3): equal to the rule applied pixel by pixel"""
    rng = np.random.default_rng(0)
    for i, r in enumerate((1, 1.5, 2, 2.5, 3, 2)):
        labels = rng.integers(0, 4, size=(9, 11))
        labels[rng.random(labels.shape) < 0.1] = 255
        got = np.asarray(mask_to_edges(labels, 3, radius=r))
        want = _rule(labels, 3, r)
        assert np.array_equal(got, want), (
            f"expected {int(want.sum())} edge pixels on random map {i} (radius {r}), got {int(got.sum())}, "
            f"{int((got != want).sum())} differ (first at class, y, x = {np.argwhere(got != want)[0].tolist()}); "
            f"the rule: p is an edge of k if some q inside the image, 0 < |p - q| <= r, neither ignored, has a "
            f"different value in k's map")
    return "expected 6 random maps equal to the rule, got all 6"
