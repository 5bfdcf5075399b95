"""Tests for edgedata/labels.py: SEAL's mask-to-edge against brute force, the packed label codec, nearest resize,
the disc."""
import os

import numpy as np
import pytest
from PIL import Image

from edgedata import labels as L


def brute_force_edges(labels, num_classes, radius, ignore_labels=(255,), instances=None):
    """The rule of DESIGN.md written out pixel by pixel, class by class."""
    H, W = labels.shape
    ignore = np.isin(labels, ignore_labels)
    r = int(radius)
    out = np.zeros((num_classes, H, W), np.uint8)
    for k in range(1, num_classes + 1):
        m = (labels == k).astype(np.int64) if instances is None else np.where(labels == k, instances, 0)
        for y in range(H):
            for x in range(W):
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        qy, qx = y + dy, x + dx
                        if (dy, dx) == (0, 0) or dy * dy + dx * dx > radius * radius:
                            continue
                        if not (0 <= qy < H and 0 <= qx < W) or ignore[y, x] or ignore[qy, qx]:
                            continue
                        if m[y, x] != m[qy, qx]:
                            out[k - 1, y, x] = 1
    return out


@pytest.mark.parametrize("radius", [1, 1.5, 2, 3])
@pytest.mark.parametrize("instance_sensitive", [False, True])
def test_mask_to_edges_matches_brute_force(radius, instance_sensitive):
    rng = np.random.default_rng(int(radius * 10) + instance_sensitive)
    for _ in range(3):
        H, W = rng.integers(5, 13, size=2)
        labels = rng.integers(0, 4, size=(H, W))  # 0 background, classes 1..3
        labels[rng.random((H, W)) < 0.1] = 255  # ignored pixels
        instances = np.where((labels > 0) & (labels < 255), rng.integers(1, 3, size=(H, W)), 0)
        inst = instances if instance_sensitive else None
        got = L.mask_to_edges(labels, 3, radius=radius, instances=inst)
        assert got.dtype == np.uint8 and got.shape == (3, H, W)
        np.testing.assert_array_equal(got, brute_force_edges(labels, 3, radius, instances=inst))


def test_edge_of_a_square_and_border():
    labels = np.zeros((10, 10), np.int64)
    labels[3:7, 3:7] = 1
    edges = L.mask_to_edges(labels, 1, radius=1)[0]
    assert edges[3:7, 3:7].sum() == 12 and edges[2, 3:7].all() and edges[5, 5] == 0  # both sides of the contour
    labels[:] = 1  # one class everywhere: no edge, also at the image border (outside neighbours are skipped)
    assert L.mask_to_edges(labels, 1, radius=2).sum() == 0


def test_mask_values_above_k_are_an_error_not_background():
    labels = np.zeros((6, 6), np.int64)
    labels[1:4, 1:4] = 2
    labels[5, 5] = 255  # an ignore label is fine
    assert L.mask_to_edges(labels, 2, radius=1)[1].sum() > 0
    labels[0, 0], labels[0, 1] = 7, 3  # classes 3 and 7 of a 2-class mask would silently become background
    with pytest.raises(ValueError, match=r"label values \[3, 7\] are outside 0\.\.2"):
        L.mask_to_edges(labels, 2)


def test_pack_unpack_and_bit31():
    rng = np.random.default_rng(0)
    edges = (rng.random((20, 7, 9)) < 0.3).astype(np.uint8)
    ignore = rng.random((7, 9)) < 0.2
    bits = L.pack_edges(edges, ignore)
    assert bits.dtype == np.uint32 and ((bits >> 31) == ignore).all()
    e2, i2 = L.unpack_edges(bits, 20)
    np.testing.assert_array_equal(e2, edges)
    np.testing.assert_array_equal(i2, ignore)
    assert L.unpack_edges(np.array([[L.IGNORE_BIT | 5]], np.uint32), 3)[0][:, 0, 0].tolist() == [1, 0, 1]


@pytest.mark.parametrize("ext", [".bin", ".png"])
def test_label_file_round_trip(tmp_path, ext):
    rng = np.random.default_rng(1)
    for ignore_p in (0.0, 0.3):  # png: RGB without ignore pixels, RGBA with
        bits = L.pack_edges(rng.random((24, 5, 6)) < 0.3, rng.random((5, 6)) < ignore_p)
        path = str(tmp_path / f"x{ext}")
        L.write_label(path, bits)
        np.testing.assert_array_equal(L.read_label(path, 5, 6), bits)
        assert os.listdir(tmp_path) == [f"x{ext}"]  # no temporary file left
    if ext == ".png":
        with Image.open(path) as im:
            assert im.mode == "RGBA"


def test_bin_layout_and_dff_png_layout(tmp_path):
    bits = np.array([[1, 1 << 8, 1 << 16, (1 << 31) | 2]], np.uint32)  # classes 1, 9, 17, ignore + class 2
    with open(tmp_path / "a.bin", "wb") as f:
        f.write(b"".join(int(v).to_bytes(4, "little") for v in bits.ravel()))  # row-major little-endian uint32
    np.testing.assert_array_equal(L.read_label(str(tmp_path / "a.bin"), 1, 4), bits)
    rgb = np.array([[[0, 0, 1], [0, 1, 0], [1, 0, 0]]], np.uint8)  # B = classes 1-8, G = 9-16, R = 17-24
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(L.read_label(str(tmp_path / "a.png"), 1, 3), bits[:, :3])


