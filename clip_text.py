"""The frozen CLIP text side: BPE tokenizer, text transformer, OpenAI checkpoint, class-name embeddings.

Paper Sec. 3.1.2: the class names are embedded by the frozen text encoder of CLIP ViT-B/32; its output
f_T [K, D=512] is what the fusion F (Sec. 3.2) reads. Rebuilt from openai/CLIP (clip/simple_tokenizer.py's
byte-level BPE, clip.py's `tokenize` / `load` / `_download`, model.py's `encode_text`) with torch + ftfy + regex
only: OpenAI's `ViT-B-32.pt` (TorchScript or state dict, SHA-256 checked) loads one-to-one by key name, the
architecture inferred from shapes, and gives the same features up to float rounding (always fp32, as OpenAI's
CPU path; `scaled_dot_product_attention(is_causal=True)`; batch-first; no compute after the last end token).

Prompt options (issue 7, beyond the paper; `train.py --prompts`): PROMPT_TEMPLATES, `encode_prompt_bank`,
`TemplateSelector` (a template per class from image evidence, CA-CL / MTA-CLIP), `PromptLearner` (CoOp).
"""
import gzip
import hashlib
import html
import os
import urllib.error
import urllib.request
import warnings
import zipfile
from collections import OrderedDict
from functools import lru_cache

import ftfy
import regex as re
import torch
import torch.nn as nn
import torch.nn.functional as F

BPE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "bpe_simple_vocab_16e6.txt.gz")
SOT_TOKEN, EOT_TOKEN = 49406, 49407  # <|startoftext|>, <|endoftext|>
CONTEXT_LENGTH = 77

# OpenAI's public checkpoints (clip/clip.py `_MODELS`); the folder before the file name is its SHA-256.
MODELS = {"ViT-B/32": "https://openaipublic.azureedge.net/clip/models/"
                       "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"}
MODEL_ALIASES = {"ViT-B-32": "ViT-B/32"}
CACHE_ENV = "CLIP_CACHE_DIR"  # overrides the default cache folder ~/.cache/clip
# Keys of OpenAI's file outside the text encoder (besides visual.*): the temperature and int metadata.
NON_TEXT_KEYS = ("input_resolution", "context_length", "vocab_size", "logit_scale")


# ----------------------------------------------------------------------------- tokenizer

@lru_cache()
def bytes_to_unicode():
    """Byte 0..255 -> printable character (OpenAI's table): the 188 printable latin-1 bytes map to themselves,
    the other 68 to chr(256 + n). The dict's ORDER is that of the first 256 vocabulary entries."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(256 + n) for n, b in enumerate(others)})
    return table


def clean_text(text):
    """OpenAI's normalisation: ftfy fix, HTML-unescape twice, collapse whitespace, lower-case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


