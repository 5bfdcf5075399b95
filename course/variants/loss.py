"""Variants of the assignment `loss` (losses.reweighted_bce, CASENet's reweighted loss with ignore pixels) for the
kit's own tests: one region, from `_prepare` to the return. tests/test_course.py expects course/grade.py to pass
the correct one and fail the others.
"""

WEIGHTED_SUM = '''
weight = (beta * y + (1 - beta) * (1 - y)) * valid
loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
if reduction == "batch":
    return loss / B
return loss / (valid.sum() * K).clamp(min=1)
'''

VARIANTS = {
    "alternative": dict(correct=True, why="a loop over the images with F.logsigmoid and boolean masks", bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
total = x.new_zeros(())
for b in range(B):
    v = valid[b, 0] > 0  # (H, W)
    edge_pixel = (y[b] > 0).any(dim=0) & v  # an edge of any class, among the valid pixels
    beta = 1 - edge_pixel.sum() / v.sum().clamp(min=1)
    cost = beta * y[b] * -F.logsigmoid(x[b]) + (1 - beta) * (1 - y[b]) * -F.logsigmoid(-x[b])  # (K, H, W)
    total = total + cost[:, v].sum()
if reduction == "batch":
    return total / B
return total / (valid.sum() * K).clamp(min=1)
''']),
    "wrong_ignore_counted_in_beta": dict(correct=False, why="counts the ignored pixels in beta (they are still left "
                                                            "out of the loss)", bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K, H, W = x.shape
any_edge = (y.amax(dim=1, keepdim=True) > 0).float()
beta = (1 - any_edge.sum(dim=(1, 2, 3)) / (H * W)).view(B, 1, 1, 1)
''' + WEIGHTED_SUM]),
    "wrong_beta_over_batch": dict(correct=False, why="one beta for the whole batch instead of one per image",
                                  bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid
beta = 1 - any_edge.sum() / valid.sum().clamp(min=1)
''' + WEIGHTED_SUM]),
    "wrong_beta_per_class": dict(correct=False, why="one beta per class channel instead of one per image (a pixel "
                                                    "is an edge if any class is on)", bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
n_valid = valid.sum(dim=(1, 2, 3)).clamp(min=1).view(B, 1, 1, 1)
beta = 1 - (y * valid).sum(dim=(2, 3), keepdim=True) / n_valid  # (B, K, 1, 1)
''' + WEIGHTED_SUM]),
}
