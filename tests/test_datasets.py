"""Tests for datasets.py: mask-to-edge against brute force, label formats, prepare commands, augmentation, tiling."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import datasets as D


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
        got = D.mask_to_edges(labels, 3, radius=radius, instances=inst)
        assert got.dtype == np.uint8 and got.shape == (3, H, W)
        np.testing.assert_array_equal(got, brute_force_edges(labels, 3, radius, instances=inst))


def test_edge_of_a_square_and_border():
    labels = np.zeros((10, 10), np.int64)
    labels[3:7, 3:7] = 1
    edges = D.mask_to_edges(labels, 1, radius=1)[0]
    assert edges[3:7, 3:7].sum() == 12 and edges[2, 3:7].all() and edges[5, 5] == 0  # both sides of the contour
    labels[:] = 1  # one class everywhere: no edge, also at the image border (outside neighbours are skipped)
    assert D.mask_to_edges(labels, 1, radius=2).sum() == 0


def test_pack_unpack_and_bit31():
    rng = np.random.default_rng(0)
    edges = (rng.random((20, 7, 9)) < 0.3).astype(np.uint8)
    ignore = rng.random((7, 9)) < 0.2
    bits = D.pack_edges(edges, ignore)
    assert bits.dtype == np.uint32 and ((bits >> 31) == ignore).all()
    e2, i2 = D.unpack_edges(bits, 20)
    np.testing.assert_array_equal(e2, edges)
    np.testing.assert_array_equal(i2, ignore)
    assert D.unpack_edges(np.array([[D.IGNORE_BIT | 5]], np.uint32), 3)[0][:, 0, 0].tolist() == [1, 0, 1]


@pytest.mark.parametrize("ext", [".bin", ".png"])
def test_label_file_round_trip(tmp_path, ext):
    rng = np.random.default_rng(1)
    for ignore_p in (0.0, 0.3):  # png: RGB without ignore pixels, RGBA with
        bits = D.pack_edges(rng.random((24, 5, 6)) < 0.3, rng.random((5, 6)) < ignore_p)
        path = str(tmp_path / f"x{ext}")
        D.write_label(path, bits)
        np.testing.assert_array_equal(D.read_label(path, 5, 6), bits)
        assert os.listdir(tmp_path) == [f"x{ext}"]  # no temporary file left
    if ext == ".png":
        with Image.open(path) as im:
            assert im.mode == "RGBA"


def test_bin_layout_and_dff_png_layout(tmp_path):
    bits = np.array([[1, 1 << 8, 1 << 16, (1 << 31) | 2]], np.uint32)  # classes 1, 9, 17, ignore + class 2
    with open(tmp_path / "a.bin", "wb") as f:
        f.write(b"".join(int(v).to_bytes(4, "little") for v in bits.ravel()))  # row-major little-endian uint32
    np.testing.assert_array_equal(D.read_label(str(tmp_path / "a.bin"), 1, 4), bits)
    rgb = np.array([[[0, 0, 1], [0, 1, 0], [1, 0, 0]]], np.uint8)  # B = classes 1-8, G = 9-16, R = 17-24
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(D.read_label(str(tmp_path / "a.png"), 1, 3), bits[:, :3])


def test_label_errors(tmp_path):
    np.zeros(11, "<u4").tofile(tmp_path / "t.bin")
    with pytest.raises(ValueError, match=r"t\.bin.*44 bytes.*3\*4\*4 = 48"):
        D.read_label(str(tmp_path / "t.bin"), 3, 4)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        D.read_label(str(tmp_path / "missing.bin"), 3, 4)
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(tmp_path / "w.png")
    with pytest.raises(ValueError, match="w.png.*5x3.*4x3"):
        D.read_label(str(tmp_path / "w.png"), 3, 4)
    with pytest.raises(FileNotFoundError, match="prepare-sbd"):
        D.SBDEdges(str(tmp_path / "nowhere"), "train")
    with pytest.raises(FileNotFoundError, match="train_inst.txt"):
        D.SBDEdges(str(tmp_path), "train")


# ---------------------------------------------------------------------------------------- prepare-sbd

def _write_sbd(root, names, rng, H=20, W=24):
    """A tiny benchmark_RELEASE/dataset in the real layout: img/*.jpg, cls/*.mat (GTcls), inst/*.mat (GTinst)."""
    from scipy.io import savemat
    from scipy.sparse import csc_matrix
    ds = root / "benchmark_RELEASE" / "dataset"
    for d in ("img", "cls", "inst"):
        (ds / d).mkdir(parents=True, exist_ok=True)
    truth = {}
    for name in names:
        Image.fromarray(rng.integers(0, 255, (H, W, 3)).astype(np.uint8)).save(ds / "img" / f"{name}.jpg")
        inst = np.zeros((H, W), np.uint8)
        inst[2:9, 3:12], inst[6:15, 8:20], inst[12:18, 2:7] = 1, 2, 3  # instances 1, 2 overlap
        cats = np.array([[15], [15], [int(rng.integers(1, 21))]], np.uint8)  # two persons and something
        seg = np.where(inst > 0, cats.ravel()[np.maximum(inst, 1) - 1], 0).astype(np.uint8)
        bnd = np.empty((20, 1), dtype=object)
        thin = rng.random((20, H, W)) < 0.05  # any "thin boundaries": prepare must pass them through
        for k in range(20):
            bnd[k, 0] = csc_matrix(thin[k])
        ibnd = np.empty((3, 1), dtype=object)
        ithin = rng.random((3, H, W)) < 0.05
        for i in range(3):
            ibnd[i, 0] = csc_matrix(ithin[i])
        savemat(ds / "cls" / f"{name}.mat", {"GTcls": {"Boundaries": bnd, "Segmentation": seg,
                                                       "CategoriesPresent": np.unique(cats)[:, None]}})
        savemat(ds / "inst" / f"{name}.mat", {"GTinst": {"Segmentation": inst, "Boundaries": ibnd,
                                                         "Categories": cats}})
        thin_inst = thin.copy()  # SBD's instance-sensitive GT: class boundaries | instance boundaries
        for i in range(3):
            thin_inst[cats[i, 0] - 1] |= ithin[i]
        truth[name] = dict(seg=seg, inst=inst, thin_cls=thin, thin_inst=thin_inst)
    return ds.parent, truth


@pytest.mark.parametrize("fmt", ["png", "bin"])
def test_prepare_sbd(tmp_path, fmt):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(2)
    train, test = ["2008_000001", "2008_000002", "2008_000003"], ["2008_000004", "2008_000005"]
    src, truth = _write_sbd(tmp_path, train + test, rng)
    (src / "dataset" / "train.txt").write_text("\n".join(train) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(test) + "\n")
    dst = str(tmp_path / "sbd")
    D.prepare_sbd(str(src), dst, fmt=fmt, num_val=1)
    sizes = {s: len(D.SBDEdges(dst, s)) for s in ("train", "val", "trainval", "test")}
    assert sizes == {"train": 2, "val": 1, "trainval": 3, "test": 2}
    assert not [f for _, _, fs in os.walk(dst) for f in fs if ".tmp" in f]
    for edge_type in ("cls", "inst"):
        ds = D.SBDEdges(dst, "test", edge_type=edge_type)
        for i, name in enumerate(ds.names):
            t = truth[name]
            s = ds[i]
            assert s["image"].shape == (3, 20, 24) and s["edges"].shape == (20, 20, 24) and s["name"] == name
            want = D.mask_to_edges(t["seg"], 20) if edge_type == "cls" else \
                D.mask_to_edges(t["seg"], 20, instances=t["inst"])
            np.testing.assert_array_equal(s["edges"].numpy(), want)
            assert not s["ignore"].any()
            np.testing.assert_array_equal(ds.eval_gt(i, "raw"), want.astype(bool))
            np.testing.assert_array_equal(ds.eval_gt(i, "thin"), t[f"thin_{edge_type}"])
            np.testing.assert_array_equal(ds.eval_seg(i), t["seg"])
    inst = D.SBDEdges(dst, "test", edge_type="inst")[0]["edges"][14]
    cls = D.SBDEdges(dst, "test", edge_type="cls")[0]["edges"][14]
    assert inst.sum() > cls.sum()  # the border between the two persons is an instance-sensitive edge only
    label = os.path.join(dst, f"label_inst/{train[0]}.{fmt}")
    mtime = os.path.getmtime(label)
    D.prepare_sbd(str(src), dst, fmt=fmt, num_val=1)  # re-running skips finished files
    assert os.path.getmtime(label) == mtime


def test_seal_list_quirks(tmp_path):
    (tmp_path / "image" / "test").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "image" / "test" / "a.png")
    D.write_label(str(tmp_path / "a.bin"), np.full((4, 5), 1 << 19, np.uint32))
    (tmp_path / "two.txt").write_text("/image/test/a.png /a.bin\n")
    (tmp_path / "one.txt").write_text("../image/test/a.png\n")
    s = D.SBDEdges(str(tmp_path), "test", list_file=str(tmp_path / "two.txt"))[0]
    assert s["name"] == "a" and s["edges"][19].all() and s["edges"].sum() == 20
    s = D.SBDEdges(str(tmp_path), "test", list_file=str(tmp_path / "one.txt"))[0]
    assert s["edges"].shape == (20, 4, 5) and s["edges"].sum() == 0


# --------------------------------------------------------------------------------- prepare-cityscapes

def test_prepare_cityscapes(tmp_path):
    metrics = pytest.importorskip("metrics")
    if not hasattr(metrics, "thin"):
        pytest.skip("metrics.thin not written yet (the Cityscapes thin GT needs it)")
    H, W = 32, 64
    label = np.full((H, W), 7, np.uint8)  # road
    label[:, 40:] = 23  # sky
    label[8:20, 10:30] = 26  # two cars
    label[:3, :] = 3  # out of roi: ignored
    inst = label.astype(np.uint16)  # Cityscapes instanceIds are 16-bit PNGs
    inst[8:20, 10:20], inst[8:20, 20:30] = 26000, 26001
    for split, city, name in (("train", "aachen", "aachen_000000_000019"), ("val", "bonn", "bonn_000001_000019")):
        for sub, suffix, arr in (("leftImg8bit", "leftImg8bit", np.zeros((H, W, 3), np.uint8)),
                                 ("gtFine", "gtFine_labelIds", label), ("gtFine", "gtFine_instanceIds", inst)):
            d = tmp_path / "cs" / sub / split / city
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(d / f"{name}_{suffix}.png")
    dst = str(tmp_path / "prep")
    D.prepare_cityscapes(str(tmp_path / "cs"), dst)
    train = D.CityscapesEdges(dst, "train")  # smaller than one 512 tile: one tile per image
    s = train[0]
    assert len(train) == 1 and s["edges"].shape == (19, H, W)
    assert s["ignore"][:3].all() and not s["ignore"][3:].any()
    e = s["edges"].numpy()
    assert e[13, 14, 19] and e[13, 14, 20] and not e[13, 14, 15]  # car|car instance border, car interior
    assert not e[:, :7, 5].any() and e[0, 10, 8]  # road next to "out of roi": no edge there; road|car: edge
    val = D.CityscapesEdges(dst, "val")
    for mode in ("thin", "raw"):
        gt = val.eval_gt(0, mode)
        assert gt.shape == (19, H // 2, W // 2) and gt.dtype == bool and gt[13].any()
    assert val.eval_gt(0, "thin").sum() < val.eval_gt(0, "raw").sum()


# ---------------------------------------------------------------------------- augmentation and tiling

def test_train_transform_keeps_labels_aligned():
    torch.manual_seed(0)
    H, W = 60, 80
    square = np.zeros((H, W), np.int64)
    square[15:45, 10:40] = 1  # off centre, so that flips and crops matter
    image = np.repeat((square * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    # Without scaling, crop + flip + pad must move the labels exactly like the image: a known edge position.
    t = D.TrainTransform(crop=(64, 72), scale=(1.0, 1.0), flip=True)
    bits = D.edge_bits(square, square, radius=1)
    for _ in range(10):
        img, b = t(image, bits)
        edges, ignore = D.unpack_edges(b, 1)
        assert img.shape == (64, 72, 3) and ignore[60:].all() and not ignore[:60].any()  # padded rows only
        want = D.mask_to_edges(np.where(ignore, 255, img[:, :, 0] > 127), 1, radius=1)
        np.testing.assert_array_equal(edges, want)
    # With scaling (bilinear image, nearest labels) the labelled region stays on the image's square.
    t = D.TrainTransform(crop=64, scale=(0.5, 1.5), flip=True)
    region = D.class_bits(square)  # "class 1" on the whole square
    for _ in range(20):
        img, b = t(image, region)
        lab, ignore = D.unpack_edges(b, 1)
        assert not (ignore & (img.max(2) > 0)).any()  # padding is ignored, and only padding
        bright = img[:, :, 0] > 127
        if lab[0].sum() < 20:
            continue
        iou = (bright & (lab[0] > 0)).sum() / (bright | (lab[0] > 0)).sum()
        ys, xs = np.nonzero(lab[0])
        by, bx = np.nonzero(bright)
        assert iou > 0.85 and abs(ys.mean() - by.mean()) < 1 and abs(xs.mean() - bx.mean()) < 1


def test_train_transform_draws_only_from_its_generator():
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    bits = np.arange(40 * 50, dtype=np.uint32).reshape(40, 50)  # every pixel distinct: any change shows
    t = D.TrainTransform(crop=32, scale=(0.5, 1.5), flip=True)
    state = torch.get_rng_state()
    outs = [t(image, bits, torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert all(np.array_equal(a, b) for a, b in zip(outs[0], outs[1]))  # same seed, same augmentation
    assert not np.array_equal(outs[0][1], outs[2][1])


def test_tile_boxes_cover_exactly():
    for H, W, tile, stride in ((1024, 2048, 512, None), (375, 500, 256, 200), (100, 90, 512, None),
                               (513, 512, 512, 256)):
        boxes = D.tile_boxes(H, W, tile, stride)
        count = np.zeros((H, W), int)
        for y0, x0, y1, x1 in boxes:
            assert 0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W and y1 - y0 <= tile and x1 - x0 <= tile
            count[y0:y1, x0:x1] += 1
        assert count.min() >= 1
    assert len(D.tile_boxes(1024, 2048)) == 8  # Cityscapes: 8 disjoint 512x512 tiles
    x = torch.rand(2, 3, 70, 90)
    torch.testing.assert_close(D.sliding_window(lambda c: c * 2, x, tile=32, stride=20), x * 2)


# ---------------------------------------------------------------------------------------- synthetic

def test_synthetic_dataset():
    ds = D.SyntheticEdges(4, 48, num_classes=5, seed=3)
    a, b = ds[1], D.SyntheticEdges(4, 48, num_classes=5, seed=3)[1]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["edges"], b["edges"])
    assert not torch.equal(a["image"], ds[2]["image"])
    assert a["image"].shape == (3, 48, 48) and a["image"].dtype == torch.float32
    assert 0 <= a["image"].min() and a["image"].max() <= 1
    assert a["edges"].shape == (5, 48, 48) and a["edges"].dtype == torch.uint8 and a["edges"].sum() > 0
    assert ds.class_names == D.SYNTHETIC_CLASSES[:5] and len(D.SYNTHETIC_CLASSES) >= 8
    np.testing.assert_array_equal(ds.eval_gt(1, "raw"), a["edges"].numpy().astype(bool))
    assert ds.eval_seg(1).shape == (48, 48) and ds.eval_seg(1).max() <= 5
    batch = next(iter(torch.utils.data.DataLoader(
        D.SyntheticEdges(4, 64, 4, 0, transform=D.TrainTransform(crop=40)), batch_size=4)))
    assert batch["image"].shape == (4, 3, 40, 40) and batch["edges"].shape == (4, 4, 40, 40)
    assert batch["ignore"].shape == (4, 40, 40) and len(batch["name"]) == 4


def test_synthetic_thin_gt():
    metrics = pytest.importorskip("metrics")
    if not hasattr(metrics, "thin"):
        pytest.skip("metrics.thin not written yet")
    ds = D.SyntheticEdges(2, 48, num_classes=4, seed=0)
    thin, raw = ds.eval_gt(0, "thin"), ds.eval_gt(0, "raw")
    assert thin.shape == raw.shape and thin.any() and not (thin & ~raw).any() and thin.sum() < raw.sum() / 2
