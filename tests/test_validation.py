"""scoring/validation.py: ApproxEdgeF (exact on a perfect prediction, batch = images one by one, ignore mask, the disc
maximum equal to a brute-force one) and validate() with a stand-in model."""
import numpy as np
import pytest
import torch

from edgedata.labels import disc_offsets
from scoring.validation import ApproxEdgeF, validate


def test_approx_edge_f():
    gt = torch.zeros(2, 3, 32, 32, dtype=torch.bool)
    gt[:, :, 16, 4:28] = True
    approx = ApproxEdgeF(3)
    approx.update(gt.float() * 0.9, gt)
    assert approx.compute()["mean_F"] == pytest.approx(1.0)
    one_by_one = ApproxEdgeF(3)
    pred = torch.rand(2, 3, 32, 32) * 0.7
    for b in range(2):
        one_by_one.update(pred[b:b + 1], gt[b:b + 1])
    batched = ApproxEdgeF(3)
    batched.update(pred, gt)
    assert torch.equal(batched.counts, one_by_one.counts)
    ignore = torch.ones(2, 32, 32, dtype=torch.bool)  # everything ignored: nothing counted
    none = ApproxEdgeF(3)
    none.update(pred, gt, ignore)
    assert none.counts.sum() == 0
    with pytest.raises(RuntimeError, match="before any update"):
        ApproxEdgeF(3).compute()


def test_approx_counts_by_hand():
    """GT: one pixel; prediction 0.5 there and 0.8 three pixels away; tolerance radius 2 (0.02 x diagonal 100):
    at thresholds <= 0.5 both predicted, one near the GT -> cntP 1 of sumP 2, GT recalled; above 0.5 and up
    to 0.8 only the far pixel: P = R = 0."""
    gt = torch.zeros(1, 1, 60, 80, dtype=torch.bool)
    gt[0, 0, 30, 30] = True
    pred = torch.zeros(1, 1, 60, 80)
    pred[0, 0, 30, 30], pred[0, 0, 30, 33] = 0.5, 0.8
    m = ApproxEdgeF(1, max_dist=0.02)
    m.update(pred, gt)
    c = m.counts[0].numpy()  # rows CNT_R, SUM_R, CNT_P, SUM_P; thresholds 0.01 ... 0.99
    assert c[:, 49].tolist() == [1, 1, 1, 2] and c[:, 50].tolist() == [0, 1, 0, 1] and c[:, 80].tolist() == [0, 1, 0, 0]
    assert m.compute()["mean_F"] == pytest.approx(2 * 0.5 * 1 / 1.5)


@pytest.mark.parametrize("radius", [1.0, 2.5, 3.62, 5.0])
def test_disc_max_equals_brute_force(radius):
    x = torch.rand(1, 2, 17, 23) * (torch.rand(1, 2, 17, 23) < 0.1)
    dy, dx = disc_offsets(radius)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (6, 6), (6, 6)))
    brute = np.max([padded[..., 6 + a:6 + a + 17, 6 + b:6 + b + 23] for a, b in zip(dy, dx)], axis=0)
    assert np.array_equal(ApproxEdgeF._disc_max(x, radius).numpy(), brute)


class EdgeOracle(torch.nn.Module):
    """Stand-in model: logits +10 where the image's first channel is 1, -10 elsewhere, for K classes."""

    def __init__(self, K):
        super().__init__()
        self.K = K

    def forward(self, images):
        return {"logits": (images[:, :1] * 20 - 10).expand(-1, self.K, -1, -1)}


def test_validate_with_a_model():
    edges = torch.zeros(2, 2, 24, 24)
    edges[:, :, 12, 3:20] = 1
    batch = {"image": edges[:, :1].expand(-1, 3, -1, -1).clone(), "edges": edges,
             "ignore": torch.zeros(2, 24, 24, dtype=torch.bool)}
    model = EdgeOracle(2).train()
    out = validate(model, [batch, batch], torch.device("cpu"), None, num_classes=2, max_dist=0.02, window=None)
    assert out["mean_F"] == pytest.approx(1.0) and model.training  # train mode restored
    edges[:, 1] = 0
    edges[:, 1, 2, 2:10] = 1  # class 2's GT elsewhere: its predictions are all wrong
    out = validate(model, [dict(batch, edges=edges)], torch.device("cpu"), None, 2, 0.02, None)
    assert out["F"] == pytest.approx([1.0, 0.0])
