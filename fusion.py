"""Cross-modal fusion F (Sec. 3.2, Eq. (3-3) - (3-5)) and its ablation variants (Tables 1, 2, 4).

F takes the deepest image feature f_I (B, C, h, w) of the encoder and the class-name text features
f_T (K, D), and returns the feature the decoder starts from, (B, C_out, h, w) (`.out_channels`).
Symbols as in model.py's table. The paper (Sec. 3.2.1) writes the text features as N x M (N labels, M the length
of a text feature), compressed by FC to N x M′, and the image features as B x C x H x W: its N is our K, its M our
D (512), its M′ our M = fusion_dim, the per-class text width inside the fusion; its H x W our h x w.

What the paper prints:
    Eq. (3-3)  f_T-fc = FC(f_T)
    Eq. (3-4)  f_I-fc = ReLU(FC(f_I)), after reshaping f_I so that its channels match the text
    Eq. (3-5)  f_fusion = (f_T-fc ⊙ f_I-fc) × C,  C learnable (written C_learn here: C is the image channels)
and in prose: "compress global information into channel descriptors" (SENet), "recalibrate attention", and,
after Eq. (3-5), "the function applies a residual to the element-wise product of the two features". FC_T, FC_I
with its ReLU, the element-wise product ⊙ and `× C_learn` carry an equation label below; the residual is the
paper's (its prose), its exact form ours; the rest is a reading of ours, labelled "our reading (SE-style)".

`product` (default; our reading (SE-style) of the prose around Eq. (3-5)):
    t = FC_T(f_T)              Eq. (3-3)                  (K, D) -> (K, M)
    z = GAP(f_I)               our reading (SE squeeze)   (B, C)
    g = ReLU(FC_I(z))          Eq. (3-4)                  (B, C) -> (B, K*M), synchronised with the text
    a = t ⊙ g                  Eq. (3-5)                  (B, K*M)
    s = sigmoid(FC_out(a))     our reading (SE excite)    (B, C), one weight per image channel
    out = f_I + C_learn * (f_I * s)   × C_learn: Eq. (3-5); a residual: the paper's prose after Eq. (3-5);
                                      its form (f_I + the recalibrated f_I) is our reading

`product_spatial` (our literal reading of the printed Eq. (3-3) - (3-5) alone): f_I is reshaped, not pooled:
FC_I is applied at every pixel (a 1x1 convolution), ReLU, ⊙ t, × C_learn, giving a (B, K*M, h, w) mask encoding
that the decoder starts from (out_channels = K*M). No GAP, no FC_out, no sigmoid, and no residual: it follows the
equations as printed and leaves out the residual sentence after Eq. (3-5) (the K*M-channel product has no
C-channel feature to add back to). Sec. 3.1.3 calls the decoder's input a "mask encoding", a word that fits this
reading (a per-class map) better than `product`'s recalibrated C-channel feature.

Readings of the paper that are not certain, and the choice made:
- M is not given; `fusion_dim` = 32 by default, so K*M = 640 for SBD's 20 classes, comparable to C.
- C_learn is initialised to 1.0 (ours: the paper gives no initial value), not 0 as in DANet/SAGAN: with 0 the
  text FCs would get no gradient until C_learn moves away from 0; with 1 the text path learns from the first step.
- Table 2 compares the product with two concatenations. We read them as `product_diff`: a = [t ⊙ g, t - g]
  and `concat_diff`: a = [t, g, t - g], each followed by the same FC_out / sigmoid / residual.
  t is the same for every image, so it is broadcast over the batch.
- `lseg` (Table 4, LSeg, Li et al. ICLR 2022): f_I is projected by a 1x1 conv to D, both sides are
  L2-normalised, and the K cosine maps times a fixed 1/0.07 (CLIP's temperature) are the decoder's input
  (out_channels = K). An approximation of LSeg: LSeg correlates pixels and text at its decoder's output
  (its dense per-pixel embeddings, far finer than stride 32); we correlate at the encoder's deepest
  feature (stride 32), where F sits in the paper.
- `none` (Table 1 baseline): f_I unchanged; the text is not used.

What the fusion can express. With fixed class names and a frozen text encoder, f_T is a constant, so
t = FC_T(f_T) is a constant that FC_T can set to anything (for K linearly independent rows of f_T).
The text content therefore changes the initialisation, not what `product`, `product_spatial`,
`product_diff` or `concat_diff` can express (tests/test_fusion.py constructs the FC_T that makes two
different texts give the same function; model.make_text_features holds the controls that test the language).

The fusions from related CLIP papers (cross-attention, pixel-text alignment) are in related/fusion.py.
References: SENet (Hu et al., CVPR 2018); LSeg (Li et al., ICLR 2022).

Reading order (README "Reading order"): 3 of 12; next: decoder.py (the decoder D).
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
    """Text-guided channel recalibration, Eq. (3-3) - (3-5) in our SE-style reading; `combine` selects
    Table 2's row (product | product_diff | concat_diff)."""

    def __init__(self, img_channels, text_dim, num_classes, fusion_dim=32, combine="product"):
        super().__init__()
        C, D, K, M = img_channels, text_dim, num_classes, fusion_dim
        n_parts = {"product": 1, "product_diff": 2, "concat_diff": 3}[combine]
        self.combine = combine
        self.fc_text = nn.Linear(D, M)  # FC_T of Eq. (3-3)
        self.fc_image = nn.Linear(C, K * M)  # FC_I of Eq. (3-4)
        self.fc_out = nn.Linear(n_parts * K * M, C)  # our reading (SE-style): back to one weight per channel
        self.scale = nn.Parameter(torch.tensor(1.0))  # C_learn, the learnable C of Eq. (3-5)
        self.out_channels = C

    def forward(self, f_I, f_T):
        # >>> assignment fusion
        B, C, h, w = f_I.shape
        t = self.fc_text(f_T).flatten()  # Eq. (3-3): t = FC_T(f_T), (K, M) -> (K*M,)
        t = t.unsqueeze(0).expand(B, -1)  # the same text for every image: (B, K*M)
        z = f_I.mean(dim=(2, 3))  # our reading (SE-style): z = GAP(f_I), (B, C)
        g = F.relu(self.fc_image(z))  # Eq. (3-4): g = ReLU(FC_I(z)), (B, K*M)
        if self.combine == "product":
            a = t * g  # Eq. (3-5): element-wise product, (B, K*M)
        elif self.combine == "product_diff":
            a = torch.cat([t * g, t - g], dim=1)  # Table 2: product and difference, (B, 2*K*M)
        else:  # concat_diff
            a = torch.cat([t, g, t - g], dim=1)  # Table 2: text, image, difference, (B, 3*K*M)
        s = torch.sigmoid(self.fc_out(a))  # our reading (SE-style): channel weights, (B, C)
        return f_I + self.scale * (f_I * s.view(B, C, 1, 1))  # × C_learn: Eq. (3-5); residual: the prose after (3-5)
        # <<< assignment fusion


