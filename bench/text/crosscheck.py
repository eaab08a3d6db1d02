#!/usr/bin/env python3
# Independent re-implementation of ModernBERT's encoding (Python `regex` module for the GPT-2 pattern,
# unicodedata for NFC, the classic GPT-2 BPE loop) to cross-check the C++ encoder on large inputs where no
# HF golden exists. It reproduces all 49 HF goldens in data/modernbert/golden_encodings.jsonl.
# Usage: bench/text/crosscheck.py < in.jsonl > ref.txt
#        build/bin/greenknobs tokenize --tokenizer data/modernbert/tokenizer.json < in.jsonl | cmp - ref.txt
# Only ModernBERT's flags are modelled (lstrip on [MASK]; no rstrip/single_word tokens in that file).
import json
import os
import sys
import unicodedata

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK = json.load(open(os.path.join(ROOT, "data/modernbert/tokenizer.json"), encoding="utf-8"))
VOCAB = TOK["model"]["vocab"]
RANKS = {tuple(m.split(" ")): i for i, m in enumerate(TOK["model"]["merges"])}
SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
WHITESPACE = regex.compile(r"\s")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
BY_CONTENT = {a["content"]: a for a in TOK["added_tokens"]}


def matcher(normalized):
    # Alternation sorted longest first = leftmost-longest matching.
    toks = sorted((a for a in TOK["added_tokens"] if a["normalized"] == normalized),
                  key=lambda a: -len(a["content"].encode()))
    return regex.compile("|".join(regex.escape(a["content"]) for a in toks))


RAW, NORM = matcher(False), matcher(True)


def split_added(s, rx):
    out, start_off = [], 0
    for m in rx.finditer(s):
        tok = BY_CONTENT[m.group(0)]
        start, stop = m.start(), m.end()
        if tok["lstrip"]:
            k = start
            while k > 0 and WHITESPACE.match(s[k - 1]):
                k -= 1
            start = max(k, start_off)
        if start_off < start:
            out.append((None, s[start_off:start]))
        out.append((tok["id"], s[start:stop]))
        start_off = stop
    if start_off < len(s):
        out.append((None, s[start_off:]))
    return out


CACHE = {}


def bpe(word):
    if word in CACHE:
        return CACHE[word]
    w = list(word)
    while len(w) > 1:
        rank, best = min((RANKS.get((w[i], w[i + 1]), float("inf")), i) for i in range(len(w) - 1))
        if rank == float("inf"):
            break
        a, b = w[best], w[best + 1]
        merged, i = [], 0
        while i < len(w):
            if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(w[i])
                i += 1
        w = merged
    CACHE[word] = [VOCAB[t] for t in w]
    return CACHE[word]


def encode(text):
    ids = []
    for tid, piece in split_added(text, RAW):
        if tid is not None:
            ids.append(tid)
            continue
        for tid2, sub in split_added(unicodedata.normalize("NFC", piece), NORM):
            if tid2 is not None:
                ids.append(tid2)
                continue
            for word in SPLIT.findall(sub):
                ids += bpe("".join(B2U[b] for b in word.encode("utf-8")))
    return ids


if __name__ == "__main__":
    for line in sys.stdin:
        if line.strip():
            ids = [50281] + encode(json.loads(line)["text"]) + [50282]
            print(json.dumps({"ids": ids}, separators=(",", ":")))
