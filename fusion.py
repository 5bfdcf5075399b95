"""Cross-modal fusion F (Sec. 3.2, Eq. (3-3) - (3-5)) and its ablation variants (Tables 1, 2, 4).

F takes the deepest image feature f_I [B, C, h, w] of the encoder and the class-name text
features f_T [K, D] of the frozen CLIP text encoder, and returns the feature the decoder starts
from, [B, C_out, h, w] (`.out_channels`).

The default `product` follows the paper's words "compress global information into channel
descriptors" (SENet) and "recalibrate attention":
  1. Eq. (3-3): t = FC_T(f_T)                      [K, D] -> [K, M]
  2. z = GAP(f_I)                                  [B, C]   (SENet squeeze)
  3. Eq. (3-4): g = ReLU(FC_I(z))                  [B, C] -> [B, K*M] (synchronised with the text)
  4. Eq. (3-5): a = flatten(t) * g ; w = sigmoid(FC_out(a)) [B, C] ;
                out = f_I + C_learn * (f_I * w)    residual with a learnable scalar C_learn

Readings of the paper that are not certain, and the choice made:
- M (per-class text width after FC_T) is not given; `fusion_dim` = 32 by default, so the joint
  vector has K*M = 640 entries for SBD's 20 classes, comparable to the image channels.
- C_learn is initialised to 1.0, not 0 as in DANet/SAGAN: with 0 the text FCs would get no
  gradient until C_learn moves away from 0; with 1 the text path learns from the first step.
  The recalibration then scales f_I by 1 + w, w in (0, 1), which BN in the decoder absorbs.
- Table 2 compares the element-wise product with two concatenations. We read them as
  `product_diff`: a = [t * g, t - g]   (the product concatenated with the difference), and
  `concat_diff`:  a = [t, g, t - g]    (text, image and their difference), both [B, n*K*M],
  each followed by the same FC_out / sigmoid / residual as the product. t is the same for every
  image, so it is broadcast over the batch.
- `lseg` (Table 4, LSeg, Li et al. ICLR 2022): f_I is projected by a 1x1 conv to D = 512, both
  sides are L2-normalised, and the K cosine maps times a fixed 1/0.07 (CLIP's temperature) are the
  decoder's input (out_channels = K), replacing f_I instead of recalibrating it.
- `none` (Table 1 baseline): f_I unchanged; the text is not used.

Options from related CLIP papers (issue 7; ablations beyond the paper, each class names its source):
- `cross_attention` (GLE-CLIP): bidirectional pixel-text cross-attention and a similarity-weighted mix of
  per-pixel and image-level class embeddings, which recalibrates f_I per pixel (CrossAttentionFusion).
- `pixel_text_alignment` (FGAseg): text attends to the pixels (P2Tformer), global and local cosine
  similarity maps become K pseudo-mask channels concatenated to f_I (PixelTextAlignmentFusion).
- TextPixelHead / PixelEmbeddingHead: the model-owned heads of losses.py's `loss_t2p` and `loss_contrast`.

References: SENet (Hu et al., CVPR 2018) for squeeze-and-excitation; LSeg (Li et al., ICLR 2022); GLE-CLIP
(CSA 2025); FGAseg (Li et al., arXiv 2501.00877); MTA-CLIP (Das et al., ECCV 2024); DETR (Carion et al.,
ECCV 2020) for the 2-D sine position encoding.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class NoFusion(nn.Module):
    """Table 1 baseline: the decoder sees the image feature alone."""

    def __init__(self, img_channels):
        super().__init__()
        self.out_channels = img_channels

    def forward(self, f_I, f_T):
        return f_I  # (B, C, h, w)


class ChannelFusion(nn.Module):
    """Text-guided channel recalibration, Eq. (3-3) - (3-5); `combine` selects Table 2's row."""

    def __init__(self, img_channels, text_dim, num_classes, fusion_dim=32, combine="product"):
        super().__init__()
        C, D, K, M = img_channels, text_dim, num_classes, fusion_dim
        n_parts = {"product": 1, "product_diff": 2, "concat_diff": 3}[combine]
        self.combine = combine
        self.fc_text = nn.Linear(D, M)  # FC_T of Eq. (3-3)
        self.fc_image = nn.Linear(C, K * M)  # FC_I of Eq. (3-4)
        self.fc_out = nn.Linear(n_parts * K * M, C)  # back to one weight per image channel, Eq. (3-5)
        self.scale = nn.Parameter(torch.tensor(1.0))  # C_learn of Eq. (3-5), see the docstring
        self.out_channels = C

    def forward(self, f_I, f_T):
        B, C, h, w = f_I.shape
        t = self.fc_text(f_T).flatten()  # Eq. (3-3): t = FC_T(f_T), (K, M) -> (K*M,)
        t = t.unsqueeze(0).expand(B, -1)  # the same text for every image: (B, K*M)
        z = f_I.mean(dim=(2, 3))  # squeeze: z = GAP(f_I), (B, C)
        g = F.relu(self.fc_image(z))  # Eq. (3-4): g = ReLU(FC_I(z)), (B, K*M)
        if self.combine == "product":
            a = t * g  # Eq. (3-5): element-wise product, (B, K*M)
        elif self.combine == "product_diff":
            a = torch.cat([t * g, t - g], dim=1)  # Table 2: product and difference, (B, 2*K*M)
        else:  # concat_diff
            a = torch.cat([t, g, t - g], dim=1)  # Table 2: text, image, difference, (B, 3*K*M)
        w_c = torch.sigmoid(self.fc_out(a))  # Eq. (3-5): channel weights, (B, C)
        return f_I + self.scale * (f_I * w_c.view(B, C, 1, 1))  # Eq. (3-5): residual recalibration, (B, C, h, w)


