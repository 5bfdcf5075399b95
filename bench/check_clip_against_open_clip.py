"""Independent check of clip_text.py against open_clip (an implementation we did not write).

    pip install open_clip_torch==3.3.0   # not a project requirement; only this script uses it
    python bench/check_clip_against_open_clip.py [--fuzz 2000] [--device cpu|cuda]

1. Tokenizer: token ids of clip_text.tokenize vs open_clip.tokenize (which truncates silently, so long texts are
   compared with truncate=True) and clip_text's SimpleTokenizer.encode/decode vs open_clip's, on hand-picked strings
   (unicode, HTML entities, emoji, numbers, mojibake, control characters, very long text) and on seeded random
   strings drawn from many unicode blocks. None of these strings is in tests/test_clip_text.py.
2. Text encoder: open_clip's ViT-B-32 (QuickGELU, as OpenAI's weights need) with random weights (biases and
   LayerNorms perturbed so that no parameter is trivial), its state dict saved to a file in OpenAI's key names and
   loaded with clip_text.load_text_encoder; features of both on the same tokens: max abs difference.
"""
import argparse
import os
import random
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import clip_text  # noqa: E402

HAND_PICKED = [
    "A Photo of THE Dog", "Ça va? Très bien!", "naïve café résumé", "Straße Groß ÆØÅ æøå",
    "東京タワーの写真", "한국어 텍스트", "مرحبا بالعالم", "Привет, мир", "Ελληνικά γράμματα", "हिन्दी पाठ",
    "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp;lt;", "&#39;quoted&#39; &quot;double&quot;", "&nbsp;&copy;&reg;",
    "emoji 😀🐱‍👤👍🏽🇫🇷 ❤️", "🚗🚕🚙 cars", "3.14159 and 1,000,000 and 2025-01-31", "x² + y³ = z⁴ ½ ⅓ ① Ⅻ",
    "it's they're we've I'm you'll he'd", "IT'S THEY'RE", "don’t “smart quotes” — dash – en…",
    "mojibake: cafÃ© donâ€™t", "tabs\tand\nnewlines\r\n  and   spaces", "\u200bzero\u200bwidth\u00a0nbsp",
    "e\u0301 combining (e + acute) vs é", "ﬁ ligature ﬀ", "fullwidth ＡＢＣ１２３", "<|startoftext|> literal <|endoftext|>",
    "<|endoftext|>", "", "   ", "!!!???...,,,;;;", "@user #hashtag $100 %50 ^&*()_+-={}[]|\\:\";'<>?,./`~",
    "http://example.com/path?query=1&b=2", "snake_case camelCase kebab-case", "a" * 300, "ab " * 40,
    "pneumonoultramicroscopicsilicovolcanoconiosis", "diningtable pottedplant tvmonitor motorbike",
    "traffic light, traffic sign, vegetation, terrain", "the " * 100,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo.",
]
BLOCKS = [(0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
          (0x2000, 0x206F), (0x2100, 0x22FF), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFF00, 0xFFEF),
          (0x1F300, 0x1F6FF), (0x0, 0x1F)]


