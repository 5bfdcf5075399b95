"""Decoders D (Sec. 3.1.3): the paper's refinement path, and the CASENet head as the baseline.

Both take the fused deepest feature `top` [B, C_top, h5, w5] (the output of fusion.py, Sec. 3.2.1)
and the encoder features [c1, .., c5] with their strides, and return
  logits [B, K, H, W] at the input resolution H = s1 * h1 (H x W must be a multiple of the
  largest stride; model.py pads to that and crops back), and
  side logits: a list of [B, K, H, W] maps for deep supervision (empty unless enabled).

`refine` (the paper, after SharpMask's refinement path, Pinheiro et al. ECCV 2016): starting from
the mask encoding m = top, at each level i = 5 .. 1
    s_i = conv3x3(c_i)          a separate convolution smooths the skip feature (none at level 5:
                                c5 is already inside `top`),
    m   = conv3x3(m) + s_i      a separate convolution smooths the mask encoding; combined by sum,
    m   = deconv(m)             a transposed convolution doubles the resolution (stride s_i -> s_{i-1}),
and a final 3x3 conv gives K logits at stride 1. Where two levels have the same stride (dilated
ResNet, strides (2, 4, 8, 8, 8)) the "deconv" is a 3x3 conv, so the path follows `strides`.
With deep supervision, each level's combined mask encoding also gives K side logits (1x1 conv,
bilinear upsampling), ordered level 5 .. 1.
Uncertain reading: the paper says the two smoothed maps are "combined"; we add them (SharpMask
concatenates them and convolves again; the sum saves that conv, and the transposed conv that
follows mixes the two). Widths per level (not given in the paper): 32, 64, 128, 256, 256, each capped at its
skip feature's channels so that a small encoder gets a small decoder.

`casenet` (Yu et al., CVPR 2017): 1-channel side outputs from c1, c2, c3 and a K-channel side
output from `top` (CASENet's side-5; the text fusion works with it by feeding it the fused
feature), bilinearly upsampled to H x W (CASENet uses deconvolutions), then the "shared
concatenation" [side5_k, side1, side2, side3] per class and a grouped 1x1 conv (groups=K).
With deep supervision its side logits are [side5] as in CASENet, which supervises side-5 and the
fused output; the 1-channel sides are not supervised.
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


class RefineDecoder(nn.Module):
    """The refinement path of Sec. 3.1.3, deconv x2 per level."""

    def __init__(self, channels, strides, in_channels_top, num_classes, deep_supervision=False,
                 widths=(32, 64, 128, 256, 256), out_width=32):
        super().__init__()
        self.strides = tuple(strides)
        widths = [min(w, c) for w, c in zip(widths, channels)]
        out_width = min(out_width, widths[0])
        # list index j = 0..4 is paper level i = 5 - j (top first); smooth_skip has levels 4..1
        self.smooth_skip = nn.ModuleList()
        self.smooth_mask = nn.ModuleList()
        self.up = nn.ModuleList()
        mask_in = in_channels_top
        next_strides = [1] + list(strides[:4])  # the stride below each level: s_{i-1}, s_0 = 1
        for i in range(5, 0, -1):  # paper level i, top (5) to bottom (1)
            width = widths[i - 1]
            if i < 5:
                self.smooth_skip.append(conv_bn_relu(channels[i - 1], width))
            self.smooth_mask.append(conv_bn_relu(mask_in, width))
            out = widths[i - 2] if i > 1 else out_width
            factor = strides[i - 1] // next_strides[i - 1]
            self.up.append(upsample_block(width, out, factor))
            mask_in = out
        self.classifier = nn.Conv2d(out_width, num_classes, 3, padding=1)
        self.side = None  # deep supervision: a 1x1 conv to K logits on each level's mask encoding, 5 .. 1
        if deep_supervision:
            self.side = nn.ModuleList(nn.Conv2d(widths[i - 1], num_classes, 1) for i in range(5, 0, -1))

    def forward(self, top, feats):
        B, _, h1, w1 = feats[0].shape
        H, W = h1 * self.strides[0], w1 * self.strides[0]
        m, side_logits = top, []  # the mask encoding, (B, C_top, H/s5, W/s5)
        for j, i in enumerate(range(5, 0, -1)):
            m = self.smooth_mask[j](m)  # (B, width_i, H/s_i, W/s_i)
            if i < 5:
                m = m + self.smooth_skip[j - 1](feats[i - 1])  # combine with the smoothed skip c_i
            if self.side is not None:
                side = self.side[j](m)  # (B, K, H/s_i, W/s_i)
                side_logits.append(F.interpolate(side, size=(H, W), mode="bilinear", align_corners=False))
            m = self.up[j](m)  # deconv: (B, width_{i-1}, H/s_{i-1}, W/s_{i-1})
        return self.classifier(m), side_logits  # (B, K, H, W), list of (B, K, H, W)


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