class SimpleTokenizer:
    """CLIP's byte-level BPE: 256 byte symbols, 256 end-of-word symbols, 48894 merges, 2 specials."""

    # OpenAI's pre-tokenizer: specials, English clitics, letter runs, single digits, other non-space runs
    PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

    def __init__(self, bpe_path=BPE_PATH):
        if not os.path.isfile(bpe_path):
            raise FileNotFoundError(f"CLIP BPE vocabulary not found at {bpe_path}; it ships with the repo "
                                    "under assets/ (restore it with git)")
        lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]  # line 0 is a header
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}  # 49408 entries
        self.decoder = {i: tok for tok, i in self.encoder.items()}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(self.PATTERN, re.IGNORECASE)

    def bpe(self, token):
        """Merge the symbols of one pre-token, lowest merge rank first; returns space-separated symbols."""
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            best = min(set(zip(word[:-1], word[1:])), key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged, i = [], 0
            while i < len(word):  # replace every occurrence of the pair, left to right
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = " ".join(word)
        return self.cache[token]

    def encode(self, text):
        """Text -> BPE ids, without start/end tokens."""
        ids = []
        for token in self.pat.findall(clean_text(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
        return ids

    def decode(self, ids):
        """BPE ids -> text; every end-of-word becomes a space (as OpenAI's decode does)."""
        data = bytearray(self.byte_decoder[c] for c in "".join(self.decoder[int(i)] for i in ids))
        return data.decode("utf-8", errors="replace").replace("</w>", " ")


@lru_cache()
def default_tokenizer():
    return SimpleTokenizer()


def tokenize(texts, context_length=CONTEXT_LENGTH, truncate=False):
    """str | list[str] -> LongTensor [N, context_length]: start, BPE ids, end, zero padding."""
    texts, tokenizer = [texts] if isinstance(texts, str) else texts, default_tokenizer()
    result = torch.zeros(len(texts), context_length, dtype=torch.long)  # [N, L]
    for i, text in enumerate(texts):
        ids = [SOT_TOKEN] + tokenizer.encode(text) + [EOT_TOKEN]
        if len(ids) > context_length:
            if not truncate:
                raise RuntimeError(f"text {text[:60]!r}... is {len(ids)} tokens long (with start/end), more than "
                                   f"the context length {context_length}; shorten it or pass truncate=True")
            ids = ids[:context_length - 1] + [EOT_TOKEN]  # the encoder pools at the end token: it must survive
        result[i, :len(ids)] = torch.tensor(ids)
    return result


def decode(ids):
    """One tokenized sequence (list or 1-D tensor, as made by tokenize) -> text, specials and padding dropped."""
    ids = [int(i) for i in ids]
    if EOT_TOKEN in ids:
        ids = ids[:ids.index(EOT_TOKEN)]  # padding after the end token is id 0 ("!"), not text
    ids = [i for i in ids if i != SOT_TOKEN]
    return default_tokenizer().decode(ids).strip()


# ----------------------------------------------------------------------------- text transformer

class QuickGELU(nn.Module):
    """CLIP's GELU approximation x * sigmoid(1.702 x); the weights were trained with it."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names (in_proj_*, out_proj)."""

    def __init__(self, width, heads):
        super().__init__()
        assert width % heads == 0, f"width {width} is not divisible by {heads} heads"
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):
        K, L, W = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)  # 3 x [K, L, W]
        q, k, v = (t.view(K, L, self.heads, W // self.heads).transpose(1, 2) for t in (q, k, v))  # [K, h, L, W/h]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [K, h, L, W/h]; token i sees 0..i
        return self.out_proj(y.transpose(1, 2).reshape(K, L, W))  # [K, L, W]


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width, heads):
        super().__init__()
        self.attn = CausalSelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # [K, L, W]
        return x + self.mlp(self.ln_2(x))  # [K, L, W]


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class TextEncoder(nn.Module):
    """CLIP's text tower, E_T of the paper: tokens [K, L] -> text features f_T [K, D]."""

    def __init__(self, embed_dim=512, context_length=77, vocab_size=49408, width=512, heads=8, layers=12):
        super().__init__()
        self.embed_dim, self.context_length, self.vocab_size = embed_dim, context_length, vocab_size
        self.width, self.heads, self.layers = width, heads, layers
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        self.feature_cache = {}  # encode_class_names() results, so class features are computed once

    def init_parameters(self, generator=None):
        """OpenAI's initialisation (clip/model.py `initialize_parameters`), for the random encoder."""
        W, n, g = self.width, self.layers, generator
        nn.init.normal_(self.token_embedding.weight, std=0.02, generator=g)
        nn.init.normal_(self.positional_embedding, std=0.01, generator=g)
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=W ** -0.5, generator=g)
            nn.init.normal_(block.attn.out_proj.weight, std=W ** -0.5 * (2 * n) ** -0.5, generator=g)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * W) ** -0.5, generator=g)
            nn.init.normal_(block.mlp.c_proj.weight, std=W ** -0.5 * (2 * n) ** -0.5, generator=g)
            for bias in (block.attn.in_proj_bias, block.attn.out_proj.bias, block.mlp.c_fc.bias, block.mlp.c_proj.bias):
                nn.init.zeros_(bias)
        nn.init.normal_(self.text_projection, std=W ** -0.5, generator=g)

    def encode_from_embeddings(self, x, eot_index):
        """Token embeddings x [K, L, W] (L <= context_length; positions are added here) and the index of
        each sequence's end token [K] -> features [K, D]. Learnable prompt context (CoOp) enters here."""
        K, L, W = x.shape
        x = x + self.positional_embedding[:L]  # [K, L, W]
        x = self.ln_final(self.transformer(x))  # [K, L, W]
        x = x[torch.arange(K, device=x.device), eot_index]  # [K, W]: the end token has seen the whole text
        return x @ self.text_projection  # [K, D]

    def forward(self, tokens):
        eot_index = tokens.argmax(dim=-1)  # [K]: the end token 49407 is the largest id
        tokens = tokens[:, :int(eot_index.max()) + 1]  # [K, L' <= L]: causal, so the padding after is irrelevant
        return self.encode_from_embeddings(self.token_embedding(tokens), eot_index)  # [K, L', W] -> [K, D]


