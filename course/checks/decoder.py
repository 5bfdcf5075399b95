"""Checks of the assignment `decoder`: one refinement level R^i (decoder.RefineLevel.combine) and the refinement
path (decoder.RefineDecoder.forward), Sec. 3.1.3 (SharpMask's refinement, Pinheiro et al. 2016).

    R^i:  m = smooth_mask(m) + smooth_skip(c_i)   (no skip at level 5: c5 is already inside the fused `top`)
          m = up(m)                               (deconv: stride s_i -> s_{i-1}; a 3x3 conv where they are equal)
    then  logits = classifier(m)                  (K maps at the input size H x W = s_1 x the size of c1)

smooth_* are 3x3 conv + BatchNorm + ReLU (encoders.conv_bn_relu). The one-level checks compute them by hand with
fixed weights (F.conv2d, BatchNorm in eval mode with set statistics, ReLU); the path checks compose the project's
own per-level modules in the order of the paper. Every module is in eval mode (BatchNorm uses its statistics).
"""
import torch
import torch.nn.functional as F

import decoder  # the graded repository's decoder.py: course/grade.py puts it first on sys.path
from checklib import expect_close, expect_shape, fail

COMBINE = ("R^i smooths the mask encoding and the skip feature with their OWN convolutions and adds them: "
           "m = self.smooth_mask(m) + self.smooth_skip(skip); at level 5 (skip None) m = self.smooth_mask(m)")
PATH = ("top first: m = top; for each level (5, 4, 3, 2, 1) with skip None, c4, c3, c2, c1: m = level.combine(m, "
        "skip), its side logits (deep supervision) from this m, then m = level.up(m); finally self.classifier(m)")
SIDES = ("with deep supervision, side i = F.interpolate(self.side[i](m), size=(H, W), mode='bilinear', "
         "align_corners=False) on each level's combined m, BEFORE level.up; levels 5 .. 1 in that order "
         "(F.interpolate's default mode is 'nearest')")


def fixed_level(mask_channels=2, skip_channels=3, width=2):
    """A RefineLevel with fixed weights and BatchNorm statistics, in eval mode."""
    g = torch.Generator().manual_seed(0)
    level = decoder.RefineLevel(mask_channels, skip_channels, width, width, 2)
    with torch.no_grad():
        for p in level.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for bn in [m for m in level.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
            bn.running_mean.copy_(0.3 * torch.randn(bn.num_features, generator=g))
            bn.running_var.copy_(0.5 + torch.rand(bn.num_features, generator=g))
    return level.eval()


def by_hand(smooth, x):
    """3x3 conv (padding 1, no bias), BatchNorm with its running statistics, ReLU, in float64."""
    conv, bn = smooth[0], smooth[1]
    y = F.conv2d(x.double(), conv.weight.detach().double(), padding=1)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    y = (y - bn.running_mean.double()[:, None, None]) * scale[:, None, None] + bn.bias.detach().double()[:, None, None]
    return y.clamp(min=0)


def inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 2, 4, 6, generator=g), torch.randn(2, 3, 4, 6, generator=g)


