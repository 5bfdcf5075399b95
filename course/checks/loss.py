"""Checks of the assignment `loss`: CASENet's reweighted multi-label loss with ignore pixels
(losses.reweighted_bce), Sec. 4.1.2; CASENet (Yu et al. 2017) Eq. (1).

Per image, beta = |non-edge pixels| / |valid pixels|, where a pixel is an edge if ANY class is on there and
ignored pixels count neither way; then over valid pixels p and classes k
    L = - sum [ beta * y log sigmoid(x) + (1 - beta) * (1 - y) log(1 - sigmoid(x)) ]
divided by B (reduction "batch", CASENet's Caffe layer) or by the number of valid entries, B * K * valid pixels
(reduction "mean"). The cases are small enough to count by hand; with logits 0
every entry costs log 2.
"""
import math

import torch

import losses  # the graded repository's losses.py: course/grade.py puts it first on sys.path
from checklib import expect_close, fail

LOG2 = math.log(2.0)
BETA = ("beta is computed PER IMAGE: the fraction of its valid pixels that are not an edge of any class; positives "
        "are weighted by beta, negatives by 1 - beta, the sum is divided by B ('batch') or by the number of valid "
        "entries ('mean')")


def edges_at(B, K, points):
    """(B, K, 2, 2) edge maps with ones at the (image, class, row, col) points."""
    edges = torch.zeros(B, K, 2, 2)
    for point in points:
        edges[point] = 1
    return edges


def loss(logits, edges, ignore=None, reduction="batch"):
    return losses.reweighted_bce(logits, edges, ignore, reduction)


def check_one_image_by_hand():
    """One image, 2 classes, 2 x 2 pixels, one edge pixel, logits 0: (1 x 0.75 + 7 x 0.25) log 2"""
    got = loss(torch.zeros(1, 2, 2, 2), edges_at(1, 2, [(0, 0, 0, 0)]))
    return expect_close(got, 2.5 * LOG2, "loss (beta = 3 non-edge / 4 pixels = 0.75)",
                        "1 positive entry weighted beta = 0.75, 7 negative entries weighted 1 - beta = 0.25, each "
                        "costing log 2 at logit 0; " + BETA)


def check_beta_is_class_agnostic():
    """beta counts a pixel as an edge if ANY class is on there: one beta for every class channel"""
    got = loss(torch.zeros(1, 2, 2, 2), edges_at(1, 2, [(0, 0, 0, 0), (0, 1, 1, 1)]))
    # 2 of 4 pixels are edges (one of each class): beta = 0.5, each of the 8 entries weighted 0.5
    return expect_close(got, 4.0 * LOG2, "loss with one edge pixel in each of 2 classes (beta = 2/4)",
                        "beta is the same for every class: a pixel is an edge if any class has an edge there "
                        "(edges.amax(dim=1)), not counted per class; " + BETA)


def check_beta_per_image():
    """Each image has its own beta; the batch loss is the sum over images divided by B"""
    edges = edges_at(2, 2, [(0, 0, 0, 0), (1, 1, 0, 0), (1, 1, 0, 1), (1, 1, 1, 0)])
    got = loss(torch.zeros(2, 2, 2, 2), edges)
    # image 0: beta 3/4: 1 x 0.75 + 7 x 0.25 = 2.5; image 1: 3 edges of 4, beta 1/4: 3 x 0.25 + 5 x 0.75 = 4.5
    return expect_close(got, (2.5 + 4.5) / 2 * LOG2, "loss of 2 images with 1 and 3 edge pixels",
                        "image 0 has beta = 3/4, image 1 beta = 1/4; a beta over the whole batch (4/8) gives 4 log 2 "
                        "instead; " + BETA)


def check_ignore_pixels():
    """Ignored pixels count neither in beta nor in the loss"""
    ignore = torch.zeros(1, 2, 2, dtype=torch.bool)
    ignore[0, 1, 1] = True  # a non-edge pixel ignored: 3 valid pixels, 1 edge, beta = 2/3
    got = loss(torch.zeros(1, 2, 2, 2), edges_at(1, 2, [(0, 0, 0, 0)]), ignore)
    hint = ("an ignored pixel is left out of the counts of beta (valid pixels only) and its entries weigh 0: "
            "1 positive x 2/3 + 5 valid negatives x 1/3 = 7/3")
    message = expect_close(got, 7 / 3 * LOG2, "loss with one non-edge pixel ignored (beta = 2/3)", hint)
    x = torch.randn(1, 2, 2, 2, requires_grad=True)
    loss(x, edges_at(1, 2, [(0, 0, 0, 0)]), ignore).backward()
    if x.grad is None or not torch.all(x.grad[0, :, 1, 1] == 0):
        fail("gradient at the ignored pixel", 0, x.grad[0, :, 1, 1] if x.grad is not None else None, hint)
    return message + "; gradient at the ignored pixel: expected 0, got 0"


def check_reduction_mean():
    """reduction='mean' divides the weighted sum by the number of valid entries, B x K x valid pixels"""
    ignore = torch.zeros(1, 2, 2, dtype=torch.bool)
    ignore[0, 1, 1] = True
    got = loss(torch.zeros(1, 2, 2, 2), edges_at(1, 2, [(0, 0, 0, 0)]), ignore, "mean")
    return expect_close(got, 7 / 3 * LOG2 / 6, "mean loss with one pixel ignored (7/3 log 2 over 2 x 3 entries)",
                        "'mean' divides the same weighted sum by the number of valid entries (B * K * valid pixels: "
                        "2 classes x 3 valid pixels = 6), 'batch' by B")


def check_nonzero_logits_by_hand():
    """Logits of both signs, one class: positives cost beta * softplus(-x), negatives (1 - beta) * softplus(x)"""
    x = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    y = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])  # 2 edges of 4 pixels: beta = 0.5
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731 softplus: -log sigmoid(-v) = -log(1 - sigmoid(v))
    expected = 0.5 * (sp(2.0) + sp(1.0) + sp(-0.5) + sp(-3.0))
    got = loss(x, y)
    return expect_close(got, expected, "loss with logits (2, -1, 0.5, -3) and edges (0, 1, 1, 0)",
                        "-log sigmoid(x) for an edge entry and -log(1 - sigmoid(x)) for a non-edge entry, both "
                        "weighted; the inputs are LOGITS, not probabilities")


def check_extreme_logits():
    """Saturated logits (+-1e4) give a finite loss and gradient: about 0 when right, about 1e4 per entry when wrong"""
    y = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    hint = ("log(sigmoid(x)) underflows to -inf for large |x| (and F.binary_cross_entropy on sigmoid(x) clamps "
            "each log at -100): compute on logits with F.binary_cross_entropy_with_logits(x, y, weight=...) or "
            "F.logsigmoid")
    right = (2 * y - 1) * 1e4  # +1e4 on the edges, -1e4 elsewhere
    x = (-right).requires_grad_(True)  # every entry wrong
    got_right, got_wrong = loss(right, y), loss(x, y)
    got_wrong.backward()
    if not torch.isfinite(x.grad).all():
        fail("gradient with logits -+1e4", "finite values", x.grad.flatten().tolist(), hint)
    expect_close(got_right, 0.0, "loss with confident right logits (+-1e4)", hint, atol=1e-3)
    return expect_close(got_wrong, 0.5 * 4 * 1e4, "loss with confident wrong logits (-+1e4)", hint, rtol=1e-3)
