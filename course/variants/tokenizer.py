"""Variants of the assignment `tokenizer` (clip_text.SimpleTokenizer.bpe and .encode) for the kit's own tests.

tests/test_course.py puts each variant's bodies into the regions of a copy of the repository (region 1: bpe,
region 2: encode; None keeps the repository's body) and expects course/grade.py to pass the correct ones and fail
the others. The wrong ones are slips students make.
"""

VARIANTS = {
    "alternative": dict(correct=True, why="OpenAI's original loop (pairs as a set, word.index to jump to the next "
                                          "occurrence, an early return for one-symbol words); ids built at the end",
                        bodies=['''
if token in self.cache:
    return self.cache[token]
word = tuple(token[:-1]) + (token[-1] + "</w>",)
pairs = set(zip(word, word[1:]))
if not pairs:
    return token + "</w>"
while True:
    bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
    if bigram not in self.bpe_ranks:
        break
    first, second = bigram
    new_word, i = [], 0
    while i < len(word):
        try:
            j = word.index(first, i)
        except ValueError:
            new_word.extend(word[i:])
            break
        new_word.extend(word[i:j])
        i = j
        if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
            new_word.append(first + second)
            i += 2
        else:
            new_word.append(word[i])
            i += 1
    word = tuple(new_word)
    if len(word) == 1:
        break
    pairs = set(zip(word, word[1:]))
word = " ".join(word)
self.cache[token] = word
return word
''', '''
pieces = []
for token in re.findall(self.pat, clean_text(text)):
    token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
    pieces.extend(self.bpe(token).split(" "))
return [self.encoder[piece] for piece in pieces]
''']),
    "wrong_no_end_of_word": dict(correct=False, why="forgets the end-of-word mark '</w>' on the last symbol",
                                 bodies=['''
if token in self.cache:
    return self.cache[token]
word = list(token)
while len(word) > 1:
    best = min(set(zip(word[:-1], word[1:])), key=lambda p: self.bpe_ranks.get(p, float("inf")))
    if best not in self.bpe_ranks:
        break
    merged, i = [], 0
    while i < len(word):
        if i < len(word) - 1 and (word[i], word[i + 1]) == best:
            merged.append(word[i] + word[i + 1])
            i += 2
        else:
            merged.append(word[i])
            i += 1
    word = merged
self.cache[token] = " ".join(word)
return self.cache[token]
''', None]),
    "wrong_characters_not_bytes": dict(correct=False, why="runs BPE on the characters, not on the UTF-8 bytes "
                                                          "(same ids for ASCII text, wrong ones beyond)",
                                       bodies=[None, '''
ids = []
for token in self.pat.findall(clean_text(text)):
    ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
return ids
''']),
    "wrong_split_on_spaces": dict(correct=False, why="splits the text on spaces instead of the pre-tokenizer "
                                                     "pattern ('cat.' stays one pre-token)",
                                  bodies=[None, '''
ids = []
for token in clean_text(text).split():
    token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
    ids.extend(self.encoder[sym] for sym in self.bpe(token).split(" "))
return ids
''']),
}
