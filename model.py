"""The language-driven semantic edge detector (Sec. 3, Eq. (3-1), (3-2)) and its config.

    P = Model(I, T)                     Eq. (3-1): per-class edge maps P from image I and class names T
    P = D(F(E_I(I), E_T(T)))            our reading of Eq. (3-2), from Sec. 3.2.1 (see below)

Eq. (3-2) as printed composes F outside D, but Sec. 3.2.1 places the fusion on the
encoder's deepest (lowest-resolution) output, so in our reading the decoder starts from the fused feature:
feats = E_I(I); fused = F(feats[-1], f_T); P = D(fused, feats), with f_T = E_T(T) (Sec. 3.1.2).

Symbols, one meaning each in every file of the model (clip_text, encoders, fusion, decoder, losses,
related/):
    B          batch size                   K      number of classes
    D          text embedding width (512)   L      tokens per text (77)
    E          token / transformer width of CLIP's text encoder (512), nothing else
    A          attention width inside the related fusions (attn_dim; related/fusion.py)
    C          image channels (C_i: channels of encoder level i, c_i its feature)
    C_learn    the learnable scalar C of Eq. (3-5) (the paper's C; renamed, C is the channels)
    M          per-class text width inside the fusion (fusion_dim)
The paper's own symbols (Sec. 3.2.1) map to these: its N (number of labels) is our K, its M (length of a text
feature) our D, its M′ (the compressed text width) our M = fusion_dim, its B x C x H x W image feature our
(B, C, h, w) f_I.
    N_ctx      CoOp's learned context tokens
    H x W      image size                   h x w  feature size;  N = h*w pixels
    T_n        number of prompt templates   n_t    number of thresholds
W is never a width, M nothing but fusion_dim, E nothing but CLIP's width, and T only the class names of Eq. (3-1).
Shapes are written (B, K, H, W).

Text features. The text encoder is frozen and the class names are fixed, so f_T is a constant:
`build_model` computes it once (`make_text_features`, below) and the model keeps it as the buffer
`text_features` (K, D). It is saved in the state dict, is never in the optimizer (except the
`learned` control, a parameter) and the text transformer is not part of the model.
`load_model(asdict(cfg), state_dict)` rebuilds a trained model without CLIP and without ImageNet weights.

Input contract. `forward(images)` takes images (B, 3, H, W) with values in [0, 1], NOT normalised;
the model applies the ImageNet mean/std normalisation itself, here and only here.
Any H x W works: the normalised image is padded at the bottom and right, by repeating the last
row / column (replicate; zero padding would draw an artificial step edge), to the next multiple of
the encoder's largest stride (32, or 8 / 16 for a dilated ResNet), and the logits are cropped back
to exactly H x W. Images that are already multiples of 32 are not padded.

Config -> paper ablations: `backbone` (Table 3: vgg16, resnet101, efficientnet_b7), `fusion` (Table 1:
none vs product; Table 2: product / product_diff / concat_diff; Table 4: lseg; product_spatial: the
literal reading of Eq. (3-3) - (3-5)), `decoder` (refine = the paper; casenet = the baseline of the
abstract's 70.4 -> 72.6), `text_features` (clip = the paper; the controls of `make_text_features`).
Beyond the paper (off by default), built from the files in related/: `fusion` cross_attention /
pixel_text_alignment (related/fusion.py), `prompt_mode` select / learned (related/prompts.py: a template
per class chosen by train.py, or CoOp's learned context, which makes f_T trainable and recomputed every
training step), `t2p_head` / `embed_head` (the heads of related/losses.py's terms).

Reading order (README "Reading order"): 5 of 12; next: losses.py (the loss).
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from decoder import build_decoder
from encoders import build_encoder
from fusion import FUSIONS as PAPER_FUSIONS
from fusion import build_fusion
from related import fusion as related_fusion
from related import prompts as related_prompts
from util.checkpoint import read_checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FUSIONS = PAPER_FUSIONS + related_fusion.FUSIONS


@dataclass
class ModelConfig:
    backbone: str = "resnet101"  # encoders.BACKBONES; ours: a mid-size default for building models in code (the
    # paper's best is efficientnet_b7, Table 3, which train.py uses for sbd / cityscapes)
    fusion: str = "product"  # FUSIONS: fusion.py's (the paper) + related/fusion.py's
    decoder: str = "refine"  # refine (the paper) | casenet (baseline)
    num_classes: int = 20  # K
    class_names: list = field(default_factory=list)  # K raw names (e.g. datasets.SBD_CLASSES), fed to CLIP
    prompt_templates: str = "name"  # "name": the paper's bare class name; others: related_prompts.PROMPT_TEMPLATES
    text_dim: int = 512  # D, CLIP ViT-B/32's text embedding width
    clip_weights: str = "ViT-B/32"  # clip_text.load_text_encoder(...): a name, a path, or "random"
    pretrained: bool = True  # ImageNet weights for the encoder (Sec. 4.1.2)
    output_stride: int = 32  # 8 or 16 dilates resnet50/101 (CASENet)
    fusion_dim: int = 32  # M, text width per class inside the fusion (not given in the paper)
    deep_supervision: bool = False  # also return side logits
    text_features: str = "clip"  # TEXT_FEATURES: clip (the paper) or a control
    # beyond the paper (off by default); the defaults are the paper's model
    attn_dim: int = 256  # E inside the cross_attention / pixel_text_alignment fusions
    attn_heads: int = 8  # their attention heads
    lcs_kernel: int = 9  # r, FGAseg's local similarity kernel (pixel_text_alignment)
    prompt_mode: str = "fixed"  # related_prompts.PROMPT_MODES: fixed (the paper) | select | learned (CoOp)
    prompt_context: int = 4  # N_ctx, CoOp's learnable context tokens (prompt_mode "learned")
    text_width: int = 512  # E, CLIP's token width, where CoOp's context vectors live
    t2p_head: bool = False  # FGAseg's text-pixel head: outputs "t2p_logits" for related/losses.py's loss_t2p
    embed_head: bool = False  # f_I projected to D: "pixel_embeddings" for loss_contrast and prompt selection


# ----------------------------------------------------------------------------- the text features f_T (Sec. 3.1.2)
# The paper's f_T = E_T(T) (`clip`, the default) and the controls of train.py --text-features (beyond the paper):
#   clip      the paper: unit-norm CLIP features of the class names
#   shuffled  class k gets the CLIP features of class (k + 1) mod K, a fixed derangement (no class keeps its own)
#   random    Gaussian vectors with the CLIP features' norms (fixed seed): no language, same scale
#   onehot    the K one-hot vectors e_k, padded with zeros to D (K <= D): no language, no CLIP needed
#   learned   a trainable (K, D) parameter initialised randomly (unit-norm Gaussian rows, fixed seed): no CLIP
# Every kind is stored under the same state-dict key `text_features`, so load_model rebuilds any of them without
# CLIP. f_T is a constant that FC_T (Eq. (3-3)) can map to anything: the text changes the initialisation, not what
# the fusion can express (fusion.py). If the controls match `clip` in mean ODS, the gain is the block's, not the
# language's.

TEXT_FEATURES = ("clip", "shuffled", "random", "onehot", "learned")
CONTROL_SEED = 0  # the fixed seed of `random` and `learned` (their own generator: the global RNG is not touched)


def derangement(num_classes):
    """The fixed derangement of `shuffled`: class k reads the features of class (k + 1) mod K."""
    if num_classes < 2:
        raise ValueError(f"model.py: 'shuffled' needs at least 2 classes, got {num_classes}")
    return [(k + 1) % num_classes for k in range(num_classes)]


def clip_class_features(cfg):
    """The paper's f_T (K, D): CLIP features of cfg.class_names, unit-norm, mean over cfg.prompt_templates."""
    import clip_text  # here, not at the top: a model rebuilt from a checkpoint never needs CLIP

    templates = ("{}",)  # "name": the paper's bare class name
    if cfg.prompt_templates != "name":  # beyond the paper (off by default): other template sets
        templates = related_prompts.templates_of(cfg.prompt_templates)
    encoder = clip_text.load_text_encoder(cfg.clip_weights)  # frozen, eval, fp32
    # encode_class_names makes names readable itself: "diningtable" -> "dining table"
    return clip_text.encode_class_names(encoder, list(cfg.class_names), templates, normalize=True)  # (K, D)


