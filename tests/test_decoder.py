"""decoder.py: refine and casenet heads give K logits at the input size, for plain and dilated strides."""
import pytest
import torch

import decoder


def fake_features(channels, strides, B=2, H=64, W=96):
    return [torch.randn(B, c, H // s, W // s) for c, s in zip(channels, strides)]


@pytest.mark.parametrize("name", ["refine", "casenet"])
@pytest.mark.parametrize("strides", [(2, 4, 8, 16, 32), (2, 4, 8, 8, 8)])
@pytest.mark.parametrize("deep_supervision", [False, True])
def test_shapes(name, strides, deep_supervision):
    torch.manual_seed(0)
    channels, K, C_top = (8, 12, 16, 20, 24), 3, 5
    dec = decoder.build_decoder(name, channels, strides, C_top, K, deep_supervision)
    feats = fake_features(channels, strides)
    top = torch.randn(2, C_top, 64 // strides[4], 96 // strides[4])
    logits, sides = dec(top, feats)
    assert tuple(logits.shape) == (2, K, 64, 96)
    n_sides = {"refine": 5, "casenet": 1}[name] if deep_supervision else 0
    assert len(sides) == n_sides and all(tuple(s.shape) == (2, K, 64, 96) for s in sides)
    (logits.sum() + sum(s.sum() for s in sides)).backward()
    assert all(p.grad is not None for p in dec.parameters())


def test_casenet_shared_concatenation():
    # every class sees the same three 1-channel sides; only side-5 is class-specific
    dec = decoder.build_decoder("casenet", (4, 4, 4, 4, 4), (2, 4, 8, 16, 32), 4, num_classes=3)
    with torch.no_grad():
        dec.side5.weight.zero_()
        dec.side5.bias.zero_()
        dec.fuse.weight.fill_(1.0)
        dec.fuse.bias.zero_()
    feats = fake_features((4, 4, 4, 4, 4), (2, 4, 8, 16, 32), B=1)
    logits, _ = dec(torch.randn(1, 4, 2, 3), feats)
    assert torch.allclose(logits[:, 0], logits[:, 1]) and torch.allclose(logits[:, 0], logits[:, 2])


def test_unknown_decoder_lists_the_choices():
    with pytest.raises(ValueError, match="casenet") as e:
        decoder.build_decoder("unet", (1,) * 5, (2, 4, 8, 16, 32), 1, 1)
    assert "refine" in str(e.value)
