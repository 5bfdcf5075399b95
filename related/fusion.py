"""Fusions and alignment heads from related CLIP papers: beyond the paper (off by default).

The paper's model (fusion.py) does not need this file; model.py builds these only when a flag asks for them
(`train.py --fusion cross_attention | pixel_text_alignment`, `--t2p-weight`, `--contrast-weight`, `--prompts
select`). Each mechanism, its paper, and what we adapted for edges:

- `cross_attention`, CrossAttentionFusion: GLE-CLIP ("Weakly Supervised Semantic Segmentation via Dynamic Fusion
  of CLIP-based Global and Local Embeddings", CSA 2025): bidirectional pixel-text cross-attention (BCA) and the
  dynamic attention fusion (DAF) of global and local class embeddings. Adapted: the refined embedding recalibrates
  the deepest feature per pixel and channel (the residual form of fusion.ChannelFusion) instead of producing CAM
  seeds; GLE-CLIP's CAM refinement does not transfer to edges and is left out.
- `pixel_text_alignment`, PixelTextAlignmentFusion: FGAseg (Li et al., arXiv 2501.00877): the pixel-to-text
  alignment transformer (P2Tformer) and global / local category supplementation (GCS / LCS). Adapted: the K
  similarity maps are not mask proposals but K extra channels concatenated to f_I, so the refinement decoder
  sees "where is class k" evidence and turns its borders into edges.
- `sine_position_encoding`: DETR's fixed 2-D sine encoding (Carion et al., ECCV 2020), used by both attentions.
- TextPixelHead: the head of FGAseg's text-pixel (T2P) alignment loss (related.losses.text_pixel_loss). Adapted:
  its target is the max-pooled ground-truth EDGE map of each class, not the mask.
- PixelEmbeddingHead: f_I projected into the text space for MTA-CLIP's mask-to-text contrastive loss (Das et al.,
  ECCV 2024; related.losses.mask_text_contrast) and for prompt selection (related.prompts.TemplateSelector).
  Adapted: the anchors average over each class's EDGE pixels instead of its mask.

Symbols as in model.py; A is the attention width (attn_dim, not CLIP's E), N = h*w pixels. Module names (BCA, DAF,
P2Tformer, GCS, LCS) are the papers'; their equation numbers were not available to us.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def sine_position_encoding(h, w, dim, device=None):
    """Fixed 2-D sinusoidal position encoding (h*w, dim) (Transformer sin/cos, DETR's 2-D split): the first half of
    the channels encodes the row, the second half the column, each with dim/4 frequencies."""
    assert dim % 4 == 0, f"position encoding needs dim divisible by 4, got {dim}"
    n = dim // 4
    freq = 1.0 / (10000 ** (torch.arange(n, device=device, dtype=torch.float32) / n))  # (n,)
    y = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freq  # (h, n)
    x = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freq  # (w, n)
    pe_y = torch.cat([y.sin(), y.cos()], dim=1)[:, None, :].expand(h, w, 2 * n)  # (h, w, dim/2)
    pe_x = torch.cat([x.sin(), x.cos()], dim=1)[None, :, :].expand(h, w, 2 * n)  # (h, w, dim/2)
    return torch.cat([pe_y, pe_x], dim=2).reshape(h * w, dim)  # (h*w, dim)


class CrossAttentionFusion(nn.Module):
    """`cross_attention`: bidirectional pixel-text cross-attention (BCA) and dynamic attention fusion (DAF) of
    global and local embeddings, after GLE-CLIP (CSA 2025, "Weakly Supervised Semantic Segmentation via Dynamic
    Fusion of CLIP-based Global and Local Embeddings"; module names BCA / DAF as in the paper, its equation numbers
    were not available to us). Adapted for edges: the refined embedding recalibrates the deepest feature per pixel
    and channel (the residual form of fusion.ChannelFusion) instead of producing CAM seeds; GLE-CLIP's CAM
    refinement does not transfer to edges and is left out.

      x = Conv1x1(f_I)                     (B, N, A)  N = h*w pixels; PE: sinusoidal 2-D position encoding
      t = FC(f_T)                          (K, A)
      x = LN(x + MHA(q=x+PE, k=t, v=t))    pixels attend to the K class embeddings   (BCA, text -> pixel)
      t' = LN(t + MHA(q=t, k=x+PE, v=x))   classes attend to the pixels, per image   (BCA, pixel -> text)
      local_n  = sum_k softmax_k(<x_n, t'_k>/sqrt(A)) t'_k          per-pixel class embedding
      global   = sum_k softmax_k(<GAP(x), t'_k>/sqrt(A)) t'_k       image-level class embedding
      (a_l, a_g) = softmax(s * [cos(x_n, local_n), cos(x_n, global)])  DAF: similarity-driven weights, s learned
      e_n = a_l local_n + a_g global ;  out = f_I + C_learn * f_I * sigmoid(Conv1x1(e))   (B, C, h, w)
    """

    def __init__(self, img_channels, text_dim, num_classes, dim=256, heads=8):
        super().__init__()
        C, D, A = img_channels, text_dim, dim
        self.proj_image = nn.Conv2d(C, A, 1)
        self.proj_text = nn.Linear(D, A)
        self.text_to_pixel = nn.MultiheadAttention(A, heads, batch_first=True)  # queries: pixels
        self.pixel_to_text = nn.MultiheadAttention(A, heads, batch_first=True)  # queries: class embeddings
        self.norm_pixel, self.norm_text = nn.LayerNorm(A), nn.LayerNorm(A)
        self.daf_scale = nn.Parameter(torch.tensor(5.0))  # s: sharpness of the global/local weights
        self.gate = nn.Conv2d(A, C, 1)  # embedding -> one weight per image channel and pixel
        self.scale = nn.Parameter(torch.tensor(1.0))  # C_learn, as in the product fusion
        self.out_channels = C

    def forward(self, f_I, f_T):
        B, C, h, w = f_I.shape
        A = self.proj_text.out_features
        pe = sine_position_encoding(h, w, A, f_I.device).to(f_I.dtype)  # (N, A)
        x = self.proj_image(f_I).flatten(2).transpose(1, 2)  # (B, N, A)
        t = self.proj_text(f_T).unsqueeze(0).expand(B, -1, -1)  # (B, K, A)
        x = self.norm_pixel(x + self.text_to_pixel(x + pe, t, t, need_weights=False)[0])  # BCA text->pixel: (B, N, A)
        t = self.norm_text(t + self.pixel_to_text(t, x + pe, x, need_weights=False)[0])  # BCA pixel->text: (B, K, A)
        attn_local = torch.softmax(x @ t.transpose(1, 2) / A ** 0.5, dim=-1)  # (B, N, K)
        local = attn_local @ t  # local per-pixel class embedding: (B, N, A)
        z = x.mean(dim=1, keepdim=True)  # pooled image embedding: (B, 1, A)
        glob = torch.softmax(z @ t.transpose(1, 2) / A ** 0.5, dim=-1) @ t  # global embedding: (B, 1, A)
        sim = torch.stack([F.cosine_similarity(x, local, dim=-1),
                           F.cosine_similarity(x, glob.expand_as(x), dim=-1)], dim=-1)  # DAF similarities: (B, N, 2)
        a = torch.softmax(self.daf_scale * sim, dim=-1)  # DAF weights: (B, N, 2)
        e = a[..., :1] * local + a[..., 1:] * glob  # fused embedding: (B, N, A)
        e = e.transpose(1, 2).reshape(B, A, h, w)  # (B, A, h, w)
        return f_I + self.scale * (f_I * torch.sigmoid(self.gate(e)))  # ChannelFusion's residual form: (B, C, h, w)


class PixelTextAlignmentFusion(nn.Module):
    """`pixel_text_alignment`: FGAseg (Li et al., 2024, arXiv 2501.00877, "Fine-Grained Pixel-Text Alignment for
    Open-Vocabulary Semantic Segmentation"): the pixel-to-text alignment transformer P2Tformer and the global /
    local category supplementation GCS / LCS (module names as in the paper; we did not have its equation numbers).
    Adapted for edges: the K similarity maps are not mask proposals but K extra channels concatenated to f_I, so the
    refinement decoder sees per-class "where is class k" evidence next to the image feature and turns its borders
    into edges.

      x = Conv1x1(f_I)                       (B, A, h, w)
      t = FC(f_T)                             (K, A)
      t' = t + lambda * MHA(q=t, k=x+PE, v=x) text attends to position-encoded pixels; lambda learned (P2Tformer)
      GCS_k(n) = cos(x_n, t'_k)               global cosine similarity maps                   (B, K, h, w)
      LCS_k(n) = cos(DWConv_r(x)_n, t'_k)     local: a depthwise r x r convolution whose kernels are softmax-
                                              normalised (a learned local weighted average), r = 9 in FGAseg
      out = [f_I, Conv1x1([GCS, LCS])]        K pseudo-mask channels concatenated: (B, C + K, h, w)
    Our reading of LCS: "depthwise convolution with normalised kernels" is applied to the pixel features before the
    cosine with the text; lambda starts at 0.1 (not 0) so that the attention is trained from the first step.
    """

    def __init__(self, img_channels, text_dim, num_classes, dim=256, heads=8, kernel_size=9):
        super().__init__()
        C, D, K, A = img_channels, text_dim, num_classes, dim
        self.proj_image = nn.Conv2d(C, A, 1)
        self.proj_text = nn.Linear(D, A)
        self.attn = nn.MultiheadAttention(A, heads, batch_first=True)  # P2Tformer: queries are the K texts
        self.norm = nn.LayerNorm(A)
        self.lam = nn.Parameter(torch.tensor(0.1))  # P2Tformer's learnable residual scale lambda
        self.local_kernel = nn.Parameter(torch.zeros(A, 1, kernel_size, kernel_size))  # LCS, softmax -> uniform
        self.kernel_size = kernel_size
        self.fuse = nn.Conv2d(2 * K, K, 1)  # GCS and LCS -> K pseudo-mask channels
        self.out_channels = C + K

    def forward(self, f_I, f_T):
        B, C, h, w = f_I.shape
        A, r = self.proj_text.out_features, self.kernel_size
        x = self.proj_image(f_I)  # (B, A, h, w)
        pe = sine_position_encoding(h, w, A, f_I.device).to(f_I.dtype)  # (N, A)
        seq = x.flatten(2).transpose(1, 2)  # (B, N, A)
        t = self.proj_text(f_T).unsqueeze(0).expand(B, -1, -1)  # (B, K, A)
        t = t + self.lam * self.attn(self.norm(t), seq + pe, seq, need_weights=False)[0]  # P2Tformer: (B, K, A)
        t = F.normalize(t, dim=-1)  # (B, K, A)
        gcs = torch.einsum("bahw,bka->bkhw", F.normalize(x, dim=1), t)  # GCS: cosine maps (B, K, h, w)
        kernel = torch.softmax(self.local_kernel.flatten(1), dim=1).view_as(self.local_kernel)  # normalised taps
        local = F.conv2d(x, kernel.to(x.dtype), padding=r // 2, groups=A)  # depthwise r x r: (B, A, h, w)
        lcs = torch.einsum("bahw,bka->bkhw", F.normalize(local, dim=1), t)  # LCS: cosine maps (B, K, h, w)
        masks = self.fuse(torch.cat([gcs, lcs], dim=1))  # K pseudo-masks: (B, K, h, w)
        return torch.cat([f_I, masks], dim=1)  # (B, C + K, h, w)


# ------------------------------------------------------------- alignment heads for related/losses.py

class TextPixelHead(nn.Module):
    """Head of FGAseg's text-pixel alignment loss (T2P loss; related.losses `loss_t2p`): each class's text embedding is
    turned linearly into a 1x1 kernel and a bias, applied to a projection of f_I:
      m_k(n) = <FC_kernel(f_T[k]), Proj(f_I)(n)> + FC_bias(f_T[k])     (B, K, h, w) logits, compared with the
    max-pooled edge maps (related.losses.text_pixel_loss).
    Adapted for edges: the target is the max-pooled ground-truth EDGE map of class k at the feature resolution."""

    def __init__(self, img_channels, text_dim, dim=64):
        super().__init__()
        self.proj_image = nn.Conv2d(img_channels, dim, 1)  # Proj, a 1x1 conv
        self.kernel = nn.Linear(text_dim, dim)  # text -> 1x1 kernel
        self.bias = nn.Linear(text_dim, 1)  # text -> bias

    def forward(self, f_I, f_T):
        x = self.proj_image(f_I)  # (B, dim, h, w)
        k = self.kernel(f_T)  # (K, dim)
        b = self.bias(f_T).squeeze(1)  # (K,)
        return torch.einsum("bdhw,kd->bkhw", x, k) + b.view(1, -1, 1, 1)  # (B, K, h, w)


class PixelEmbeddingHead(nn.Module):
    """Projection of f_I into the text space for MTA-CLIP's mask-to-text contrastive loss (related.losses
    `loss_contrast`) and for prompt selection (related.prompts.TemplateSelector): 1x1 conv C -> D."""

    def __init__(self, img_channels, text_dim):
        super().__init__()
        self.proj = nn.Conv2d(img_channels, text_dim, 1)

    def forward(self, f_I):
        return self.proj(f_I)  # (B, D, h, w)


FUSIONS = ("cross_attention", "pixel_text_alignment")


def build_fusion(name, img_channels, text_dim, num_classes, attn_dim=256, attn_heads=8, lcs_kernel=9):
    """Build the related-paper fusion `name` (one of FUSIONS) for f_I with img_channels and f_T of
    (num_classes, text_dim); attn_dim = A, attn_heads and lcs_kernel (FGAseg's r) are their settings."""
    if name == "cross_attention":
        return CrossAttentionFusion(img_channels, text_dim, num_classes, attn_dim, attn_heads)
    if name == "pixel_text_alignment":
        return PixelTextAlignmentFusion(img_channels, text_dim, num_classes, attn_dim, attn_heads, lcs_kernel)
    raise ValueError(f"related/fusion.py: unknown fusion {name!r}; choose one of {list(FUSIONS)}")