def make_text_features(cfg):
    """f_T (K, D) of kind cfg.text_features (one of TEXT_FEATURES); computes CLIP only for clip/shuffled/random."""
    kind, K, D = cfg.text_features, cfg.num_classes, cfg.text_dim
    if kind not in TEXT_FEATURES:
        raise ValueError(f"model.py: unknown text_features {kind!r}; choose one of {list(TEXT_FEATURES)}")
    if len(cfg.class_names) != K:
        raise ValueError(f"model.py: cfg.class_names has {len(cfg.class_names)} names but num_classes={K}; "
                         "set class_names (e.g. datasets.SBD_CLASSES) or pass text_features")
    generator = torch.Generator().manual_seed(CONTROL_SEED)
    if kind == "onehot":
        if K > D:
            raise ValueError(f"model.py: 'onehot' needs num_classes <= text_dim, got K={K} > D={D}")
        return torch.eye(K, D)  # (K, D): e_k padded with zeros
    if kind == "learned":
        return F.normalize(torch.randn(K, D, generator=generator), dim=-1)  # (K, D), the start of a parameter
    f_T = clip_class_features(cfg)  # (K, D)
    if kind == "shuffled":
        return f_T[derangement(K)].clone()  # (K, D): row k is class k+1's features
    if kind == "random":
        norms = f_T.norm(dim=-1, keepdim=True)  # (K, 1)
        return F.normalize(torch.randn(K, D, generator=generator), dim=-1) * norms  # (K, D)
    return f_T  # clip


