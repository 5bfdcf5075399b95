"""Cityscapes at its real size (2048x1024), from the files `prepare.py cityscapes` reads to the samples training
reads: the 8 tiles per image of train and trainval (paper Sec. 4.1.2), the tiles written once at prepare time (so a
sample decodes its tile, not the whole image), the half-resolution thin evaluation GT (SEAL's demoGenGT.m: radius
1, thinned), SEAL's category-edge rule next to ignored pixels (demoGenGT.m / seg2edge_fast.m), and the sizes that
are not Cityscapes'. Every input is written by the tests: a few flat regions, so that a real-size set is fast.
"""
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import datasets as D
from edgedata import converters
from edgedata.classes import CITYSCAPES_LABEL_TO_TRAIN
from edgedata.labels import edge_bits, unpack_edges
import prepare

H, W = 1024, 2048
ROAD, SKY, CAR, POLE, OUT_OF_ROI = 7, 23, 26, 17, 3  # Cityscapes labelIds
K_CAR, K_POLE = CITYSCAPES_LABEL_TO_TRAIN[CAR], CITYSCAPES_LABEL_TO_TRAIN[POLE]  # train ids = channel of the edges
POLE_BOX = (600, 1000, 608, 1008)  # 8x8 pole (y0, x0, y1, x1): 4x4 at half resolution, rows 300..303, columns 500..503
IMAGES = (("train", "aachen", "aachen_000000_000019"), ("train", "zurich", "zurich_000000_000019"))  # train, val


