"""Checks of the assignment `fusion`: the cross-modal fusion F, `product` (fusion.ChannelFusion.forward), Sec. 3.2.

    t = FC_T(f_T)                  Eq. (3-3)          (K, D) -> (K, M), flattened to (K*M,) class by class
    z = GAP(f_I)                   SE squeeze (ours)  (B, C, h, w) -> (B, C), the mean over h x w
    g = ReLU(FC_I(z))              Eq. (3-4)          (B, K*M)
    a = t ⊙ g                      Eq. (3-5)          (B, K*M)
    s = sigmoid(FC_out(a))         SE excite (ours)   (B, C)
    out = f_I + C_learn * (f_I * s)   × C_learn: Eq. (3-5); the residual: ours

The main check is a case small enough to compute by hand (C = D = K = M = 2, one image of 1 x 2 pixels); the
others test one property each. The modules are built by the project's own build_fusion.
"""
import math

import torch

import fusion  # the graded repository's fusion.py: course/grade.py puts it first on sys.path
from checklib import expect_close, expect_shape, fail

SIG1 = 1 / (1 + math.exp(-1))  # sigmoid(1) = 0.731059
# the hand-made case: f_I (1, 2, 1, 2), f_T (2, 2) and every weight, chosen so that each step shows
F_I = [[[[1.0, 3.0]], [[-2.0, 0.0]]]]  # channel 0: pixels 1, 3 (mean 2); channel 1: pixels -2, 0 (mean -1)
F_T = [[1.0, 0.0], [0.0, 1.0]]
W_T, B_T = [[1.0, 2.0], [0.0, -1.0]], [0.0, 1.0]  # FC_T: t_0 = (1, 1), t_1 = (2, 0) -> t = (1, 1, 2, 0)
W_I, B_I = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], [0.0, 0.0, 0.0, 1.0]  # FC_I(z) = (2, -1, 1, -1)
W_O, B_O = [[0.5, 1.0, 0.0, 0.0], [0.0, 0.0, -0.5, 1.0]], [0.0, 0.0]  # reads a_1 and a_3: the ReLU matters
SCALE = 0.5  # C_learn
# by hand: g = ReLU(2, -1, 1, -1) = (2, 0, 1, 0); a = t * g = (2, 0, 2, 0); FC_out(a) = (1, -1);
# s = (sigmoid(1), sigmoid(-1)); out = f_I * (1 + 0.5 s): channel 0 * 1.365529, channel 1 * 1.134471
EXPECTED = [[[[1 + 0.5 * SIG1, 3 * (1 + 0.5 * SIG1)]], [[-2 * (1 + 0.5 * (1 - SIG1)), 0.0]]]]
# what common slips give on this case (computed by `slip` below), with the hint for each
SLIPS = {"no_relu": "this is what you get without the ReLU of Eq. (3-4): g = ReLU(FC_I(z))",
         "max_pool": "this is what you get with a max over h x w: z = GAP(f_I) is the MEAN over h x w",
         "text_order": "this is what you get with t flattened as (M, K): t = FC_T(f_T) is (K, M), flattened class by "
                       "class (t.flatten() / t.reshape(-1)) to match FC_I's K*M outputs",
         "no_residual": "this is what you get without the residual: out = f_I + C_learn * (f_I * s)",
         "no_scale": "this is what you get without × C_learn of Eq. (3-5): self.scale multiplies f_I * s",
         "no_sigmoid": "this is what you get without the sigmoid: s = sigmoid(FC_out(a)), one weight in (0, 1) per "
                       "channel"}
FORMULAS = ("Eq. (3-3) t = FC_T(f_T) (K, M) flattened to (K*M,); z = mean of f_I over h x w (B, C); Eq. (3-4) "
            "g = ReLU(FC_I(z)); Eq. (3-5) a = t * g; s = sigmoid(FC_out(a)) (B, C); out = f_I + C_learn * f_I * s")


def hand_made_fusion():
    fu = fusion.build_fusion("product", 2, 2, 2, fusion_dim=2)
    with torch.no_grad():
        for layer, (w, b) in ((fu.fc_text, (W_T, B_T)), (fu.fc_image, (W_I, B_I)), (fu.fc_out, (W_O, B_O))):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
        fu.scale.fill_(SCALE)
    return fu


def slip(kind):
    """The hand-made case computed with one slip (float64)."""
    f_I, f_T = torch.tensor(F_I, dtype=torch.float64), torch.tensor(F_T, dtype=torch.float64)
    W = {k: torch.tensor(v, dtype=torch.float64)
         for k, v in dict(wt=W_T, bt=B_T, wi=W_I, bi=B_I, wo=W_O, bo=B_O).items()}
    t = f_T @ W["wt"].T + W["bt"]  # (K, M)
    t = (t.T if kind == "text_order" else t).reshape(-1)
    z = f_I.amax(dim=(2, 3)) if kind == "max_pool" else f_I.mean(dim=(2, 3))
    pre = z @ W["wi"].T + W["bi"]
    g = pre if kind == "no_relu" else pre.clamp(min=0)
    u = (t * g) @ W["wo"].T + W["bo"]
    s = (u if kind == "no_sigmoid" else torch.sigmoid(u))[:, :, None, None]
    scale = 1.0 if kind == "no_scale" else SCALE
    return scale * f_I * s if kind == "no_residual" else f_I + scale * f_I * s


def random_case(B=2, C=6, K=3, D=5, M=4, seed=0):
    torch.manual_seed(seed)
    fu = fusion.build_fusion("product", C, D, K, fusion_dim=M)
    with torch.no_grad():
        fu.scale.fill_(0.7)
    return fu, torch.randn(B, C, 3, 4), torch.randn(K, D)


