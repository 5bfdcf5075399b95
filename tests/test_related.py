"""Beyond the paper (off by default), the options from related CLIP papers: prompt sets / selection / CoOp context
(related/prompts.py), the fusions `cross_attention` and `pixel_text_alignment` and the alignment heads
(related/fusion.py), the terms `loss_t2p` and `loss_contrast` (related/losses.py), and their wiring in model.py
and losses.EdgeCriterion. CPU only, no downloads: tiny random text encoders and the `tiny` backbone.
"""
import inspect
import re
import types
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

import clip_text
import losses
import model as M
from related import fusion as related_fusion
from related import losses as related_losses
from related import prompts as related_prompts

WIDTH, LAYERS, EMBED = 128, 2, 64  # a small random CLIP text tower (2 heads)
NAMES = ["cat", "diningtable", "traffic_light"]


@pytest.fixture(scope="module")
def encoder():
    enc = clip_text.TextEncoder(embed_dim=EMBED, width=WIDTH, heads=WIDTH // 64, layers=LAYERS)
    enc.init_parameters(torch.Generator().manual_seed(0))
    return enc.eval().requires_grad_(False)


# ----------------------------------------------------------------------------- related_prompts: sets and selection

def test_every_template_has_a_slot_for_the_name_and_name_is_the_bare_name():
    assert all("{}" in t for ts in related_prompts.PROMPT_TEMPLATES.values() for t in ts)
    assert related_prompts.PROMPT_TEMPLATES["name"] == ["{}"]  # the paper's prompt


def test_prompt_bank_rows_are_templates_and_mean_is_the_ensemble(encoder):
    templates = related_prompts.PROMPT_TEMPLATES["context"]
    bank = M.encode_prompt_bank(encoder, NAMES, templates)
    assert bank.shape == (3, len(templates), EMBED)
    torch.testing.assert_close(bank.norm(dim=-1), torch.ones(3, len(templates)))
    one = clip_text.encode_class_names(encoder, NAMES, [templates[2]])
    torch.testing.assert_close(bank[:, 2], one)
    ens = clip_text.encode_class_names(encoder, NAMES, templates)
    torch.testing.assert_close(F.normalize(bank.mean(1), dim=-1), ens)


def test_selection_picks_the_planted_best_template():
    torch.manual_seed(0)
    K, T_n, D, B, H = 3, 5, 16, 2, 32
    bank = F.normalize(torch.randn(K, T_n, D), dim=-1)
    best = torch.tensor([3, 0, 4])
    # pixel embeddings: each class's edge region carries (a noisy, scaled copy of) its planted template's feature
    emb = torch.randn(B, D, H // 8, H // 8) * 0.05
    edges = torch.zeros(B, K, H, H)
    regions = [(0, slice(0, 2), slice(0, 4)), (0, slice(2, 4), slice(0, 4)), (1, slice(0, 4), slice(0, 2))]
    for k, (b, ys, xs) in enumerate(regions[:2]):  # class 2 never appears
        emb[b, :, ys, xs] += 3.0 * bank[k, best[k]].view(D, 1, 1)
        edges[b, k, ys.start * 8:ys.stop * 8, xs.start * 8:xs.stop * 8] = 1
    selector = related_prompts.TemplateSelector(K, D)
    selector.update(emb, edges)
    current = torch.tensor([1, 1, 2])
    choice = selector.choose(bank, current)
    assert choice.tolist() == [3, 0, 2]  # planted templates found; the unseen class keeps its template
    assert selector.counts.sum() == 0  # evidence reset after a choice
    assert related_prompts.select_templates(bank, bank[torch.arange(K), best]).tolist() == best.tolist()


# ----------------------------------------------------------------------------- related_prompts: CoOp context

def test_prompt_learner_with_real_words_equals_the_fixed_prompt(encoder):
    learner = M.prompt_learner_for(encoder, NAMES, n_ctx=4, ctx_init="a photo of a")
    fixed = clip_text.encode_class_names(encoder, NAMES, ["a photo of a {}."])
    torch.testing.assert_close(learner(), fixed, rtol=1e-5, atol=1e-5)


def test_prompt_learner_trains_only_the_context(encoder):
    learner = M.prompt_learner_for(encoder, NAMES, n_ctx=2)
    assert [n for n, _ in learner.named_parameters()] == ["ctx"]  # the encoder is not a submodule
    assert list(learner.state_dict()) == ["ctx"]  # nor in the state dict (63M weights for ViT-B/32)
    f_T = learner()
    assert f_T.shape == (3, EMBED)
    (f_T * torch.randn_like(f_T)).sum().backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in encoder.parameters())
    learner.double()  # the unregistered encoder follows dtype / device moves
    assert encoder.text_projection.dtype == torch.float64
    learner.float()
    assert encoder.text_projection.dtype == torch.float32


# ----------------------------------------------------------------------------- related/fusion.py

K, C = 3, 128  # classes; channels of the tiny backbone's deepest feature


@pytest.mark.parametrize("name, extra", [("cross_attention", 0), ("pixel_text_alignment", K)])
def test_new_fusions_shapes_and_every_parameter_trains(name, extra):
    torch.manual_seed(0)
    f = related_fusion.build_fusion(name, C, EMBED, K, attn_dim=32, attn_heads=4)
    f_I, f_T = torch.randn(2, C, 3, 5, requires_grad=True), torch.randn(K, EMBED, requires_grad=True)
    out = f(f_I, f_T)
    assert out.shape == (2, C + extra, 3, 5) and f.out_channels == C + extra
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters())
    assert f_T.grad.abs().sum() > 0 and f_I.grad.abs().sum() > 0  # the text reaches the output
    one = f(f_I[:1], f_T)  # a batch equals its samples one by one
    torch.testing.assert_close(one, out[:1], rtol=1e-4, atol=1e-5)


