"""clip_text.py: tokenizer ids, checkpoint loading in both OpenAI layouts, download checks, class features.

CPU only, no downloads: checkpoints are small random-weight CLIPs written by the tests themselves.
"""
import hashlib
import os
import pickle
import urllib.error
import urllib.request
import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn

import clip_text

WIDTH, LAYERS, EMBED = 128, 2, 64  # small text tower: 2 heads by OpenAI's 64-channels-per-head rule


# ----------------------------------------------------------------------------- tokenizer

@pytest.mark.parametrize("text, ids", [
    ("a photo of a cat.", [49406, 320, 1125, 539, 320, 2368, 269, 49407]),
    ("aeroplane", [49406, 27735, 3980, 49407]),
    ("diningtable", [49406, 1462, 653, 2175, 49407]),
    ("tvmonitor", [49406, 3197, 10198, 49407]),
])
def test_golden_token_ids(text, ids):
    tokens = clip_text.tokenize(text)
    assert tokens.shape == (1, 77) and tokens.dtype == torch.long
    assert tokens[0, :len(ids)].tolist() == ids
    assert tokens[0, len(ids):].eq(0).all()


def test_cleaning_matches_openai_rules():
    tok = clip_text.default_tokenizer()
    # HTML unescaped twice, whitespace collapsed, lower-cased, ftfy fixes mojibake
    assert tok.encode("A&amp;amp;B") == tok.encode("a & b") == tok.encode("a&b")
    assert tok.encode("  A \n\t PHOTO  ") == tok.encode("a photo")
    assert tok.encode("cafÃ©") == tok.encode("café")
    assert tok.encode("") == []


@pytest.mark.parametrize("text", ["a photo of a dining table", "tv monitor", "the quick brown fox jumps over"])
def test_encode_decode_round_trip(text):
    assert clip_text.decode(clip_text.tokenize(text)[0]) == text
    assert clip_text.default_tokenizer().decode(clip_text.default_tokenizer().encode(text)).strip() == text


def test_decode_separates_pretokens():
    # punctuation is its own pre-token, so it decodes with a space before it (as OpenAI's decode does)
    assert clip_text.decode(clip_text.tokenize("A photo of a cat.")[0]) == "a photo of a cat ."
    assert clip_text.decode(clip_text.tokenize("naïve 😀")[0]) == "naïve 😀"  # bytes outside ASCII survive


def test_too_long_text():
    text = " ".join(["cat"] * 80)  # 80 tokens + start + end
    with pytest.raises(RuntimeError, match="truncate=True"):
        clip_text.tokenize(text)
    tokens = clip_text.tokenize([text, "dog"], truncate=True)
    assert tokens.shape == (2, 77)
    assert tokens[0, 0] == clip_text.SOT_TOKEN and tokens[0, -1] == clip_text.EOT_TOKEN
    assert tokens[0, 1:-1].eq(tokens[0, 1]).all()
    assert clip_text.tokenize(" ".join(["cat"] * 75)).shape == (1, 77)  # exactly 77 fits


# ----------------------------------------------------------------------------- checkpoints written by the tests