class LSegFusion(nn.Module):
    """Table 4: pixel-text cosine similarity maps (LSeg), one per class, fed to the decoder."""

    def __init__(self, img_channels, text_dim, num_classes, temperature=0.07):
        super().__init__()
        self.proj = nn.Conv2d(img_channels, text_dim, 1)  # 1x1 projection of f_I to D
        self.logit_scale = 1.0 / temperature  # fixed, not learned
        self.out_channels = num_classes

    def forward(self, f_I, f_T):
        x = F.normalize(self.proj(f_I), dim=1)  # (B, D, h, w), unit length per pixel
        t = F.normalize(f_T, dim=1)  # (K, D), unit length per class
        return self.logit_scale * torch.einsum("bdhw,kd->bkhw", x, t)  # cosine / 0.07, (B, K, h, w)


# ------------------------------------------------------------- issue 7: fusions from related CLIP papers

def sine_position_encoding(h, w, dim, device=None):
    """Fixed 2-D sinusoidal position encoding [h*w, dim] (Transformer sin/cos, DETR's 2-D split): the first half of
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
    and channel (the residual form of Eq. (3-5)) instead of producing CAM seeds; GLE-CLIP's CAM refinement does not
    transfer to edges and is left out.

      x = Conv1x1(f_I)                     (B, N, E)  N = h*w pixels; PE: sinusoidal 2-D position encoding
      t = FC(f_T)                          (K, E)
      x = LN(x + MHA(q=x+PE, k=t, v=t))    pixels attend to the K class embeddings   (BCA, text -> pixel)
      t' = LN(t + MHA(q=t, k=x+PE, v=x))   classes attend to the pixels, per image   (BCA, pixel -> text)
      local_n  = sum_k softmax_k(<x_n, t'_k>/sqrt(E)) t'_k          per-pixel class embedding
      global   = sum_k softmax_k(<GAP(x), t'_k>/sqrt(E)) t'_k       image-level class embedding
      (a_l, a_g) = softmax(s * [cos(x_n, local_n), cos(x_n, global)])  DAF: similarity-driven weights, s learned
      e_n = a_l local_n + a_g global ;  out = f_I + C_learn * f_I * sigmoid(Conv1x1(e))   (B, C, h, w)
    """

    def __init__(self, img_channels, text_dim, num_classes, dim=256, heads=8):
        super().__init__()
        C, D, E = img_channels, text_dim, dim
        self.proj_image = nn.Conv2d(C, E, 1)
        self.proj_text = nn.Linear(D, E)
        self.text_to_pixel = nn.MultiheadAttention(E, heads, batch_first=True)  # queries: pixels
        self.pixel_to_text = nn.MultiheadAttention(E, heads, batch_first=True)  # queries: class embeddings
        self.norm_pixel, self.norm_text = nn.LayerNorm(E), nn.LayerNorm(E)
        self.daf_scale = nn.Parameter(torch.tensor(5.0))  # s: sharpness of the global/local weights
        self.gate = nn.Conv2d(E, C, 1)  # embedding -> one weight per image channel and pixel
        self.scale = nn.Parameter(torch.tensor(1.0))  # C_learn, as in the product fusion
        self.out_channels = C

    def forward(self, f_I, f_T):
        B, C, h, w = f_I.shape
        E = self.proj_text.out_features
        pe = sine_position_encoding(h, w, E, f_I.device).to(f_I.dtype)  # (N, E)
        x = self.proj_image(f_I).flatten(2).transpose(1, 2)  # (B, N, E)
        t = self.proj_text(f_T).unsqueeze(0).expand(B, -1, -1)  # (B, K, E)
        x = self.norm_pixel(x + self.text_to_pixel(x + pe, t, t, need_weights=False)[0])  # BCA text->pixel: (B, N, E)
        t = self.norm_text(t + self.pixel_to_text(t, x + pe, x, need_weights=False)[0])  # BCA pixel->text: (B, K, E)
        attn_local = torch.softmax(x @ t.transpose(1, 2) / E ** 0.5, dim=-1)  # (B, N, K)
        local = attn_local @ t  # local per-pixel class embedding: (B, N, E)
        z = x.mean(dim=1, keepdim=True)  # pooled image embedding: (B, 1, E)
        glob = torch.softmax(z @ t.transpose(1, 2) / E ** 0.5, dim=-1) @ t  # global embedding: (B, 1, E)
        sim = torch.stack([F.cosine_similarity(x, local, dim=-1),
                           F.cosine_similarity(x, glob.expand_as(x), dim=-1)], dim=-1)  # DAF similarities: (B, N, 2)
        a = torch.softmax(self.daf_scale * sim, dim=-1)  # DAF weights: (B, N, 2)
        e = a[..., :1] * local + a[..., 1:] * glob  # fused embedding: (B, N, E)
        e = e.transpose(1, 2).reshape(B, E, h, w)  # (B, E, h, w)
        return f_I + self.scale * (f_I * torch.sigmoid(self.gate(e)))  # recalibration, Eq. (3-5) form: (B, C, h, w)


