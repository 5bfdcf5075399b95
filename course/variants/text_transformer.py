"""Variants of the assignment `text_transformer` (clip_text.CausalSelfAttention.forward, TextEncoder
.encode_from_embeddings, TextEncoder.forward) for the kit's own tests.

Region 1: the attention's forward; region 2: encode_from_embeddings; region 3: the encoder's forward (None keeps
the repository's body). tests/test_course.py expects course/grade.py to pass the correct ones and fail the others.
"""

ATTENTION_WITH_MASK = '''
K, L, E = x.shape
d = E // self.heads
q, k, v = (x @ self.in_proj_weight.T + self.in_proj_bias).split(E, dim=-1)  # 3 x (K, L, E)
q, k, v = (a.reshape(K, L, self.heads, d).permute(0, 2, 1, 3) for a in (q, k, v))  # (K, heads, L, d)
scores = q @ k.transpose(-2, -1) / d ** 0.5  # (K, heads, L, L)
future = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(DIAGONAL)
y = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v  # (K, heads, L, d)
return self.out_proj(y.permute(0, 2, 1, 3).reshape(K, L, E))
'''

VARIANTS = {
    "alternative": dict(correct=True, why="explicit scores and a boolean mask instead of scaled_dot_product_attention; "
                                          "pooling before the final LayerNorm (it acts per token); no truncation of "
                                          "the padding",
                        bodies=[ATTENTION_WITH_MASK.replace("DIAGONAL", "1"), '''
L = x.shape[1]
h = self.transformer(x + self.positional_embedding[:L])  # (K, L, E)
pooled = torch.stack([h[k, int(i)] for k, i in enumerate(eot_index)])  # (K, E)
return self.ln_final(pooled) @ self.text_projection
''', '''
return self.encode_from_embeddings(self.token_embedding(tokens), tokens.argmax(dim=-1))
''']),
    "wrong_mask_off_by_one": dict(correct=False, why="the causal mask is off by one: token i also sees token i + 1",
                                  bodies=[ATTENTION_WITH_MASK.replace("DIAGONAL", "2"), None, None]),
    "wrong_pool_last_position": dict(correct=False, why="pools at the last position instead of each text's end "
                                                        "token (right only for the longest text of a batch)",
                                     bodies=[None, '''
K, L, E = x.shape
x = x + self.positional_embedding[:L]
x = self.ln_final(self.transformer(x))
return x[:, -1] @ self.text_projection
''', None]),
    "wrong_no_projection": dict(correct=False, why="forgets the text projection: returns the pooled width-E feature",
                                bodies=[None, '''
K, L, E = x.shape
x = x + self.positional_embedding[:L]
x = self.ln_final(self.transformer(x))
return x[torch.arange(K, device=x.device), eot_index]
''', None]),
}