def infer_architecture(state_dict):
    """Text-encoder hyperparameters from tensor shapes, as OpenAI's `build_model` does."""
    for key in ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight"):
        if key not in state_dict:
            raise KeyError(f"CLIP state dict has no key {key!r}: is this an OpenAI CLIP checkpoint?")
    width = state_dict["ln_final.weight"].shape[0]
    return dict(embed_dim=state_dict["text_projection"].shape[1],
                context_length=state_dict["positional_embedding"].shape[0],
                vocab_size=state_dict["token_embedding.weight"].shape[0], width=width,
                heads=max(1, width // 64),  # not stored in the file; OpenAI's rule (64 channels per head)
                layers=len({k.split(".")[2] for k in state_dict if k.startswith("transformer.resblocks.")}))


def text_encoder_from_state_dict(state_dict, source="state dict"):
    """Build a TextEncoder from an OpenAI CLIP state dict (any dtype mix) and load it strictly, in fp32."""
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith("visual.") and k not in NON_TEXT_KEYS}
    model = TextEncoder(**infer_architecture(state_dict))
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise RuntimeError(f"{source} does not match CLIP's text encoder: missing keys {missing}, unexpected keys "
                           f"{unexpected}; pass OpenAI's ViT-B-32.pt (TorchScript or state dict) or a file with "
                           "its key names")
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)  # fp16 weights -> fp32
    return model


# ----------------------------------------------------------------------------- checkpoint files

def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir():
    return os.environ.get(CACHE_ENV) or os.path.expanduser("~/.cache/clip")


def download(url, cache_dir=None):
    """Fetch url into cache_dir unless a file with the right SHA-256 (the URL's second-to-last part) is there."""
    from tqdm import tqdm
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    expected, target = url.split("/")[-2], os.path.join(cache_dir, os.path.basename(url))
    if os.path.exists(target) and not os.path.isfile(target):
        raise RuntimeError(f"{target} exists and is not a regular file; remove it")
    if os.path.isfile(target):
        if sha256_of(target) == expected:
            return target
        print(f"WARNING: {target} exists but its SHA-256 does not match {expected}; downloading it again")
    partial = target + ".part"  # written first, renamed when complete: an interrupted download never looks done
    try:
        with urllib.request.urlopen(url, timeout=60) as source, open(partial, "wb") as out:
            size = source.info().get("Content-Length")
            with tqdm(total=int(size) if size else None, unit="iB", unit_scale=True, ncols=80,
                      desc=os.path.basename(url)) as bar:
                for chunk in iter(lambda: source.read(1 << 16), b""):
                    bar.update(out.write(chunk))
    except (urllib.error.URLError, OSError) as e:
        if os.path.exists(partial):
            os.remove(partial)
        raise RuntimeError(f"could not download the CLIP weights from {url} ({e}).\nWithout network: download that "
                           f"file elsewhere and pass it with --clip-weights PATH (or put it at {target})") from e
    got = sha256_of(partial)
    if got != expected:
        os.remove(partial)
        raise RuntimeError(f"downloaded {url} but its SHA-256 is {got}, not {expected}; try again, "
                           "or download it by hand and pass --clip-weights PATH")
    os.replace(partial, target)
    return target


