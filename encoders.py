"""Image encoders E_I (Sec. 3.1.1): torchvision backbones that return five feature maps.

Every encoder maps an ImageNet-normalised image (B, 3, H, W) to a list of five features
[c1, c2, c3, c4, c5], c_i of shape (B, C_i, H/s_i, W/s_i), with `.channels` (the five C_i) and
`.strides` (the five s_i, (2, 4, 8, 16, 32) by default). Symbols as in model.py.
c5 is the deepest feature f_I on which the cross-modal fusion works (Sec. 3.2.1);
c1..c4 are the skip features of the refinement decoder (Sec. 3.1.3).

ImageNet normalisation is NOT done here: `model.EdgeModel.forward` takes images in [0, 1] and
normalises them exactly once, before calling the encoder.

Backbones (Table 3; the paper initialises every encoder from ImageNet, Sec. 4.1.2, although Sec. 4.3.1
mentions COCO pre-training: we follow Sec. 4.1.2):
- `vgg16`: torchvision's VGG-16 (Simonyan & Zisserman), without batch norm: the network the paper
  names (Table 3) and the one HED and CASENet-VGG use. `vgg16_bn`: torchvision's VGG-16 with batch
  norm, an option of ours for when the BN-free network trains badly with the ResNet recipe.
  Stage i is conv block i followed by its max-pool, so c_i has stride 2^i.
- `resnet18`, `resnet50`, `resnet101`: c1 = conv1 (stride 2), c2..c5 = layer1..layer4.
  `output_stride=8` (or 16) dilates layer3/layer4 instead of striding them, as CASENet and
  DeepLab do (ResNet-50/101 only: torchvision's BasicBlock cannot dilate); strides become
  (2, 4, 8, 8, 8) and the decoder reads them from `.strides`.
- `efficientnet_b0` .. `efficientnet_b7`: c1..c5 are the outputs of torchvision's `features`
  stages 1, 2, 3, 5, 7 (the last block of each resolution). The classifier's final 1x1 conv
  (features[8], 1280..2560 channels) is left out: it only serves the ImageNet pooling head.
- `tiny`: a small randomly initialised CNN (~0.3 M parameters) for tests and the CPU demo.

References: torchvision.models (ResNet, VGG, EfficientNet and their weights API);
CASENet (Yu et al., CVPR 2017) for the dilated ResNet.

Reading order (README "Reading order"): 2 of 12; next: fusion.py (the fusion F).
"""
import os

import torch
import torch.nn as nn
import torchvision.models as tvm


class WeightsUnavailableError(RuntimeError, ValueError):
    """ImageNet weights that cannot be loaded; the message names the URL, the cache path and the fix.
    A ValueError too (bad input, not a bug), so that the scripts print it as one line."""


# ---------------------------------------------------------------------------------------------
# helpers


def _last_conv_channels(module):
    """Output channels of a block: the out_channels of its last Conv2d."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _load_torchvision(builder, weights, pretrained, **kwargs):
    """Build a torchvision model, with ImageNet weights if `pretrained`; fail loudly offline.

    torchvision looks for the weights in <torch hub dir>/checkpoints/<file name of the URL>
    (torch.hub.get_dir(): $TORCH_HOME/hub, default ~/.cache/torch/hub) and downloads them there
    when the file is missing. The SHA-256 prefix in the file name is only checked on download;
    a file already in the cache is loaded as it is.
    """
    if not pretrained:
        return builder(weights=None, **kwargs)
    try:
        return builder(weights=weights, **kwargs)
    except Exception as e:  # offline (URLError / OSError), a truncated file, ...
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        raise WeightsUnavailableError(
            f"encoders.py: could not load the ImageNet weights {weights} ({type(e).__name__}: {e}).\n"
            f"  Download {weights.url}\n"
            f"  and put it at {cached}\n"
            f"  (the torch hub cache: $TORCH_HOME/hub/checkpoints), or build the encoder with "
            f"pretrained=False (train.py: --no-pretrained) to start from random weights."
        ) from e


# ---------------------------------------------------------------------------------------------
# encoders


class StagedEncoder(nn.Module):
    """Runs five stages one after the other and returns every stage's output."""

    def __init__(self, stages, channels, strides):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(channels)
        self.strides = tuple(strides)

    def forward(self, x):
        feats = []
        for stage in self.stages:
            x = stage(x)  # (B, C_i, H/s_i, W/s_i)
            feats.append(x)
        return feats