def test_position_encoding_tells_pixels_apart():
    pe = related_fusion.sine_position_encoding(4, 6, 32)
    assert pe.shape == (24, 32)
    assert torch.cdist(pe, pe).add(torch.eye(24)).min() > 0.1  # no two positions share an encoding


def test_attention_width_is_A_and_E_stays_clips_width():
    # model.py's table: E is CLIP's token width only; the attention width of these fusions is A (attn_dim)
    lines = [line for line in inspect.getsource(related_fusion).splitlines()
             if re.search(r"\bE\b", line) and "Symbols as in model.py" not in line]
    assert lines == []
    assert "(B, N, A)" in related_fusion.CrossAttentionFusion.__doc__
    assert "(B, A, h, w)" in related_fusion.PixelTextAlignmentFusion.__doc__


# ----------------------------------------------------------------------------- related/losses.py

def constructed_case():
    """Two 64x96 images (2 x 3 cells of 32 px at the feature resolution); each (image, class) has its edges
    in one cell, and there the pixel embedding equals its class's text (orthonormal texts)."""
    texts = torch.linalg.qr(torch.randn(EMBED, K, generator=torch.Generator().manual_seed(0)))[0].t()  # (K, D)
    edges, emb = torch.zeros(2, K, 64, 96), torch.zeros(2, EMBED, 2, 3)
    for b, k, i, j in [(0, 0, 0, 0), (0, 1, 0, 1), (1, 2, 1, 2), (1, 0, 1, 0)]:
        edges[b, k, 32 * i:32 * i + 32, 32 * j + 10:32 * j + 13] = 1
        emb[b, :, i, j] = texts[k]
    return texts, edges, emb


def test_t2p_loss_is_zero_on_the_pooled_ground_truth():
    _, edges, _ = constructed_case()
    target = F.adaptive_max_pool2d(edges, (2, 3))
    assert related_losses.text_pixel_loss(30 * (2 * target - 1), edges) < 1e-12
    assert related_losses.text_pixel_loss(30 * (1 - 2 * target), edges) > 0.1  # the opposite maps are penalised
    ignore = torch.zeros(2, 64, 96, dtype=torch.bool)
    ignore[:, :32, :32] = True  # a fully ignored cell does not count, whatever the prediction
    wrong_there = 30 * (2 * target - 1)
    wrong_there[:, :, 0, 0] *= -1
    assert related_losses.text_pixel_loss(wrong_there, edges, ignore) < 1e-12


