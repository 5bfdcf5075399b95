"""Checks of the assignment `tokenizer`: CLIP's byte-level BPE (clip_text.SimpleTokenizer.bpe and .encode).

Paper Sec. 3.1.2: the class names are embedded by CLIP's text encoder, which reads CLIP's token ids; a tokenizer
that gives other ids gives other text features. The reference ids are OpenAI's: the four strings of
tests/test_clip_text.py are OpenAI's published ids; the others were computed once with the project's tokenizer,
which that test file (and bench/check_clip_against_open_clip.py) verifies against OpenAI's, and are written out
here as constants. The start and end tokens are <|startoftext|> = 49406 and <|endoftext|> = 49407.
"""
import clip_text  # the graded repository's clip_text.py: course/grade.py puts it first on sys.path
from checklib import expect_equal, fail, together

SOT, EOT = 49406, 49407
PUBLISHED = {"a photo of a cat.": [320, 1125, 539, 320, 2368, 269], "aeroplane": [27735, 3980],
             "diningtable": [1462, 653, 2175], "tvmonitor": [3197, 10198]}
ORDER = ("clean_text(text), then the pre-tokens of self.pat.findall, each pre-token's UTF-8 bytes mapped by "
         "self.byte_encoder to one character each, self.bpe() on that string, each resulting symbol looked up in "
         "self.encoder")
MERGES = ("merge the adjacent pair with the LOWEST rank in self.bpe_ranks, every occurrence of it left to right, "
          "and repeat until no adjacent pair of the word is in self.bpe_ranks")


def tokenizer():
    return clip_text.default_tokenizer()  # one SimpleTokenizer (given code), shared with tokenize()


def encode(text, hint):
    """The student's encode(text); a KeyError (a symbol not in the vocabulary) becomes a failure with `hint`."""
    try:
        return tokenizer().encode(text)
    except KeyError as e:
        fail(f"encode({text!r})", "token ids", f"KeyError {e} (a symbol that is not in the vocabulary)", hint)


def check_published_ids():
    """OpenAI's published token ids of four texts (a sentence and three SBD class names)."""
    return together(expect_equal(encode(text, ORDER), ids, f"encode({text!r})", f"the order is: {ORDER}")
                     for text, ids in PUBLISHED.items())


def check_bpe_merges():
    """bpe() of one pre-token: merges by rank, end-of-word mark on the last symbol, space-separated result."""
    cases = {"cat": "cat</w>", "mississippi": "mississippi</w>",
             "antidisestablishmentarianism": "anti dise stab lish ment arianism</w>",
             "aaaa": "aaaa</w>"}  # ('a', 'a') merged left to right: 'aa', 'a', 'a</w>', not 'a', 'a', 'aa</w>'
    hint = (f"bpe(token) starts from the characters of token, the LAST one with '</w>' appended "
            f"(['c', 'a', 't</w>']); {MERGES} (a run 'a a a' becomes 'aa a', not 'a aa'); it returns the symbols "
            "joined by spaces")
    return together(expect_equal(tokenizer().bpe(token), symbols, f"bpe({token!r})", hint)
                     for token, symbols in cases.items())


def check_long_words():
    """Words the vocabulary splits into several symbols, and words it holds whole."""
    cases = {"mississippi bananas": [12232, 19121], "antidisestablishmentarianism": [3120, 4262, 7726, 12658,
                                                                                      1585, 44351],
             "potted plant": [48581, 3912], "motorbike": [33341]}
    return together(expect_equal(encode(text, MERGES), ids, f"encode({text!r})", MERGES)
                     for text, ids in cases.items())


def check_utf8_bytes():
    """Text outside ASCII: BPE runs on the UTF-8 bytes, each byte one symbol (bytes_to_unicode)."""
    hint = ("byte-level BPE works on the UTF-8 BYTES of each pre-token, not on its characters: "
            "''.join(self.byte_encoder[b] for b in token.encode('utf-8')) ('ï' is 2 bytes, an emoji 4)")
    text = "naïve café 😀"
    return expect_equal(encode(text, hint), [1097, 35689, 563, 15304, 7334], f"encode({text!r})", hint)


def check_pre_tokenizer():
    """Pre-tokens: English clitics, letter runs, single digits, runs of punctuation (self.pat)."""
    hint = ("split the cleaned text with self.pat.findall (\"don't\" -> 'don', \"'t\"; '2025' -> four digits; "
            "'hello,world' -> 'hello', ',', 'world'), not on spaces: every pre-token gets its own end-of-word mark")
    cases = {"don't stop: 2025!!": [847, 713, 1691, 281, 273, 271, 273, 276, 748], "hello,world": [3306, 267, 1002]}
    return together(expect_equal(encode(text, hint), ids, f"encode({text!r})", hint) for text, ids in cases.items())


def check_cleaning():
    """Case, repeated whitespace and HTML entities are normalised first (clean_text)."""
    hint = "run clean_text(text) first: it lower-cases, collapses whitespace and unescapes HTML entities"
    cases = {"  A PHOTO\tof  a   CAT. ": PUBLISHED["a photo of a cat."], "a&amp;b": [320, 261, 321], "": []}
    return together(expect_equal(encode(text, hint), ids, f"encode({text!r})", hint) for text, ids in cases.items())


def check_tokenize_frame():
    """tokenize(): start token 49406, the ids, end token 49407, zero padding to 77."""
    tokens = clip_text.tokenize(["aeroplane", "a photo of a cat."])
    expected = [[SOT, *PUBLISHED["aeroplane"], EOT] + [0] * 73, [SOT, *PUBLISHED["a photo of a cat."], EOT] + [0] * 69]
    return expect_equal(tokens.tolist(), expected, "tokenize(['aeroplane', 'a photo of a cat.'])",
                        f"tokenize (given) frames encode()'s ids; {ORDER}")


def check_round_trip():
    """decode(encode(text)) gives the cleaned text back."""
    texts = ["a photo of a dining table", "tv monitor", "the quick brown fox jumps over naïve dogs"]
    got = [tokenizer().decode(encode(t, ORDER)).strip() for t in texts]
    return expect_equal(got, texts, "decode(encode(text)) of three texts",
                        "every id must be the id of a symbol of the text, in order, the last symbol of each "
                        f"pre-token ending in '</w>'; {ORDER}")