def openai_state_dict(seed=0):
    """A small random CLIP state dict as OpenAI stores it: text + visual.* keys, int metadata, fp16 weights,
    fp32 embeddings and LayerNorms."""
    g = torch.Generator().manual_seed(seed)
    enc = clip_text.TextEncoder(embed_dim=EMBED, width=WIDTH, heads=WIDTH // 64, layers=LAYERS)
    enc.init_parameters(g)
    sd = {}
    for k, v in enc.state_dict().items():
        if k.endswith("bias") or "ln_" in k:  # non-trivial biases and LayerNorm affine parameters
            v = v + 0.1 * torch.randn(v.shape, generator=g)
        fp32 = k in ("token_embedding.weight", "positional_embedding") or "ln_" in k
        sd[k] = v.float() if fp32 else v.half()
    sd.update({"visual.conv1.weight": torch.randn(32, 3, 32, 32, generator=g).half(),
               "visual.class_embedding": torch.randn(32, generator=g).half(),
               "visual.positional_embedding": torch.randn(50, 32, generator=g).half(),
               "visual.ln_post.weight": torch.ones(32), "visual.proj": torch.randn(32, EMBED, generator=g).half(),
               "logit_scale": torch.tensor(4.6052),
               "input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
               "vocab_size": torch.tensor(49408)})
    return sd


class FlatHolder(nn.Module):
    """Holds a flat state dict under its dotted names, so torch.jit.script writes an OpenAI-like archive."""

    def __init__(self, state_dict):
        super().__init__()
        for key, value in state_dict.items():
            *path, leaf = key.split(".")
            module = self
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            if value.is_floating_point() and value.dim() > 0:
                module.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
            else:
                module.register_buffer(leaf, value)

    def forward(self):
        return self.logit_scale


def reference_encode_text(sd, tokens):
    """OpenAI's encode_text written independently with nn.MultiheadAttention and an additive -inf mask (LND)."""
    x = sd["token_embedding.weight"].float()[tokens] + sd["positional_embedding"].float()  # (K, L, E)
    L, E = x.shape[1], x.shape[2]
    mask = torch.full((L, L), float("-inf")).triu_(1)
    x = x.permute(1, 0, 2)  # NLD -> LND
    for i in range(LAYERS):
        p = lambda name: sd[f"transformer.resblocks.{i}.{name}"].float()
        attn = nn.MultiheadAttention(E, E // 64)
        attn.load_state_dict({k: p("attn." + k) for k in attn.state_dict()})
        h = nn.functional.layer_norm(x, (E,), p("ln_1.weight"), p("ln_1.bias"))
        x = x + attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        h = nn.functional.layer_norm(x, (E,), p("ln_2.weight"), p("ln_2.bias"))
        h = nn.functional.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"))
        x = x + nn.functional.linear(h * torch.sigmoid(1.702 * h), p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))
    x = nn.functional.layer_norm(x.permute(1, 0, 2), (E,), sd["ln_final.weight"], sd["ln_final.bias"])
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ sd["text_projection"].float()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    sd = openai_state_dict()
    plain, archive = str(folder / "plain.pt"), str(folder / "ViT-B-32.pt")
    torch.save(sd, plain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, but it is OpenAI's file format
        torch.jit.script(FlatHolder(sd)).save(archive)
    return sd, plain, archive


@pytest.mark.filterwarnings("ignore:'torch.load' received a zip file")
def test_both_layouts_load_strictly_and_agree(checkpoints):
    sd, plain, archive = checkpoints
    with pytest.raises(RuntimeError):  # OpenAI's layout: the reason read_checkpoint reads the archive itself
        torch.load(archive, weights_only=True)
    assert clip_text.read_checkpoint(archive)["token_embedding.weight"].dtype == torch.float32
    assert clip_text.read_checkpoint(archive)["text_projection"].dtype == torch.float16
    enc_plain = clip_text.load_text_encoder(plain)
    enc_jit = clip_text.load_text_encoder(archive)
    assert (enc_plain.width, enc_plain.layers, enc_plain.heads, enc_plain.embed_dim) == (WIDTH, LAYERS, 2, EMBED)
    assert all(p.dtype == torch.float32 for p in enc_jit.parameters())
    tokens = clip_text.tokenize(["a photo of a cat.", "diningtable", "sky", "an unusual 123 &amp; test!"])
    f_plain, f_jit = enc_plain(tokens), enc_jit(tokens)
    assert f_plain.shape == (4, EMBED) and f_plain.dtype == torch.float32
    assert torch.equal(f_plain, f_jit)
    torch.testing.assert_close(f_plain, reference_encode_text(sd, tokens), rtol=1e-4, atol=1e-5)


def test_missing_or_extra_key_is_named(checkpoints, tmp_path):
    sd = dict(checkpoints[0])
    del sd["transformer.resblocks.1.mlp.c_fc.bias"]
    with pytest.raises(RuntimeError, match=r"missing keys \['transformer.resblocks.1.mlp.c_fc.bias'\]"):
        clip_text.text_encoder_from_state_dict(sd)
    sd = dict(checkpoints[0], **{"transformer.extra_scale": torch.ones(1)})
    torch.save(sd, tmp_path / "extra.pt")
    with pytest.raises(RuntimeError, match=r"unexpected keys \['transformer.extra_scale'\]"):
        clip_text.load_text_encoder(str(tmp_path / "extra.pt"))


def test_frozen_no_gradient_and_batch_invariance(checkpoints):
    enc = clip_text.load_text_encoder(checkpoints[1])
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    tokens = clip_text.tokenize(["a cat", "a much longer description of a dog on a sofa"])
    feats = enc(tokens)
    assert not feats.requires_grad
    one_by_one = torch.cat([enc(tokens[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(feats, one_by_one, rtol=1e-5, atol=1e-6)
    # encode_from_embeddings is forward() split after the token lookup; shorter L gives the same (causal) result
    x = enc.token_embedding(tokens)  # (K, 77, E)
    eot = tokens.argmax(-1)
    torch.testing.assert_close(enc.encode_from_embeddings(x, eot), feats)
    torch.testing.assert_close(enc.encode_from_embeddings(x[:, :16], eot), feats, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- download, checksum, offline

def make_remote(tmp_path, payload):
    """A file:// URL laid out like OpenAI's: .../<sha256>/ViT-B-32.pt."""
    digest = hashlib.sha256(payload).hexdigest()
    (tmp_path / "remote" / digest).mkdir(parents=True)
    (tmp_path / "remote" / digest / "ViT-B-32.pt").write_bytes(payload)
    return (tmp_path / "remote" / digest / "ViT-B-32.pt").as_uri()


def test_download_verifies_and_redownloads_on_mismatch(tmp_path, capsys):
    url = make_remote(tmp_path, b"weights" * 1000)
    cache = tmp_path / "cache"
    path = clip_text.download(url, str(cache))
    assert open(path, "rb").read() == b"weights" * 1000
    open(path, "wb").write(b"corrupted")  # a damaged cached file is detected and fetched again
    assert clip_text.download(url, str(cache)) == path
    assert "does not match" in capsys.readouterr().out
    assert open(path, "rb").read() == b"weights" * 1000
    bad_url = url.replace(url.split("/")[-2], "0" * 64)  # the server's file is not what the URL promises
    os.rename(os.path.dirname(url[7:]), os.path.dirname(bad_url[7:]))
    with pytest.raises(RuntimeError, match="SHA-256"):
        clip_text.download(bad_url, str(tmp_path / "cache2"))
    assert not os.listdir(tmp_path / "cache2")  # nothing half-written is left behind


def test_offline_message_names_url_and_flag(tmp_path, monkeypatch):
    unreachable = "http://127.0.0.1:9/" + "1" * 64 + "/ViT-B-32.pt"  # discard port: connection refused
    with pytest.raises(RuntimeError) as err:
        clip_text.download(unreachable, str(tmp_path))
    assert unreachable in str(err.value) and "--clip-weights PATH" in str(err.value)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv(clip_text.CACHE_ENV, str(tmp_path / "env_cache"))
    with pytest.raises(RuntimeError) as err:
        clip_text.load_text_encoder("ViT-B/32")
    assert clip_text.MODELS["ViT-B/32"] in str(err.value) and "--clip-weights PATH" in str(err.value)
    assert str(tmp_path / "env_cache") in str(err.value)  # the cache folder follows $CLIP_CACHE_DIR
    with pytest.raises(RuntimeError, match="random"):
        clip_text.load_text_encoder("ViT-Z/99")


# ----------------------------------------------------------------------------- class names

def test_readable_names():
    assert ([clip_text.readable_name(n) for n in ["diningtable", "pottedplant", "tvmonitor", "aeroplane"]]
            == ["dining table", "potted plant", "tv monitor", "aeroplane"])
    assert clip_text.readable_name("traffic_light") == clip_text.readable_name("traffic light") == "traffic light"


def test_encode_class_names(checkpoints):
    enc = clip_text.load_text_encoder(checkpoints[1])
    names = ["diningtable", "cat", "traffic_light"]
    f = clip_text.encode_class_names(enc, names)
    assert f.shape == (3, EMBED)
    torch.testing.assert_close(f.norm(dim=-1), torch.ones(3))
    raw = enc(clip_text.tokenize(["dining table", "cat", "traffic light"]))
    torch.testing.assert_close(f, raw / raw.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(clip_text.encode_class_names(enc, names, normalize=False), raw)
    templates = ["itap of a {}.", "a bad photo of the {}.", "art of the {}."]
    ens = clip_text.encode_class_names(enc, names, templates)
    per = torch.nn.functional.normalize(enc(clip_text.tokenize([t.format("cat") for t in templates])), dim=-1)
    torch.testing.assert_close(ens[1], torch.nn.functional.normalize(per.mean(0), dim=0))
    calls = []
    enc.register_forward_hook(lambda *a: calls.append(1))
    clip_text.encode_class_names(enc, names, templates)  # served from the cache: no forward pass
    assert calls == []


def test_random_encoder_is_vit_b32_shaped(capsys):
    enc = clip_text.load_text_encoder("random")
    assert "WARNING" in capsys.readouterr().out
    assert ((enc.width, enc.layers, enc.heads, enc.embed_dim, enc.vocab_size, enc.context_length)
            == (512, 12, 8, 512, 49408, 77))
    assert sum(p.numel() for p in enc.parameters()) == 63_428_096  # OpenAI's ViT-B/32 text side (without logit_scale)
    f = clip_text.encode_class_names(enc, ["cat", "dog"])
    assert f.shape == (2, 512) and torch.isfinite(f).all()
    torch.testing.assert_close(clip_text.random_text_encoder().text_projection, enc.text_projection)  # seeded


# ----------------------------------------------------------------------------- reading files without running them

def test_the_archive_is_read_without_running_its_code(checkpoints, monkeypatch):
    sd, plain, archive = checkpoints

    def no_jit(*args, **kwargs):
        raise AssertionError("torch.jit.load compiles and runs the archive's code")
    monkeypatch.setattr(torch.jit, "load", no_jit)
    tensors = clip_text.read_checkpoint(archive)
    assert set(tensors) == set(sd)
    assert all(torch.equal(tensors[k], sd[k]) and tensors[k].dtype == sd[k].dtype for k in sd)


def test_an_archive_that_asks_for_code_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    archive = tmp_path / "ViT-B-32.pt"
    with zipfile.ZipFile(archive, "w") as z:  # TorchScript's layout: data.pkl, constants.pkl, code/
        z.writestr("archive/data.pkl", pickle.dumps({"weight": Payload()}, protocol=2))
        z.writestr("archive/constants.pkl", pickle.dumps((), protocol=2))
        z.writestr("archive/code/__torch__.py", "def forward(self):\n  return None\n")
        z.writestr("archive/version", "3\n")
    with pytest.raises(RuntimeError, match=r"refused to read .*ViT-B-32.pt.*os\.system|refused to read .*posix"):
        clip_text.read_checkpoint(str(archive))
    assert not marker.exists()


def bad_files(folder, checkpoints):
    """Files a user may pass to --clip-weights by mistake."""
    archive_bytes = open(checkpoints[2], "rb").read()
    (folder / "truncated.pt").write_bytes(archive_bytes[:len(archive_bytes) // 2])
    (folder / "not_a_zip.pt").write_bytes(bytes(range(256)) * 4)
    (folder / "page.pt").write_text("<html><body>403 Forbidden</body></html>\n")
    (folder / "empty.pt").write_bytes(b"")
    torch.save(nn.Linear(3, 2).state_dict(), folder / "other_model.pt")
    torch.save({"model": {"w": torch.ones(1)}, "epoch": 3}, folder / "training_checkpoint.pt")
    return {"truncated.pt": "truncated", "not_a_zip.pt": "neither a zip", "page.pt": "text file",
            "empty.pt": "empty file", "other_model.pt": "no key 'text_projection'",
            "training_checkpoint.pt": "not a state dict of tensors"}


def test_wrong_files_name_the_path_and_the_fix(checkpoints, tmp_path):
    for name, reason in bad_files(tmp_path, checkpoints).items():
        path = str(tmp_path / name)
        with pytest.raises(RuntimeError) as err:
            clip_text.load_text_encoder(path)
        message = str(err.value)
        assert path in message and reason in message and "--clip-weights" in message, message
        assert "ViT-B-32.pt" in message and "weights_only=False" not in message, message


def test_random_bytes_as_clip_weights_are_one_clear_error(tmp_path):
    """A file of random bytes fails inside torch.load in many ways (IndexError, UnpicklingError, ...): every one
    must become the error that names the file (a ValueError, printed by the scripts as one line)."""
    rng = np.random.default_rng(0)
    for i in range(40):
        path = tmp_path / f"random{i}.pt"
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(ValueError, match=f"cannot read {path}"):
            clip_text.read_checkpoint(str(path))
