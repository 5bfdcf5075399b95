"""decoder.py: refine and casenet heads give K logits at the input size, for plain and dilated strides; the
refinement path is one module per level; CASENet's grouped fusion mixes each class with its own side-5 only."""
import pytest
import torch
import torch.nn.functional as F

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


def test_casenet_fuse_mixes_each_class_with_its_own_side5_only():
    """Grouped 1x1 conv (groups=K): logit_k = w_k0 side5_k + w_k1 side1 + w_k2 side2 + w_k3 side3 + b_k, with
    random weights; an ungrouped conv would let side5 of class j reach class k."""
    torch.manual_seed(0)
    K, strides = 3, (2, 4, 8, 16, 32)
    dec = decoder.build_decoder("casenet", (4, 4, 4, 4, 4), strides, 4, num_classes=K)
    with torch.no_grad():
        dec.side5.weight.copy_(torch.eye(K, 4).view(K, 4, 1, 1))  # class k's side-5 reads channel k of `top`
        dec.side5.bias.zero_()
    feats = fake_features((4, 4, 4, 4, 4), strides, B=1)
    top = torch.randn(1, 4, 2, 3)
    with torch.no_grad():
        logits, _ = dec(top, feats)
        changed = top.clone()
        changed[:, 1] += 5.0  # only class 1's side-5 map changes
        logits2, _ = dec(changed, feats)
        assert torch.equal(logits[:, 0], logits2[:, 0]) and torch.equal(logits[:, 2], logits2[:, 2])
        assert not torch.allclose(logits[:, 1], logits2[:, 1])

        def up(x):
            return F.interpolate(x, size=(64, 96), mode="bilinear", align_corners=False)
        s1, s2, s3 = up(dec.side1(feats[0])), up(dec.side2(feats[1])), up(dec.side3(feats[2]))
        s5 = up(dec.side5(top))  # (1, K, 64, 96)
        assert dec.fuse.weight.shape == (K, 4, 1, 1)  # one 4 -> 1 conv per class
        w, b = dec.fuse.weight.view(K, 4), dec.fuse.bias
        for k in range(K):
            expected = w[k, 0] * s5[:, k] + w[k, 1] * s1[:, 0] + w[k, 2] * s2[:, 0] + w[k, 3] * s3[:, 0] + b[k]
            torch.testing.assert_close(logits[:, k], expected, rtol=1e-5, atol=1e-5)


def test_refine_is_one_module_per_level_top_first():
    channels, strides = (8, 12, 16, 20, 24), (2, 4, 8, 8, 8)
    dec = decoder.build_decoder("refine", channels, strides, 5, 3)
    assert len(dec.levels) == 5 and dec.levels[0].smooth_skip is None  # R^5: c5 is already inside `top`
    assert [lv.smooth_skip[0].in_channels for lv in dec.levels[1:]] == [20, 16, 12, 8]  # c4 .. c1
    assert [lv.smooth_mask[0].in_channels for lv in dec.levels][:2] == [5, 20]  # top, then the width of level 4
    upsamples = [isinstance(lv.up[0], torch.nn.ConvTranspose2d) for lv in dec.levels]
    assert upsamples == [False, False, True, True, True]  # same stride 8 -> 8 -> 8: a 3x3 conv, not a deconv
    assert not any(k.startswith(("smooth_mask.", "smooth_skip.", "up.")) for k in dec.state_dict())


def test_unknown_decoder_lists_the_choices():
    with pytest.raises(ValueError, match="casenet") as e:
        decoder.build_decoder("unet", (1,) * 5, (2, 4, 8, 16, 32), 1, 1)
    assert "refine" in str(e.value)


@pytest.mark.parametrize("strides", [(2, 4, 8, 16, 32), (2, 4, 8, 8, 8)])
def test_refine_side_logits_are_the_side_convs_upsampled_bilinearly_without_align_corners(strides):
    """Deep supervision: side i = bilinear upsampling (align_corners=False, as the CASENet head and F.interpolate's
    default) of the 1x1 side conv on level i's mask encoding, to H x W."""
    torch.manual_seed(0)
    channels, K, H, W = (8, 12, 16, 20, 24), 3, 64, 96
    dec = decoder.build_decoder("refine", channels, strides, 5, K, deep_supervision=True).eval()
    seen = []
    for side in dec.side:
        side.register_forward_hook(lambda mod, inp, out: seen.append(out))
    feats = fake_features(channels, strides, H=H, W=W)
    with torch.no_grad():
        _, sides = dec(torch.randn(2, 5, H // strides[4], W // strides[4]), feats)
    assert len(seen) == len(sides) == 5
    assert [s.shape[-1] for s in seen] == [W // s for s in strides[::-1]]  # levels 5 .. 1
    for low, side in zip(seen, sides):
        expected = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)
        torch.testing.assert_close(side, expected)
        corners = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=True)
        assert not torch.allclose(side, corners, atol=1e-3)  # the test tells the two conventions apart