def check_output_shape():
    """F(f_I (B, C, h, w), f_T (K, D)) has the shape of f_I"""
    fu, f_I, f_T = random_case()
    with torch.no_grad():
        return expect_shape(fu(f_I, f_T), (2, 6, 3, 4), "F(f_I, f_T) for f_I (2, 6, 3, 4), f_T (3, 5)",
                            "the fusion recalibrates f_I's channels: one weight per (image, channel), output like f_I")


def check_hand_computed_case():
    """Eq. (3-3)-(3-5) on a case computed by hand (C = D = K = M = 2, one image of 1 x 2 pixels)"""
    assert torch.allclose(slip(None), torch.tensor(EXPECTED, dtype=torch.float64)), "the kit's hand values disagree"
    with torch.no_grad():
        got = hand_made_fusion()(torch.tensor(F_I), torch.tensor(F_T))
    try:
        return expect_close(got, EXPECTED, "F(f_I, f_T) on the hand-made case", FORMULAS)
    except AssertionError as e:
        for kind, hint in SLIPS.items():
            if torch.is_tensor(got) and got.shape == (1, 2, 1, 2) and torch.allclose(got.double(), slip(kind),
                                                                                      atol=1e-5):
                raise AssertionError(f"{e}; {hint}") from None
        raise


def check_relu_eq_3_4():
    """Eq. (3-4): negative FC_I outputs are cut to 0 by the ReLU, so a = 0 and s = sigmoid(FC_out's bias)"""
    fu = hand_made_fusion()
    with torch.no_grad():
        fu.fc_image.weight.zero_()
        fu.fc_image.bias.fill_(-1.0)  # FC_I(z) = -1 everywhere: g = ReLU(-1) = 0
        fu.fc_text.bias.fill_(-3.0)  # t = (-2, -3, -1, -4) < 0: a ReLU after the product, ReLU(t * -1), is not 0
        fu.fc_out.bias.copy_(torch.tensor([2.0, -2.0]))
        got = fu(torch.tensor(F_I), torch.tensor(F_T))
    s = torch.sigmoid(torch.tensor([2.0, -2.0], dtype=torch.float64)).view(1, 2, 1, 1)
    expected = torch.tensor(F_I, dtype=torch.float64) * (1 + SCALE * s)
    return expect_close(got, expected, "F(f_I, f_T) with FC_I(z) = -1 everywhere",
                        "Eq. (3-4): g = ReLU(FC_I(z)), so g = 0, a = t * g = 0 and only FC_out's bias is left "
                        "(here t < 0: the ReLU acts on FC_I's output alone, before the product with t)")


def check_learnable_scale_eq_3_5():
    """Eq. (3-5) × C_learn: C_learn = 0 leaves f_I unchanged; doubling C_learn doubles out - f_I"""
    fu, f_I, f_T = random_case()
    with torch.no_grad():
        fu.scale.fill_(0.0)
        zero = fu(f_I, f_T)
        fu.scale.fill_(1.0)
        one = fu(f_I, f_T) - f_I
        fu.scale.fill_(2.0)
        two = fu(f_I, f_T) - f_I
    hint = "out = f_I + C_learn * (f_I * s): the learnable C_learn (self.scale) multiplies the recalibration only"
    expect_close(zero, f_I, "F(f_I, f_T) with C_learn = 0", hint)
    return expect_close(two, 2 * one, "out - f_I with C_learn = 2 (vs 2 x (out - f_I) with C_learn = 1)", hint)


def check_images_are_independent():
    """Each image of a batch is recalibrated from its own pooled feature: the batch equals its images one by one"""
    fu, f_I, f_T = random_case(B=3)
    with torch.no_grad():
        batch = fu(f_I, f_T)
        alone = torch.cat([fu(f_I[i:i + 1], f_T) for i in range(3)])
    return expect_close(batch, alone, "F on a batch of 3 vs on each image alone",
                        "pool over h x w only (dims 2 and 3), never over the batch: z has shape (B, C); the text t is "
                        "the same for every image", atol=1e-5)


def check_one_weight_per_channel():
    """out / f_I is one value per (image, channel), between 1 and 1 + C_learn (SE-style recalibration)"""
    fu, f_I, f_T = random_case()
    f_I = f_I.abs() + 0.5
    with torch.no_grad():
        ratio = fu(f_I, f_T) / f_I  # (B, C, h, w)
    hint = ("s = sigmoid(FC_out(a)) is one weight in (0, 1) per (image, channel), broadcast over h x w: "
            "s.view(B, C, 1, 1); out = f_I + C_learn * f_I * s")
    expect_close(ratio, ratio[:, :, :1, :1].expand_as(ratio), "out / f_I at every pixel vs at pixel (0, 0)", hint)
    low, high = ratio.min().item(), ratio.max().item()
    if not (low > 1 and high < 1 + 0.7):
        fail("out / f_I with C_learn = 0.7", "values in (1, 1.7)", f"values in [{low:.4g}, {high:.4g}]", hint)
    return f"out / f_I with C_learn = 0.7: expected one value per channel in (1, 1.7), got [{low:.4g}, {high:.4g}]"


def check_gradients_reach_every_parameter():
    """FC_T, FC_I, FC_out and C_learn all receive a gradient (nothing detached, nothing under no_grad)"""
    fu, f_I, f_T = random_case()
    fu(f_I, f_T).square().sum().backward()
    missing = [name for name, p in fu.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    if missing:
        fail("parameters with a gradient", "all of fc_text, fc_image, fc_out, scale", f"none for {missing}",
             "compute out from the module's layers with torch operations only (no .detach(), .item(), no_grad)")
    n = len(list(fu.parameters()))
    return f"parameters with a non-zero gradient: expected all {n}, got all {n}"
