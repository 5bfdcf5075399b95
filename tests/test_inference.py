"""util/inference.py: predict (whole image, sliding window, batch = one by one), the AMP table, the device choice,
and the 8-bit SEAL-layout PNGs."""
import numpy as np
import pytest
import torch
from PIL import Image

from util import inference
from test_checkpoint import tiny_model


def test_amp_table_defaults_and_refuses_unknown_names():
    assert inference.amp_dtype(None, "cpu") is None
    assert inference.amp_dtype(None, torch.device("cuda")) is torch.bfloat16  # no GPU needed to ask
    assert inference.amp_dtype("fp16", "cpu") is torch.float16 and inference.amp_dtype("off", "cuda:0") is None
    assert inference.amp_name(None, "cuda") == "bf16" and inference.amp_name(None, "cpu") == "off"
    with pytest.raises(ValueError, match=r"--amp 'bfloat16'.*\['bf16', 'fp16', 'off'\]"):
        inference.amp_dtype("bfloat16", "cpu")


def test_pick_device():
    assert inference.pick_device("cpu") == torch.device("cpu")
    assert inference.pick_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a device name"):
        inference.pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU.*--device cpu"):
            inference.pick_device("cuda")


def test_predict_is_a_probability_per_class_and_pixel_and_batch_equals_one_by_one():
    model = tiny_model()
    torch.manual_seed(0)
    images = torch.rand(2, 3, 45, 70)  # not a multiple of 32: the model pads and crops back
    probs = inference.predict(model, images)
    assert probs.shape == (2, 4, 45, 70) and probs.dtype == torch.float32
    assert torch.equal(probs, torch.sigmoid(model(images)["logits"]).detach())
    one = torch.cat([inference.predict(model, images[i:i + 1]) for i in range(2)])
    assert torch.allclose(probs, one, atol=1e-6)


def test_sliding_window_stitches_tiles():
    model = tiny_model()
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 96)
    whole = inference.predict(model, image, window=128)  # one tile covers it: the whole image
    assert torch.equal(whole, inference.predict(model, image))
    tiled = inference.predict(model, image, window=64)  # tiles at x 0 and 32 (the last shifted back), overlapping
    left = inference.predict(model, image[..., :64])
    right = inference.predict(model, image[..., 32:])
    assert torch.allclose(tiled[..., :32], left[..., :32], atol=1e-6)
    assert torch.allclose(tiled[..., 64:], right[..., 32:], atol=1e-6)
    # the overlap: the mean of the two tiles' logits, then the sigmoid
    overlap = torch.sigmoid((torch.logit(left[..., 32:], eps=0) + torch.logit(right[..., :32], eps=0)) / 2)
    assert torch.allclose(tiled[..., 32:64], overlap, atol=1e-5)


def test_uint8_pngs_in_the_seal_layout(tmp_path):
    probs = torch.tensor([[[0.0, 0.5, 1.0]], [[0.2, 0.002, 0.998]]])  # (K=2, H=1, W=3)
    probs8 = inference.to_uint8(probs)
    assert probs8.dtype == np.uint8 and probs8.tolist() == [[[0, 128, 255]], [[51, 1, 254]]]
    inference.save_pngs(probs8, str(tmp_path), "a b")  # a name with a space
    for k in (1, 2):
        png = Image.open(tmp_path / f"class_{k:03d}" / "a b.png")
        assert png.mode == "L" and np.array_equal(np.array(png), probs8[k - 1])
