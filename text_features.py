"""The text features f_T (K, D) the model reads: the paper's CLIP class-name embedding, and controls.

Paper Sec. 3.1.2: f_T = E_T(T), the frozen CLIP ViT-B/32 text encoder on the K class names (`clip`, the default;
clip_text.encode_class_names). With fixed class names and a frozen encoder f_T is a constant, so the fusion's
t = FC_T(f_T) (Eq. (3-3)) can be set to anything by FC_T: the text content changes the initialisation, not what
the fusion can express (fusion.py's docstring; tests/test_fusion.py proves it on ChannelFusion). The paper's
Table 1 gain (73.8 -> 77.0) may therefore come from the extra recalibration block rather than from language.
The controls below (beyond the paper, `train.py --text-features`) let that be tested; each keeps f_T's shape:

- `clip`: the paper: unit-norm CLIP features of the class names.
- `shuffled`: class k gets the CLIP features of class (k + 1) mod K, a fixed derangement (no class keeps its own).
- `random`: Gaussian vectors with the CLIP features' norms (fixed seed): no language, same scale.
- `onehot`: the K one-hot vectors e_k, padded with zeros to D (K <= D): no language, no CLIP needed.
- `learned`: a trainable (K, D) parameter initialised randomly (unit-norm Gaussian rows, fixed seed): no CLIP.

Every kind is stored in the model's state dict under the same key `text_features` (a buffer; for `learned` a
parameter), so model.load_model rebuilds any of them without CLIP. If the controls match `clip` in mean ODS, the
gain is the block's, not the language's; if `clip` is clearly better than all of them, language helps.
"""
import torch
import torch.nn.functional as F

TEXT_FEATURES = ("clip", "shuffled", "random", "onehot", "learned")
CONTROL_SEED = 0  # the fixed seed of `random` and `learned` (their own generator: the global RNG is not touched)


def derangement(num_classes):
    """The fixed derangement of `shuffled`: class k reads the features of class (k + 1) mod K."""
    if num_classes < 2:
        raise ValueError(f"text_features.py: 'shuffled' needs at least 2 classes, got {num_classes}")
    return [(k + 1) % num_classes for k in range(num_classes)]


def clip_class_features(cfg):
    """The paper's f_T (K, D): CLIP features of cfg.class_names, unit-norm, mean over cfg.prompt_templates."""
    import clip_text  # here, not at the top: a model rebuilt from a checkpoint never needs CLIP

    templates = ("{}",)  # "name": the paper's bare class name
    if cfg.prompt_templates != "name":  # beyond the paper (off by default): other template sets
        import related_prompts
        templates = related_prompts.templates_of(cfg.prompt_templates)
    encoder = clip_text.load_text_encoder(cfg.clip_weights)  # frozen, eval, fp32
    # encode_class_names makes names readable itself: "diningtable" -> "dining table"
    return clip_text.encode_class_names(encoder, list(cfg.class_names), templates, normalize=True)  # (K, D)


def make_text_features(cfg):
    """f_T (K, D) of kind cfg.text_features (one of TEXT_FEATURES); computes CLIP only for clip/shuffled/random."""
    kind, K, D = cfg.text_features, cfg.num_classes, cfg.text_dim
    if kind not in TEXT_FEATURES:
        raise ValueError(f"text_features.py: unknown text_features {kind!r}; choose one of {list(TEXT_FEATURES)}")
    if len(cfg.class_names) != K:
        raise ValueError(f"text_features.py: cfg.class_names has {len(cfg.class_names)} names but num_classes={K}; "
                         "set class_names (e.g. datasets.SBD_CLASSES) or pass text_features")
    generator = torch.Generator().manual_seed(CONTROL_SEED)
    if kind == "onehot":
        if K > D:
            raise ValueError(f"text_features.py: 'onehot' needs num_classes <= text_dim, got K={K} > D={D}")
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