class SpatialProductFusion(nn.Module):
    """`product_spatial`, our literal reading of the printed Eq. (3-3) - (3-5): FC_I at every pixel, no pooling,
    no residual (the prose's residual is `product`'s)."""

    def __init__(self, img_channels, text_dim, num_classes, fusion_dim=32):
        super().__init__()
        C, D, K, M = img_channels, text_dim, num_classes, fusion_dim
        self.fc_text = nn.Linear(D, M)  # FC_T of Eq. (3-3)
        self.fc_image = nn.Conv2d(C, K * M, 1)  # FC_I of Eq. (3-4) at every pixel: f_I reshaped to (B*h*w, C)
        self.scale = nn.Parameter(torch.tensor(1.0))  # C_learn, the learnable C of Eq. (3-5)
        self.out_channels = K * M

    def forward(self, f_I, f_T):
        t = self.fc_text(f_T).flatten()  # Eq. (3-3): t = FC_T(f_T), (K, M) -> (K*M,)
        g = F.relu(self.fc_image(f_I))  # Eq. (3-4): g = ReLU(FC_I(f_I)), (B, K*M, h, w)
        return self.scale * (t.view(1, -1, 1, 1) * g)  # Eq. (3-5): (t ⊙ g) × C_learn, (B, K*M, h, w)


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


FUSIONS = ("none", "product", "product_spatial", "product_diff", "concat_diff", "lseg")


def build_fusion(name, img_channels, text_dim, num_classes, fusion_dim=32):
    """Build the fusion `name` (one of FUSIONS) for f_I with img_channels and f_T of (num_classes, text_dim)."""
    if name == "none":
        return NoFusion(img_channels)
    if name in ("product", "product_diff", "concat_diff"):
        return ChannelFusion(img_channels, text_dim, num_classes, fusion_dim, combine=name)
    if name == "product_spatial":
        return SpatialProductFusion(img_channels, text_dim, num_classes, fusion_dim)
    if name == "lseg":
        return LSegFusion(img_channels, text_dim, num_classes)
    raise ValueError(f"fusion.py: unknown fusion {name!r}; choose one of {list(FUSIONS)} (model.py adds the "
                     "related-paper fusions of related/fusion.py)")
