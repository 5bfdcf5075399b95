"""Tests for prepare.py and edgedata/converters.py: SBD, Cityscapes and your own masks into the SEAL layout;
re-runs, kills, bad annotations; stats and show. Every input is written by the tests themselves."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

import datasets as D
from edgedata import converters
from edgedata.labels import mask_to_edges
import prepare
from util import files


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
    rng = np.random.default_rng(2)
    train, test = ["2008_000001", "2008_000002", "2008_000003"], ["2008_000004", "2008_000005"]
    src, truth = _write_sbd(tmp_path, train + test, rng)
    (src / "dataset" / "train.txt").write_text("\n".join(train) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(test) + "\n")
    dst = str(tmp_path / "sbd")
    prepare.prepare_sbd(str(src), dst, fmt=fmt, num_val=1)
    sizes = {s: len(D.SBDEdges(dst, s)) for s in ("train", "val", "trainval", "test")}
    assert sizes == {"train": 2, "val": 1, "trainval": 3, "test": 2}
    assert not [f for _, _, fs in os.walk(dst) for f in fs if files.TMP_TAG in f]
    for edge_type in ("cls", "inst"):
        ds = D.SBDEdges(dst, "test", edge_type=edge_type)
        for i, name in enumerate(ds.names):
            t = truth[name]
            s = ds[i]
            assert s["image"].shape == (3, 20, 24) and s["edges"].shape == (20, 20, 24) and s["name"] == name
            want = (mask_to_edges(t["seg"], 20) if edge_type == "cls" else
                    mask_to_edges(t["seg"], 20, instances=t["inst"]))
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
    prepare.prepare_sbd(str(src), dst, fmt=fmt, num_val=1)  # re-running skips finished files
    assert os.path.getmtime(label) == mtime




def test_prepare_cityscapes(tmp_path, capsys):
    H, W = 32, 64
    label = np.full((H, W), 7, np.uint8)  # road
    label[:, 40:] = 23  # sky
    label[8:20, 10:30] = 26  # two cars
    label[:3, :] = 3  # out of roi: ignored
    inst = label.astype(np.uint16)  # Cityscapes instanceIds are 16-bit PNGs
    inst[8:20, 10:20], inst[8:20, 20:30] = 26000, 26001
    for split, city, name in (("train", "aachen", "aachen_000000_000019"), ("train", "zurich", "zurich_000000_000019"),
                              ("val", "bonn", "bonn_000001_000019")):
        for sub, suffix, arr in (("leftImg8bit", "leftImg8bit", np.zeros((H, W, 3), np.uint8)),
                                 ("gtFine", "gtFine_labelIds", label), ("gtFine", "gtFine_instanceIds", inst)):
            d = tmp_path / "cs" / sub / split / city
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(d / f"{name}_{suffix}.png")
    dst = str(tmp_path / "prep")
    prepare.prepare_cityscapes(str(tmp_path / "cs"), dst)
    train = D.CityscapesEdges(dst, "train")  # smaller than one 512 tile: one tile per image
    s = train[0]
    assert len(train) == 1 and s["edges"].shape == (19, H, W)
    assert s["ignore"][:3].all() and not s["ignore"][3:].any()
    e = s["edges"].numpy()
    assert e[13, 14, 19] and e[13, 14, 20] and not e[13, 14, 15]  # car|car instance border, car interior
    assert not e[:, :7, 5].any() and e[0, 10, 8]  # road next to "out of roi": no edge there; road|car: edge
    # the checkpoint is selected on a held-out city of the training set, never on the official val (= test)
    splits = {s: D.CityscapesEdges(dst, s).names for s in ("train", "val", "trainval", "test")}
    assert splits == {"train": ["aachen_000000_000019"], "val": ["zurich_000000_000019"],
                      "trainval": ["aachen_000000_000019", "zurich_000000_000019"], "test": ["bonn_000001_000019"]}
    assert (len(D.CityscapesEdges(dst, "trainval")) == 2
            and D.make_dataset("cityscapes", dst, "test").names == ["bonn_000001_000019"])
    for split in ("val", "test"):
        ds = D.CityscapesEdges(dst, split)
        for mode in ("thin", "raw"):
            gt = ds.eval_gt(0, mode)
            assert gt.shape == (19, H // 2, W // 2) and gt.dtype == bool and gt[13].any()
        assert ds.eval_gt(0, "thin").sum() < ds.eval_gt(0, "raw").sum()
    with pytest.raises(ValueError, match="--val-cities paris.*aachen, zurich"):
        prepare.prepare_cityscapes(str(tmp_path / "cs"), str(tmp_path / "other"), val_cities=["paris"])
    # a folder without a test list is refused with the list's path and the command that writes it (no fallback to
    # reading val as test: val is the held-out city, test the official val)
    os.remove(os.path.join(dst, "test_inst.txt"))
    with pytest.raises(FileNotFoundError, match=r"test_inst\.txt.*prepare\.py cityscapes"):
        D.make_dataset("cityscapes", dst, "test")




# ------------------------------------------------------------------------------------------- re-runs and kills

def _small_sbd(tmp_path, train=("2008_000001", "2008_000002"), test=("2008_000003",)):
    src, truth = _write_sbd(tmp_path, list(train) + list(test), np.random.default_rng(5))
    (src / "dataset" / "train.txt").write_text("\n".join(train) + "\n")
    (src / "dataset" / "val.txt").write_text("\n".join(test) + "\n")
    return src, truth


def test_val_list_names_outside_sbd_train_warn_or_stop(tmp_path, capsys):
    """--val-list names held out of SBD train: a name not in it (a test image, a typo) is reported, not dropped
    silently; a list with none of them is an error."""
    src, _ = _small_sbd(tmp_path, train=("2008_000001", "2008_000002", "2008_000004"))
    (tmp_path / "val.txt").write_text("2008_000002\n2008_000003\n2008_009999\n")  # a test image and a typo
    converters.prepare_sbd(str(src), str(tmp_path / "sbd"), val_list=str(tmp_path / "val.txt"))
    out = capsys.readouterr().out
    assert f"WARNING: --val-list {tmp_path / 'val.txt'}: 2 of its 3 names are not in SBD's train list" in out
    assert "2008_000003, 2008_009999" in out
    assert D.SBDEdges(str(tmp_path / "sbd"), "val").names == ["2008_000002"]
    (tmp_path / "none.txt").write_text("2008_000003\n")
    with pytest.raises(ValueError, match=r"none\.txt: none of its 1 names is in SBD's train list"):
        converters.prepare_sbd(str(src), str(tmp_path / "sbd2"), val_list=str(tmp_path / "none.txt"))


def test_rerun_with_other_options_stops_or_rebuilds(tmp_path):
    src, truth = _small_sbd(tmp_path)
    dst = str(tmp_path / "sbd")
    prepare.prepare_sbd(str(src), dst, num_val=1, radius=2)
    record = json.load(open(os.path.join(dst, "prepare.json")))
    assert record["complete"] and record["options"]["radius"] == 2 and record["splits"]["trainval"] == 2
    with pytest.raises(ValueError, match=r"other options.*radius: was 2.0, now 4.0.*new --dst.*--overwrite"):
        prepare.prepare_sbd(str(src), dst, num_val=1, radius=4)
    other_src, _ = _small_sbd(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="src: was"):
        prepare.prepare_sbd(str(other_src), dst, num_val=1, radius=2)
    name = "2008_000003"
    s = D.SBDEdges(dst, "test", edge_type="cls")[0]  # still the radius-2 labels: nothing was mixed
    np.testing.assert_array_equal(s["edges"].numpy(), mask_to_edges(truth[name]["seg"], 20, radius=2))
    prepare.prepare_sbd(str(src), dst, num_val=1, radius=4, overwrite=True)
    s = D.SBDEdges(dst, "test", edge_type="cls")[0]
    np.testing.assert_array_equal(s["edges"].numpy(), mask_to_edges(truth[name]["seg"], 20, radius=4))
    np.testing.assert_array_equal(D.SBDEdges(dst, "test", edge_type="cls").eval_gt(0, "raw"),
                                  mask_to_edges(truth[name]["seg"], 20, radius=4).astype(bool))
    assert json.load(open(os.path.join(dst, "prepare.json")))["options"]["radius"] == 4


def test_folder_of_an_older_version_is_not_mixed(tmp_path):
    src, _ = _small_sbd(tmp_path)
    dst = tmp_path / "old"
    (dst / "label_inst").mkdir(parents=True)
    with pytest.raises(ValueError, match="older version, no prepare.json.*--overwrite"):
        prepare.prepare_sbd(str(src), str(dst), num_val=1)


def test_killed_prepare_resumes_and_removes_its_temporary_files(tmp_path, monkeypatch):
    src, truth = _small_sbd(tmp_path)
    dst = str(tmp_path / "sbd")
    real = converters.write_label
    calls = []

    def dying_write(path, bits):
        calls.append(path)
        if len(calls) == 3:  # killed in the middle of the third file: a temporary file stays behind
            open(os.path.splitext(path)[0] + f"{files.TMP_TAG}4242.png", "wb").write(b"half")
            raise KeyboardInterrupt
        real(path, bits)
    monkeypatch.setattr(converters, "write_label", dying_write)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare_sbd(str(src), dst, num_val=1)
    monkeypatch.setattr(converters, "write_label", real)
    assert not json.load(open(os.path.join(dst, "prepare.json")))["complete"]
    assert [f for _, _, fs in os.walk(dst) for f in fs if files.TMP_TAG in f]
    open(os.path.join(dst, "photo.tmp123.jpg"), "wb").write(b"a user's file")  # not a temporary file of ours
    prepare.prepare_sbd(str(src), dst, num_val=1)  # same options: resumes
    assert not [f for _, _, fs in os.walk(dst) for f in fs if files.TMP_TAG in f]
    assert os.path.isfile(os.path.join(dst, "photo.tmp123.jpg"))
    assert json.load(open(os.path.join(dst, "prepare.json")))["complete"]
    for i, name in enumerate(D.SBDEdges(dst, "trainval").names):
        np.testing.assert_array_equal(D.SBDEdges(dst, "trainval")[i]["edges"].numpy(),
                                      mask_to_edges(truth[name]["seg"], 20, instances=truth[name]["inst"]))


@pytest.mark.parametrize("bad", ["../../outside", "/tmp/abs", "sub/name"])
def test_sbd_names_that_leave_the_folder_are_refused(tmp_path, bad):
    src, _ = _small_sbd(tmp_path)
    (src / "dataset" / "train.txt").write_text(f"2008_000001\n{bad}\n")
    with pytest.raises(ValueError, match=r"train.txt, line 2"):
        prepare.prepare_sbd(str(src), str(tmp_path / "dst" / "sbd"), num_val=1)
    assert not (tmp_path / "dst").exists() and not (tmp_path / "outside.png").exists()


def _rewrite_mat(path, key, **change):
    from scipy.io import loadmat, savemat
    m = loadmat(path, struct_as_record=False, squeeze_me=False)[key][0, 0]
    fields = {f: getattr(m, f) for f in m._fieldnames}
    fields.update(change)
    savemat(path, {key: {k: v for k, v in fields.items() if v is not None}})


@pytest.mark.parametrize("fault,match", [
    ("category 0", r"inst/2008_000001.mat: instance categories \[15, 15, 0\]"),
    ("category 21", r"inst/2008_000001.mat: instance categories \[15, 15, 21\]"),
    ("more instances", r"inst/2008_000001.mat: instance ids up to 4 but only 3 categories"),
    ("missing field", r"cls/2008_000001.mat: GTcls has no field \['Segmentation'\]"),
    ("missing key", r"inst/2008_000001.mat: no 'GTinst' in the .mat \(keys: \['other'\]\)"),
    ("unreadable", r"cls/2008_000001.mat: cannot read the .mat file"),
    ("class 25", r"cls/2008_000001.mat: class values \[25\]")])
def test_sbd_annotations_that_break_the_format_are_errors_naming_the_mat(tmp_path, fault, match):
    src, truth = _small_sbd(tmp_path)
    cls, inst = src / "dataset" / "cls" / "2008_000001.mat", src / "dataset" / "inst" / "2008_000001.mat"
    if fault.startswith("category"):
        _rewrite_mat(str(inst), "GTinst", Categories=np.array([[15], [15], [int(fault.split()[1])]], np.uint8))
    elif fault == "more instances":
        ids = truth["2008_000001"]["inst"].copy()
        ids[0, 0] = 4
        _rewrite_mat(str(inst), "GTinst", Segmentation=ids)
    elif fault == "missing field":
        _rewrite_mat(str(cls), "GTcls", Segmentation=None)
    elif fault == "missing key":
        from scipy.io import savemat
        savemat(str(inst), {"other": np.zeros(2)})
    elif fault == "unreadable":
        cls.write_bytes(cls.read_bytes()[:100])
    else:
        seg = truth["2008_000001"]["seg"].copy()
        seg[0, 0] = 25
        _rewrite_mat(str(cls), "GTcls", Segmentation=seg)
    with pytest.raises(ValueError, match=match):
        prepare.prepare_sbd(str(src), str(tmp_path / "sbd"), num_val=1)


# ------------------------------------------------------------------------------------------------ your own masks

def _masks_folder(tmp_path, n=10, H=24, W=30):
    """n images of assorted kinds (RGB jpg, RGBA png with a space in its name, grayscale, palette) and masks of
    assorted kinds (palette PNG whose colours are NOT the ids, 8-bit gray, 16-bit gray), classes 1..3 + ignore."""
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    (tmp_path / "names.txt").write_text("cat\ndog\ntraffic light\n")
    truth = {}
    for i in range(n):
        name = f"im {i}" if i % 3 == 1 else f"im{i}"
        mask = np.zeros((H, W), np.uint8)
        mask[3:15, 4:14] = 1 + i % 3
        mask[10:20, 12:26] = 1 + (i + 1) % 3
        mask[0, :] = 255  # ignored row
        img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        kind = i % 4
        if kind == 0:
            Image.fromarray(img).save(images / f"{name}.jpg")
            m = Image.fromarray(mask, "P")
            m.putpalette([255 - v for v in range(256)] * 3)  # colours unlike the indices
            m.save(masks / f"{name}.png")
        elif kind == 1:
            Image.fromarray(np.dstack([img, np.full((H, W), 128, np.uint8)])).save(images / f"{name}.png")
            Image.fromarray(mask).save(masks / f"{name}.png")
        elif kind == 2:
            Image.fromarray(img[:, :, 0]).save(images / f"{name}.png")
            Image.fromarray(mask.astype(np.uint16)).save(masks / f"{name}.png")  # 16-bit
        else:
            Image.fromarray(img).convert("P").save(images / f"{name}.png")
            Image.fromarray(mask).save(masks / f"{name}.png")
        truth[name] = mask
    return images, masks, tmp_path / "names.txt", truth


def test_prepare_masks(tmp_path):
    images, masks, names, truth = _masks_folder(tmp_path)
    dst = str(tmp_path / "mine")
    prepare.prepare_masks(str(images), str(masks), str(names), dst, val_fraction=0.2, test_fraction=0.2)
    assert open(os.path.join(dst, "classes.txt")).read() == "cat\ndog\ntraffic light\n"
    split = {s: D.make_dataset("folder", dst, s).names for s in ("train", "val", "trainval", "test")}
    assert [len(split[s]) for s in ("train", "val", "trainval", "test")] == [6, 2, 8, 2]
    assert sorted(split["trainval"] + split["test"]) == sorted(truth) and not set(split["val"]) & set(split["test"])
    assert split == {s: n for s, n in converters_split(truth).items()}  # the documented seeded draw
    ds = D.FolderEdges(dst, "trainval")
    assert ds.class_names == ["cat", "dog", "traffic light"] and ds.metric_preset == "sbd"
    for i, name in enumerate(ds.names):
        s = ds[i]
        want = mask_to_edges(truth[name], 3, radius=2)  # the palette's index, not its colour
        np.testing.assert_array_equal(s["edges"].numpy(), want)
        assert s["ignore"][0].all() and not s["ignore"][1:].any() and s["image"].shape == (3, 24, 30)
    cls = D.FolderEdges(dst, "trainval", edge_type="cls")  # without instance masks: the same labels
    for i in range(len(cls)):
        np.testing.assert_array_equal(cls[i]["edges"].numpy(), ds[i]["edges"].numpy())
    test = D.make_dataset("folder", dst, "test")
    for i, name in enumerate(test.names):
        np.testing.assert_array_equal(test.eval_gt(i, "raw"), mask_to_edges(truth[name], 3).astype(bool))
        thin = test.eval_gt(i, "thin")
        assert thin.any() and not (thin & ~test.eval_gt(i, "raw")).any()
        np.testing.assert_array_equal(test.eval_seg(i), np.where(truth[name] == 255, 0, truth[name]))
    assert "\t" in open(os.path.join(dst, "trainval_inst.txt")).read()  # "im 1.png": the name with a space


def converters_split(truth):
    return prepare.split_names(truth, 0.2, 0.2, 0)


def test_prepare_masks_with_instances(tmp_path):
    images, masks, names, truth = _masks_folder(tmp_path, n=2)
    inst = tmp_path / "inst"
    inst.mkdir()
    for name, mask in truth.items():
        ids = np.where(mask == 1, 1, 0).astype(np.uint8)
        ids[3:15, 9:14] = np.where(mask[3:15, 9:14] == 1, 2, ids[3:15, 9:14])  # class 1 split in two instances
        Image.fromarray(ids).save(inst / f"{name}.png")
    dst = str(tmp_path / "mine")
    prepare.prepare_masks(str(images), str(masks), str(names), dst, instances=str(inst), val_fraction=0,
                          test_fraction=0)
    for t in ("cls", "inst"):
        ds = D.FolderEdges(dst, "train", edge_type=t)
        for i, name in enumerate(ds.names):
            ids = np.array(Image.open(inst / f"{name}.png"))
            want = mask_to_edges(truth[name], 3, instances=ids if t == "inst" else None)
            np.testing.assert_array_equal(ds[i]["edges"].numpy(), want)
    i = ds.names.index("im0")  # its class 1 is cut in two instances: an instance border that "cls" lacks
    assert ds[i]["edges"][0].sum() > D.FolderEdges(dst, "train", edge_type="cls")[i]["edges"][0].sum()


@pytest.mark.parametrize("fault,match", [
    ("value", r"masks/im0.png: value\(s\) \[7\] but --classes names 3 classes"),
    ("size", r"masks/im0.png is 30x23 but its image im0.jpg is 30x24"),
    ("no mask", r"1 of the images in .* have no mask .*\['extra'\]"),
    ("no image", r"1 of the masks in .* have no image .*\['lonely'\]"),
    ("rgb mask", r"masks/im0.png: mode RGB: not a map of ids \(a colour mask\?\)"),
    ("broken image", r"images/im0.jpg: cannot read the image"),
    ("ignore is a class", r"--ignore-index 2 is a class value")])
def test_prepare_masks_errors(tmp_path, fault, match):
    images, masks, names, truth = _masks_folder(tmp_path, n=2)
    ignore = 255
    if fault == "value":
        m = truth["im0"].copy()
        m[5, 5] = 7
        Image.fromarray(m).save(masks / "im0.png")
    elif fault == "size":
        Image.fromarray(truth["im0"][:23]).save(masks / "im0.png")
    elif fault == "no mask":
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(images / "extra.png")
    elif fault == "no image":
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(masks / "lonely.png")
    elif fault == "broken image":
        (images / "im0.jpg").write_text("not an image")
    elif fault == "rgb mask":
        Image.fromarray(np.zeros((24, 30, 3), np.uint8)).save(masks / "im0.png")
    else:
        ignore = 2
    with pytest.raises(ValueError, match=match):
        prepare.prepare_masks(str(images), str(masks), str(names), str(tmp_path / "dst"), ignore_index=ignore)


# --------------------------------------------------------------------------------------- command line, stats

def test_command_line_spelling_stats(tmp_path, capsys):
    images, masks, names, truth = _masks_folder(tmp_path, n=4)
    dst = str(tmp_path / "mine")
    args = ["--images", str(images), "--masks", str(masks), "--classes", str(names), "--dst", dst,
            "--val-fraction", "0.25", "--test-fraction", "0.25"]
    with pytest.raises(SystemExit):  # the old `prepare-masks` spelling is gone: argparse names the valid commands
        prepare.main(["prepare-masks", *args])
    assert "invalid choice: 'prepare-masks'" in capsys.readouterr().err
    prepare.main(["masks", *args])
    assert "prepared" in capsys.readouterr().out and os.path.isfile(os.path.join(dst, "train_inst.txt"))
    prepare.main(["masks", *args])  # the same options again: nothing to do, no error
    with pytest.raises(SystemExit, match=r"prepare.py masks: error: .*radius: was 2.0, now 3.0"):
        prepare.main(["masks", *args, "--radius", "3"])
    capsys.readouterr()
    prepare.main(["stats", "--data-root", dst, "--split", "trainval"])  # the dataset kind read from prepare.json
    out = capsys.readouterr().out
    assert "split trainval: 3 images" in out and "traffic light" in out and "3.2%" in out
    assert "no GT class maps for this split" in out  # class maps are written for val and test only
    s = prepare.print_stats("folder", dst, "test")
    ds = D.make_dataset("folder", dst, "test")
    valid = ~ds[0]["ignore"].numpy()  # row 0 is ignored: neither share counts it
    seg, edges = ds.eval_seg(0), ds[0]["edges"].numpy()
    assert not valid[0].any() and valid[1:].all()
    assert s["seg_all"] == pytest.approx((seg[valid] > 0).mean())
    assert s["edge_all"] == pytest.approx(edges[:, valid].any(0).mean())
    assert re.search(rf"all classes +{100 * s['edge_all']:.2f} +{100 * s['seg_all']:.2f}\n", capsys.readouterr().out)


def test_show_renders_a_prepared_label(tmp_path, capsys):
    images, masks, names, truth = _masks_folder(tmp_path, n=4)
    dst = str(tmp_path / "mine")
    prepare.prepare_masks(str(images), str(masks), str(names), dst, fmt="bin", val_fraction=0.25,
                          test_fraction=0.25)
    test_name = D.make_dataset("folder", dst, "test").names[0]
    for name, what in (("im 1", "label"), (test_name, "thin"), (test_name, "raw")):
        out = str(tmp_path / f"{name}_{what}.png")
        prepare.main(["show", "--data-root", dst, "--name", name, "--what", what, "--out", out])
        with Image.open(out) as im:
            assert im.size[0] >= 2 * 30 and im.size[1] >= 24  # image | labels, and a legend
        assert f"picture written to {out}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no image named 'nope'"):
        prepare.main(["show", "--data-root", dst, "--name", "nope"])
    train_name = D.make_dataset("folder", dst, "train").names[0]  # no evaluation GT for training images
    with pytest.raises(SystemExit, match=r"show: error: .*thin_inst.* val and test lists only.*--what label$"):
        prepare.main(["show", "--data-root", dst, "--name", train_name, "--what", "thin"])


def test_sbd_names_with_spaces_round_trip(tmp_path):
    src, truth = _small_sbd(tmp_path)
    ds_dir = src / "dataset"
    for sub, ext in (("img", ".jpg"), ("cls", ".mat"), ("inst", ".mat")):
        os.rename(ds_dir / sub / f"2008_000001{ext}", ds_dir / sub / f"a b{ext}")
    (ds_dir / "train.txt").write_text("a b\n2008_000002\n")
    dst = str(tmp_path / "sbd")
    prepare.prepare_sbd(str(src), dst, num_val=0)
    ds = D.SBDEdges(dst, "trainval")
    assert ds.names == ["a b", "2008_000002"]
    np.testing.assert_array_equal(ds[0]["edges"].numpy(), mask_to_edges(truth["2008_000001"]["seg"], 20,
                                                                         instances=truth["2008_000001"]["inst"]))