def scene(height=H, width=W):
    """labelIds uint8, instanceIds uint16 and an RGB image (H, W, 3): sky over road, two touching cars, two cars
    touching the "out of roi" strip at the bottom, a pole of 8x8 pixels; the image has a fine pattern so that
    every tile differs."""
    label = np.full((height, width), ROAD, np.uint8)
    label[:300] = SKY
    label[500:700, 300:700] = CAR
    label[900:960, 1400:1600] = CAR
    label[slice(POLE_BOX[0], POLE_BOX[2]), slice(POLE_BOX[1], POLE_BOX[3])] = POLE
    label[960:] = OUT_OF_ROI
    inst = label.astype(np.uint16)  # stuff: the labelId; things: labelId * 1000 + n (Cityscapes' instanceIds)
    inst[500:700, 300:500], inst[500:700, 500:700] = 26000, 26001
    inst[900:960, 1400:1500], inst[900:960, 1500:1600] = 26002, 26003
    colours = {ROAD: (128, 64, 128), SKY: (70, 130, 180), CAR: (0, 0, 142), POLE: (153, 153, 153),
               OUT_OF_ROI: (0, 0, 0)}
    image = np.zeros((height, width, 3), np.uint8)
    for label_id, colour in colours.items():
        image[label == label_id] = colour
    yy, xx = np.mgrid[:height, :width]
    image[..., 0] += ((xx // 7 + yy // 5) % 16).astype(np.uint8)
    return label, inst, image


def write_source(root, images=IMAGES, size=(H, W)):
    """Cityscapes as downloaded: leftImg8bit/<split>/<city>/<name>_leftImg8bit.png and gtFine/<split>/<city>/
    <name>_gtFine_labelIds.png, _gtFine_instanceIds.png (16-bit)."""
    label, inst, image = scene(*size)
    for split, city, name in images:
        for sub, suffix, arr in (("leftImg8bit", "leftImg8bit", image), ("gtFine", "gtFine_labelIds", label),
                                 ("gtFine", "gtFine_instanceIds", inst)):
            d = os.path.join(root, sub, split, city)
            os.makedirs(d, exist_ok=True)
            Image.fromarray(arr).save(os.path.join(d, f"{name}_{suffix}.png"), compress_level=1)
    os.makedirs(os.path.join(root, "leftImg8bit", "val"), exist_ok=True)  # the official val (test): none here
    return root


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(source folder, prepared folder) of the two real-size images, prepared once for the module."""
    root = tmp_path_factory.mktemp("cityscapes")
    src = write_source(str(root / "src"))
    dst = str(root / "prepared")
    prepare.prepare_cityscapes(src, dst)
    return src, dst


def test_train_and_trainval_are_cut_into_8_tiles_per_image(prepared):
    """Sec. 4.1.2: every 2048x1024 training image gives 8 disjoint 512x512 tiles, in train and in trainval; the
    tiles of an image put together are its labels (a small test image, one tile, cannot tell 1 from 8)."""
    _, dst = prepared
    assert len(D.CityscapesEdges(dst, "train")) == 8 and len(D.make_dataset("cityscapes", dst, "trainval")) == 16
    ds = D.CityscapesEdges(dst, "trainval", edge_type="cls")
    assert len(ds.boxes) == 8 and len(D.CityscapesEdges(dst, "val")) == 1  # val and test are evaluated whole
    for i in range(2):
        whole, ignore = unpack_edges(ds.label_bits(i), 19)
        covered = np.zeros((H, W), int)
        for j, (y0, x0, y1, x1) in enumerate(ds.boxes):
            s = ds[8 * i + j]
            assert s["image"].shape == (3, 512, 512) and s["name"] == ds.names[i] and s["index"] == 8 * i + j
            np.testing.assert_array_equal(s["edges"].numpy(), whole[:, y0:y1, x0:x1])
            np.testing.assert_array_equal(s["ignore"].numpy(), ignore[y0:y1, x0:x1])
            covered[y0:y1, x0:x1] += 1
        assert (covered == 1).all()


def test_thin_evaluation_gt_is_radius_1_edges_of_the_half_resolution_maps_thinned(prepared):
    """SEAL's demoGenGT.m: the thin GT is made at half resolution with radius 1, then thinned. The 8x8 pole is 4x4
    at half resolution: its radius-1 edges are a ring two pixels wide (its border and the road pixels beside it)
    around a 2x2 hole, and thinning keeps a closed curve inside that ring. Radius 2 would cover the whole square
    and the pixels two away from it: no hole, and pixels outside the ring."""
    _, dst = prepared
    ds = D.CityscapesEdges(dst, "val")
    for edge_type in ("inst", "cls"):
        ds.edge_type = edge_type
        thin = ds.eval_gt(0, "thin")[K_POLE]  # (512, 1024)
        assert thin.shape == (H // 2, W // 2)
        ring = np.zeros_like(thin)  # radius 1 (4 neighbours) around rows/columns 300..303, worked out by hand
        ring[300:304, 500:504] = True  # the pole ...
        ring[301:303, 501:503] = False  # ... but its inside
        ring[299, 500:504] = ring[304, 500:504] = ring[300:304, 499] = ring[300:304, 504] = True  # road beside it
        assert thin.any() and not (thin & ~ring).any()
        window = ~thin[296:308, 496:508]  # the hole must be enclosed: its 4-connected component stays inside
        parts, _ = ndimage.label(window)
        inside = parts[301 - 296, 501 - 496]
        assert inside and not thin[301:303, 501:503].any()
        border = np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]])
        assert inside not in border


def test_tiles_are_read_from_their_own_files_and_equal_the_crops(prepared, monkeypatch):
    """A training sample decodes its 512x512 tile (written by prepare.py), never the whole 2048x1024 image, and is
    the same sample, pixel for pixel, as the crop of the decoded image (a folder without tiles), so training
    results and --resume do not depend on the tiles."""
    _, dst = prepared
    ds = D.CityscapesEdges(dst, "trainval")
    read = []
    real_read = D.read_image
    monkeypatch.setattr(D, "read_image", lambda path, *a, **k: read.append(path) or real_read(path, *a, **k))
    samples = [ds[i] for i in range(len(ds))]
    assert len(read) == 16 and len(set(read)) == 16  # one decoding per sample, each of its own tile file
    assert all(p.startswith(os.path.join(dst, "tiles", "leftImg8bit", "train")) for p in read)
    whole = D.CityscapesEdges(dst, "trainval")
    whole.tiles = False  # what a folder without tiles gives: decode the image and its labels, then crop
    for i in (0, 5, 10, 15):  # a tile of each row and column of the 2x4 grid
        crop = whole[i]
        for key in ("image", "edges", "ignore"):
            assert samples[i][key].dtype == crop[key].dtype
            assert samples[i][key].shape == crop[key].shape and bool((samples[i][key] == crop[key]).all()), key
    assert len(read) == 16 + 4 and not any("tiles" in p for p in read[16:])


def test_folder_without_tiles_warns_and_a_rerun_adds_them(prepared, capsys):
    """A folder prepared by an older version (no tiles/) still trains, with a WARNING that names the cost; running
    prepare.py again with the same options adds the tiles (no --overwrite needed)."""
    src, dst = prepared
    shutil.rmtree(os.path.join(dst, "tiles"))
    ds = D.CityscapesEdges(dst, "train")
    out = capsys.readouterr().out
    assert "WARNING" in out and "no tiles/" in out and "8x the decoding" in out and not ds.tiles
    before = ds[3]
    prepare.prepare_cityscapes(src, dst)
    ds = D.CityscapesEdges(dst, "train")
    assert ds.tiles and "no tiles/" not in capsys.readouterr().out
    assert len(os.listdir(os.path.join(dst, "tiles", "label_inst"))) == 16  # 8 tiles of each of the 2 images
    assert bool((ds[3]["image"] == before["image"]).all()) and bool((ds[3]["edges"] == before["edges"]).all())


# ---------------------------------------------------------------------------- SEAL's category edges near ignore

def seal_reference(label_ids, inst_ids, radius):
    """SEAL's rule pixel by pixel, read from demoPreproc.m / demoGenGT.m, seg2edge.m and seg2edge_fast.m:
    candidates = pixels with a pixel of another instance id within the radius, pairs with labelId 2 or 3 dropped;
    edge of class k = a candidate with a pixel of another value within the radius in k's binary mask ("cls") or in
    k's instance map ("inst"), with no ignore list. -> (cls, inst) bool (19, H, W)."""
    h, w = label_ids.shape
    R = int(np.floor(radius))
    offsets = [(dy, dx) for dy in range(-R, R + 1) for dx in range(-R, R + 1) if 0 < dy * dy + dx * dx <= radius ** 2]
    ignored = np.isin(label_ids, (2, 3))

    def neighbours(y, x):
        return [(y + dy, x + dx) for dy, dx in offsets if 0 <= y + dy < h and 0 <= x + dx < w]

    candidate = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            candidate[y, x] = any(inst_ids[y, x] != inst_ids[q] and not ignored[y, x] and not ignored[q]
                                  for q in neighbours(y, x))
    cls, inst = np.zeros((19, h, w), bool), np.zeros((19, h, w), bool)
    for label_id, k in CITYSCAPES_LABEL_TO_TRAIN.items():
        mask = label_ids == label_id
        seg = np.where(mask, inst_ids, 0)
        for y, x in zip(*np.nonzero(candidate)):
            cls[k, y, x] = any(mask[y, x] != mask[q] for q in neighbours(y, x))
            inst[k, y, x] = any(seg[y, x] != seg[q] for q in neighbours(y, x))
    return cls, inst


def test_category_edges_next_to_ignored_pixels_follow_seal_on_a_hand_made_map():
    """Two car instances under an "out of roi" row (labelId 3), radius 1. SEAL: the candidates are the four car
    pixels beside the other instance (pairs with the ignored row are dropped); the car's category edges are the
    candidates with a non-car pixel within 1, ignored ones included: (1, 1) and (1, 2), under the ignored row.
    Requiring both pixels of a pair to be valid would give no category edge at all."""
    label_ids = np.array([[3, 3, 3, 3], [26, 26, 26, 26], [26, 26, 26, 26]])
    inst_ids = np.array([[3, 3, 3, 3], [26000, 26000, 26001, 26001], [26000, 26000, 26001, 26001]])
    got = converters.cityscapes_edges(label_ids, inst_ids, radius=1)
    cls, cls_ignore = unpack_edges(got["cls"], 19)
    inst, inst_ignore = unpack_edges(got["inst"], 19)
    want_cls, want_inst = np.zeros((3, 4), bool), np.zeros((3, 4), bool)
    want_cls[1, 1:3] = True
    want_inst[1:3, 1:3] = True
    np.testing.assert_array_equal(cls[K_CAR], want_cls)
    np.testing.assert_array_equal(inst[K_CAR], want_inst)
    assert cls.sum() == 2 and inst.sum() == 4  # no other class has an edge
    assert cls_ignore[0].all() and not cls_ignore[1:].any() and (inst_ignore == cls_ignore).all()


@pytest.mark.parametrize("radius", [1, 2])
def test_category_and_instance_edges_equal_seal_pixel_by_pixel(radius):
    """Random blocky maps (road, sidewalk, cars, persons, "static" (no class), labelIds 2 and 3): both label types
    equal the pixel-by-pixel reading of SEAL's code, and the maps do hold pixels where the category rule differs
    from the one that drops every pair with an ignored pixel (so the test can tell the two apart)."""
    rng = np.random.default_rng(radius)
    differs = 0
    for _ in range(6):
        coarse = rng.choice([7, 8, 26, 26, 24, 4, 2, 3], size=(6, 7))
        label_ids = np.kron(coarse, np.ones((2, 2), int))  # (12, 14): regions of 2x2 blocks
        inst_ids = label_ids.copy()
        things = np.isin(label_ids, (24, 26))
        inst_ids[things] = label_ids[things] * 1000 + np.kron(rng.integers(0, 2, (6, 7)), np.ones((2, 2), int))[things]
        got = converters.cityscapes_edges(label_ids, inst_ids, radius)
        want_cls, want_inst = seal_reference(label_ids, inst_ids, radius)
        np.testing.assert_array_equal(unpack_edges(got["cls"], 19)[0].astype(bool), want_cls)
        np.testing.assert_array_equal(unpack_edges(got["inst"], 19)[0].astype(bool), want_inst)
        classes = converters.CITYSCAPES_LUT[label_ids]
        both_valid = unpack_edges(edge_bits(classes, classes, np.isin(label_ids, (2, 3)), radius), 19)[0]
        differs += int((both_valid.astype(bool) != want_cls).sum())
    assert differs > 0


def test_prepared_category_labels_follow_seal_where_two_cars_touch_out_of_roi(prepared):
    """The real-size set: the two cars that meet the "out of roi" strip. Where they meet, within 2 pixels of the
    strip, the car pixels are category edges in the training labels (radius 2), and in the thin and raw
    evaluation GT (half resolution: rows 450..479, the instances meet between columns 749 and 750)."""
    _, dst = prepared
    ds = D.CityscapesEdges(dst, "val", edge_type="cls")
    car = unpack_edges(ds.label_bits(0), 19)[0][K_CAR]
    assert car[959, 1499] and car[959, 1500] and car[958, 1499]
    assert not car[957, 1499] and not car[959, 1450]  # 3 rows from the strip; far from the other instance
    for mode in ("thin", "raw"):
        assert ds.eval_gt(0, mode)[K_CAR, 479, 749:751].any(), mode


# ----------------------------------------------------------------------------------- sizes that are not Cityscapes'

def test_images_that_are_not_2048x1024_are_named_in_a_warning(tmp_path, capsys):
    """A 640x320 image gives 2 tiles, not 8: prepare.py says so for every such image, naming it and its size."""
    src = write_source(str(tmp_path / "src"), size=(320, 640))
    prepare.prepare_cityscapes(src, str(tmp_path / "prepared"))
    out = capsys.readouterr().out
    for split, city, name in IMAGES:
        path = os.path.join(src, "leftImg8bit", split, city, f"{name}_leftImg8bit.png")
        assert f"WARNING: {path} is 640x320, not Cityscapes' 2048x1024: training cuts it into 2 tile(s)" in out
    assert len(D.CityscapesEdges(str(tmp_path / "prepared"), "trainval")) == 4


def test_training_images_of_two_sizes_are_refused(tmp_path):
    """The training tiles are one list for all images: a training image of another size would lose pixels (larger)
    or break training (smaller), so prepare.py refuses before writing anything, naming both images."""
    src = write_source(str(tmp_path / "src"), images=IMAGES[:1])
    small = os.path.join(src, "leftImg8bit", "train", "zurich")
    os.makedirs(small)
    Image.new("RGB", (1024, 512)).save(os.path.join(small, "zurich_000000_000019_leftImg8bit.png"))
    with pytest.raises(ValueError, match=r"aachen_000000_000019_leftImg8bit\.png is 2048x1024 but \S*"
                                         r"zurich_000000_000019_leftImg8bit\.png is 1024x512"):
        prepare.prepare_cityscapes(src, str(tmp_path / "prepared"))
    assert not os.path.exists(tmp_path / "prepared")
