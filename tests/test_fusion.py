"""fusion.py: shapes of every variant, the recalibration form of Eq. (3-5), the LSeg cosine formula."""
import math

import pytest
import torch

import fusion


@pytest.mark.parametrize("name", fusion.FUSIONS)
def test_shapes_and_gradients(name):
    torch.manual_seed(0)
    B, C, h, w, K, D = 2, 12, 3, 5, 4, 16
    fu = fusion.build_fusion(name, C, D, K, fusion_dim=8)
    f_I = torch.randn(B, C, h, w, requires_grad=True)
    f_T = torch.randn(K, D)  # a buffer in the model: no grad
    out = fu(f_I, f_T)
    assert tuple(out.shape) == (B, fu.out_channels, h, w)
    expected = {"lseg": K, "pixel_text_alignment": C + K}.get(name, C)  # K maps, or f_I with K maps appended
    assert fu.out_channels == expected
    out.square().sum().backward()
    assert f_I.grad is not None and f_T.grad is None
    for pname, p in fu.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["product", "product_diff", "concat_diff"])
def test_recalibration_is_a_per_channel_scale_between_1_and_1_plus_C(name):
    # Eq. (3-5): out = f_I + C * f_I * w with w = sigmoid(...) in (0, 1), one w per (image, channel)
    torch.manual_seed(0)
    fu = fusion.build_fusion(name, 6, 10, 3, fusion_dim=4)
    f_I = torch.rand(2, 6, 4, 4) + 0.5
    with torch.no_grad():
        ratio = fu(f_I, torch.randn(3, 10)) / f_I  # (B, C, h, w)
        assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)
        assert (ratio > 1).all() and (ratio < 1 + fu.scale).all()
        fu.scale.zero_()
        assert torch.equal(fu(f_I, torch.randn(3, 10)), f_I)  # C_learn = 0 leaves f_I unchanged


def test_none_returns_the_image_feature():
    f_I = torch.randn(1, 7, 2, 2)
    assert fusion.build_fusion("none", 7, 5, 3)(f_I, torch.randn(3, 5)) is f_I


def test_lseg_equals_the_cosine_formula_on_a_hand_made_case():
    fu = fusion.build_fusion("lseg", img_channels=2, text_dim=2, num_classes=2)
    with torch.no_grad():
        fu.proj.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]).view(2, 2, 1, 1))  # x -> (2 x0, x1)
        fu.proj.bias.zero_()
    f_I = torch.tensor([[1.0, 0.0], [1.0, 2.0]]).view(1, 2, 1, 2)  # pixel 0 = (1, 1), pixel 1 = (0, 2)
    f_T = torch.tensor([[3.0, 0.0], [1.0, 1.0]])  # class 0 along x, class 1 on the diagonal
    out = fu(f_I, f_T)
    # projected pixels: (2, 1) and (0, 2); cos with (1, 0): 2/sqrt5, 0; with (1,1)/sqrt2: 3/sqrt10, 1/sqrt2
    expected = torch.tensor([[2 / math.sqrt(5), 0.0], [3 / math.sqrt(10), 1 / math.sqrt(2)]]) / 0.07
    assert torch.allclose(out[0, :, 0, :], expected, atol=1e-5)


def test_unknown_fusion_lists_the_choices():
    with pytest.raises(ValueError, match="product_diff") as e:
        fusion.build_fusion("sum", 4, 4, 2)
    assert "lseg" in str(e.value) and "fusion.py" in str(e.value)