class EdgeModel(nn.Module):
    """Encoder E_I, fusion F on its deepest feature, decoder D; f_T kept as a buffer."""

    def __init__(self, cfg, text_features, prompt_bank=None, prompt_learner=None):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.backbone, cfg.pretrained, cfg.output_stride)
        C, K, D = self.encoder.channels[-1], cfg.num_classes, cfg.text_dim
        if cfg.fusion in related_fusion.FUSIONS:  # beyond the paper (off by default)
            self.fusion = related_fusion.build_fusion(cfg.fusion, C, D, K, cfg.attn_dim, cfg.attn_heads,
                                                      cfg.lcs_kernel)
        else:
            self.fusion = build_fusion(cfg.fusion, C, D, K, cfg.fusion_dim)
        self.decoder = build_decoder(cfg.decoder, self.encoder.channels, self.encoder.strides,
                                     self.fusion.out_channels, cfg.num_classes, cfg.deep_supervision)
        f_T = text_features.detach().float().clone()  # (K, D)
        if cfg.text_features == "learned":  # the control that trains f_T itself (make_text_features)
            self.text_features = nn.Parameter(f_T)
        else:
            self.register_buffer("text_features", f_T)  # saved, frozen
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.size_divisor = max(self.encoder.strides)
        # beyond the paper (off by default): alignment heads and prompt options
        self.t2p_head = related_fusion.TextPixelHead(C, D) if cfg.t2p_head else None
        self.embed_head = related_fusion.PixelEmbeddingHead(C, D) if cfg.embed_head else None
        self.prompt_learner = None
        if cfg.prompt_mode == "learned":  # CoOp; without an encoder (rebuilt for evaluation) only ctx exists
            self.prompt_learner = prompt_learner or related_prompts.PromptLearner(
                None, n_ctx=cfg.prompt_context, width=cfg.text_width)
        if cfg.prompt_mode == "select":  # one template per class, chosen by train.py from image evidence
            T_n = len(related_prompts.templates_of(cfg.prompt_templates))
            bank = prompt_bank if prompt_bank is not None else torch.zeros(K, T_n, D)  # zeros: the state dict fills it
            self.register_buffer("prompt_bank", bank.detach().float().clone())  # (K, T_n, D)
            self.register_buffer("prompt_choice", torch.zeros(K, dtype=torch.long))  # (K,) template per class

    @torch.no_grad()
    def set_prompt_choice(self, choice):
        """--prompts select: use template choice[k] for class k; f_T becomes those rows of the bank."""
        self.prompt_choice.copy_(choice)
        rows = torch.arange(self.cfg.num_classes, device=self.prompt_bank.device)
        self.text_features.copy_(self.prompt_bank[rows, self.prompt_choice])  # (K, D)

    def learned_prompt_features(self, f_T):
        """CoOp: while training, f_T (K, D) through the frozen text transformer, every step."""
        if self.training and self.prompt_learner.encoder is not None:
            f_T = self.prompt_learner()  # (K, D)
            self.text_features.copy_(f_T.detach())  # evaluation (and the checkpoint) use the latest f_T
        return f_T

    def related_outputs(self, f_I, f_T):
        """The outputs the related_losses terms and prompt selection read."""
        out = {}
        if self.t2p_head is not None:
            out["t2p_logits"] = self.t2p_head(f_I, f_T)  # (B, K, h, w), for loss_t2p
        if self.embed_head is not None:
            out["pixel_embeddings"] = self.embed_head(f_I)  # (B, D, h, w), for loss_contrast / prompt selection
        if self.cfg.prompt_mode == "select":  # contrast against the template-free class centre, so that the
            out["contrast_text_features"] = F.normalize(self.prompt_bank.mean(1), dim=-1)  # choice is not self-fed
        return out

    def forward(self, images):
        B, _, H, W = images.shape
        x = (images - self.pixel_mean) / self.pixel_std  # ImageNet normalisation, the only place it happens
        pad_h, pad_w = -H % self.size_divisor, -W % self.size_divisor
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")  # (B, 3, H', W'), multiples of the stride
        feats = self.encoder(x)  # [c1 .. c5], c_i: (B, C_i, H'/s_i, W'/s_i)
        f_I = feats[-1]  # the deepest feature, (B, C, h, w)
        f_T = self.text_features  # (K, D): E_T(T), a constant (or a control, make_text_features)
        if self.prompt_learner is not None:  # beyond the paper (off by default): CoOp's learned context
            f_T = self.learned_prompt_features(f_T)
        fused = self.fusion(f_I, f_T)  # F(E_I(I), f_T), Sec. 3.2.1: (B, C_out, h, w)
        logits, side_logits = self.decoder(fused, feats)  # our reading of Eq. (3-2): P = D(F(..)), (B, K, H', W')
        out = {
            "logits": logits[:, :, :H, :W],  # (B, K, H, W)
            "side_logits": [s[:, :, :H, :W] for s in side_logits],  # list of (B, K, H, W)
            "image_features": f_I,  # (B, C, h, w)
            "text_features": f_T,  # (K, D)
        }
        out.update(self.related_outputs(f_I, f_T))  # beyond the paper (off by default): alignment heads
        return out