def random_strings(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        blocks = rng.sample(BLOCKS, rng.randint(1, 3))
        chars = []
        for _ in range(rng.randint(0, 60)):
            if rng.random() < 0.2:
                chars.append(rng.choice([" ", " ", "&amp;", "&lt;", "'s", "'ll", "\n", "1", "!", "."]))
            else:
                lo, hi = rng.choice(blocks)
                chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    return out


def as_open_clip_text(text):
    """open_clip renamed CLIP's special tokens to <start_of_text>/<end_of_text>, so OpenAI's literal
    '<|endoftext|>' in a text (which OpenAI's tokenizer, and ours, map to id 49407) is spelled differently there."""
    return text.replace("<|startoftext|>", "<start_of_text>").replace("<|endoftext|>", "<end_of_text>")


def check_tokenizer(args, open_clip):
    ours, theirs = clip_text.default_tokenizer(), open_clip.tokenizer.SimpleTokenizer()
    texts = HAND_PICKED + random_strings(args.fuzz, seed=1234)
    ids_equal = tensors_equal = decodes_equal = long_texts = 0
    mismatches = []
    for text in texts:
        a, b = ours.encode(text), theirs.encode(as_open_clip_text(text))
        ids_equal += a == b
        decodes_equal += as_open_clip_text(ours.decode(a)) == theirs.decode(b)
        long_texts += len(a) + 2 > 77
        t_ours = clip_text.tokenize(text, truncate=True)
        t_theirs = open_clip.tokenize([as_open_clip_text(text)])
        tensors_equal += torch.equal(t_ours, t_theirs)
        if a != b or not torch.equal(t_ours, t_theirs):
            mismatches.append(text)
    n = len(texts)
    print("tokenizer: OpenAI's special-token literals are spelled as open_clip's on its side (see as_open_clip_text)")
    print(f"tokenizer: {n} strings ({len(HAND_PICKED)} hand-picked, {args.fuzz} random; {long_texts} longer than 77 "
          f"tokens): BPE ids equal {ids_equal}/{n}, tokenize() (number of texts, 77) tensors equal {tensors_equal}/{n}, "
          f"decode equal {decodes_equal}/{n}")
    for text in mismatches[:5]:
        print("  MISMATCH:", repr(text[:80]))
    return not mismatches


def check_encoder(args, open_clip):
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("visual.") and (name.endswith("bias") or ".ln_" in name or "ln_final" in name):
                p.add_(0.1 * torch.randn_like(p))
    texts = HAND_PICKED[:30] + random_strings(34, seed=99)
    tokens = clip_text.tokenize(texts, truncate=True)  # (64, 77)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "open_clip_vit_b32_random.pt")
        torch.save(model.state_dict(), path)  # OpenAI key names, visual.* and logit_scale included
        ours = clip_text.load_text_encoder(path).to(args.device)
        keep32 = ("embedding", "ln_", "logit_scale")  # OpenAI halves every weight and bias but these
        fp16 = {k: (v if any(s in k for s in keep32) else v.half()) for k, v in model.state_dict().items()}
        torch.save(fp16, path)  # OpenAI's storage: fp16 matrices, fp32 embeddings and LayerNorms
        ours_fp16 = clip_text.load_text_encoder(path).to(args.device)
    model = model.to(args.device)
    with torch.no_grad():
        f_theirs = model.encode_text(tokens.to(args.device)).float()  # (64, 512)
        f_ours = ours(tokens.to(args.device))  # (64, 512)
        ref = {k: v.float() for k, v in fp16.items()}  # open_clip with the same fp16-rounded weights
        model.load_state_dict(ref)
        f_theirs16, f_ours16 = model.encode_text(tokens.to(args.device)).float(), ours_fp16(tokens.to(args.device))
        short = clip_text.tokenize(["dining table", "a photo of a cat.", "sky", "tv monitor"]).to(args.device)
        diff_short = (ours_fp16(short) - model.encode_text(short).float()).abs().max().item()  # padding trimmed
    diff, diff16 = (f_ours - f_theirs).abs().max().item(), (f_ours16 - f_theirs16).abs().max().item()
    cos = torch.nn.functional.cosine_similarity(f_ours, f_theirs).min().item()
    print(f"text encoder ({args.device}, fp32, {tokens.shape[0]} texts): max |ours - open_clip| = {diff:.3e} "
          f"(feature max |f| = {f_theirs.abs().max().item():.3f}, min cosine {cos:.7f}); "
          f"with OpenAI's fp16/fp32 storage: {diff16:.3e}; 4 short class-name prompts: {diff_short:.3e}")
    tolerance = 1e-4 * max(1.0, f_theirs.abs().max().item())  # fp32 rounding, relative to the feature scale
    return max(diff, diff16, diff_short) < tolerance


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=2000, help="number of random strings for the tokenizer check")
    parser.add_argument("--device", default="cpu", help="device for the encoder comparison")
    args = parser.parse_args()
    try:
        import open_clip
    except ImportError:
        print("SKIPPED: open_clip is not installed (pip install open_clip_torch==3.3.0); it is only needed by this check")
        return
    print(f"open_clip {open_clip.__version__}, torch {torch.__version__}")
    ok = check_tokenizer(args, open_clip)
    ok &= check_encoder(args, open_clip)
    print("RESULT:", "agree" if ok else "DISAGREE")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
