"""model.py: the full model on the tiny backbone; text features as a frozen buffer; rebuild from asdict + state dict;
a checkpoint of the old decoder layout gets a clear message."""
import sys
import types
import urllib.error
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
import torchvision.models as tvm
import torchvision.transforms.functional as TF

import model as M

K, D = 3, 512


def tiny_config(**overrides):
    return M.ModelConfig(**{"backbone": "tiny", "pretrained": False, "num_classes": K,
                            "class_names": ["cat", "dog", "diningtable"], **overrides})


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return M.build_model(tiny_config(**overrides), text_features=torch.randn(K, D))


@pytest.mark.parametrize("decoder", ["refine", "casenet"])
@pytest.mark.parametrize("fusion_name", M.FUSIONS)
def test_shapes_and_gradients_for_every_fusion_and_decoder(fusion_name, decoder):
    model = tiny_model(fusion=fusion_name, decoder=decoder, deep_supervision=True, attn_dim=32, attn_heads=4)
    out = model(torch.rand(2, 3, 64, 64))
    assert tuple(out["logits"].shape) == (2, K, 64, 64)
    assert len(out["side_logits"]) == {"refine": 5, "casenet": 1}[decoder]
    assert all(tuple(s.shape) == (2, K, 64, 64) for s in out["side_logits"])
    assert tuple(out["image_features"].shape) == (2, 128, 2, 2)
    assert out["text_features"] is model.text_features
    (out["logits"].sum() + sum(s.sum() for s in out["side_logits"])).backward()
    for part in (model.fusion, model.decoder):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # the text features are a buffer: saved, never trained
    assert not model.text_features.requires_grad and model.text_features.grad is None
    assert "text_features" in model.state_dict()
    assert all(p is not model.text_features for p in model.parameters())


def test_dilated_resnet_model():
    torch.manual_seed(0)
    cfg = M.ModelConfig(backbone="resnet50", output_stride=8, pretrained=False, num_classes=K)
    model = M.build_model(cfg, text_features=torch.randn(K, D)).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 50, 40))
    assert tuple(out["logits"].shape) == (1, K, 50, 40) and tuple(out["image_features"].shape) == (1, 2048, 7, 5)


