"""Tests for datasets.py and edgedata/synthetic.py: SEAL lists, readers and their errors, make_dataset, label counts,
stats."""
import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

import datasets as D
from edgedata.labels import IGNORE_BIT, write_label
from edgedata.synthetic import SYNTHETIC_CLASSES, SyntheticEdges
from edgedata.transforms import TrainTransform


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare.py sbd"):
        D.SBDEdges(str(tmp_path / "nowhere"), "train")
    with pytest.raises(FileNotFoundError, match="train_inst.txt"):
        D.SBDEdges(str(tmp_path), "train")


def test_seal_list_quirks(tmp_path):
    (tmp_path / "image" / "test").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "image" / "test" / "a.png")
    write_label(str(tmp_path / "a.bin"), np.full((4, 5), 1 << 19, np.uint32))
    (tmp_path / "two.txt").write_text("/image/test/a.png /a.bin\n")  # SEAL's leading "/" = relative to the root
    (tmp_path / "one.txt").write_text("image/test/a.png\n")  # one column: an image without labels
    s = D.SBDEdges(str(tmp_path), "test", list_file=str(tmp_path / "two.txt"))[0]
    assert s["name"] == "a" and s["edges"][19].all() and s["edges"].sum() == 20
    s = D.SBDEdges(str(tmp_path), "test", list_file=str(tmp_path / "one.txt"))[0]
    assert s["edges"].shape == (20, 4, 5) and s["edges"].sum() == 0


@pytest.mark.parametrize("entry", ["../image/test/a.png", "image/../../a.png", "//../a.png"])
def test_list_entries_that_leave_the_root_are_refused(tmp_path, entry):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "evil.txt").write_text(f"image/ok.png label/ok.png\n{entry}\n")
    with pytest.raises(ValueError, match=r"evil.txt, line 2.*leaves the folder"):
        D.SBDEdges(str(tmp_path / "root"), "test", list_file=str(tmp_path / "root" / "evil.txt"))


def test_names_with_spaces_round_trip_through_the_reader(tmp_path):
    from util.files import write_list
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "my photo.png")
    write_label(str(tmp_path / "my label.png"), np.full((4, 5), 1 << 2, np.uint32))
    write_list(str(tmp_path / "train_inst.txt"), [("my photo.png", "my label.png")])
    s = D.SBDEdges(str(tmp_path), "train")[0]
    assert s["name"] == "my photo" and s["edges"][2].all()


def test_truncated_jpeg_is_an_error_naming_the_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(data[:len(data) // 2])
    (tmp_path / "test_inst.txt").write_text("a.jpg\n")
    with pytest.raises(ValueError, match=r"a\.jpg: cannot decode.*truncated"):
        D.SBDEdges(str(tmp_path), "test")[0]
    (tmp_path / "a.jpg").write_bytes(data[:200])  # cut inside the header: even its size cannot be read
    with pytest.raises(ValueError, match=r"a\.jpg: cannot read the image.*truncated"):
        D.count_unusable_labels(D.SBDEdges(str(tmp_path), "test"))


def test_read_image_of_any_kind(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, np.zeros((5, 6), np.uint8)])).save(tmp_path / "rgba.png")  # alpha 0: dropped
    np.testing.assert_array_equal(D.read_image(str(tmp_path / "rgba.png")), rgb)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(D.read_image(str(tmp_path / "gray.png")), np.repeat(rgb[:, :, :1], 3, axis=2))
    gray = rgb[:, :, 0].copy()
    gray[0, :2] = 0, 255
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")  # 16-bit 0..65535: not clipped
    np.testing.assert_array_equal(D.read_image(str(tmp_path / "gray16.png")), np.repeat(gray[:, :, None], 3, axis=2))
    Image.fromarray(gray.astype(np.uint16) * 16).save(tmp_path / "gray12.png")  # 12-bit in 16: its own range
    np.testing.assert_array_equal(D.read_image(str(tmp_path / "gray12.png")), np.repeat(gray[:, :, None], 3, axis=2))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png: not an image Pillow can read"):
        D.read_image(str(tmp_path / "notes.png"))