def read_checkpoint(path):
    """OpenAI's TorchScript archive (a zip with constants.pkl, which torch.save never writes) or a state dict."""
    if zipfile.is_zipfile(path) and any(n.endswith("/constants.pkl") for n in zipfile.ZipFile(path).namelist()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but is OpenAI's format
            return torch.jit.load(path, map_location="cpu").state_dict()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict):
        raise RuntimeError(f"{path} holds a {type(state_dict).__name__}, not a CLIP state dict")
    return state_dict


def random_text_encoder(seed=0):
    """A ViT-B/32-shaped text encoder with OpenAI's random initialisation: for offline demos and tests only."""
    print("WARNING: clip_text: using a RANDOM CLIP text encoder (no weights loaded): the class-name "
          "embeddings carry NO language. Pass --clip-weights PATH to OpenAI's ViT-B-32.pt for real results.")
    model = TextEncoder()
    model.init_parameters(torch.Generator().manual_seed(seed))
    return model


def load_text_encoder(name_or_path="ViT-B/32", cache_dir=None):
    """"ViT-B/32" (downloaded into cache_dir, default $CLIP_CACHE_DIR or ~/.cache/clip), a path to OpenAI's
    checkpoint (TorchScript archive or state dict), or "random" -> frozen fp32 TextEncoder in eval mode."""
    name = MODEL_ALIASES.get(name_or_path, name_or_path)
    if name == "random":
        model, source = random_text_encoder(), "random weights"
    elif name in MODELS or os.path.isfile(name):
        source = download(MODELS[name], cache_dir) if name in MODELS else name
        model = text_encoder_from_state_dict(read_checkpoint(source), source=source)
    else:
        raise RuntimeError(f"CLIP model {name_or_path!r} not found: give one of {sorted(MODELS)}, 'random', "
                           "or the path of a downloaded checkpoint (--clip-weights PATH)")
    model.eval().requires_grad_(False)  # frozen, as in the paper (Sec. 3.1.2)
    n = sum(p.numel() for p in model.parameters())
    print(f"clip_text: text encoder from {source}: width {model.width}, {model.layers} layers, {model.heads} heads, "
          f"D={model.embed_dim}, {n / 1e6:.1f}M parameters, frozen")
    return model


# ----------------------------------------------------------------------------- class names and prompts

# Dataset names written as words CLIP has seen (SBD/VOC joins them; Cityscapes uses underscores).
READABLE_NAMES = {"diningtable": "dining table", "pottedplant": "potted plant", "tvmonitor": "tv monitor"}

PROMPT_TEMPLATES = {
    "name": ["{}"],  # the paper: the class name alone
    "photo": ["a photo of a {}."],
    # the 7 ImageNet templates OpenAI's prompt-engineering notebook selected
    "ensemble": ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                 "a {} in a video game.", "art of the {}.", "a photo of the small {}."],
    # a context prompt set for edges (CA-CL's "context prompt set", MTA-CLIP's context-specific prompts), written
    # for boundaries: the set that `--prompts select` chooses from, one template per class (see TemplateSelector)
    "context": ["{}", "a photo of a {}.", "the outline of a {}.", "the boundary of the {}.", "the edges of a {}.",
                "a {} in a cluttered scene.", "a partly occluded {}.", "a close-up photo of a {}."],
}


def readable_name(raw):
    """'diningtable' -> 'dining table', 'traffic_light' -> 'traffic light'; other names unchanged."""
    return READABLE_NAMES.get(raw, raw.replace("_", " ").strip())


