"""encoders.py: every backbone builds with its architecture's widths, feature shapes follow .channels/.strides,
features equal torchvision's own layers with the same weights (plain and dilated), weights load or fail loudly."""
import os
import urllib.error

import pytest
import torch
import torchvision.models as tvm

import encoders

FORWARD_NAMES = {"tiny", "resnet18", "efficientnet_b0", "vgg16"}  # small enough to run at 64x64

# the five widths C_1 .. C_5 of every backbone, as the architectures define them (c5 of an EfficientNet is its last
# MBConv stage, not the 1x1 head conv of 4x that width: fusion_dim's K*M = 20*32 = 640 is chosen against b7's 640)
CHANNELS = {
    "tiny": (16, 24, 32, 64, 128),
    "vgg16": (64, 128, 256, 512, 512), "vgg16_bn": (64, 128, 256, 512, 512),
    "resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048),
    "resnet101": (64, 256, 512, 1024, 2048),
    "efficientnet_b0": (16, 24, 40, 112, 320), "efficientnet_b1": (16, 24, 40, 112, 320),
    "efficientnet_b2": (16, 24, 48, 120, 352), "efficientnet_b3": (24, 32, 48, 136, 384),
    "efficientnet_b4": (24, 32, 56, 160, 448), "efficientnet_b5": (24, 40, 64, 176, 512),
    "efficientnet_b6": (32, 40, 72, 200, 576), "efficientnet_b7": (32, 48, 80, 224, 640),
}


