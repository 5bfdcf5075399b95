"""Checks of the assignment `text_transformer`: CLIP's causal self-attention, pooling at the end token and the text
projection (clip_text.CausalSelfAttention.forward, TextEncoder.encode_from_embeddings, TextEncoder.forward).

Paper Sec. 3.1.2: f_T = E_T(T), the CLIP text encoder's feature of each class name. The checks build a tiny
random-weight encoder with the project's own builder (clip_text.TextEncoder, init_parameters, a fixed seed) and
compare it with a computation written out here, one token and one head at a time in float64 (`reference_*`),
independent of the code under test. Token ids: CLIP's, with <|startoftext|> = 49406 and <|endoftext|> = 49407.
"""
import math
from functools import lru_cache

import torch

import clip_text  # the graded repository's clip_text.py: course/grade.py puts it first on sys.path
from checklib import expect_close, expect_shape, fail

SOT, EOT = 49406, 49407
WIDTH, HEADS, LAYERS, EMBED, CONTEXT = 32, 2, 2, 16, 12  # tiny: D = 16 differs from the width E = 32
TOKENS = torch.tensor([  # "a photo of a cat.", "aeroplane", "diningtable": three lengths, zero padding after the end
    [SOT, 320, 1125, 539, 320, 2368, 269, EOT, 0, 0, 0, 0],
    [SOT, 27735, 3980, EOT, 0, 0, 0, 0, 0, 0, 0, 0],
    [SOT, 1462, 653, 2175, EOT, 0, 0, 0, 0, 0, 0, 0]])
ATTENTION = ("per head h (E/heads channels each): scores q_i . k_j / sqrt(E/heads), softmax over j = 0..i only, "
             "output_i = sum_j softmax_ij v_j; the heads side by side, then out_proj")
CAUSAL = ("token i may attend to tokens 0..i only: mask the scores of later tokens (j > i) with -inf before the "
          "softmax (F.scaled_dot_product_attention(..., is_causal=True) or a triangular mask)")
POOLING = ("each sequence's feature is the final-LayerNorm output AT ITS END TOKEN (tokens.argmax(dim=-1): 49407 is "
           "the largest id), not at the last position: shorter texts end earlier and what follows is padding")
PROJECTION = "the pooled (K, E) feature is multiplied by text_projection (E, D): f_T = x_eot @ text_projection"


@lru_cache()
def tiny_encoder():
    """The project's TextEncoder at a tiny size, OpenAI's initialisation from a fixed seed, with non-zero biases
    and LayerNorm parameters so that every term matters (built once: no check changes it)."""
    g = torch.Generator().manual_seed(0)
    enc = clip_text.TextEncoder(embed_dim=EMBED, context_length=CONTEXT, vocab_size=49408, width=WIDTH,
                                heads=HEADS, layers=LAYERS)
    enc.init_parameters(g)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if "bias" in name or "ln_" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return enc.eval()


def layer_norm(x, weight, bias):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * weight + bias


def reference_attention(x, in_weight, in_bias, out_weight, out_bias, heads):
    """One sequence x (n, E): causal multi-head attention, one query and one head at a time."""
    n, E = x.shape
    d = E // heads
    q, k, v = (x @ in_weight.T + in_bias).split(E, dim=-1)  # 3 x (n, E)
    y = torch.zeros(n, E, dtype=x.dtype)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        for i in range(n):
            scores = torch.stack([q[i, cols] @ k[j, cols] / math.sqrt(d) for j in range(i + 1)])  # keys 0..i
            weights = torch.exp(scores - scores.max())
            weights = weights / weights.sum()
            y[i, cols] = sum(weights[j] * v[j, cols] for j in range(i + 1))
    return y @ out_weight.T + out_bias


def reference_from_embeddings(enc, x, eot):
    """One sequence of token embeddings x (n, E) and its end-token position -> its feature (D,), float64."""
    p = {k: v.detach().double() for k, v in enc.state_dict().items()}
    x = x.double()[:eot + 1] + p["positional_embedding"][:eot + 1]  # causal: what follows the end is not needed
    for i in range(LAYERS):
        b = lambda name: p[f"transformer.resblocks.{i}.{name}"]  # noqa: E731
        h = layer_norm(x, b("ln_1.weight"), b("ln_1.bias"))
        x = x + reference_attention(h, b("attn.in_proj_weight"), b("attn.in_proj_bias"), b("attn.out_proj.weight"),
                                    b("attn.out_proj.bias"), HEADS)
        h = layer_norm(x, b("ln_2.weight"), b("ln_2.bias")) @ b("mlp.c_fc.weight").T + b("mlp.c_fc.bias")
        x = x + (h * torch.sigmoid(1.702 * h)) @ b("mlp.c_proj.weight").T + b("mlp.c_proj.bias")
    return layer_norm(x[eot], p["ln_final.weight"], p["ln_final.bias"]) @ p["text_projection"]


