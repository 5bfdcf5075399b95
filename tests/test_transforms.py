"""Tests for edgedata/transforms.py: augmentation keeps labels aligned and draws only from its generator; tiling."""
import numpy as np
import pytest
import torch

from edgedata import transforms as T
from edgedata.labels import class_bits, edge_bits, mask_to_edges, unpack_edges


def test_train_transform_keeps_labels_aligned():
    torch.manual_seed(0)
    H, W = 60, 80
    square = np.zeros((H, W), np.int64)
    square[15:45, 10:40] = 1  # off centre, so that flips and crops matter
    image = np.repeat((square * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    # Without scaling, crop + flip + pad must move the labels exactly like the image: a known edge position.
    t = T.TrainTransform(crop=(64, 72), scale=(1.0, 1.0), flip=True)
    bits = edge_bits(square, square, radius=1)
    for _ in range(10):
        img, b = t(image, bits)
        edges, ignore = unpack_edges(b, 1)
        assert img.shape == (64, 72, 3) and ignore[60:].all() and not ignore[:60].any()  # padded rows only
        want = mask_to_edges(np.where(ignore, 255, img[:, :, 0] > 127), 1, radius=1)
        np.testing.assert_array_equal(edges, want)
    # With scaling (bilinear image, nearest labels) the labelled region stays on the image's square.
    t = T.TrainTransform(crop=64, scale=(0.5, 1.5), flip=True)
    region = class_bits(square)  # "class 1" on the whole square
    for _ in range(20):
        img, b = t(image, region)
        lab, ignore = unpack_edges(b, 1)
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
    t = T.TrainTransform(crop=32, scale=(0.5, 1.5), flip=True)
    state = torch.get_rng_state()
    outs = [t(image, bits, torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert all(np.array_equal(a, b) for a, b in zip(outs[0], outs[1]))  # same seed, same augmentation
    assert not np.array_equal(outs[0][1], outs[2][1])


def test_tile_boxes_cover_exactly():
    for H, W, tile, stride in ((1024, 2048, 512, None), (375, 500, 256, 200), (100, 90, 512, None),
                               (513, 512, 512, 256)):
        boxes = T.tile_boxes(H, W, tile, stride)
        count = np.zeros((H, W), int)
        for y0, x0, y1, x1 in boxes:
            assert 0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W and y1 - y0 <= tile and x1 - x0 <= tile
            count[y0:y1, x0:x1] += 1
        assert count.min() >= 1
    assert len(T.tile_boxes(1024, 2048)) == 8  # Cityscapes: 8 disjoint 512x512 tiles
    x = torch.rand(2, 3, 70, 90)
    torch.testing.assert_close(T.sliding_window(lambda c: c * 2, x, tile=32, stride=20), x * 2)




def test_no_rescaling_for_cityscapes_tiles():
    """scale=None or (1, 1): no resize and no scale draw; crop and flip draw from the generator as before."""
    image = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    bits = np.arange(40 * 50, dtype=np.uint32).reshape(40, 50)
    for scale in (None, (1, 1), (1.0, 1.0)):
        t = T.TrainTransform(crop=32, scale=scale)
        assert t.scale is None
        for seed in range(5):
            img, b = t(image, bits, torch.Generator().manual_seed(seed))
            g = torch.Generator().manual_seed(seed)  # the same draws, without the scale one
            y0, x0 = int(torch.randint(0, 9, (), generator=g)), int(torch.randint(0, 19, (), generator=g))
            want = bits[y0:y0 + 32, x0:x0 + 32]
            want = want[:, ::-1] if bool(torch.rand((), generator=g) < 0.5) else want
            np.testing.assert_array_equal(b, want)  # every pixel value distinct: no resampling happened
    with pytest.raises(ValueError, match="scale range"):
        T.TrainTransform(scale=(1.5, 0.5))