def test_eval_batch_equals_samples_one_by_one():
    model = tiny_model().eval()
    images = torch.rand(3, 3, 45, 70)
    with torch.no_grad():
        batch = model(images)["logits"]
        single = torch.cat([model(images[i:i + 1])["logits"] for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-5)


def test_odd_sizes_pad_by_replication_and_crop_back():
    model = tiny_model().eval()
    images = torch.rand(1, 3, 33, 41)
    seen = {}
    model.encoder.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    with torch.no_grad():
        logits = model(images)["logits"]
        assert tuple(logits.shape) == (1, K, 33, 41)
        # ImageNet normalisation happens once, in the model, before padding to 64 x 64
        normalised = (images - model.pixel_mean) / model.pixel_std
        assert torch.allclose(seen["x"], F.pad(normalised, (0, 23, 0, 31), mode="replicate"))
        # the same as running the padded image and cropping by hand
        padded = F.pad(images, (0, 23, 0, 31), mode="replicate")
        assert torch.allclose(logits, model(padded)["logits"][:, :, :33, :41], atol=1e-5)


def test_rebuild_from_asdict_and_state_dict(tmp_path, monkeypatch):
    model = tiny_model(fusion="lseg", seed=1)
    model.train()
    model(torch.rand(2, 3, 64, 64))  # moves BN running statistics away from their defaults
    model.eval()
    torch.save({"model": model.state_dict(), "model_config": asdict(model.cfg)}, tmp_path / "ckpt.pt")
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    monkeypatch.setitem(sys.modules, "clip_text", None)  # rebuilding must not need the text encoder
    rebuilt = M.load_model(ckpt["model_config"], ckpt["model"]).eval()
    images = torch.rand(2, 3, 40, 64)
    with torch.no_grad():
        assert torch.equal(model(images)["logits"], rebuilt(images)["logits"])
    assert torch.equal(rebuilt.text_features, model.text_features)


def test_rebuild_never_downloads_imagenet_weights(monkeypatch):
    def no_download(*args, **kwargs):
        raise urllib.error.URLError("load_model must not download")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    cfg = M.ModelConfig(backbone="resnet18", pretrained=True, num_classes=K)  # as saved by a real run
    state = M.build_model(M.ModelConfig(**{**asdict(cfg), "pretrained": False}), torch.randn(K, D)).state_dict()
    M.load_model(asdict(cfg), state)


def test_text_features_come_from_clip_text_once(monkeypatch):
    calls = []
    fake = types.SimpleNamespace(
        PROMPT_TEMPLATES={"name": ["{}"], "photo": ["a photo of a {}."]},
        load_text_encoder=lambda name: calls.append(("load", name)) or "encoder",
        encode_class_names=lambda enc, names, templates, normalize: calls.append((enc, names, templates))
        or torch.ones(len(names), D),
    )
    monkeypatch.setitem(sys.modules, "clip_text", fake)
    model = M.build_model(tiny_config(prompt_templates="photo", clip_weights="some.pt"))
    assert calls == [("load", "some.pt"), ("encoder", ["cat", "dog", "diningtable"], ["a photo of a {}."])]
    assert torch.equal(model.text_features, torch.ones(K, D))
    model(torch.rand(1, 3, 64, 64))
    assert len(calls) == 2  # forward never touches the text encoder


def test_with_the_random_clip_text_encoder():
    model = M.build_model(tiny_config(clip_weights="random"))
    assert tuple(model.text_features.shape) == (K, D)
    assert torch.allclose(model.text_features.norm(dim=1), torch.ones(K), atol=1e-5)


def test_baseline_needs_no_text_and_bad_inputs_fail_loudly(monkeypatch):
    monkeypatch.setitem(sys.modules, "clip_text", None)  # importing it would raise
    assert torch.equal(M.build_model(tiny_config(fusion="none")).text_features, torch.zeros(K, D))
    with pytest.raises(ValueError, match="text_features has shape"):
        M.build_model(tiny_config(), text_features=torch.randn(K + 1, D))
    with pytest.raises(ValueError, match="class_names"):
        M.build_model(tiny_config(class_names=["cat"]))


def test_count_parameters():
    model = tiny_model()
    counts = M.count_parameters(model)
    assert counts["total"] == counts["encoder"] + counts["fusion"] + counts["decoder"] == counts["trainable"]
    assert counts["text_features_buffer"] == K * D
    assert "text_features" not in counts  # a buffer; only the `learned` control makes it a parameter


def test_renamed_decoder_keys_get_a_message_naming_them():
    """Weights with other key names (here a decoder level renamed) are refused with the missing and unexpected keys
    named; no translation of unreleased layouts."""
    model = tiny_model()
    state = model.state_dict()
    old = {k.replace("decoder.levels.0.", "decoder.smooth_mask.0.") if k.startswith("decoder.levels.0.smooth_mask")
           else k: v for k, v in state.items()}  # a key as another decoder layout names it
    with pytest.raises(ValueError, match=r"another model: \d+ missing keys \(e.g. \['decoder.levels.0.smooth_mask"
                                         r".*unexpected \(e.g. \['decoder.smooth_mask.0.smooth_mask"):
        M.load_model(asdict(model.cfg), old)
    M.load_model(asdict(model.cfg), state)  # the current layout loads


def test_model_docstring_holds_one_symbol_table():
    doc = M.__doc__
    for symbol in ("B ", "K ", "D ", "L ", "E ", "A ", "C ", "M ", "N_ctx", "H x W", "h x w", "T_n", "n_t"):
        assert symbol in doc, symbol
    table = {line.split()[0]: line for line in doc.splitlines() if line.startswith("    ") and line.split()}
    assert "attention" not in table["E"] and "attn_dim" in table["A"]  # one meaning each: E CLIP's, A attention
    assert "Eq. (3-1)" in doc and "P = Model(I, T)" in doc


def test_normalisation_is_torchvision_imagenet_mean_and_std_in_rgb_order():
    """The reference is torchvision's published ImageNet preset (RGB order), not the model's own buffers."""
    preset = tvm.ResNet50_Weights.IMAGENET1K_V1.transforms()
    assert preset.mean == [0.485, 0.456, 0.406] and preset.std == [0.229, 0.224, 0.225]  # R, G, B
    model = tiny_model().eval()
    seen = {}
    model.encoder.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    images = torch.rand(1, 3, 64, 64)
    images[0, :, 0, 0] = torch.tensor(preset.mean)  # the mean colour normalises to 0
    images[0, :, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # pure red
    with torch.no_grad():
        model(images)
    torch.testing.assert_close(seen["x"], TF.normalize(images, preset.mean, preset.std))
    torch.testing.assert_close(seen["x"][0, :, 0, 0], torch.zeros(3), atol=1e-6, rtol=0)
    red = torch.tensor([(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225])  # by hand
    torch.testing.assert_close(seen["x"][0, :, 0, 1], red)


def test_output_stride_16_model_pads_to_16_and_crops_back():
    torch.manual_seed(0)
    cfg = M.ModelConfig(backbone="resnet50", output_stride=16, pretrained=False, num_classes=K)
    model = M.build_model(cfg, text_features=torch.randn(K, D)).eval()
    assert model.encoder.strides == (2, 4, 8, 16, 16) and model.size_divisor == 16
    images = torch.rand(1, 3, 50, 40)
    with torch.no_grad():
        out = model(images)
        padded = F.pad(images, (0, 8, 0, 14), mode="replicate")  # 64 x 48, multiples of 16
        by_hand = model(padded)["logits"][:, :, :50, :40]
    assert tuple(out["logits"].shape) == (1, K, 50, 40) and tuple(out["image_features"].shape) == (1, 2048, 4, 3)
    torch.testing.assert_close(out["logits"], by_hand, rtol=1e-4, atol=1e-5)


def test_load_model_names_a_missing_key():
    model = tiny_model()
    state = model.state_dict()
    for key in ("decoder.classifier.weight", "encoder.stages.0.0.1.running_var"):  # a parameter, a buffer
        partial = {k: v for k, v in state.items() if k != key}
        with pytest.raises(ValueError, match="1 missing keys") as e:
            M.load_model(asdict(model.cfg), partial)
        assert key in str(e.value)
    no_text = {k: v for k, v in state.items() if k != "text_features"}
    with pytest.raises(ValueError, match="text_features"):
        M.load_model(asdict(model.cfg), no_text)
    rebuilt = M.load_model(asdict(model.cfg), state)  # the full state dict loads, every tensor as saved
    assert all(torch.equal(v, rebuilt.state_dict()[k]) for k, v in state.items())
