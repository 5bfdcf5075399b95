"""model.make_text_features: the paper's CLIP class-name features and the controls shuffled / random / onehot / learned:
what each one is, that each is stored under `text_features` and rebuilt without CLIP, and that each works with
every fusion. CPU only, no downloads: a tiny random CLIP text tower saved by the test."""
import sys
from dataclasses import asdict

import pytest
import torch

import clip_text
import model as M

WIDTH, LAYERS, EMBED = 128, 2, 64
NAMES = ["cat", "diningtable", "traffic_light", "dog"]
K = len(NAMES)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    enc = clip_text.TextEncoder(embed_dim=EMBED, width=WIDTH, heads=WIDTH // 64, layers=LAYERS)
    enc.init_parameters(torch.Generator().manual_seed(0))
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(enc.state_dict(), path)
    return str(path)


def cfg(clip_path, **overrides):
    return M.ModelConfig(**{"backbone": "tiny", "pretrained": False, "num_classes": K, "class_names": NAMES,
                            "text_dim": EMBED, "clip_weights": clip_path, "attn_dim": 32, "attn_heads": 4,
                            **overrides})


def test_each_control_is_what_it_says(clip_path):
    clip = M.make_text_features(cfg(clip_path))
    encoder = clip_text.load_text_encoder(clip_path)
    torch.testing.assert_close(clip, clip_text.encode_class_names(encoder, NAMES))  # the paper's f_T
    shuffled = M.make_text_features(cfg(clip_path, text_features="shuffled"))
    perm = M.derangement(K)
    assert all(perm[k] != k for k in range(K)) and sorted(perm) == list(range(K))  # a derangement
    torch.testing.assert_close(shuffled, clip[perm])
    random = M.make_text_features(cfg(clip_path, text_features="random"))
    torch.testing.assert_close(random.norm(dim=-1), clip.norm(dim=-1))  # the CLIP norms
    assert (random @ clip.T).abs().max() < 0.9  # not the CLIP directions
    torch.testing.assert_close(random, M.make_text_features(cfg(clip_path, text_features="random")))  # fixed seed
    assert torch.equal(M.make_text_features(cfg(clip_path, text_features="onehot")), torch.eye(K, EMBED))


def test_controls_without_clip_need_no_clip(monkeypatch, clip_path):
    monkeypatch.setitem(sys.modules, "clip_text", None)  # importing it would raise
    state = torch.get_rng_state()
    learned = M.make_text_features(cfg("no/such/file.pt", text_features="learned"))
    onehot = M.make_text_features(cfg("no/such/file.pt", text_features="onehot"))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone: same model initialisation
    assert learned.shape == onehot.shape == (K, EMBED)
    torch.testing.assert_close(learned.norm(dim=-1), torch.ones(K))


def test_learned_is_a_trained_parameter_under_the_same_key(clip_path):
    torch.manual_seed(0)
    model = M.build_model(cfg(clip_path, text_features="learned"))
    assert isinstance(model.text_features, torch.nn.Parameter)
    assert any(p is model.text_features for p in model.parameters())  # so the optimizer gets it
    model(torch.rand(2, 3, 64, 64))["logits"].square().mean().backward()
    assert model.text_features.grad.abs().sum() > 0
    counts = M.count_parameters(model)
    assert "text_features" in model.state_dict() and counts["text_features"] == K * EMBED
    assert "text_features_buffer" not in counts and counts["total"] == counts["trainable"]
    torch.manual_seed(0)
    fixed = M.build_model(cfg(clip_path))
    assert not isinstance(fixed.text_features, torch.nn.Parameter) and fixed.text_features.grad is None


@pytest.mark.parametrize("kind", M.TEXT_FEATURES)
@pytest.mark.parametrize("fusion", [f for f in M.FUSIONS if f != "none"])
def test_every_kind_works_with_every_fusion_and_is_rebuilt_without_clip(kind, fusion, clip_path, monkeypatch):
    torch.manual_seed(0)
    model = M.build_model(cfg(clip_path, text_features=kind, fusion=fusion)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)["logits"]
    monkeypatch.setitem(sys.modules, "clip_text", None)  # evaluation never needs CLIP
    rebuilt = M.load_model(asdict(model.cfg), model.state_dict()).eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(x)["logits"], expected)
    assert torch.equal(rebuilt.text_features, model.text_features)


def test_bad_combinations_fail_loudly(clip_path):
    with pytest.raises(ValueError, match="onehot.*learned"):
        M.build_model(cfg(clip_path, text_features="words"))
    with pytest.raises(ValueError, match="K=4 > D=3"):
        M.make_text_features(cfg(clip_path, text_features="onehot", text_dim=3))
    with pytest.raises(ValueError, match="nothing reads the text"):
        M.build_model(cfg(clip_path, text_features="learned", fusion="none"))
    with pytest.raises(ValueError, match="use one of the two"):
        M.build_model(cfg(clip_path, text_features="shuffled", prompt_mode="select", prompt_templates="context"))
    with pytest.raises(ValueError, match="at least 2 classes"):
        M.derangement(1)