def build_model(cfg, text_features=None):
    """Build the model; computes f_T (make_text_features, CLIP where needed) only when `text_features`
    (K, D) is not given."""
    if cfg.fusion not in FUSIONS:
        raise ValueError(f"model.py: unknown fusion {cfg.fusion!r}; choose one of {list(FUSIONS)}")
    if cfg.prompt_mode not in related_prompts.PROMPT_MODES:
        raise ValueError(f"model.py: unknown prompt_mode {cfg.prompt_mode!r}; choose one of "
                         f"{list(related_prompts.PROMPT_MODES)}")
    if cfg.text_features not in TEXT_FEATURES:
        raise ValueError(f"model.py: unknown text_features {cfg.text_features!r}; choose one of "
                         f"{list(TEXT_FEATURES)}")
    if cfg.text_features != "clip" and cfg.prompt_mode != "fixed":
        raise ValueError(f"model.py: text_features={cfg.text_features!r} replaces the CLIP features, "
                         f"prompt_mode={cfg.prompt_mode!r} makes them from prompts: use one of the two")
    reads_text = cfg.fusion != "none" or cfg.prompt_mode != "fixed" or cfg.t2p_head or cfg.embed_head
    if cfg.text_features == "learned" and not reads_text:
        raise ValueError("model.py: text_features='learned' with fusion='none': nothing reads the text, so the "
                         "parameter would never train; use a fusion that reads it (e.g. product)")
    prompt_bank = prompt_learner = None
    if text_features is None:
        if not reads_text:
            text_features = torch.zeros(cfg.num_classes, cfg.text_dim)  # the Table-1 baseline reads no text
        elif cfg.prompt_mode != "fixed":  # beyond the paper (off by default)
            text_features, prompt_bank, prompt_learner = build_prompt_state(cfg)
        else:
            text_features = make_text_features(cfg)  # f_T = E_T(T), or a control
    if tuple(text_features.shape) != (cfg.num_classes, cfg.text_dim):
        raise ValueError(f"model.py: text_features has shape {tuple(text_features.shape)}, expected "
                         f"(num_classes={cfg.num_classes}, text_dim={cfg.text_dim})")
    return EdgeModel(cfg, text_features, prompt_bank, prompt_learner)


def load_model(model_config, state_dict):
    """Rebuild a trained model from `asdict(cfg)` and its state dict (no CLIP, no ImageNet download).
    Anything that does not fit (unknown config fields, no text-feature tensor, other keys or shapes) is a
    ValueError that says what differs."""
    try:
        cfg = ModelConfig(**{**model_config, "pretrained": False})  # the weights come from the state dict
    except TypeError as e:
        raise ValueError(f"model.py: a model_config this model.py does not know: {e}") from e
    if "text_features" not in state_dict:
        raise ValueError("model.py: the state dict holds no 'text_features' tensor: not an EdgeModel checkpoint")
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


