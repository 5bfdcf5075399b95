"""Decoders D (Sec. 3.1.3): the paper's refinement path, and the CASENet head as the baseline.

Both take the fused deepest feature `top` (B, C_top, h, w) (the output of fusion.py, Sec. 3.2.1)
and the encoder features [c1, .., c5] with their strides s_1 .. s_5, and return
  logits (B, K, H, W) at the input resolution H = s_1 * (height of c1) (H x W must be a multiple of
  the largest stride; model.py pads to that and crops back), and
  side logits: a list of (B, K, H, W) maps for deep supervision (empty unless enabled).
Symbols as in model.py.

`refine` (the paper, after SharpMask's refinement path, Pinheiro et al. ECCV 2016): one refinement
module R^i per level i = 5 .. 1 (RefineLevel), applied to the mask encoding m (m = top at level 5):
    m = conv3x3(m) + conv3x3(c_i)   R^i smooths the mask encoding and the skip feature c_i with two
                                    separate convolutions and combines them by sum (no skip at level 5:
                                    c5 is already inside `top`),
    m = deconv(m)                   then doubles the resolution with a transposed convolution
                                    (stride s_i -> s_{i-1}, s_0 = 1),
and a final 3x3 conv gives K logits at stride 1. Where two levels have the same stride (dilated
ResNet, strides (2, 4, 8, 8, 8)) the "deconv" is a 3x3 conv, so the path follows `strides`.
With deep supervision, each level's combined mask encoding also gives K side logits (1x1 conv,
bilinear upsampling), ordered level 5 .. 1.
Uncertain reading: the paper says the two smoothed maps are "combined"; we add them (SharpMask
concatenates them and convolves again; the sum saves that conv, and the transposed conv that
follows mixes the two). Widths per level, ours (the paper gives none): 32, 64, 128, 256, 256, each capped at its
skip feature's channels so that a small encoder gets a small decoder.

`casenet` (Yu et al., CVPR 2017): 1-channel side outputs from c1, c2, c3 and a K-channel side
output from `top` (CASENet's side-5; the text fusion works with it by feeding it the fused
feature), bilinearly upsampled to H x W (CASENet uses deconvolutions), then the "shared
concatenation" [side5_k, side1, side2, side3] per class and a grouped 1x1 conv (groups=K): class k's
logit mixes only its own side-5 map and the three shared maps.
With deep supervision its side logits are [side5] as in CASENet, which supervises side-5 and the
fused output; the 1-channel sides are not supervised.

Reading order (README "Reading order"): 4 of 12; next: model.py (the whole model).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from encoders import conv_bn_relu


def upsample_block(cin, cout, factor):
    """Transposed conv that multiplies the resolution by `factor` (k = 2f, s = f, p = f/2: exact)."""
    if factor == 1:
        return conv_bn_relu(cin, cout)
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 2 * factor, stride=factor, padding=factor // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class RefineLevel(nn.Module):
    """SharpMask's refinement module R^i for one level: smooth the skip feature, smooth the mask encoding,
    combine them by sum, upsample to the next level's stride."""

    def __init__(self, mask_channels, skip_channels, width, out_channels, factor):
        super().__init__()
        # created in this order (skip, mask, upsampling) so that a seeded model draws its weights as before
        self.smooth_skip = conv_bn_relu(skip_channels, width) if skip_channels else None  # none at level 5
        self.smooth_mask = conv_bn_relu(mask_channels, width)
        self.up = upsample_block(width, out_channels, factor)

    def combine(self, m, skip):
        """Mask encoding m (B, C_m, H/s_i, W/s_i) and skip c_i (B, C_i, H/s_i, W/s_i) or None -> (B, width, ...)."""
        # >>> assignment decoder
        m = self.smooth_mask(m)  # (B, width, H/s_i, W/s_i)
        if skip is not None:
            m = m + self.smooth_skip(skip)  # combined with the smoothed skip c_i
        return m
        # <<< assignment decoder