def encode_prompts(encoder, names, templates, readable=True):
    """Every class name (made readable unless readable=False) in every template -> raw features [K, T, D]."""
    words = [readable_name(n) if readable else n for n in names]
    tokens = tokenize([t.format(w) for w in words for t in templates], encoder.context_length)  # [K*T, L]
    feats = encoder(tokens.to(encoder.text_projection.device)).float()  # [K*T, D]
    return feats.view(len(words), len(templates), -1)  # [K, T, D]


@torch.no_grad()
def encode_class_names(encoder, names, templates=("{}",), normalize=True, readable=True):
    """Class names -> f_T [K, D], computed once per (names, templates, normalize) and cached on the encoder.
    normalize=True: per-prompt L2 normalisation, mean over templates, renormalised (CLIP's zero-shot recipe);
    False: the mean of the raw features. The paper (Sec. 3.1.2) names neither prompts nor normalisation: we
    read it as the name alone, unit-norm (the form CLIP and LSeg compare)."""
    names, templates = list(names), list(templates)
    if not names or not templates:
        raise ValueError(f"encode_class_names needs class names and templates, got {names} and {templates}")
    key = (tuple(names), tuple(templates), bool(normalize), bool(readable), str(encoder.text_projection.device))
    if key not in encoder.feature_cache:
        feats = encode_prompts(encoder, names, templates, readable)  # [K, T, D]
        feats = (F.normalize(feats, dim=-1) if normalize else feats).mean(dim=1)  # [K, D]
        encoder.feature_cache[key] = F.normalize(feats, dim=-1) if normalize else feats  # [K, D]
    return encoder.feature_cache[key].clone()


# ------------------------------------------------- issue 7: prompt bank, selection, learned context (CoOp)

@torch.no_grad()
def encode_prompt_bank(encoder, names, templates, readable=True):
    """Unit-norm features [K, T, D], one per class and template: what TemplateSelector chooses from."""
    return F.normalize(encode_prompts(encoder, names, templates, readable), dim=-1)  # [K, T, D]


def select_templates(bank, class_embeddings):
    """bank [K, T, D], class_embeddings [K, D] -> per class the template t of largest cosine, LongTensor [K]."""
    sim = torch.einsum("ktd,kd->kt", F.normalize(bank, dim=-1), F.normalize(class_embeddings, dim=-1))  # [K, T]
    return sim.argmax(dim=1)  # [K]


class TemplateSelector:
    """Dynamic per-class prompt selection (CA-CL 2025; MTA-CLIP, ECCV 2024), adapted for edges: class k's
    evidence is the pixel embedding [B, D, h, w] (f_I in the text space, trained by loss_contrast) averaged over
    k's ground-truth EDGE pixels since the last choice; `choose()` takes the nearest template (unseen: kept)."""

    def __init__(self, num_classes, dim):
        self.sums = torch.zeros(num_classes, dim)  # [K, D]
        self.counts = torch.zeros(num_classes)  # [K]

    @torch.no_grad()
    def update(self, pixel_embeddings, edges):
        B, D, h, w = pixel_embeddings.shape
        if self.sums.device != pixel_embeddings.device:  # accumulate where the model runs: no sync per step
            self.sums, self.counts = self.sums.to(pixel_embeddings.device), self.counts.to(pixel_embeddings.device)
        weight = F.adaptive_avg_pool2d(edges.float(), (h, w))  # [B, K, h, w]: edge fraction of each cell
        x = F.normalize(pixel_embeddings.float(), dim=1)  # [B, D, h, w]
        self.sums += torch.einsum("bkhw,bdhw->kd", weight, x)  # [K, D]
        self.counts += weight.sum(dim=(0, 2, 3))  # [K]

    def choose(self, bank, current):
        """bank [K, T, D], current choice [K] -> new choice [K]; resets the accumulated evidence."""
        sums, counts = self.sums.to(bank.device), self.counts.to(bank.device)
        new = select_templates(bank, sums / counts.clamp(min=1e-6).unsqueeze(1))  # [K]
        choice = torch.where(counts > 0, new, current.to(bank.device))  # [K]: unseen classes keep theirs
        self.sums.zero_()
        self.counts.zero_()
        return choice.to(current.device)


