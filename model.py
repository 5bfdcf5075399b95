"""The language-driven semantic edge detector, Eq. (3-1) and (3-2), and its config.

    f_T = E_T(T)                        Eq. (3-1): frozen CLIP text encoder on the class names
    P   = D(F(E_I(I), E_T(T)))          Eq. (3-2), as read from Sec. 3.2.1 (see below)

Eq. (3-2) as printed composes F outside D, but Sec. 3.2.1 places the fusion on the encoder's
deepest (lowest-resolution) output, so the decoder starts from the fused feature:
feats = E_I(I); fused = F(feats[-1], f_T); P = D(fused, feats).

Text features. The text encoder is frozen and the class names are fixed, so f_T is a constant:
`build_model` computes it once with `clip_text` and the model keeps it as the buffer
`text_features` [K, D]. It is saved in the state dict, is never a parameter (so never in the
optimizer) and the text transformer is not part of the model. `load_model(asdict(cfg), state_dict)`
rebuilds a trained model without the CLIP checkpoint and without ImageNet weights.

Input contract. `forward(images)` takes images [B, 3, H, W] with values in [0, 1], NOT normalised;
the model applies the ImageNet mean/std normalisation itself, here and only here.
Any H x W works: the normalised image is padded at the bottom and right, by repeating the last
row / column (replicate; zero padding would draw an artificial step edge), to the next multiple of
the encoder's largest stride (32, or 8 / 16 for a dilated ResNet), and the logits are cropped back
to exactly H x W. Images that are already multiples of 32 are not padded.

Config -> paper ablations: `backbone` (Tables 5/6: vgg16, resnet101, efficientnet_b7),
`fusion` (Table 1: none vs product; Table 2: product / product_diff / concat_diff; Table 4: lseg),
`decoder` (refine = the paper; casenet = the baseline of the abstract's 70.4 -> 72.6).
Options from related CLIP papers (issue 7): `fusion` cross_attention / pixel_text_alignment, `prompt_mode`
select (CA-CL: per-class template, chosen by train.py) / learned (CoOp: the text is no longer a constant, the
context is trained and f_T is recomputed every training step), `t2p_head` / `embed_head` (the heads of
losses.py's loss_t2p / loss_contrast, owned here so that their parameters are trained).
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from decoder import build_decoder
from encoders import build_encoder
from fusion import PixelEmbeddingHead, TextPixelHead, build_fusion

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelConfig:
    backbone: str = "resnet101"  # encoders.BACKBONES
    fusion: str = "product"  # fusion.FUSIONS
    decoder: str = "refine"  # refine (the paper) | casenet (baseline)
    num_classes: int = 20  # K
    class_names: list = field(default_factory=list)  # K raw names (e.g. datasets.SBD_CLASSES), fed to CLIP
    prompt_templates: str = "name"  # key of clip_text.PROMPT_TEMPLATES ("name": the bare class name)
    text_dim: int = 512  # D, CLIP ViT-B/32's text embedding width
    clip_weights: str = "ViT-B/32"  # clip_text.load_text_encoder(...): a name, a path, or "random"
    pretrained: bool = True  # ImageNet weights for the encoder (Sec. 4.1.2)
    output_stride: int = 32  # 8 or 16 dilates resnet50/101 (CASENet)
    fusion_dim: int = 32  # M, text width per class inside the fusion (not given in the paper)
    deep_supervision: bool = False  # also return side logits
    # options from related CLIP papers (issue 7); the defaults are the paper's model
    attn_dim: int = 256  # E, width inside the cross_attention / pixel_text_alignment fusions
    attn_heads: int = 8  # their attention heads
    lcs_kernel: int = 9  # r, FGAseg's local similarity kernel (pixel_text_alignment)
    prompt_mode: str = "fixed"  # PROMPT_MODES: fixed (mean over prompt_templates) | select (CA-CL) | learned (CoOp)
    prompt_context: int = 4  # M, CoOp's learnable context tokens (prompt_mode "learned")
    text_width: int = 512  # W, CLIP's token-embedding width, where CoOp's context vectors live
    t2p_head: bool = False  # FGAseg's text-pixel head: outputs "t2p_logits" for losses.py's loss_t2p
    embed_head: bool = False  # f_I projected to D: "pixel_embeddings" for loss_contrast and prompt selection


PROMPT_MODES = ("fixed", "select", "learned")


def compute_text_features(cfg):
    """f_T = E_T(T), Eq. (3-1): CLIP text features of the class names [K, D], computed once, with the issue-7
    prompt state: returns (f_T, prompt bank [K, T, D] or None, clip_text.PromptLearner or None).
    fixed: the mean over cfg.prompt_templates. select: the bank holds every template; f_T starts as template 0
    (the bare name in the "context" set). learned: CoOp's context through the frozen encoder, kept by the learner."""
    if len(cfg.class_names) != cfg.num_classes:
        raise ValueError(f"model.py: cfg.class_names has {len(cfg.class_names)} names but num_classes="
                         f"{cfg.num_classes}; set class_names (e.g. datasets.SBD_CLASSES) or pass text_features")
    import clip_text  # here, not at the top: a model rebuilt from a checkpoint never needs it

    if cfg.prompt_templates not in clip_text.PROMPT_TEMPLATES:
        raise ValueError(f"model.py: unknown prompt_templates {cfg.prompt_templates!r}; choose one of "
                         f"{sorted(clip_text.PROMPT_TEMPLATES)}")
    encoder = clip_text.load_text_encoder(cfg.clip_weights)  # frozen, eval, fp32; kept only by a PromptLearner
    names, templates = list(cfg.class_names), clip_text.PROMPT_TEMPLATES[cfg.prompt_templates]
    if cfg.prompt_mode == "fixed":  # encode_class_names makes names readable itself: "diningtable" -> "dining table"
        return clip_text.encode_class_names(encoder, names, templates, normalize=True), None, None  # (K, D), unit-norm
    if cfg.prompt_mode == "select":
        bank = clip_text.encode_prompt_bank(encoder, names, templates)  # (K, T, D)
        return bank[:, 0].clone(), bank, None  # (K, D)
    if encoder.width != cfg.text_width:
        raise ValueError(f"model.py: the CLIP text encoder has token width {encoder.width}, cfg.text_width is "
                         f"{cfg.text_width}; set text_width={encoder.width}")
    learner = clip_text.PromptLearner(encoder, names, cfg.prompt_context)
    with torch.no_grad():
        return learner(), None, learner  # (K, D) with the initial context


