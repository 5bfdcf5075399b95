"""Variants of the assignment `fusion` (fusion.ChannelFusion.forward, `product`, Eq. (3-3)-(3-5)) for the kit's
own tests: one region, the forward's body. tests/test_course.py expects course/grade.py to pass the correct one
and fail the others.
"""

ORIGINAL = '''
B, C, h, w = f_I.shape
t = self.fc_text(f_T).flatten()
t = t.unsqueeze(0).expand(B, -1)
z = POOL
g = RELU
if self.combine == "product":
    a = t * g
elif self.combine == "product_diff":
    a = torch.cat([t * g, t - g], dim=1)
else:
    a = torch.cat([t, g, t - g], dim=1)
s = torch.sigmoid(self.fc_out(a))
return OUT
'''


def body(pool="f_I.mean(dim=(2, 3))", relu="F.relu(self.fc_image(z))",
         out="f_I + self.scale * (f_I * s.view(B, C, 1, 1))"):
    return ORIGINAL.replace("POOL", pool).replace("RELU", relu).replace("OUT", out)


VARIANTS = {
    "alternative": dict(correct=True, why="the text as a (1, K*M) row broadcast over the batch, GAP as a sum over "
                                          "the flattened pixels, clamp for the ReLU, out = f_I * (1 + C s)",
                        bodies=['''
h, w = f_I.shape[2:]
t = self.fc_text(f_T).reshape(1, -1)  # (1, K*M)
z = f_I.flatten(2).sum(dim=2) / (h * w)  # (B, C)
g = torch.clamp(self.fc_image(z), min=0)  # (B, K*M)
if self.combine == "product":
    a = g * t
elif self.combine == "product_diff":
    a = torch.cat([g * t, t - g], dim=1)
else:
    a = torch.cat([t.expand_as(g), g, t - g], dim=1)
weights = torch.sigmoid(self.fc_out(a))[:, :, None, None]  # (B, C, 1, 1)
return f_I * (1 + self.scale * weights)
''']),
    "wrong_no_relu": dict(correct=False, why="drops the ReLU of Eq. (3-4)", bodies=[body(relu="self.fc_image(z)")]),
    "wrong_pooled_over_batch": dict(correct=False, why="averages over the batch too (dims 0, 2, 3): every image gets "
                                                       "the same channel weights",
                                    bodies=[body(pool="f_I.mean(dim=(0, 2, 3))")]),
    "wrong_no_residual": dict(correct=False, why="drops the residual: out = C * f_I * s",
                              bodies=[body(out="self.scale * (f_I * s.view(B, C, 1, 1))")]),
}