def test_contrast_loss_is_minimal_on_aligned_anchors():
    texts, edges, emb = constructed_case()
    perfect = related_losses.mask_text_contrast(emb, texts, edges)
    assert perfect < 1e-5  # log(1 + (K-1) exp(-1/0.07)) ~ 1e-6
    assert related_losses.mask_text_contrast(emb, texts.roll(1, dims=0), edges) > 10  # anchors on the wrong classes
    none = related_losses.mask_text_contrast(emb.requires_grad_(), texts, torch.zeros_like(edges))
    assert none == 0
    none.backward()  # no class present: a zero that still backpropagates


def test_criterion_names_and_weights_the_new_terms():
    texts, edges, emb = constructed_case()
    extra = related_losses.AlignmentLosses(t2p_weight=2.0, contrast_weight=0.5)
    criterion = losses.EdgeCriterion(loss="bce", extra_terms=extra)
    assert criterion.weight_dict == {"loss_edge": 1.0, "loss_side": 1.0, "loss_t2p": 2.0, "loss_contrast": 0.5}
    outputs = {"logits": torch.zeros(2, K, 64, 96), "side_logits": [], "text_features": texts}
    assert set(criterion(outputs, edges)) == {"loss_edge"}  # the model has no alignment heads: no terms
    outputs.update(t2p_logits=torch.zeros(2, K, 2, 3), pixel_embeddings=emb)
    terms = criterion(outputs, edges)
    assert set(terms) == {"loss_edge", "loss_t2p", "loss_contrast"}
    assert terms["loss_contrast"] < 1e-5


# ----------------------------------------------------------------------------- model.py wiring

def tiny_cfg(**overrides):
    return M.ModelConfig(**{"backbone": "tiny", "pretrained": False, "num_classes": K, "class_names": NAMES,
                            "text_dim": EMBED, "text_width": WIDTH, "attn_dim": 32, "attn_heads": 4, **overrides})


def grads(module):
    return [p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()]


def test_alignment_losses_reach_exactly_their_heads_and_the_encoder():
    torch.manual_seed(0)
    model = M.build_model(tiny_cfg(t2p_head=True, embed_head=True), text_features=torch.randn(K, EMBED))
    images, edges = torch.rand(2, 3, 64, 96), constructed_case()[1]
    out = model(images)
    assert out["t2p_logits"].shape == (2, K, 2, 3) and out["pixel_embeddings"].shape == (2, EMBED, 2, 3)
    cases = [("t2p", model.t2p_head, model.embed_head), ("contrast", model.embed_head, model.t2p_head)]
    for term, head, other in cases:
        model.zero_grad(set_to_none=True)
        out = model(images)
        loss = (related_losses.text_pixel_loss(out["t2p_logits"], edges) if term == "t2p"
                else related_losses.mask_text_contrast(out["pixel_embeddings"], out["text_features"], edges))
        loss.backward()
        assert all(grads(head)), term
        assert any(grads(model.encoder)), term  # the alignment shapes the image features
        assert not any(grads(other)) and not any(grads(model.fusion)) and not any(grads(model.decoder)), term
        assert model.text_features.grad is None


