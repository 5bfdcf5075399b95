"""Solutions of the assignment `fusion` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
f64 = f_I.double()
B = f64.shape[0]
W_T, b_T = self.fc_text.weight.double(), self.fc_text.bias.double()
W_I, b_I = self.fc_image.weight.double(), self.fc_image.bias.double()
W_O, b_O = self.fc_out.weight.double(), self.fc_out.bias.double()
t = torch.einsum("kd,md->km", f_T.double(), W_T) + b_T           # (K, M)
t = t.reshape(1, -1)                                              # (1, K*M), class by class
z = F.adaptive_avg_pool2d(f64, 1).reshape(B, -1)                  # (B, C)
pre = torch.einsum("bc,jc->bj", z, W_I) + b_I
g = torch.where(pre > 0, pre, torch.zeros_like(pre))              # ReLU
parts = {"product": [t * g], "product_diff": [t * g, t - g], "concat_diff": [t.expand_as(g), g, t - g]}
a = torch.cat(parts[self.combine], dim=1)
s = 1.0 / (1.0 + torch.exp(-(torch.einsum("bj,cj->bc", a, W_O) + b_O)))  # sigmoid, (B, C)
out = torch.addcmul(f64, f64, self.scale.double() * s[:, :, None, None])
return out.to(f_I.dtype)
''']),
"wrong_no_sigmoid": dict(correct=False, bodies=['''
B, C, h, w = f_I.shape
t = self.fc_text(f_T).flatten()
g = F.relu(self.fc_image(f_I.mean(dim=(2, 3))))
s = self.fc_out(t * g)
return f_I + self.scale * f_I * s[:, :, None, None]
''']),
"wrong_scale_outside_residual": dict(correct=False, bodies=['''
B, C, h, w = f_I.shape
t = self.fc_text(f_T).flatten()
g = F.relu(self.fc_image(f_I.mean(dim=(2, 3))))
s = torch.sigmoid(self.fc_out(t * g))
return self.scale * (f_I + f_I * s[:, :, None, None])
''']),
"wrong_relu_after_product": dict(correct=False, bodies=['''
B, C, h, w = f_I.shape
t = self.fc_text(f_T).flatten()
a = F.relu(t * self.fc_image(f_I.mean(dim=(2, 3))))
s = torch.sigmoid(self.fc_out(a))
return f_I + self.scale * f_I * s[:, :, None, None]
''']),
"wrong_softmax_not_sigmoid": dict(correct=False, bodies=['''
B, C, h, w = f_I.shape
t = self.fc_text(f_T).flatten()
g = F.relu(self.fc_image(f_I.mean(dim=(2, 3))))
s = torch.softmax(self.fc_out(t * g), dim=1)
return f_I + self.scale * f_I * s[:, :, None, None]
''']),
}
