"""The frozen CLIP text side: BPE tokenizer, text transformer, OpenAI checkpoint, class-name embeddings.

Paper Sec. 3.1.2: the class names T are embedded by the frozen text encoder E_T of CLIP ViT-B/32; its output
f_T = E_T(T), (K, D=512), is what the fusion F (Sec. 3.2) reads. Rebuilt from openai/CLIP
(clip/simple_tokenizer.py's byte-level BPE, clip.py's `tokenize` / `load` / `_download`, model.py's
`encode_text`) with torch + ftfy + regex only: OpenAI's `ViT-B-32.pt` (TorchScript archive or state dict,
SHA-256 checked) loads one-to-one by key name, the architecture inferred from shapes, and gives the same features
up to float rounding (always fp32, as OpenAI's CPU path; `scaled_dot_product_attention(is_causal=True)`;
batch-first; no compute after the last end token). Symbols as in model.py; E is the token width.

Reading a checkpoint never runs code from it: a TorchScript archive is read by a restricted unpickler that
rebuilds its tensors from the zip's data/ records (`read_torchscript_tensors`; torch.jit.load would compile and
run the archive's code), a state dict by torch.load(weights_only=True).

Prompt templates beyond the bare name, prompt selection and learned prompts are in related/prompts.py.

Reading order (README "Reading order"): 1 of 12; next: encoders.py (the image encoder E_I).
"""
import gzip
import html
import os
import pickle
import zipfile
from collections import OrderedDict
from functools import lru_cache

import ftfy
import regex as re
import torch
import torch.nn as nn
import torch.nn.functional as F

from util import files


class CLIPWeightsError(RuntimeError, ValueError):
    """A CLIP weights file or name that cannot be used; the message names it and what to pass instead.
    A ValueError too (bad input), so that the scripts print it as one line instead of a traceback."""

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
        # >>> assignment tokenizer
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
        # <<< assignment tokenizer

    def encode(self, text):
        """Text -> BPE ids, without start/end tokens."""
        # >>> assignment tokenizer
        ids = []
        for token in self.pat.findall(clean_text(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
        return ids
        # <<< assignment tokenizer

    def decode(self, ids):
        """BPE ids -> text; every end-of-word becomes a space (as OpenAI's decode does)."""
        data = bytearray(self.byte_decoder[c] for c in "".join(self.decoder[int(i)] for i in ids))
        return data.decode("utf-8", errors="replace").replace("</w>", " ")


@lru_cache()
def default_tokenizer():
    return SimpleTokenizer()


def tokenize(texts, context_length=CONTEXT_LENGTH, truncate=False):
    """str | list[str] -> LongTensor (number of texts, context_length): start, BPE ids, end, zero padding."""
    texts, tokenizer = [texts] if isinstance(texts, str) else texts, default_tokenizer()
    result = torch.zeros(len(texts), context_length, dtype=torch.long)  # (number of texts, L)
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
        # >>> assignment text_transformer
        K, L, E = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)  # 3 x (K, L, E)
        q, k, v = (a.view(K, L, self.heads, E // self.heads).transpose(1, 2) for a in (q, k, v))  # (K, heads, L, .)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (K, heads, L, E/heads); token i sees 0..i
        return self.out_proj(y.transpose(1, 2).reshape(K, L, E))  # (K, L, E)
        # <<< assignment text_transformer


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
        x = x + self.attn(self.ln_1(x))  # (K, L, E)
        return x + self.mlp(self.ln_2(x))  # (K, L, E)


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class TextEncoder(nn.Module):
    """CLIP's text tower, E_T of the paper: tokens (K, L) -> text features f_T (K, D)."""

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
        E, n, g = self.width, self.layers, generator
        nn.init.normal_(self.token_embedding.weight, std=0.02, generator=g)
        nn.init.normal_(self.positional_embedding, std=0.01, generator=g)
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=E ** -0.5, generator=g)
            nn.init.normal_(block.attn.out_proj.weight, std=E ** -0.5 * (2 * n) ** -0.5, generator=g)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * E) ** -0.5, generator=g)
            nn.init.normal_(block.mlp.c_proj.weight, std=E ** -0.5 * (2 * n) ** -0.5, generator=g)
            for bias in (block.attn.in_proj_bias, block.attn.out_proj.bias, block.mlp.c_fc.bias, block.mlp.c_proj.bias):
                nn.init.zeros_(bias)
        nn.init.normal_(self.text_projection, std=E ** -0.5, generator=g)

    def encode_from_embeddings(self, x, eot_index):
        """Token embeddings x (K, L, E) (L <= context_length; positions are added here) and the index of
        each sequence's end token (K,) -> features (K, D). Learnable prompt context (CoOp) enters here."""
        # >>> assignment text_transformer
        K, L, E = x.shape
        x = x + self.positional_embedding[:L]  # (K, L, E)
        x = self.ln_final(self.transformer(x))  # (K, L, E)
        x = x[torch.arange(K, device=x.device), eot_index]  # (K, E): the end token has seen the whole text
        return x @ self.text_projection  # (K, D)
        # <<< assignment text_transformer

    def forward(self, tokens):
        # >>> assignment text_transformer
        eot_index = tokens.argmax(dim=-1)  # (K,): the end token 49407 is the largest id
        tokens = tokens[:, :int(eot_index.max()) + 1]  # (K, L' <= L): causal, so the padding after is irrelevant
        return self.encode_from_embeddings(self.token_embedding(tokens), eot_index)  # (K, L', E) -> (K, D)
        # <<< assignment text_transformer