class EdgeModel(nn.Module):
    """Encoder E_I, fusion F on its deepest feature, decoder D; f_T kept as a buffer.
    Issue-7 options add: a prompt bank and choice (select), a PromptLearner (learned), alignment heads."""

    def __init__(self, cfg, text_features, prompt_bank=None, prompt_learner=None):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.backbone, cfg.pretrained, cfg.output_stride)
        C, K, D = self.encoder.channels[-1], cfg.num_classes, cfg.text_dim
        self.fusion = build_fusion(cfg.fusion, C, D, K, cfg.fusion_dim, cfg.attn_dim, cfg.attn_heads, cfg.lcs_kernel)
        self.decoder = build_decoder(cfg.decoder, self.encoder.channels, self.encoder.strides,
                                     self.fusion.out_channels, cfg.num_classes, cfg.deep_supervision)
        self.register_buffer("text_features", text_features.detach().float().clone())  # (K, D), saved, frozen
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.size_divisor = max(self.encoder.strides)
        self.t2p_head = TextPixelHead(C, D) if cfg.t2p_head else None  # FGAseg's T2P loss head
        self.embed_head = PixelEmbeddingHead(C, D) if cfg.embed_head else None  # MTA-CLIP's contrast / selection
        self.prompt_learner = None
        if cfg.prompt_mode == "learned":  # CoOp; without an encoder (rebuilt for evaluation) only ctx exists
            import clip_text
            self.prompt_learner = prompt_learner or clip_text.PromptLearner(None, cfg.class_names, cfg.prompt_context,
                                                                            width=cfg.text_width)
        if cfg.prompt_mode == "select":  # CA-CL: one template per class, chosen by train.py from image evidence
            import clip_text
            T = len(clip_text.PROMPT_TEMPLATES[cfg.prompt_templates])
            bank = prompt_bank if prompt_bank is not None else torch.zeros(K, T, D)  # zeros: the state dict fills it
            self.register_buffer("prompt_bank", bank.detach().float().clone())  # (K, T, D)
            self.register_buffer("prompt_choice", torch.zeros(K, dtype=torch.long))  # (K,) template per class

    @torch.no_grad()
    def set_prompt_choice(self, choice):
        """--prompts select: use template choice[k] for class k; f_T becomes those rows of the bank."""
        self.prompt_choice.copy_(choice)
        rows = torch.arange(self.cfg.num_classes, device=self.prompt_bank.device)
        self.text_features.copy_(self.prompt_bank[rows, self.prompt_choice])  # (K, D)

    def forward(self, images):
        B, _, H, W = images.shape
        x = (images - self.pixel_mean) / self.pixel_std  # ImageNet normalisation, the only place it happens
        pad_h, pad_w = -H % self.size_divisor, -W % self.size_divisor
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")  # (B, 3, H', W'), multiples of the stride
        feats = self.encoder(x)  # [c1 .. c5], c_i: (B, C_i, H'/s_i, W'/s_i)
        f_I = feats[-1]  # the deepest feature, (B, C, h, w)
        f_T = self.text_features  # (K, D), a buffer: constant, or re-chosen by --prompts select
        if self.prompt_learner is not None and self.training and self.prompt_learner.encoder is not None:
            f_T = self.prompt_learner()  # CoOp: (K, D) through the frozen text transformer, every step
            self.text_features.copy_(f_T.detach())  # evaluation (and the checkpoint) use the latest f_T
        fused = self.fusion(f_I, f_T)  # F(E_I(I), f_T), Sec. 3.2.1: (B, C_out, h, w)
        logits, side_logits = self.decoder(fused, feats)  # Eq. (3-2): P = D(...), (B, K, H', W')
        out = {
            "logits": logits[:, :, :H, :W],  # (B, K, H, W)
            "side_logits": [s[:, :, :H, :W] for s in side_logits],  # list of (B, K, H, W)
            "image_features": f_I,  # (B, C, h, w)
            "text_features": f_T,  # (K, D)
        }
        if self.t2p_head is not None:
            out["t2p_logits"] = self.t2p_head(f_I, f_T)  # (B, K, h, w), for loss_t2p
        if self.embed_head is not None:
            out["pixel_embeddings"] = self.embed_head(f_I)  # (B, D, h, w), for loss_contrast / prompt selection
        if self.cfg.prompt_mode == "select":  # contrast against the template-free class centre, so that the
            out["contrast_text_features"] = F.normalize(self.prompt_bank.mean(1), dim=-1)  # choice is not self-fed
        return out


