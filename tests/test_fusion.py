"""fusion.py: shapes of every variant, Eq. (3-3) - (3-5) by hand (ReLU included), the recalibration form of our
SE-style reading, the LSeg cosine formula, and the identifiability statement: any text can be made to compute what
any other text computes."""
import copy
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
    expected = {"lseg": K, "product_spatial": K * 8}.get(name, C)  # K cosine maps, or K*M mask channels
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
    assert "lseg" in str(e.value) and "product_spatial" in str(e.value) and "fusion.py" in str(e.value)
    assert "cross_attention" not in fusion.FUSIONS  # the related-paper fusions live in related/fusion.py


def hand_made(name, C=6, D=5, K=3, M=4, B=2):
    """A fusion with random weights, random inputs, and FC_I's pre-activation with entries of both signs."""
    torch.manual_seed(3)
    fu = fusion.build_fusion(name, C, D, K, fusion_dim=M)
    with torch.no_grad():
        fu.scale.fill_(0.7)
    return fu, torch.randn(B, C, 3, 4), torch.randn(K, D)


def test_product_equals_eq_3_3_to_3_5_by_hand_relu_included():
    fu, f_I, f_T = hand_made("product")
    Wt, bt = fu.fc_text.weight, fu.fc_text.bias
    Wi, bi = fu.fc_image.weight, fu.fc_image.bias
    Wo, bo = fu.fc_out.weight, fu.fc_out.bias
    with torch.no_grad():
        t = (f_T @ Wt.T + bt).flatten()  # Eq. (3-3), (K*M,)
        pre = f_I.mean(dim=(2, 3)) @ Wi.T + bi  # FC_I(GAP(f_I)), (B, K*M)
        assert (pre < 0).any() and (pre > 0).any()  # the ReLU matters on this case
        g = pre.clamp(min=0)  # Eq. (3-4)
        s = torch.sigmoid((t * g) @ Wo.T + bo)  # (B, C)
        expected = f_I + 0.7 * f_I * s[:, :, None, None]  # Eq. (3-5), our SE-style reading
        torch.testing.assert_close(fu(f_I, f_T), expected, rtol=1e-5, atol=1e-6)


def test_product_spatial_is_the_literal_reading_by_hand_relu_included():
    fu, f_I, f_T = hand_made("product_spatial")
    Wt, bt = fu.fc_text.weight, fu.fc_text.bias
    Wi, bi = fu.fc_image.weight[:, :, 0, 0], fu.fc_image.bias
    with torch.no_grad():
        t = (f_T @ Wt.T + bt).flatten()  # Eq. (3-3), (K*M,)
        pre = torch.einsum("bchw,oc->bohw", f_I, Wi) + bi[:, None, None]  # FC_I at every pixel, (B, K*M, h, w)
        assert (pre < 0).any() and (pre > 0).any()
        expected = 0.7 * t[None, :, None, None] * pre.clamp(min=0)  # Eq. (3-4), (3-5): (t ⊙ ReLU(.)) × C_learn
        out = fu(f_I, f_T)
    assert out.shape == (2, 3 * 4, 3, 4) and fu.out_channels == 12
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["product", "product_spatial", "product_diff", "concat_diff"])
def test_any_text_can_compute_what_any_other_text_computes(name):
    """f_T is a constant, so FC_T can map text B onto what text A gives: for K linearly independent rows of B,
    choose W_B with B W_B^T + b_B = A W_A^T + b_A (W_B^T = B^+ (A W_A^T + b_A - b_B), B B^+ = I); then the
    fusion with B computes exactly the function of the fusion with A."""
    torch.manual_seed(0)
    C, D, K, M = 6, 10, 4, 3
    fuse_A = fusion.build_fusion(name, C, D, K, fusion_dim=M).double()
    fuse_B = copy.deepcopy(fuse_A)
    A, B = torch.randn(K, D, dtype=torch.float64), torch.randn(K, D, dtype=torch.float64)
    assert torch.linalg.matrix_rank(B) == K
    f_I = torch.randn(3, C, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(fuse_A(f_I, A), fuse_B(f_I, B))  # the texts differ, and so do the outputs
        fuse_B.fc_text.bias.copy_(torch.randn(M, dtype=torch.float64))  # any bias: W_B absorbs the difference
        target = fuse_A.fc_text(A) - fuse_B.fc_text.bias  # (K, M)
        fuse_B.fc_text.weight.copy_((torch.linalg.pinv(B) @ target).T)  # (M, D)
        torch.testing.assert_close(fuse_B.fc_text(B), fuse_A.fc_text(A))
        torch.testing.assert_close(fuse_B(f_I, B), fuse_A(f_I, A), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["product_diff", "concat_diff"])
def test_table_2_combinations_by_hand(name):
    """Table 2's rows in our reading: product_diff a = [t ⊙ g, t - g], concat_diff a = [t, g, t - g], each followed
    by the same FC_out / sigmoid / residual as `product`."""
    fu, f_I, f_T = hand_made(name)
    Wt, bt = fu.fc_text.weight, fu.fc_text.bias
    Wi, bi = fu.fc_image.weight, fu.fc_image.bias
    Wo, bo = fu.fc_out.weight, fu.fc_out.bias
    with torch.no_grad():
        t = (f_T @ Wt.T + bt).flatten().expand(2, -1)  # Eq. (3-3), the same text for both images: (B, K*M)
        pre = f_I.mean(dim=(2, 3)) @ Wi.T + bi  # FC_I(GAP(f_I)), (B, K*M)
        assert (pre < 0).any() and (pre > 0).any()
        g = pre.clamp(min=0)  # Eq. (3-4)
        parts = {"product_diff": [t * g, t - g], "concat_diff": [t, g, t - g]}[name]
        a = torch.cat(parts, dim=1)  # (B, n_parts*K*M)
        assert Wo.shape == (6, a.shape[1])  # FC_out reads every part
        s = torch.sigmoid(a @ Wo.T + bo)  # (B, C)
        expected = f_I + 0.7 * f_I * s[:, :, None, None]
        out = fu(f_I, f_T)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
        # each part matters: dropping the difference (its FC_out columns zeroed) changes the output
        Wo[:, -a.shape[1] // len(parts):] = 0
        assert not torch.allclose(fu(f_I, f_T), out, atol=1e-4)