def infer_architecture(state_dict, source="state dict"):
    """Text-encoder hyperparameters from tensor shapes, as OpenAI's `build_model` does."""
    for key in ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight"):
        if key not in state_dict:
            raise CLIPWeightsError(f"clip_text.py: {source} is not an OpenAI CLIP checkpoint: it has no key {key!r} "
                               f"(it holds {len(state_dict)} tensors, e.g. {sorted(state_dict)[:3]}). {WHAT_TO_PASS}")
    width = state_dict["ln_final.weight"].shape[0]
    return dict(embed_dim=state_dict["text_projection"].shape[1],
                context_length=state_dict["positional_embedding"].shape[0],
                vocab_size=state_dict["token_embedding.weight"].shape[0], width=width,
                heads=max(1, width // 64),  # not stored in the file; OpenAI's rule (64 channels per head)
                layers=len({k.split(".")[2] for k in state_dict if k.startswith("transformer.resblocks.")}))


def text_encoder_from_state_dict(state_dict, source="state dict"):
    """Build a TextEncoder from an OpenAI CLIP state dict (any dtype mix) and load it strictly, in fp32."""
    state_dict = {k: v for k, v in state_dict.items()  # the causal mask is rebuilt here, never read from the file
                  if not k.startswith("visual.") and k not in NON_TEXT_KEYS and not k.endswith(".attn_mask")}
    model = TextEncoder(**infer_architecture(state_dict, source))
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise CLIPWeightsError(f"{source} does not match CLIP's text encoder: missing keys {missing}, unexpected keys "
                           f"{unexpected}. {WHAT_TO_PASS}")
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)  # fp16 weights -> fp32
    return model


# ----------------------------------------------------------------------------- checkpoint files

WHAT_TO_PASS = (f"Pass OpenAI's ViT-B-32.pt (TorchScript archive or its state dict, from {MODELS['ViT-B/32']}) "
                "with --clip-weights PATH, or --clip-weights ViT-B/32 to download it")


def default_cache_dir():
    return os.environ.get(CACHE_ENV) or os.path.expanduser("~/.cache/clip")


def download(url, cache_dir=None):
    """Fetch url into cache_dir unless a file with the right SHA-256 (the URL's second-to-last part) is there."""
    cache_dir = cache_dir or default_cache_dir()
    target = os.path.join(cache_dir, os.path.basename(url))
    if os.path.exists(target) and not os.path.isfile(target):
        raise CLIPWeightsError(f"{target} exists and is not a regular file; remove it")
    try:
        return files.download_verified(url, url.split("/")[-2], target, "the CLIP weights")
    except RuntimeError as e:
        raise CLIPWeightsError(f"{e}.\nWithout network: download {url} elsewhere and pass it with --clip-weights PATH "
                           f"(or put it at {target})") from e