def test_class_bits_beyond_k_in_training_labels_and_eval_gt_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "a.png")
    write_label(str(tmp_path / "l.png"), np.full((4, 5), (1 << 22) | IGNORE_BIT, np.uint32))  # class 23 > 20
    (tmp_path / "test_inst.txt").write_text("a.png l.png\n")
    ds = D.SBDEdges(str(tmp_path), "test")
    with pytest.raises(ValueError, match=r"l\.png: class bits \[23\]"):
        ds[0]
    (tmp_path / "gt_eval" / "thin_inst").mkdir(parents=True)
    write_label(str(tmp_path / "gt_eval" / "thin_inst" / "a.png"), np.full((4, 5), 1 << 25, np.uint32))
    with pytest.raises(ValueError, match=r"gt_eval/thin_inst/a\.png: class bits \[26\]"):
        ds.eval_gt(0, "thin")


def test_count_unusable_labels(tmp_path):
    names = ["empty", "ignored", "good"]
    maps = [np.zeros((6, 7), np.uint32), np.full((6, 7), IGNORE_BIT, np.uint32), np.zeros((6, 7), np.uint32)]
    maps[2][3, 3] = 1 << 4
    maps[1][0, 0] |= 1  # a class bit on an ignored pixel is not a positive
    for n, b in zip(names, maps):
        Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / f"{n}.png")
        write_label(str(tmp_path / f"{n}.bin"), b)
    (tmp_path / "train_inst.txt").write_text("".join(f"{n}.png {n}.bin\n" for n in names))
    ds = D.SBDEdges(str(tmp_path), "train")
    assert D.count_unusable_labels(ds) == (1, 2)
    assert D.count_unusable_labels(ds, limit=1) == (0, 1)
    assert D.count_unusable_labels(torch.utils.data.Subset(ds, [2, 1])) == (1, 1)
    assert D.count_unusable_labels(ds, workers=2) == (1, 2)
    assert D.count_unusable_labels(D.make_dataset("synthetic", None, "val"), limit=5) == (0, 0)


def test_make_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare.py sbd"):
        D.make_dataset("sbd", str(tmp_path / "none"), "train")
    with pytest.raises(FileNotFoundError, match="prepare.py masks"):
        D.make_dataset("folder", None, "train")
    with pytest.raises(ValueError, match="unknown dataset 'voc'"):
        D.make_dataset("voc", str(tmp_path), "train")
    with pytest.raises(ValueError, match="unknown split 'trainval'"):
        D.make_dataset("synthetic", None, "trainval")
    assert [len(D.make_dataset("synthetic", None, s)) for s in ("train", "val", "test")] == [384, 48, 64]


def test_synthetic_splits_are_the_demos():
    """The CPU demo's numbers depend on these exact samples: pinned to the values of the code before the split into
    labels / transforms / synthetic (same RNG draws in the same order, same edge rule)."""
    want = {"train": "bc1b2b9945634af3", "val": "27cd868200706d15", "test": "c4c7937c58d48e7a"}
    for split, digest in want.items():
        s = D.make_dataset("synthetic", None, split)[3]
        got = hashlib.sha256(s["image"].numpy().tobytes() + s["edges"].numpy().tobytes()).hexdigest()[:16]
        assert got == digest, split
    ds = D.make_dataset("synthetic", None, "train")
    image, bits = TrainTransform(crop=128)(ds.scene(5)[0], ds.label_bits(5), torch.Generator().manual_seed(11))
    assert hashlib.sha256(image.tobytes() + bits.tobytes()).hexdigest()[:16] == "fcb55e619c2f3f1a"


def test_edge_statistics():
    ds = SyntheticEdges(3, 48, num_classes=3, seed=0)
    s = D.edge_statistics(ds)
    edges = np.stack([ds[i]["edges"].numpy() for i in range(3)])  # (N, K, H, W)
    seg = np.stack([ds.eval_seg(i) for i in range(3)])
    assert s["images"] == 3 and s["pixels"] == 3 * 48 * 48 and s["classes"] == SYNTHETIC_CLASSES[:3]
    np.testing.assert_allclose(s["edge"], edges.mean(axis=(0, 2, 3)))
    assert s["edge_all"] == pytest.approx(edges.any(1).mean())
    np.testing.assert_allclose(s["seg"], [(seg == k).mean() for k in (1, 2, 3)])
    assert s["seg_all"] == pytest.approx((seg > 0).mean()) and 0 < s["edge_all"] < s["seg_all"]