def build_model(cfg, text_features=None):
    """Build the model; computes f_T with CLIP only when `text_features` [K, D] is not given."""
    if cfg.prompt_mode not in PROMPT_MODES:
        raise ValueError(f"model.py: unknown prompt_mode {cfg.prompt_mode!r}; choose one of {list(PROMPT_MODES)}")
    prompt_bank = prompt_learner = None
    if text_features is None:
        if cfg.fusion == "none" and cfg.prompt_mode == "fixed" and not (cfg.t2p_head or cfg.embed_head):
            text_features = torch.zeros(cfg.num_classes, cfg.text_dim)  # the Table-1 baseline reads no text
        else:
            text_features, prompt_bank, prompt_learner = compute_text_features(cfg)
    if tuple(text_features.shape) != (cfg.num_classes, cfg.text_dim):
        raise ValueError(f"model.py: text_features has shape {tuple(text_features.shape)}, expected "
                         f"(num_classes={cfg.num_classes}, text_dim={cfg.text_dim})")
    return EdgeModel(cfg, text_features, prompt_bank, prompt_learner)


def load_model(model_config, state_dict):
    """Rebuild a trained model from `asdict(cfg)` and its state dict (no CLIP, no ImageNet download).
    Anything that does not fit (unknown config fields, no text-feature buffer, other keys or shapes) is a
    ValueError that says what differs."""
    try:
        cfg = ModelConfig(**{**model_config, "pretrained": False})  # the weights come from the state dict
    except TypeError as e:
        raise ValueError(f"model.py: a model_config this model.py does not know: {e}") from e
    if "text_features" not in state_dict:
        raise ValueError("model.py: the state dict holds no 'text_features' buffer: not an EdgeModel checkpoint")
    model = build_model(cfg, text_features=state_dict["text_features"])
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as e:  # same names, other shapes
        raise ValueError(f"model.py: the weights are of another model: {str(e)[:300]}") from e
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"model.py: the weights are of another model: {len(result.missing_keys)} missing keys "
                         f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
                         f"(e.g. {result.unexpected_keys[:3]})")
    return model


def count_parameters(model):
    """Parameters per part; the text encoder is not in the model, its output is a buffer."""
    def n(module, trainable_only=False):
        return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

    counts = {"encoder": n(model.encoder), "fusion": n(model.fusion), "decoder": n(model.decoder)}
    heads = [h for h in (model.t2p_head, model.embed_head) if h is not None]
    if heads:
        counts["aux_heads"] = sum(n(h) for h in heads)
    if model.prompt_learner is not None:
        counts["prompt_context"] = n(model.prompt_learner)
    counts.update(total=n(model), trainable=n(model, trainable_only=True),
                  text_features_buffer=model.text_features.numel())
    return counts


def format_parameters(counts):
    """One line for the log: 'encoder 42.50M | fusion 1.36M | ...'."""
    return " | ".join(f"{k} {v / 1e6:.2f}M" for k, v in counts.items())
