"""Solutions of the assignment `loss` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
xd, yd, v = x.double(), y.double(), valid.double()
B, K = xd.shape[:2]
edge = (yd.sum(dim=1, keepdim=True) > 0).double() * v        # (B, 1, H, W)
n_valid, n_edge = v.flatten(1).sum(1), edge.flatten(1).sum(1)  # (B,)
beta = torch.where(n_valid > 0, (n_valid - n_edge) / n_valid.clamp(min=1), torch.ones_like(n_valid))
beta = beta[:, None, None, None]
zero = torch.zeros_like(xd)
cost_pos, cost_neg = torch.logaddexp(zero, -xd), torch.logaddexp(zero, xd)  # -log s(x), -log(1 - s(x))
total = ((beta * yd * cost_pos + (1 - beta) * (1 - yd) * cost_neg) * v).sum()
denom = B if reduction == "batch" else max(float(K * v.sum()), 1.0)
return (total / denom).to(x.dtype)
''']),
"wrong_beta_swapped": dict(correct=False, bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid
beta = (any_edge.sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3)).clamp(min=1)).view(B, 1, 1, 1)  # |Y+| / |Y|
weight = (beta * y + (1 - beta) * (1 - y)) * valid
loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
return loss / B if reduction == "batch" else loss / (valid.sum() * K).clamp(min=1)
''']),
"wrong_mean_over_all_pixels": dict(correct=False, bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid
beta = (1 - any_edge.sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3)).clamp(min=1)).view(B, 1, 1, 1)
weight = (beta * y + (1 - beta) * (1 - y)) * valid
loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
return loss / B if reduction == "batch" else loss / x.numel()
''']),
"wrong_sigmoid_then_bce": dict(correct=False, bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid
beta = (1 - any_edge.sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3)).clamp(min=1)).view(B, 1, 1, 1)
weight = (beta * y + (1 - beta) * (1 - y)) * valid
loss = F.binary_cross_entropy(torch.sigmoid(x), y, weight=weight, reduction="sum")
return loss / B if reduction == "batch" else loss / (valid.sum() * K).clamp(min=1)
''']),
"wrong_ignore_only_in_beta": dict(correct=False, bodies=['''
x, y, valid = _prepare(logits, edges, ignore)
B, K = x.shape[:2]
any_edge = (y.amax(dim=1, keepdim=True) > 0).float() * valid
beta = (1 - any_edge.sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3)).clamp(min=1)).view(B, 1, 1, 1)
weight = beta * y + (1 - beta) * (1 - y)
loss = F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction="sum")
return loss / B if reduction == "batch" else loss / (valid.sum() * K).clamp(min=1)
''']),
}