def test_edge_statistics_compares_both_shares_on_the_same_valid_pixels(tmp_path):
    """Left half ignored and covered by a class-1 segment: neither share counts it (4x4 image, 8 valid pixels)."""
    bits = np.zeros((4, 4), np.uint32)
    bits[:, :2] = IGNORE_BIT
    bits[0, 3] = 1 << 1  # one edge pixel of class 2 among the valid ones
    seg = np.zeros((4, 4), np.uint8)
    seg[:, :2] = 1   # class 1 only on ignored pixels
    seg[:2, 2] = 2   # class 2 on two valid pixels
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    write_label(str(tmp_path / "a.png.bin"), bits)
    (tmp_path / "gt_eval" / "seg").mkdir(parents=True)
    Image.fromarray(seg).save(tmp_path / "gt_eval" / "seg" / "a.png")
    (tmp_path / "test_inst.txt").write_text("a.png a.png.bin\n")
    s = D.edge_statistics(D.SBDEdges(str(tmp_path), "test"))
    assert s["pixels"] == 8 and s["edge"][1] == s["edge_all"] == 1 / 8
    assert s["seg"][:2] == [0, 2 / 8] and s["seg_all"] == 2 / 8


def test_synthetic_category_edges():
    """edge_type="cls" compares the class map: a subset of the instance-sensitive edges (the default, unchanged)."""
    inst, cls = (SyntheticEdges(4, 64, num_classes=2, seed=1, edge_type=t) for t in ("inst", "cls"))
    for i in range(4):
        a, b = inst[i]["edges"].numpy().astype(bool), cls[i]["edges"].numpy().astype(bool)
        assert not (b & ~a).any() and np.array_equal(cls.eval_gt(i, "raw"), b)
    assert any((inst[i]["edges"] != cls[i]["edges"]).any() for i in range(4))  # touching shapes of one class
    assert D.make_dataset("synthetic", None, "test", edge_type="cls").edge_type == "cls"


def test_synthetic_dataset():
    ds = SyntheticEdges(4, 48, num_classes=5, seed=3)
    a, b = ds[1], SyntheticEdges(4, 48, num_classes=5, seed=3)[1]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["edges"], b["edges"])
    assert not torch.equal(a["image"], ds[2]["image"])
    assert a["image"].shape == (3, 48, 48) and a["image"].dtype == torch.float32
    assert 0 <= a["image"].min() and a["image"].max() <= 1
    assert a["edges"].shape == (5, 48, 48) and a["edges"].dtype == torch.uint8 and a["edges"].sum() > 0
    assert ds.class_names == SYNTHETIC_CLASSES[:5] and len(SYNTHETIC_CLASSES) >= 8
    np.testing.assert_array_equal(ds.eval_gt(1, "raw"), a["edges"].numpy().astype(bool))
    assert ds.eval_seg(1).shape == (48, 48) and ds.eval_seg(1).max() <= 5
    batch = next(iter(torch.utils.data.DataLoader(
        SyntheticEdges(4, 64, 4, 0, transform=TrainTransform(crop=40)), batch_size=4)))
    assert batch["image"].shape == (4, 3, 40, 40) and batch["edges"].shape == (4, 4, 40, 40)
    assert batch["ignore"].shape == (4, 40, 40) and len(batch["name"]) == 4


def test_synthetic_thin_gt():
    ds = SyntheticEdges(2, 48, num_classes=4, seed=0)
    thin, raw = ds.eval_gt(0, "thin"), ds.eval_gt(0, "raw")
    assert thin.shape == raw.shape and thin.any() and not (thin & ~raw).any() and thin.sum() < raw.sum() / 2