class ScriptObject:
    """Stands in for a class of a TorchScript archive (`__torch__.*`) while reading it: it only holds the
    attributes the pickle stores (parameters, buffers, submodules, flags); nothing of the archive runs."""


STORAGE_DTYPES = {f"{name}Storage": dtype for name, dtype in [  # storage class of a tensor record -> its dtype
    ("Float", torch.float32), ("Half", torch.float16), ("BFloat16", torch.bfloat16), ("Double", torch.float64),
    ("Long", torch.int64), ("Int", torch.int32), ("Short", torch.int16), ("Char", torch.int8),
    ("Byte", torch.uint8), ("Bool", torch.bool)]}


def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """torch._utils._rebuild_tensor_v2's job, done by us: a view of the storage record, copied."""
    return storage.as_strided(tuple(size), tuple(stride), offset).clone()


class ArchiveUnpickler(pickle.Unpickler):
    """Reads a TorchScript archive's data.pkl with an allow-list: `__torch__.*` classes become ScriptObject
    subclasses, tensors are rebuilt from the zip's data/ records; any other class or function is refused."""

    def __init__(self, archive, prefix, path):
        super().__init__(archive.open(prefix + "data.pkl"))
        self.archive, self.prefix, self.path = archive, prefix, path

    def find_class(self, module, name):
        if module == "__torch__" or module.startswith("__torch__."):
            return type(name, (ScriptObject,), {})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict  # the (empty) backward-hook dict of each tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if module == "torch.jit._pickle" and (name.startswith("build_") or name == "restore_type_tag"):
            return lambda value, *type_tag: value  # typed lists / dicts: the value as it is
        raise pickle.UnpicklingError(f"clip_text.py: refused to read {self.path}: its pickle asks for "
                                     f"{module}.{name}, which OpenAI's CLIP archive does not contain. {WHAT_TO_PASS}")

    def persistent_load(self, pid):
        kind, dtype, key, location, numel = pid  # ('storage', dtype, record name, device, number of elements)
        data = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
        return torch.frombuffer(data, dtype=dtype)[:numel] if data else torch.empty(0, dtype=dtype)  # (numel,)


def read_torchscript_tensors(path):
    """Every tensor of a TorchScript archive, keyed by its dotted attribute path ("transformer.resblocks.0...."),
    read WITHOUT running the archive's code (torch.jit.load would compile and run it)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = next(n for n in names if n.endswith("data.pkl"))[:-len("data.pkl")]
        if prefix + "byteorder" in names and archive.read(prefix + "byteorder").strip() != b"little":
            raise CLIPWeightsError(f"clip_text.py: {path} was written on a big-endian machine. {WHAT_TO_PASS}")
        root = ArchiveUnpickler(archive, prefix, path).load()
    if not isinstance(root, ScriptObject):
        raise CLIPWeightsError(f"clip_text.py: {path} is a TorchScript archive without a module. {WHAT_TO_PASS}")
    state_dict, todo = {}, [("", root)]
    while todo:  # walk the module tree: tensors are leaves, ScriptObjects submodules
        prefix, obj = todo.pop()
        for key, value in vars(obj).items():
            if torch.is_tensor(value):
                state_dict[prefix + key] = value
            elif isinstance(value, ScriptObject):
                todo.append((prefix + key + ".", value))
    return state_dict


def describe_bad_file(path):
    """What kind of wrong file `path` is, for the error message."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:4] == b"PK\x03\x04":
        return "a damaged or truncated zip archive (an interrupted download?)"
    text = head and all(32 <= b < 127 or b in b"\t\r\n" for b in head)
    return ("an empty file" if not head else "a text file (an HTML error page instead of the download?)" if text
            else "neither a zip archive nor a PyTorch file")