class PixelTextAlignmentFusion(nn.Module):
    """`pixel_text_alignment`: FGAseg (Li et al., 2024, arXiv 2501.00877, "Fine-Grained Pixel-Text Alignment for
    Open-Vocabulary Semantic Segmentation"): the pixel-to-text alignment transformer P2Tformer and the global /
    local category supplementation GCS / LCS (module names as in the paper; we did not have its equation numbers).
    Adapted for edges: the K similarity maps are not mask proposals but K extra channels concatenated to f_I, so the
    refinement decoder sees per-class "where is class k" evidence next to the image feature and turns its borders
    into edges.

      x = Conv1x1(f_I)                       (B, E, h, w)
      t = FC(f_T)                             (K, E)
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
        C, D, K, E = img_channels, text_dim, num_classes, dim
        self.proj_image = nn.Conv2d(C, E, 1)
        self.proj_text = nn.Linear(D, E)
        self.attn = nn.MultiheadAttention(E, heads, batch_first=True)  # P2Tformer: queries are the K texts
        self.norm = nn.LayerNorm(E)
        self.lam = nn.Parameter(torch.tensor(0.1))  # P2Tformer's learnable residual scale lambda
        self.local_kernel = nn.Parameter(torch.zeros(E, 1, kernel_size, kernel_size))  # LCS, softmax -> uniform
        self.kernel_size = kernel_size
        self.fuse = nn.Conv2d(2 * K, K, 1)  # GCS and LCS -> K pseudo-mask channels
        self.out_channels = C + K

    def forward(self, f_I, f_T):
        B, C, h, w = f_I.shape
        E, r = self.proj_text.out_features, self.kernel_size
        x = self.proj_image(f_I)  # (B, E, h, w)
        pe = sine_position_encoding(h, w, E, f_I.device).to(f_I.dtype)  # (N, E)
        seq = x.flatten(2).transpose(1, 2)  # (B, N, E)
        t = self.proj_text(f_T).unsqueeze(0).expand(B, -1, -1)  # (B, K, E)
        t = t + self.lam * self.attn(self.norm(t), seq + pe, seq, need_weights=False)[0]  # P2Tformer: (B, K, E)
        t = F.normalize(t, dim=-1)  # (B, K, E)
        gcs = torch.einsum("behw,bke->bkhw", F.normalize(x, dim=1), t)  # GCS: cosine maps (B, K, h, w)
        kernel = torch.softmax(self.local_kernel.flatten(1), dim=1).view_as(self.local_kernel)  # normalised taps
        local = F.conv2d(x, kernel.to(x.dtype), padding=r // 2, groups=E)  # depthwise r x r: (B, E, h, w)
        lcs = torch.einsum("behw,bke->bkhw", F.normalize(local, dim=1), t)  # LCS: cosine maps (B, K, h, w)
        masks = self.fuse(torch.cat([gcs, lcs], dim=1))  # K pseudo-masks: (B, K, h, w)
        return torch.cat([f_I, masks], dim=1)  # (B, C + K, h, w)


# ------------------------------------------------------------- issue 7: alignment heads for losses.py

class TextPixelHead(nn.Module):
    """Head of FGAseg's text-pixel alignment loss (T2P loss; losses.py `loss_t2p`): each class's text embedding is
    turned linearly into a 1x1 kernel and a bias, applied to a projection of f_I:
      m_k = <W_k f_T[k], P f_I(n)> + b_k[f_T[k]]     (B, K, h, w) logits, compared with the pooled edge maps.
    Adapted for edges: the target is the max-pooled ground-truth EDGE map of class k at the feature resolution."""

    def __init__(self, img_channels, text_dim, dim=64):
        super().__init__()
        self.proj_image = nn.Conv2d(img_channels, dim, 1)  # P
        self.kernel = nn.Linear(text_dim, dim)  # text -> 1x1 kernel
        self.bias = nn.Linear(text_dim, 1)  # text -> bias

    def forward(self, f_I, f_T):
        x = self.proj_image(f_I)  # (B, dim, h, w)
        k = self.kernel(f_T)  # (K, dim)
        b = self.bias(f_T).squeeze(1)  # (K,)
        return torch.einsum("bdhw,kd->bkhw", x, k) + b.view(1, -1, 1, 1)  # (B, K, h, w)


class PixelEmbeddingHead(nn.Module):
    """Projection of f_I into the text space for MTA-CLIP's mask-to-text contrastive loss (losses.py
    `loss_contrast`) and for prompt selection (clip_text.TemplateSelector): 1x1 conv C -> D."""

    def __init__(self, img_channels, text_dim):
        super().__init__()
        self.proj = nn.Conv2d(img_channels, text_dim, 1)

    def forward(self, f_I):
        return self.proj(f_I)  # (B, D, h, w)


FUSIONS = ("none", "product", "product_diff", "concat_diff", "lseg", "cross_attention", "pixel_text_alignment")


def build_fusion(name, img_channels, text_dim, num_classes, fusion_dim=32, attn_dim=256, attn_heads=8, lcs_kernel=9):
    """Build the fusion `name` (one of FUSIONS) for f_I with img_channels and f_T of [num_classes, text_dim].
    attn_dim / attn_heads / lcs_kernel only concern cross_attention and pixel_text_alignment (issue 7)."""
    if name == "none":
        return NoFusion(img_channels)
    if name in ("product", "product_diff", "concat_diff"):
        return ChannelFusion(img_channels, text_dim, num_classes, fusion_dim, combine=name)
    if name == "lseg":
        return LSegFusion(img_channels, text_dim, num_classes)
    if name == "cross_attention":
        return CrossAttentionFusion(img_channels, text_dim, num_classes, attn_dim, attn_heads)
    if name == "pixel_text_alignment":
        return PixelTextAlignmentFusion(img_channels, text_dim, num_classes, attn_dim, attn_heads, lcs_kernel)
    raise ValueError(f"fusion.py: unknown fusion {name!r}; choose one of {list(FUSIONS)}")