@pytest.mark.parametrize("name", sorted(encoders.BACKBONES))
def test_every_backbone_builds_and_small_ones_run(name):
    enc = encoders.build_encoder(name, pretrained=False)
    assert enc.channels == CHANNELS[name] and enc.strides == (2, 4, 8, 16, 32)
    if name in FORWARD_NAMES:
        with torch.no_grad():
            feats = enc.eval()(torch.zeros(2, 3, 64, 96))
        for f, c, s in zip(feats, enc.channels, enc.strides):
            assert tuple(f.shape) == (2, c, 64 // s, 96 // s)


def test_dilated_resnet_strides():
    enc = encoders.build_encoder("resnet50", pretrained=False, output_stride=8)
    assert enc.strides == (2, 4, 8, 8, 8)
    with torch.no_grad():
        feats = enc.eval()(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 8, 8]
    assert [f.shape[1] for f in feats] == list(enc.channels)


def test_bad_names_and_options_say_what_is_valid():
    with pytest.raises(ValueError, match="efficientnet_b7") as e:
        encoders.build_encoder("resnet1O1", pretrained=False)
    assert "resnet101" in str(e.value) and "tiny" in str(e.value)
    with pytest.raises(ValueError, match="resnet50/resnet101"):
        encoders.build_encoder("vgg16", pretrained=False, output_stride=8)
    with pytest.raises(ValueError, match="BasicBlock"):
        encoders.build_encoder("resnet18", pretrained=False, output_stride=8)
    with pytest.raises(ValueError, match="pretrained=False"):
        encoders.build_encoder("tiny", pretrained=True)


def test_vgg16_is_torchvision_vgg16_without_bn_and_vgg16_bn_has_it():
    plain, bn = (encoders.build_encoder(n, pretrained=False) for n in ("vgg16", "vgg16_bn"))
    count = lambda enc, kind: sum(isinstance(m, kind) for m in enc.modules())  # noqa: E731
    assert count(plain, torch.nn.BatchNorm2d) == 0 and count(bn, torch.nn.BatchNorm2d) == 13
    assert count(plain, torch.nn.Conv2d) == count(bn, torch.nn.Conv2d) == 13
    reference = tvm.vgg16(weights=None).features  # the same layers as torchvision's VGG-16, in the same order
    assert ([type(m) for m in plain.stages.modules() if not isinstance(m, (torch.nn.Sequential, torch.nn.ModuleList))]
            == [type(m) for m in reference])
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg16_plain'; choose one of .*'vgg16'"):
        encoders.build_encoder("vgg16_plain", pretrained=False)


def _no_download(*args, **kwargs):
    raise urllib.error.URLError("no network in the test")


def test_missing_weights_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    with pytest.raises(RuntimeError) as e:
        encoders.build_encoder("resnet18", pretrained=True)
    msg = str(e.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in msg
    assert os.path.join(str(tmp_path), "hub", "checkpoints", "resnet18-f37072fd.pth") in msg
    assert "pretrained=False" in msg and "--no-pretrained" in msg
    assert isinstance(e.value, ValueError)  # the scripts print ValueErrors as one line, not a traceback


def test_weights_in_the_hub_cache_are_used(tmp_path, monkeypatch):
    # torchvision loads <TORCH_HOME>/hub/checkpoints/<file name of the URL> if it exists; the SHA-256 prefix
    # in the name is only checked on download (torch.hub.load_state_dict_from_url), so our file is accepted.
    torch.manual_seed(0)
    reference = tvm.resnet18()
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / "resnet18-f37072fd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)  # fails the test if it tries
    enc = encoders.build_encoder("resnet18", pretrained=True)
    assert torch.equal(enc.stages[0][0].weight, reference.conv1.weight)
    assert torch.equal(enc.stages[4][1].conv2.weight, reference.layer4[1].conv2.weight)


def share_weights(enc, reference):
    """Load the torchvision model's tensors into the encoder in registration order: the encoder holds torchvision's
    layers in torchvision's order, so its state dict is a prefix of the reference's (minus the classifier).
    BN statistics and affine terms are drawn at random first, so that BN is not the identity."""
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    ours, theirs = enc.state_dict(), list(reference.state_dict().values())
    assert len(ours) <= len(theirs)
    for (key, ours_v), theirs_v in zip(ours.items(), theirs):
        assert ours_v.shape == theirs_v.shape, key
    enc.load_state_dict(dict(zip(ours, theirs)))


def resnet_features(r, x):
    """c1..c5 computed with torchvision's own ResNet modules: conv1-bn1-relu, maxpool+layer1, layer2..layer4."""
    c1 = r.relu(r.bn1(r.conv1(x)))
    c2 = r.layer1(r.maxpool(c1))
    c3 = r.layer2(c2)
    c4 = r.layer3(c3)
    return [c1, c2, c3, c4, r.layer4(c4)]


@pytest.mark.parametrize("name,output_stride", [("resnet18", 32), ("resnet50", 32), ("resnet50", 16),
                                                ("resnet50", 8)])
def test_resnet_features_equal_torchvision_layers(name, output_stride):
    dilate = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[output_stride]
    torch.manual_seed(0)
    reference = getattr(tvm, name)(weights=None, replace_stride_with_dilation=dilate).eval()
    enc = encoders.build_encoder(name, pretrained=False, output_stride=output_stride).eval()
    share_weights(enc, reference)
    strides = {32: (2, 4, 8, 16, 32), 16: (2, 4, 8, 16, 16), 8: (2, 4, 8, 8, 8)}[output_stride]
    assert enc.strides == strides and enc.channels == CHANNELS[name]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats, expected = enc(x), resnet_features(reference, x)
    for i, (f, e, c, s) in enumerate(zip(feats, expected, enc.channels, strides)):
        assert tuple(f.shape) == (2, c, 64 // s, 64 // s), f"c{i + 1}"
        torch.testing.assert_close(f, e, rtol=1e-4, atol=1e-5, msg=f"c{i + 1}")
    assert (feats[0] >= 0).all() and (feats[0] == 0).any()  # c1 is after the ReLU


def test_efficientnet_features_equal_torchvision_stages():
    torch.manual_seed(0)
    reference = tvm.efficientnet_b0(weights=None).eval()
    enc = encoders.build_encoder("efficientnet_b0", pretrained=False).eval()
    share_weights(enc, reference)
    assert enc.channels == CHANNELS["efficientnet_b0"] and enc.strides == (2, 4, 8, 16, 32)
    f = reference.features
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = enc(x)
        c1 = f[1](f[0](x))
        c2 = f[2](c1)
        c3 = f[3](c2)
        c4 = f[5](f[4](c3))
        c5 = f[7](f[6](c4))  # the last MBConv stage; features[8] (1x1 conv to 1280) belongs to the ImageNet head
    for i, (got, e) in enumerate(zip(feats, [c1, c2, c3, c4, c5])):
        torch.testing.assert_close(got, e, rtol=1e-4, atol=1e-5, msg=f"c{i + 1}")
    assert f[8][0].out_channels == 1280 != feats[4].shape[1]


def test_efficientnet_b7_widths_are_torchvision_stage_widths():
    # no forward: the widths read from torchvision's module definitions (MBConv.out_channels)
    f = tvm.efficientnet_b7(weights=None).features
    widths = tuple(f[i][-1].out_channels for i in (1, 2, 3, 5, 7))
    assert widths == CHANNELS["efficientnet_b7"] and f[8][0].out_channels == 2560
    assert encoders.build_encoder("efficientnet_b7", pretrained=False).channels == widths