def test_label_errors(tmp_path):
    np.zeros(11, "<u4").tofile(tmp_path / "t.bin")
    with pytest.raises(ValueError, match=r"t\.bin.*44 bytes.*3\*4\*4 = 48"):
        L.read_label(str(tmp_path / "t.bin"), 3, 4)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        L.read_label(str(tmp_path / "missing.bin"), 3, 4)
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(tmp_path / "w.png")
    with pytest.raises(ValueError, match="w.png.*5x3.*4x3"):
        L.read_label(str(tmp_path / "w.png"), 3, 4)


def test_class_bits_beyond_k_are_refused_naming_the_file(tmp_path):
    bits = np.zeros((3, 4), np.uint32)
    bits[1, 2] = L.IGNORE_BIT | 1  # ignore + class 1: fine
    for ext in (".bin", ".png"):
        L.write_label(str(tmp_path / f"ok{ext}"), bits)
        np.testing.assert_array_equal(L.read_label(str(tmp_path / f"ok{ext}"), 3, 4, num_classes=1), bits)
        bad = bits.copy()
        bad[0, 0] = 1 << 20  # class 21 in a 20-class dataset
        L.write_label(str(tmp_path / f"bad{ext}"), bad)
        with pytest.raises(ValueError, match=rf"bad\{ext}: class bits \[21\].*20 classes"):
            L.read_label(str(tmp_path / f"bad{ext}"), 3, 4, num_classes=20)
    assert L.extra_class_bits(np.array([[1 << 30 | 1 << 3 | 1]], np.uint32), 3) == [4, 31]


def test_resize_nearest_matches_matlab_imresize_nearest():
    """MATLAB imresize(a, [h w], 'nearest') samples the input pixel whose centre is nearest to the output pixel's
    centre: 4 -> 2 rows gives rows 1 and 3 (0-based), 3 -> 2 gives 0 and 2, 2 -> 4 gives 0, 0, 1, 1; dropping the
    half-pixel centre (floor(i * H / h)) gives 0, 2 and 0, 1 instead."""
    col = np.arange(10)[:, None] * np.ones((1, 3), int)  # row index in every pixel
    assert L.resize_nearest(col[:4], 2, 3)[:, 0].tolist() == [1, 3]
    assert L.resize_nearest(col[:3], 2, 3)[:, 0].tolist() == [0, 2]
    assert L.resize_nearest(col[:2], 4, 3)[:, 0].tolist() == [0, 0, 1, 1]
    assert L.resize_nearest(col[:5], 3, 3)[:, 0].tolist() == [0, 2, 4]
    x = np.arange(2 * 6 * 8).reshape(2, 6, 8)  # (..., H, W): leading axes kept, columns alike
    assert L.resize_nearest(x, 3, 4).shape == (2, 3, 4)
    assert L.resize_nearest(x, 3, 4)[1, 0].tolist() == x[1, 1, [1, 3, 5, 7]].tolist()


def test_disc_offsets():
    dy, dx = L.disc_offsets(2)
    assert (dy[0], dx[0]) == (0, 0) and len(dy) == 13  # the disc of radius 2: 1 + 4 + 4 + 4 pixels
    d2 = dy * dy + dx * dx
    assert (np.diff(d2) >= 0).all() and d2.max() == 4
    assert set(zip(dy.tolist(), dx.tolist())) == {(y, x) for y in range(-2, 3) for x in range(-2, 3) if
                                                  y * y + x * x <= 4}
    assert len(L.disc_offsets(1.5)[0]) == 9 and len(L.disc_offsets(0)[0]) == 1


def test_write_label_is_atomic_and_leaves_nothing_on_error(tmp_path, monkeypatch):
    path = str(tmp_path / "x.png")
    L.write_label(path, np.ones((2, 3), np.uint32))
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        L.write_label(path, np.full((2, 3), 2, np.uint32))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["x.png"]  # no temporary file, and the old label is still whole
    assert (L.read_label(path, 2, 3) == 1).all()


@pytest.mark.parametrize("ext", [None, ".bin", ".png"])
def test_pack_unpack_31_classes_keeps_the_ignore_bit_apart(tmp_path, ext):
    """K = 31 uses every bit: classes 25-31 share the top byte with the ignore bit 31 (the png's alpha). Every
    class is set somewhere (alone, and at random), the ignore bit independently of them; pixel (0, 0) has classes
    25-31 and no ignore, pixel (0, 1) ignore and no class. Unpacked, each class plane and the ignore map come back."""
    rng = np.random.default_rng(31)
    K, H, W = 31, 6, 40
    edges = (rng.random((K, H, W)) < 0.3).astype(np.uint8)
    edges[:, 1, :K] = np.eye(K, dtype=np.uint8)  # pixel (1, k): class k + 1 alone
    edges[:, 0, 0] = np.arange(K) >= 24  # classes 25-31 only
    edges[:, 0, 1] = 0
    ignore = rng.random((H, W)) < 0.3
    ignore[0, :2] = [False, True]
    ignore[1, :K] = np.arange(K) % 2 == 0  # the lone classes with and without ignore
    bits = L.pack_edges(edges, ignore)
    assert bits[0, 0] == sum(1 << k for k in range(24, 31)) and bits[0, 1] == L.IGNORE_BIT
    if ext is not None:  # through a label file: .bin, or RGBA .png with bits 24-31 in alpha
        path = str(tmp_path / f"k31{ext}")
        L.write_label(path, bits)
        bits = L.read_label(path, H, W, num_classes=K)
    e2, i2 = L.unpack_edges(bits, K)
    np.testing.assert_array_equal(i2, ignore)
    np.testing.assert_array_equal(e2, edges)
    assert e2.reshape(K, -1).any(axis=1).all()  # every class bit set somewhere
