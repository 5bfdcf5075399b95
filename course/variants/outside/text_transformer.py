"""Solutions of the assignment `text_transformer` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
K, L, E = x.shape
H = self.heads
d = E // H
Wq, Wk, Wv = self.in_proj_weight[:E], self.in_proj_weight[E:2 * E], self.in_proj_weight[2 * E:]
bq, bk, bv = self.in_proj_bias[:E], self.in_proj_bias[E:2 * E], self.in_proj_bias[2 * E:]
q, k, v = x @ Wq.t() + bq, x @ Wk.t() + bk, x @ Wv.t() + bv
mask = torch.full((L, L), float("-inf"), dtype=torch.float64, device=x.device).triu(1)  # 0 on and below the diagonal
outs = []
for h in range(H):  # one head at a time, in float64
    cols = slice(h * d, (h + 1) * d)
    s = torch.einsum("kid,kjd->kij", q[..., cols].double(), k[..., cols].double()) * d ** -0.5 + mask
    outs.append(torch.einsum("kij,kjd->kid", torch.softmax(s, dim=-1), v[..., cols].double()))
return self.out_proj(torch.cat(outs, dim=-1).to(x.dtype))
''', '''
n = x.shape[1]
h = self.transformer(self.positional_embedding[:n].unsqueeze(0) + x)
idx = torch.as_tensor(eot_index, device=h.device).long().view(-1, 1, 1).expand(-1, 1, h.shape[-1])
pooled = torch.gather(h, 1, idx).squeeze(1)  # (K, E)
return torch.matmul(self.ln_final(pooled), self.text_projection)
''', '''
eot = (tokens == EOT_TOKEN).int().argmax(dim=1)
return self.encode_from_embeddings(self.token_embedding(tokens), eot)
''']),
"wrong_no_ln_final": dict(correct=False, bodies=[None, '''
K, L, E = x.shape
x = self.transformer(x + self.positional_embedding[:L])
return x[torch.arange(K), eot_index] @ self.text_projection
''', None]),
"wrong_head_split_no_transpose": dict(correct=False, bodies=['''
K, L, E = x.shape
d = E // self.heads
q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
q, k, v = (a.reshape(K, self.heads, L, d) for a in (q, k, v))
y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
return self.out_proj(y.reshape(K, L, E))
''', None, None]),
"wrong_scale_sqrt_E": dict(correct=False, bodies=['''
K, L, E = x.shape
d = E // self.heads
q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
q, k, v = (a.view(K, L, self.heads, d).transpose(1, 2) for a in (q, k, v))
s = q @ k.transpose(-1, -2) / E ** 0.5
s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
y = s.softmax(-1) @ v
return self.out_proj(y.transpose(1, 2).reshape(K, L, E))
''', None, None]),
"wrong_no_positions": dict(correct=False, bodies=[None, '''
K, L, E = x.shape
x = self.ln_final(self.transformer(x))
return x[torch.arange(K), eot_index] @ self.text_projection
''', None]),
"wrong_softmax_wrong_axis": dict(correct=False, bodies=['''
K, L, E = x.shape
d = E // self.heads
q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
q, k, v = (a.view(K, L, self.heads, d).transpose(1, 2) for a in (q, k, v))
s = q @ k.transpose(-1, -2) / d ** 0.5
s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), -1e9)
y = s.softmax(-2) @ v
return self.out_proj(y.transpose(1, 2).reshape(K, L, E))
''', None, None]),
}