class RefineDecoder(nn.Module):
    """The refinement path of Sec. 3.1.3: R^5 .. R^1, deconv x2 per level, then a 3x3 classifier."""

    def __init__(self, channels, strides, in_channels_top, num_classes, deep_supervision=False,
                 widths=(32, 64, 128, 256, 256), out_width=32):
        super().__init__()
        self.strides = tuple(strides)
        widths = [min(width, c) for width, c in zip(widths, channels)]  # levels 1 .. 5
        out_width = min(out_width, widths[0])
        # per level, top (5) first: its width, its skip's channels, the width below it, s_i / s_{i-1} (s_0 = 1)
        level_widths = widths[::-1]
        skip_channels = [0, *channels[3::-1]]  # none at level 5: c5 is already inside `top`; then c4 .. c1
        widths_below = [*level_widths[1:], out_width]
        factors = [s // s_below for s, s_below in zip(strides[::-1], [*strides[3::-1], 1])]
        self.levels = nn.ModuleList()  # R^5 first, R^1 last
        mask_in = in_channels_top
        for width, skip, below, factor in zip(level_widths, skip_channels, widths_below, factors):
            self.levels.append(RefineLevel(mask_in, skip, width, below, factor))
            mask_in = below
        self.classifier = nn.Conv2d(out_width, num_classes, 3, padding=1)
        self.side = None  # deep supervision: a 1x1 conv to K logits on each level's mask encoding, 5 .. 1
        if deep_supervision:
            self.side = nn.ModuleList(nn.Conv2d(width, num_classes, 1) for width in level_widths)

    def forward(self, top, feats):
        # >>> assignment decoder
        H, W = feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0]
        skips = [None, feats[3], feats[2], feats[1], feats[0]]  # levels 5 .. 1: c5 is already inside `top`
        sides = self.side if self.side is not None else [None] * len(self.levels)
        m, side_logits = top, []  # the mask encoding, (B, C_top, H/s_5, W/s_5)
        for level, skip, side in zip(self.levels, skips, sides):
            m = level.combine(m, skip)  # (B, width_i, H/s_i, W/s_i)
            if side is not None:
                side_logits.append(F.interpolate(side(m), size=(H, W), mode="bilinear", align_corners=False))
            m = level.up(m)  # deconv: (B, width_{i-1}, H/s_{i-1}, W/s_{i-1})
        return self.classifier(m), side_logits  # (B, K, H, W), list of (B, K, H, W)
        # <<< assignment decoder


class CASENetDecoder(nn.Module):
    """CASENet's side outputs + shared concatenation + grouped 1x1 fusion."""

    def __init__(self, channels, strides, in_channels_top, num_classes, deep_supervision=False):
        super().__init__()
        self.strides = tuple(strides)
        self.num_classes = num_classes
        self.side1 = nn.Conv2d(channels[0], 1, 1)
        self.side2 = nn.Conv2d(channels[1], 1, 1)
        self.side3 = nn.Conv2d(channels[2], 1, 1)
        self.side5 = nn.Conv2d(in_channels_top, num_classes, 1)
        self.fuse = nn.Conv2d(4 * num_classes, num_classes, 1, groups=num_classes)  # one 4->1 conv per class
        self.deep_supervision = deep_supervision

    def forward(self, top, feats):
        B, _, h1, w1 = feats[0].shape
        H, W, K = h1 * self.strides[0], w1 * self.strides[0], self.num_classes

        def up(x):
            return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)

        s1 = up(self.side1(feats[0]))  # (B, 1, H, W)
        s2 = up(self.side2(feats[1]))  # (B, 1, H, W)
        s3 = up(self.side3(feats[2]))  # (B, 1, H, W)
        s5 = up(self.side5(top))  # (B, K, H, W)
        shared = torch.cat([s1, s2, s3], dim=1)  # (B, 3, H, W)
        x = torch.cat([s5.unsqueeze(2), shared.unsqueeze(1).expand(B, K, 3, H, W)], dim=2)  # (B, K, 4, H, W)
        logits = self.fuse(x.reshape(B, 4 * K, H, W))  # shared concatenation -> (B, K, H, W)
        return logits, ([s5] if self.deep_supervision else [])


DECODERS = {"refine": RefineDecoder, "casenet": CASENetDecoder}


def build_decoder(name, channels, strides, in_channels_top, num_classes, deep_supervision=False):
    """Build the decoder `name` (refine | casenet) for an encoder with `channels` and `strides`."""
    if name not in DECODERS:
        raise ValueError(f"decoder.py: unknown decoder {name!r}; choose one of {sorted(DECODERS)}")
    return DECODERS[name](channels, strides, in_channels_top, num_classes, deep_supervision)