def conv_bn_relu(cin, cout, stride=1):
    """3x3 conv (no bias) + BN + ReLU; also the decoder's smoothing convolution."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def tiny_encoder(pretrained=False, output_stride=32):
    """A 5-stage CNN, two 3x3 convs per stage, the first with stride 2. No pretrained weights."""
    if pretrained:
        raise ValueError("encoders.py: 'tiny' has no pretrained weights; build it with pretrained=False "
                         "(train.py: --no-pretrained)")
    channels = (16, 24, 32, 64, 128)
    stages, cin = [], 3
    for c in channels:
        stages.append(nn.Sequential(conv_bn_relu(cin, c, 2), conv_bn_relu(c, c)))
        cin = c
    return StagedEncoder(stages, channels, (2, 4, 8, 16, 32))


def vgg_encoder(builder, weights, pretrained=True):
    """VGG-16: split `features` after each max-pool -> five stages of strides 2..32."""
    vgg = _load_torchvision(builder, weights, pretrained)
    stages, current = [], []
    for layer in vgg.features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
    channels = [_last_conv_channels(s) for s in stages]
    return StagedEncoder(stages, channels, (2, 4, 8, 16, 32))


def resnet_encoder(builder, weights, pretrained=True, output_stride=32):
    """ResNet: c1 = conv1+bn+relu, c2 = maxpool+layer1, c3..c5 = layer2..layer4."""
    if output_stride not in (8, 16, 32):
        raise ValueError(f"encoders.py: output_stride must be 8, 16 or 32, got {output_stride}")
    dilate = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[output_stride]
    if output_stride != 32 and builder is tvm.resnet18:
        raise ValueError("encoders.py: resnet18 cannot be dilated (torchvision's BasicBlock has no "
                         "dilation); use output_stride=32 or resnet50/resnet101")
    kwargs = {"replace_stride_with_dilation": dilate} if output_stride != 32 else {}
    r = _load_torchvision(builder, weights, pretrained, **kwargs)
    stages = [
        nn.Sequential(r.conv1, r.bn1, r.relu),  # stride 2
        nn.Sequential(r.maxpool, r.layer1),  # stride 4
        r.layer2,  # stride 8
        r.layer3,  # stride 16 (8 when dilated)
        r.layer4,  # stride 32 (16 or 8 when dilated)
    ]
    strides = (2, 4, 8, min(16, output_stride), output_stride)
    return StagedEncoder(stages, [_last_conv_channels(s) for s in stages], strides)


def efficientnet_encoder(builder, weights, pretrained=True):
    """EfficientNet: features[0:2] (stride 2), [2] (4), [3] (8), [4:6] (16), [6:8] (32)."""
    f = _load_torchvision(builder, weights, pretrained).features
    stages = [f[0:2], f[2], f[3], f[4:6], f[6:8]]  # features[8] (the head's 1x1 conv) is dropped
    return StagedEncoder(stages, [_last_conv_channels(s) for s in stages], (2, 4, 8, 16, 32))


# name -> function(pretrained, output_stride) returning the encoder
BACKBONES = {
    "tiny": tiny_encoder,
    "vgg16": lambda pretrained, output_stride: vgg_encoder(
        tvm.vgg16, tvm.VGG16_Weights.IMAGENET1K_V1, pretrained),
    "vgg16_bn": lambda pretrained, output_stride: vgg_encoder(
        tvm.vgg16_bn, tvm.VGG16_BN_Weights.IMAGENET1K_V1, pretrained),
    "resnet18": lambda pretrained, output_stride: resnet_encoder(
        tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, pretrained, output_stride),
    "resnet50": lambda pretrained, output_stride: resnet_encoder(
        tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2, pretrained, output_stride),
    "resnet101": lambda pretrained, output_stride: resnet_encoder(
        tvm.resnet101, tvm.ResNet101_Weights.IMAGENET1K_V2, pretrained, output_stride),
}
for _i in range(8):
    BACKBONES[f"efficientnet_b{_i}"] = (
        lambda pretrained, output_stride, i=_i: efficientnet_encoder(
            getattr(tvm, f"efficientnet_b{i}"), getattr(tvm, f"EfficientNet_B{i}_Weights").IMAGENET1K_V1,
            pretrained))


def build_encoder(name, pretrained=True, output_stride=32):
    """Build the encoder `name` (see BACKBONES). output_stride != 32 only for resnet50/101."""
    if name not in BACKBONES:
        raise ValueError(f"encoders.py: unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    if output_stride != 32 and not name.startswith("resnet"):
        raise ValueError(f"encoders.py: output_stride={output_stride} is only available for resnet50/resnet101, "
                         f"not {name!r}")
    return BACKBONES[name](pretrained, output_stride)
