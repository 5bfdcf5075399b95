"""losses.py: values computed by hand on tiny tensors, ignore masks, deep supervision,
and finiteness under autocast."""
import math

import pytest
import torch

from losses import EdgeCriterion, dff_bce, plain_bce, reweighted_bce

LOG2 = math.log(2.0)


def one_edge():
    edges = torch.zeros(1, 2, 2, 2)  # B=1, K=2, 2x2 pixels
    edges[0, 0, 0, 0] = 1  # one edge pixel, class 0
    return edges


def test_reweighted_by_hand():
    # logits 0 -> every entry costs log 2. beta = 3 non-edge / 4 pixels = 0.75;
    # 1 positive entry * 0.75 + 7 negative entries * 0.25 = 2.5 (times log 2), / B = 1.
    logits, edges = torch.zeros(1, 2, 2, 2), one_edge()
    assert reweighted_bce(logits, edges).item() == pytest.approx(2.5 * LOG2)
    assert reweighted_bce(logits, edges, reduction="mean").item() == pytest.approx(2.5 * LOG2 / 8)


def test_reweighted_beta_is_class_agnostic_and_per_image():
    # the same edge pixel on in both classes: still 1 edge pixel -> beta = 0.75;
    # 2 positives * 0.75 + 6 negatives * 0.25 = 3.0
    edges = one_edge()
    edges[0, 1, 0, 0] = 1
    assert reweighted_bce(torch.zeros(1, 2, 2, 2), edges).item() == pytest.approx(3.0 * LOG2)
    # batch of two copies: sum over both, divided by B = 2 -> same value
    two = reweighted_bce(torch.zeros(2, 2, 2, 2), edges.repeat(2, 1, 1, 1))
    assert two.item() == pytest.approx(3.0 * LOG2)


def test_reweighted_ignore():
    logits, edges = torch.zeros(1, 2, 2, 2), one_edge()
    ignore = torch.zeros(1, 2, 2, dtype=torch.bool)
    ignore[0, 1, 1] = True  # a non-edge pixel ignored: 3 valid, beta = 2/3
    # 1 positive * 2/3 + 5 valid negatives * 1/3 = 7/3
    assert reweighted_bce(logits, edges, ignore).item() == pytest.approx(7 / 3 * LOG2)
    # ignored pixels carry no gradient
    x = torch.randn(1, 2, 2, 2, requires_grad=True)
    reweighted_bce(x, edges, ignore).backward()
    assert torch.all(x.grad[0, :, 1, 1] == 0)


def test_plain_bce_by_hand():
    x = torch.tensor([2.0, -1.0, 0.5, 0.0]).view(1, 1, 2, 2)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus; BCE = softplus(x) - x*y
    expected = (sp(2.0) - 2.0 + sp(-1.0) + sp(0.5) + sp(0.0)) / 4
    assert plain_bce(x, y).item() == pytest.approx(expected, rel=1e-6)
    ignore = torch.tensor([[False, False], [True, True]]).view(1, 2, 2)
    assert plain_bce(x, y, ignore).item() == pytest.approx((sp(2.0) - 2.0 + sp(-1.0)) / 2, rel=1e-6)


def test_dff_by_hand():
    # 1 positive, 3 negatives: positive weight 3; mean over 4 entries at logits 0
    edges = torch.zeros(1, 1, 2, 2)
    edges[0, 0, 0, 0] = 1
    assert dff_bce(torch.zeros(1, 1, 2, 2), edges).item() == pytest.approx((3 + 3) * LOG2 / 4)
    # more positives than negatives: weight clamps at 1
    assert dff_bce(torch.zeros(1, 1, 2, 2), 1 - edges).item() == pytest.approx(LOG2)


def test_criterion_terms_and_weights():
    edges = one_edge()
    crit = EdgeCriterion("reweighted", side_weight=0.5)
    out = {"logits": torch.zeros(1, 2, 2, 2), "side_logits": []}
    terms = crit(out, edges)
    assert set(terms) == {"loss_edge"}  # no side outputs, no side term
    out["side_logits"] = [torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2)]
    terms = crit(out, edges, torch.zeros(1, 2, 2, dtype=torch.bool))
    # side 1 (one channel, class-agnostic target): 1 pos * .75 + 3 neg * .25 = 1.5; side 2 = 2.5
    assert terms["loss_side"].item() == pytest.approx((1.5 + 2.5) * LOG2)
    assert crit.weight_dict == {"loss_edge": 1.0, "loss_side": 0.5}  # extra terms only with extra_terms
    total = sum(crit.weight_dict[k] * v for k, v in terms.items())
    assert total.item() == pytest.approx((2.5 + 0.5 * 4.0) * LOG2)
    for name in ("bce", "dff"):
        assert set(EdgeCriterion(name)(out, edges)) == {"loss_edge", "loss_side"}
    with pytest.raises(ValueError, match="unknown loss"):
        EdgeCriterion("focal")