def model_from_checkpoint(path_or_url, device="cpu", what="checkpoint"):
    """(EdgeModel in eval mode on `device`, the checkpoint dict) from last.pt / best.pt / model.pt / a URL
    (util/checkpoint.py reads the file and says what is wrong with it)."""
    ckpt = read_checkpoint(path_or_url, what)
    try:  # the weights come from the state dict: never download CLIP or ImageNet weights here
        model = load_model(ckpt["model_config"], ckpt["model"])
    except ValueError as e:
        raise ValueError(f"{what}: '{path_or_url}': {e}. A checkpoint written by an older version of this code "
                         f"(other key names) needs that version, or retraining.") from e
    return model.to(device).eval(), ckpt


def count_parameters(model):
    """Parameters per part; the text encoder is not in the model, its output is a buffer (a parameter for the
    `learned` control)."""
    def n(module, trainable_only=False):
        return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

    counts = {"encoder": n(model.encoder), "fusion": n(model.fusion), "decoder": n(model.decoder)}
    heads = [h for h in (model.t2p_head, model.embed_head) if h is not None]
    if heads:
        counts["aux_heads"] = sum(n(h) for h in heads)
    if model.prompt_learner is not None:
        counts["prompt_context"] = n(model.prompt_learner)
    learned = isinstance(model.text_features, nn.Parameter)  # the `learned` control: a parameter
    if learned:
        counts["text_features"] = model.text_features.numel()
    counts.update(total=n(model), trainable=n(model, trainable_only=True))
    if not learned:
        counts["text_features_buffer"] = model.text_features.numel()
    return counts


# ----------------------------------------------------------------------------- beyond the paper: prompt options
# The CLIP side of related/prompts.py's options (off by default; train.py --prompts select | learned).

@torch.no_grad()
def encode_prompt_bank(encoder, names, templates, readable=True):
    """Unit-norm features (K, T_n, D), one per class and template: what --prompts select chooses from."""
    import clip_text
    return F.normalize(clip_text.encode_prompts(encoder, names, templates, readable), dim=-1)  # (K, T_n, D)


def prompt_learner_for(encoder, names, n_ctx=4, ctx_init=None, readable=True):
    """CoOp's PromptLearner (related/prompts.py) for the class names: the prompts "X .. X name." tokenized with
    one placeholder "X" per context vector V_m, and the context started from the words of ctx_init if given."""
    import clip_text
    words = [clip_text.readable_name(n) if readable else n for n in names]
    tokens = clip_text.tokenize(["X " * n_ctx + f"{w}." for w in words], encoder.context_length)  # (K, 77)
    if not (tokens[:, 1:1 + n_ctx] == clip_text.tokenize("X")[0, 1]).all():  # "X" stands for V_m
        raise RuntimeError("model.prompt_learner_for: the placeholders did not tokenize to one token each")
    ctx_tokens = None
    if ctx_init:  # e.g. "a photo of a": start from real words (CoOp's initialisation option)
        init_tokens = clip_text.tokenize(ctx_init)[0]
        n = int(init_tokens.argmax()) - 1
        if n != n_ctx:
            raise ValueError(f"model.prompt_learner_for: ctx_init {ctx_init!r} has {n} tokens, n_ctx is {n_ctx}")
        ctx_tokens = init_tokens[1:1 + n_ctx]  # (N_ctx,)
    return related_prompts.PromptLearner(encoder, tokens, n_ctx, ctx_tokens, width=encoder.width)


def build_prompt_state(cfg):
    """For prompt_mode select / learned: (initial f_T (K, D), prompt bank (K, T_n, D) or None, PromptLearner
    or None). select: the bank holds every template of cfg.prompt_templates; f_T starts as template 0 (the bare
    name in the "context" set). learned: CoOp's context through the frozen encoder, kept by the learner."""
    import clip_text  # here, not at the top: a model rebuilt from a checkpoint never needs CLIP
    templates = related_prompts.templates_of(cfg.prompt_templates)
    encoder = clip_text.load_text_encoder(cfg.clip_weights)  # frozen, eval, fp32; kept only by a PromptLearner
    names = list(cfg.class_names)
    if cfg.prompt_mode == "select":
        bank = encode_prompt_bank(encoder, names, templates)  # (K, T_n, D)
        return bank[:, 0].clone(), bank, None  # (K, D)
    if encoder.width != cfg.text_width:
        raise ValueError(f"model.py: the CLIP text encoder has token width {encoder.width}, "
                         f"cfg.text_width is {cfg.text_width}; set text_width={encoder.width}")
    learner = prompt_learner_for(encoder, names, cfg.prompt_context)
    with torch.no_grad():
        return learner(), None, learner  # (K, D) with the initial context