def read_checkpoint(path):
    """The tensors of OpenAI's TorchScript archive (a zip with constants.pkl and code/, which torch.save never
    writes), read without running its code, or a state dict saved by torch.save (weights_only=True)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            if any(n.endswith("/constants.pkl") for n in names) and any(n.endswith("/data.pkl") for n in names):
                return read_torchscript_tensors(path)
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a file that is not a checkpoint fails in many ways (random bytes: IndexError, ...)
        if str(e).startswith("clip_text.py"):  # our own message (a refused archive)
            raise CLIPWeightsError(str(e)) from None
        detail = str(e).splitlines()[0][:200] if str(e) else ""  # torch's advice to drop weights_only is left out
        detail = f" ({type(e).__name__}: {detail})" if detail and "weights_only" not in detail else ""
        raise CLIPWeightsError(f"clip_text.py: cannot read {path}: it is {describe_bad_file(path)}{detail}. "
                           f"{WHAT_TO_PASS}") from e
    if not isinstance(state_dict, dict) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise CLIPWeightsError(f"clip_text.py: {path} holds a {type(state_dict).__name__} that is not a state dict of "
                           f"tensors (a training checkpoint of another model?). {WHAT_TO_PASS}")
    return state_dict


def random_text_encoder(seed=0):
    """A ViT-B/32-shaped text encoder with OpenAI's random initialisation: for offline demos and tests only."""
    print("WARNING: clip_text: using a RANDOM CLIP text encoder (no weights loaded): the class-name embeddings "
          "carry NO language, so numbers from this run are not comparable with the paper. Pass --clip-weights PATH "
          "to OpenAI's ViT-B-32.pt for real results.", flush=True)
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
        raise CLIPWeightsError(f"CLIP model {name_or_path!r} not found: give one of {sorted(MODELS)}, 'random', "
                           "or the path of a downloaded checkpoint (--clip-weights PATH)")
    model.eval().requires_grad_(False)  # frozen, as in the paper (Sec. 3.1.2)
    n = sum(p.numel() for p in model.parameters())
    print(f"clip_text: text encoder from {source}: width {model.width}, {model.layers} layers, {model.heads} heads, "
          f"D={model.embed_dim}, {n / 1e6:.1f}M parameters, frozen")
    return model


# ----------------------------------------------------------------------------- class names

# Dataset names written as words CLIP has seen (SBD/VOC joins them; Cityscapes uses underscores).
READABLE_NAMES = {"diningtable": "dining table", "pottedplant": "potted plant", "tvmonitor": "tv monitor"}


def readable_name(raw):
    """'diningtable' -> 'dining table', 'traffic_light' -> 'traffic light'; other names unchanged. Ours: the paper
    (Sec. 3.1.2) feeds "the class names" and does not say whether SBD's run-together names are split first."""
    return READABLE_NAMES.get(raw, raw.replace("_", " ").strip())


def encode_prompts(encoder, names, templates, readable=True):
    """Every class name (made readable unless readable=False) in every template -> raw features (K, T_n, D)."""
    words = [readable_name(n) if readable else n for n in names]
    tokens = tokenize([t.format(w) for w in words for t in templates], encoder.context_length)  # (K*T_n, L)
    feats = encoder(tokens.to(encoder.text_projection.device)).float()  # (K*T_n, D)
    return feats.view(len(words), len(templates), -1)  # (K, T_n, D)


@torch.no_grad()
def encode_class_names(encoder, names, templates=("{}",), normalize=True, readable=True):
    """The paper's class-name embedding f_T = E_T(T) (Sec. 3.1.2): class names -> (K, D), computed once per
    (names, templates, normalize) and cached on the encoder. normalize=True: per-prompt L2 normalisation, mean
    over templates, renormalised (CLIP's zero-shot recipe); False: the mean of the raw features. The paper names
    neither prompts nor normalisation: we read it as the name alone, unit-norm (the form CLIP and LSeg compare)."""
    names, templates = list(names), list(templates)
    if not names or not templates:
        raise ValueError(f"encode_class_names needs class names and templates, got {names} and {templates}")
    key = (tuple(names), tuple(templates), bool(normalize), bool(readable), str(encoder.text_projection.device))
    if key not in encoder.feature_cache:
        feats = encode_prompts(encoder, names, templates, readable)  # (K, T_n, D)
        feats = (F.normalize(feats, dim=-1) if normalize else feats).mean(dim=1)  # (K, D)
        encoder.feature_cache[key] = F.normalize(feats, dim=-1) if normalize else feats  # (K, D)
    return encoder.feature_cache[key].clone()

