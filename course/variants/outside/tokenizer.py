"""Solutions of the assignment `tokenizer` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
# symbols kept as ONE space-separated string; a merge is a regex substitution of "a b" by "ab" where both are whole
# symbols (lookarounds: every occurrence, left to right, non-overlapping)
symbols = " ".join(list(token[:-1]) + [token[-1] + "</w>"])
while True:
    parts = symbols.split(" ")
    ranked = [(self.bpe_ranks[p], p) for p in zip(parts, parts[1:]) if p in self.bpe_ranks]
    if not ranked:
        return symbols
    _, (first, second) = sorted(ranked)[0]
    symbols = re.sub(r"(?<!\\S)" + re.escape(first) + " " + re.escape(second) + r"(?!\\S)", lambda m: first + second,
                     symbols)
''', '''
out = []
cleaned = clean_text(text)
for piece in re.findall(self.pat, cleaned):
    mapped = "".join(map(self.byte_encoder.__getitem__, bytearray(piece, "utf-8")))
    out += list(map(self.encoder.__getitem__, self.bpe(mapped).split()))
return out
''']),
"wrong_no_clean": dict(correct=False, bodies=[None, '''
ids = []
for token in self.pat.findall(text):
    token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
    ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
return ids
''']),
"wrong_bytes_before_pretokenizer": dict(correct=False, bodies=[None, '''
mapped = "".join(self.byte_encoder[b] for b in clean_text(text).encode("utf-8"))
ids = []
for token in self.pat.findall(mapped):
    ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
return ids
''']),
"also_correct_first_occurrence_only": dict(correct=True, bodies=['''
word = list(token[:-1]) + [token[-1] + "</w>"]
while len(word) > 1:
    best = min(zip(word[:-1], word[1:]), key=lambda p: self.bpe_ranks.get(p, float("inf")))
    if best not in self.bpe_ranks:
        break
    i = next(i for i in range(len(word) - 1) if (word[i], word[i + 1]) == best)
    word[i:i + 2] = [word[i] + word[i + 1]]
return " ".join(word)
''', None]),
"wrong_right_to_left": dict(correct=False, bodies=['''
word = list(token[:-1]) + [token[-1] + "</w>"]
while len(word) > 1:
    best = min(zip(word[:-1], word[1:]), key=lambda p: self.bpe_ranks.get(p, float("inf")))
    if best not in self.bpe_ranks:
        break
    for i in reversed(range(len(word) - 1)):  # from the end, so that the indices still to visit stay valid
        if i < len(word) - 1 and (word[i], word[i + 1]) == best:
            word[i:i + 2] = [word[i] + word[i + 1]]
return " ".join(word)
''', None]),
}