def path_case(strides=(2, 4, 8, 16, 32), deep_supervision=True):
    """The project's RefineDecoder at a tiny size, random weights, eval mode; encoder features of a 64 x 96 input."""
    torch.manual_seed(0)
    channels = (4, 6, 8, 10, 12)
    dec = decoder.build_decoder("refine", channels, strides, 5, 3, deep_supervision).eval()
    feats = [torch.randn(2, c, 64 // s, 96 // s) for c, s in zip(channels, strides)]
    return dec, torch.randn(2, 5, 64 // strides[4], 96 // strides[4]), feats


def path_by_composition(dec, top, feats):
    """The refinement path composed from the decoder's own per-level modules, in the order of the paper."""
    H, W = 64, 96
    m, sides = top, []
    for i, (level, skip) in enumerate(zip(dec.levels, [None, feats[3], feats[2], feats[1], feats[0]])):
        m = level.smooth_mask(m) + (level.smooth_skip(skip) if skip is not None else 0)
        if dec.side is not None:
            sides.append(F.interpolate(dec.side[i](m), size=(H, W), mode="bilinear", align_corners=False))
        m = level.up(m)
    return dec.classifier(m), sides


def check_level_shape():
    """R^i.combine(m (B, C_m, h, w), skip (B, C_i, h, w)) -> (B, width, h, w)"""
    m, skip = inputs()
    with torch.no_grad():
        got = fixed_level().combine(m, skip)
    return expect_shape(got, (2, 2, 4, 6), "combine(m (2, 2, 4, 6), skip (2, 3, 4, 6)) with width 2", COMBINE)


def check_level_by_hand():
    """R^i.combine with fixed weights: ReLU(BN(conv3x3(m))) + ReLU(BN(conv3x3(skip)))"""
    level = fixed_level()
    m, skip = inputs()
    with torch.no_grad():
        got = level.combine(m, skip)
    expected = by_hand(level.smooth_mask, m) + by_hand(level.smooth_skip, skip)
    for wrong, hint in ((by_hand(level.smooth_mask, m), "the skip feature is missing: "),
                        (by_hand(level.smooth_mask, m) * by_hand(level.smooth_skip, skip), "the two maps are "
                         "multiplied: the paper 'combines' them and this code reads it as a sum: ")):
        if got.shape == expected.shape and torch.allclose(got.double(), wrong, atol=1e-5):
            expect_close(got, expected, "combine(m, skip) with fixed weights", hint + COMBINE)
    return expect_close(got, expected, "combine(m, skip) with fixed weights", COMBINE)


def check_top_level_without_skip():
    """R^5.combine(top, None): no skip at level 5 (c5 is inside the fused feature): ReLU(BN(conv3x3(m)))"""
    level = fixed_level(skip_channels=0)
    m, _ = inputs()
    with torch.no_grad():
        got = level.combine(m, None)
    return expect_close(got, by_hand(level.smooth_mask, m), "combine(m, None) with fixed weights", COMBINE)


def check_path_shapes():
    """RefineDecoder -> logits (B, K, H, W) at the input size; 5 side logits with deep supervision, 0 without"""
    for deep in (True, False):
        dec, top, feats = path_case(deep_supervision=deep)
        with torch.no_grad():
            out = dec(top, feats)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("RefineDecoder's return value", "(logits, side_logits)", type(out).__name__, PATH)
        logits, sides = out
        expect_shape(logits, (2, 3, 64, 96), "logits for a 64 x 96 input, K = 3", PATH)
        if len(sides) != (5 if deep else 0):
            fail(f"number of side logits {'with' if deep else 'without'} deep supervision", 5 if deep else 0,
                 len(sides), SIDES)
        for side in sides:
            expect_shape(side, (2, 3, 64, 96), "each side logit map", SIDES)
    return "logits: expected shape (2, 3, 64, 96), got (2, 3, 64, 96); side logits: expected 5 and 0, got 5 and 0"


def check_path_values():
    """RefineDecoder's logits and side logits equal the path composed level by level (5 .. 1)"""
    dec, top, feats = path_case()
    with torch.no_grad():
        logits, sides = dec(top, feats)
        exp_logits, exp_sides = path_by_composition(dec, top, feats)
    expect_close(torch.stack(list(sides)), torch.stack(exp_sides), "side logits (levels 5 .. 1)", SIDES, atol=1e-5)
    return expect_close(logits, exp_logits, "logits", PATH, atol=1e-5)


def check_dilated_strides():
    """Dilated encoder (strides 2, 4, 8, 8, 8): the path follows the strides; logits, side logits at the input size"""
    dec, top, feats = path_case(strides=(2, 4, 8, 8, 8), deep_supervision=True)
    with torch.no_grad():
        logits, sides = dec(top, feats)
        expected, exp_sides = path_by_composition(dec, top, feats)
    for side in sides:
        expect_shape(side, (2, 3, 64, 96), "each side logit map with strides (2, 4, 8, 8, 8)",
                     "each side logit map is upsampled to the input size H x W (size=(H, W)), not by a factor that "
                     "holds for strides (2, 4, 8, 16, 32) only; " + SIDES)
    expect_close(torch.stack(list(sides)), torch.stack(exp_sides), "side logits with strides (2, 4, 8, 8, 8)", SIDES,
                 atol=1e-5)
    return expect_close(logits, expected, "logits with strides (2, 4, 8, 8, 8)",
                        "the output size is H = strides[0] * (height of c1), not a fixed factor of `top`; " + PATH,
                        atol=1e-5)


def check_images_are_independent():
    """In eval mode the batch equals its images one by one"""
    dec, top, feats = path_case(deep_supervision=False)
    with torch.no_grad():
        batch, _ = dec(top, feats)
        alone = torch.cat([dec(top[i:i + 1], [f[i:i + 1] for f in feats])[0] for i in range(2)])
    return expect_close(batch, alone, "logits of a batch of 2 vs each image alone",
                        "each image's path uses only its own features (index feats[j], never mix along dim 0)",
                        atol=1e-5)