@pytest.fixture(scope="module")
def clip_path(encoder, tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(encoder.state_dict(), path)
    return str(path)


def test_learned_prompts_train_only_the_context_and_evaluate_from_the_buffer(clip_path):
    torch.manual_seed(0)
    cfg = tiny_cfg(prompt_mode="learned", prompt_context=2, clip_weights=clip_path)
    model = M.build_model(cfg).train()
    text_encoder = model.prompt_learner.encoder
    out = model(torch.rand(2, 3, 64, 64))
    out["logits"].square().mean().backward()
    assert model.prompt_learner.ctx.grad.abs().sum() > 0  # the edge loss reaches the context through the fusion
    assert all(p.grad is None for p in text_encoder.parameters())  # the text transformer stays frozen
    assert not any(p is q for p in model.parameters() for q in text_encoder.parameters())
    torch.testing.assert_close(model.text_features, out["text_features"].detach())  # the latest f_T is kept
    state = model.state_dict()
    assert "prompt_learner.ctx" in state and not any(k.startswith("prompt_learner.encoder") for k in state)
    rebuilt = M.load_model(asdict(cfg), state).eval()  # no CLIP needed: f_T is the buffer
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(rebuilt(x)["logits"], model(x)["logits"])


def test_selected_prompts_switch_the_text_features(clip_path):
    cfg = tiny_cfg(prompt_mode="select", prompt_templates="context", embed_head=True, clip_weights=clip_path)
    model = M.build_model(cfg)
    T_n = len(related_prompts.PROMPT_TEMPLATES["context"])
    assert model.prompt_bank.shape == (K, T_n, EMBED)
    torch.testing.assert_close(model.text_features, model.prompt_bank[:, 0])  # starts from the bare name
    model.set_prompt_choice(torch.tensor([2, 0, 5]))
    torch.testing.assert_close(model.text_features, model.prompt_bank[torch.arange(K), torch.tensor([2, 0, 5])])
    out = model(torch.rand(1, 3, 64, 64))
    torch.testing.assert_close(out["contrast_text_features"], F.normalize(model.prompt_bank.mean(1), dim=-1))
    rebuilt = M.load_model(asdict(cfg), model.state_dict())
    assert rebuilt.prompt_choice.tolist() == [2, 0, 5]


@pytest.mark.parametrize("overrides, weights", [
    (dict(t2p_head=True, embed_head=True), dict(t2p_weight=1.0, contrast_weight=0.1)),
    (dict(prompt_mode="select", prompt_templates="context", embed_head=True), dict(contrast_weight=0.0)),
    (dict(prompt_mode="learned", prompt_context=2, fusion="none", embed_head=True), dict(contrast_weight=0.1)),
], ids=["t2p+contrast", "select-no-contrast", "learned-none-contrast"])
@pytest.mark.parametrize("with_edges", [True, False], ids=["edges", "no-edges"])
def test_every_trainable_parameter_is_in_the_loss_graph(overrides, weights, with_edges, clip_path):
    """What DistributedDataParallel (without find_unused_parameters) needs: every parameter that requires a
    gradient gets one from the weighted loss, in every step, even a batch with no edges at all."""
    torch.manual_seed(0)
    model = M.build_model(tiny_cfg(clip_weights=clip_path, **overrides)).train()
    criterion = losses.EdgeCriterion(loss="bce", extra_terms=related_losses.AlignmentLosses(**weights))
    edges = constructed_case()[1] if with_edges else torch.zeros(2, K, 64, 96)
    terms = criterion(model(torch.rand(2, 3, 64, 96)), edges)
    sum(criterion.weight_dict[k] * v for k, v in terms.items()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


def test_after_step_rechooses_every_n_steps_and_names_the_templates(clip_path):
    cfg = tiny_cfg(prompt_mode="select", prompt_templates="context", embed_head=True, clip_weights=clip_path)
    model = M.build_model(cfg)
    selector = related_prompts.TemplateSelector(K, EMBED, every=2)
    edges = constructed_case()[1]
    out = model(torch.rand(2, 3, 64, 96))
    assert selector.after_step(model, out, edges, 1) is None and selector.counts.sum() > 0  # evidence gathered
    expected = related_prompts.TemplateSelector(K, EMBED)  # the two calls it replaces
    expected.update(out["pixel_embeddings"], edges)
    expected.update(out["pixel_embeddings"], edges)
    expected_choice = expected.choose(model.prompt_bank, model.prompt_choice)
    chosen = selector.after_step(types.SimpleNamespace(module=model), out, edges, 2)  # wrapped, as by DDP
    templates = related_prompts.PROMPT_TEMPLATES["context"]
    assert model.prompt_choice.tolist() == expected_choice.tolist()
    assert chosen == {n: templates[i] for n, i in zip(NAMES, expected_choice.tolist())}
    torch.testing.assert_close(model.text_features, model.prompt_bank[torch.arange(K), expected_choice])
    assert selector.counts.sum() == 0  # evidence reset after a choice
    state = selector.state_dict()
    selector.after_step(model, out, edges, 3)
    selector.load_state_dict(state)
    assert selector.counts.sum() == 0


def test_unknown_related_names_list_the_choices():
    with pytest.raises(ValueError, match="cross_attention"):
        related_fusion.build_fusion("sum", 4, 4, 2)
    with pytest.raises(ValueError, match="context"):
        related_prompts.templates_of("fancy")
    with pytest.raises(ValueError, match="pixel_text_alignment"):
        M.build_model(tiny_cfg(fusion="sum"), text_features=torch.randn(K, EMBED))