def test_one_channel_side_is_supervised_with_the_edges_of_any_class():
    # class 0 has no edge, class 1 one edge at (0, 1), class 2 one at (1, 0): the class-agnostic target has 2 edges
    edges = torch.zeros(1, 3, 2, 2)
    edges[0, 1, 0, 1] = 1
    edges[0, 2, 1, 0] = 1
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])  # (1, 1, 2, 2)
    target = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    crit = EdgeCriterion("reweighted")
    terms = crit({"logits": torch.zeros(1, 3, 2, 2), "side_logits": [logits]}, edges)
    # by hand: beta = 2 non-edge / 4 = 0.5; every entry weighted 0.5
    p = torch.sigmoid(logits)
    by_hand = -(0.5 * target * p.log() + 0.5 * (1 - target) * (1 - p).log()).sum()
    assert terms["loss_side"].item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert terms["loss_side"].item() == pytest.approx(reweighted_bce(logits, target).item(), rel=1e-6)


def test_stable_under_autocast_and_extreme_logits():
    torch.manual_seed(0)
    edges = (torch.rand(2, 3, 8, 8) > 0.8).float()
    for name in ("reweighted", "bce", "dff"):
        x = (torch.randn(2, 3, 8, 8) * 1e4).requires_grad_(True)  # saturated logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = x * 1.0
            terms = EdgeCriterion(name)({"logits": logits, "side_logits": [logits]}, edges)
        total = sum(terms.values())
        assert total.dtype == torch.float32 and torch.isfinite(total)
        total.backward()
        assert torch.isfinite(x.grad).all()
        h = torch.randn(2, 3, 8, 8).half().requires_grad_(True)  # fp16 logits in, fp32 loss out
        EdgeCriterion(name)({"logits": h}, edges)["loss_edge"].backward()
        assert torch.isfinite(h.grad).all()


def test_mean_reduction_divides_by_the_valid_entries_only():
    logits, edges = torch.zeros(1, 2, 2, 2), one_edge()
    ignore = torch.zeros(1, 2, 2, dtype=torch.bool)
    ignore[0, 1, 1] = True  # as in test_reweighted_ignore: the sum is 7/3 log 2 over 3 valid pixels x K = 2
    assert reweighted_bce(logits, edges, ignore, reduction="mean").item() == pytest.approx(7 / 3 * LOG2 / 6)
    assert reweighted_bce(logits, edges, ignore, reduction="batch").item() == pytest.approx(7 / 3 * LOG2)


def test_dff_counts_positives_and_negatives_on_valid_pixels_only():
    edges = torch.zeros(1, 1, 2, 2)
    edges[0, 0, 0, 0] = 1
    ignore = torch.zeros(1, 2, 2, dtype=torch.bool)
    ignore[0, 1, 1] = True  # a non-edge pixel ignored: 1 positive, 2 negatives -> positive weight 2
    assert dff_bce(torch.zeros(1, 1, 2, 2), edges, ignore).item() == pytest.approx((2 + 2) * LOG2 / 3)
    x = torch.randn(1, 1, 2, 2, requires_grad=True)
    dff_bce(x, edges, ignore).backward()
    assert x.grad[0, 0, 1, 1] == 0 and (x.grad[0, 0].flatten()[:3] != 0).all()


def two_different_images():
    """Two images with different edge fractions and ignore masks, random logits: a per-image weight and a
    batch-wide weight give different losses."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    edges = torch.zeros(2, 3, 4, 4)
    edges[0, 0, 0, 0] = 1  # image 0: one edge pixel of 16
    edges[1, 1, :2] = 1  # image 1: the first two rows in class 1,
    edges[1, 2, :, 0] = 1  # the first column in class 2: 10 edge pixels of 16
    ignore = torch.zeros(2, 4, 4, dtype=torch.bool)
    ignore[0, 3] = True  # image 0: 12 valid pixels; image 1: 16
    return logits, edges, ignore


@pytest.mark.parametrize("loss", ["reweighted-batch", "reweighted-mean", "dff"])
def test_a_batch_is_its_images_combined_as_documented(loss):
    """Class balance is per image: the batch loss is the per-image losses' mean ("batch": the sum over images / B)
    or their mean weighted by valid entries (K * valid pixels; "mean", and dff)."""
    fn = {"reweighted-batch": lambda *a: reweighted_bce(*a, reduction="batch"),
          "reweighted-mean": lambda *a: reweighted_bce(*a, reduction="mean"), "dff": dff_bce}[loss]
    logits, edges, ignore = two_different_images()
    per_image = torch.stack([fn(logits[i:i + 1], edges[i:i + 1], ignore[i:i + 1]) for i in range(2)])
    n_valid = 3 * (~ignore).sum(dim=(1, 2)).float()  # K * valid pixels per image: 36, 48
    if loss == "reweighted-batch":
        expected = per_image.mean()
    else:
        expected = (per_image * n_valid).sum() / n_valid.sum()
    torch.testing.assert_close(fn(logits, edges, ignore), expected)


def test_reweighted_beta_per_image_by_hand():
    logits, edges, ignore = two_different_images()
    valid = (~ignore).float().unsqueeze(1)  # (B, 1, H, W)
    beta = torch.tensor([1 - 1 / 12, 1 - 10 / 16]).view(2, 1, 1, 1)  # non-edge fraction of each image's valid pixels
    p = torch.sigmoid(logits)
    by_hand = -(valid * (beta * edges * p.log() + (1 - beta) * (1 - edges) * (1 - p).log())).sum() / 2
    torch.testing.assert_close(reweighted_bce(logits, edges, ignore), by_hand)