class PromptLearner(nn.Module):
    """Learnable prompt context, CoOp (Zhou et al., IJCV 2022, Sec. 3.2, unified context): class k's prompt is
    t_k = [V]_1 ... [V]_M [CLASS_k] "." with M learned token embeddings shared by all classes, run through the
    FROZEN text transformer; only the context [M, W] is trained, here by the edge loss through the fusion (and
    loss_contrast / loss_t2p) instead of CoOp's classification loss. The encoder is held but NOT a submodule
    (its 63M weights stay out of the state dict; `_apply` moves it); encoder=None (evaluation): only ctx."""

    def __init__(self, encoder, names, n_ctx=4, ctx_init=None, readable=True, width=512):
        super().__init__()
        object.__setattr__(self, "encoder", encoder)  # not a submodule, see the docstring
        if encoder is None:  # for evaluation: ctx from the state dict, f_T from the model's buffer, no forward()
            self.ctx = nn.Parameter(torch.zeros(n_ctx, width))
            return
        words = [readable_name(n) if readable else n for n in names]
        tokens = tokenize(["X " * n_ctx + f"{w}." for w in words], encoder.context_length)  # [K, 77]: "X" = V_m
        if not (tokens[:, 1:1 + n_ctx] == tokenize("X")[0, 1]).all():
            raise RuntimeError("clip_text.PromptLearner: the placeholders did not tokenize to one token each")
        eot_index = tokens.argmax(dim=-1)  # [K]
        L = int(eot_index.max()) + 1  # the causal mask makes the padding after the last end token irrelevant
        device = encoder.token_embedding.weight.device
        with torch.no_grad():
            embedding = encoder.token_embedding(tokens[:, :L].to(device)).float()  # [K, L, W]
        self.register_buffer("token_prefix", embedding[:, :1].clone(), persistent=False)  # [K, 1, W]: start token
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:].clone(), persistent=False)  # [K, L-1-M, W]
        self.register_buffer("eot_index", eot_index.to(device), persistent=False)  # [K]
        if ctx_init:  # e.g. "a photo of a": start from real words (CoOp's initialisation option)
            init_tokens = tokenize(ctx_init)[0]
            n = int(init_tokens.argmax()) - 1
            if n != n_ctx:
                raise ValueError(f"clip_text.PromptLearner: ctx_init {ctx_init!r} has {n} tokens, n_ctx is {n_ctx}")
            with torch.no_grad():
                ctx = encoder.token_embedding(init_tokens[1:1 + n_ctx].to(device))  # [M, W]
        else:
            ctx = torch.randn(n_ctx, encoder.width) * 0.02  # CoOp's random initialisation, N(0, 0.02^2)
        self.ctx = nn.Parameter(ctx.float().clone())  # [M, W], the only trained tensor

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        if self.encoder is not None:
            self.encoder._apply(fn, recurse)  # the unregistered frozen encoder follows device and dtype moves
        return self

    def forward(self):
        if self.encoder is None:
            raise RuntimeError("clip_text.PromptLearner was rebuilt without the CLIP text encoder (evaluation): use "
                               "the model's text_features buffer, or build the model with --clip-weights to train")
        ctx = self.ctx.unsqueeze(0).expand(self.token_prefix.shape[0], -1, -1)  # [K, M, W]
        x = torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)  # [K, L, W]: SOT, V_1..V_M, name, ., EOT
        f_T = self.encoder.encode_from_embeddings(x, self.eot_index)  # [K, D], gradient flows to ctx only
        return F.normalize(f_T.float(), dim=-1)  # [K, D], unit length like encode_class_names
