"""encoders.py: every backbone builds, feature shapes follow .channels/.strides, weights load or fail loudly."""
import os
import urllib.error

import pytest
import torch
import torchvision.models as tvm

import encoders

FORWARD_NAMES = {"tiny", "resnet18", "efficientnet_b0", "vgg16"}  # small enough to run at 64x64


@pytest.mark.parametrize("name", sorted(encoders.BACKBONES))
def test_every_backbone_builds_and_small_ones_run(name):
    enc = encoders.build_encoder(name, pretrained=False)
    assert len(enc.channels) == 5 and enc.strides == (2, 4, 8, 16, 32)
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