def reference_features(enc, tokens):
    """Token ids (K, L) -> features (K, D): each row up to its first end token."""
    emb = enc.token_embedding.weight.detach()
    return torch.stack([reference_from_embeddings(enc, emb[row], row.tolist().index(EOT)) for row in tokens])


def tiny_attention():
    g = torch.Generator().manual_seed(1)
    attn = clip_text.CausalSelfAttention(8, 2)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return attn, torch.randn(2, 5, 8, generator=g)


def check_attention_values():
    """CausalSelfAttention: multi-head attention values against a one-query-at-a-time computation"""
    attn, x = tiny_attention()
    with torch.no_grad():
        got = attn(x)
    p = {k: v.double() for k, v in attn.state_dict().items()}
    expected = torch.stack([reference_attention(xi.double(), p["in_proj_weight"], p["in_proj_bias"],
                                                p["out_proj.weight"], p["out_proj.bias"], 2) for xi in x])
    return expect_close(got, expected, "attention output (2 sequences, 5 tokens, width 8, 2 heads)",
                        f"{ATTENTION}; {CAUSAL}", atol=1e-5)


def check_attention_is_causal():
    """Changing token 3 changes the attention output at positions 3 and 4, never at 0..2 (causal mask)"""
    attn, x = tiny_attention()
    changed = x.clone()
    changed[:, 3] += 1.0
    with torch.no_grad():
        a, b = attn(x), attn(changed)
    differs = [bool((a[:, i] - b[:, i]).abs().max() > 1e-6) for i in range(5)]
    if differs != [False, False, False, True, True]:
        fail("positions whose output changed when token 3 changed", [3, 4],
             [i for i in range(5) if differs[i]], CAUSAL)
    return "positions whose output changed when token 3 changed: expected [3, 4], got [3, 4]"


def check_feature_shape():
    """TextEncoder(tokens (K, L)) returns one D-dimensional feature per text, (K, D)"""
    with torch.no_grad():
        got = tiny_encoder()(TOKENS)
    return expect_shape(got, (3, EMBED), f"features of 3 texts (width E = {WIDTH}, D = {EMBED})", PROJECTION)


def check_features_match_reference():
    """TextEncoder(tokens) equals the straightforward computation (blocks, ln_final, end-token pooling, projection)"""
    enc = tiny_encoder()
    with torch.no_grad():
        got = enc(TOKENS)
    return expect_close(got, reference_features(enc, TOKENS), "features of 3 texts of lengths 8, 4, 5",
                        f"{POOLING}; {PROJECTION}; {CAUSAL}", atol=1e-4)


def check_pooling_at_end_token():
    """Tokens after the end token change nothing; a text in a batch of longer texts gets what it gets alone"""
    enc = tiny_encoder()
    padded = TOKENS.clone()
    padded[1, 4:] = torch.tensor([7, 8, 9, 10, 11, 12, 13, 14])  # other ids after "aeroplane"'s end token
    with torch.no_grad():
        batch, other = enc(TOKENS), enc(padded)
        alone = enc(TOKENS[1:2, :4])  # "aeroplane" without padding: its end token is the last position
    expect_close(other[1], batch[1], "feature of 'aeroplane' with other ids after its end token", POOLING, atol=1e-5)
    return expect_close(batch[1], alone[0], "feature of 'aeroplane' in a batch with longer texts vs alone", POOLING,
                        atol=1e-5)


def check_encode_from_embeddings():
    """encode_from_embeddings(x, eot_index): positions added, pooled at the GIVEN end positions"""
    enc = tiny_encoder()
    g = torch.Generator().manual_seed(2)
    x = 0.1 * torch.randn(2, 6, WIDTH, generator=g)
    eot = torch.tensor([2, 5])
    with torch.no_grad():
        got = enc.encode_from_embeddings(x, eot)
    expected = torch.stack([reference_from_embeddings(enc, x[i], int(eot[i])) for i in range(2)])
    return expect_close(got, expected, "features of 2 embedded sequences pooled at positions 2 and 5",
                        "add positional_embedding[:L] to x, run the transformer and ln_final, take row eot_index[k] "
                        f"of sequence k (not the argmax of anything: the end positions are given); {PROJECTION}",
                        atol=1e-4)
