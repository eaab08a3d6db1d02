#!/usr/bin/env python3
"""A small PyTorch training script on the bundled Juliet data: classify C/C++ functions as
vulnerable or not with a one-layer transformer over hashed code tokens. It is the "your own
pipeline" example of docs/byo.md: plain PyTorch, instrumented with greenknobs' Python API, and
studied with `greenknobs study --catalog examples/juliet_torch/study.toml`.

Stages: load_dataset, tokenize, train (with train/validate per epoch), evaluate. Metrics: f1_vul,
f1_weighted, accuracy, mcc (test split), val_f1_vul (the validation split, scored with the model
that is tested: what `greenknobs tune` selects on). Knobs: --bf16 (autocast), --max-length,
--batch-size, --threads, --early-stop; --fidelity F (a tune's screening runs) trains on the share
F of the samples and scores F of the evaluation samples (at least 200).

Alone (`python3 train.py --out runs/x`) it measures itself; under `greenknobs measure`/`study` it
reports its stages to the parent, which measures them.
"""
import argparse
import csv
import math
import random
import re
import sys
import time
import zlib

import greenknobs

csv.field_size_limit(1 << 26)
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\S")
PAD = 0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/juliet/juliet_functions.csv")
    p.add_argument("--train-samples", type=int, default=2000)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast in forward and loss")
    p.add_argument("--early-stop", action="store_true",
                   help="stop when validation F1 does not improve (patience 1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fidelity", type=float, default=1.0,
                   help="share of the samples, in (0, 1] (a tune's low-fidelity screening)")
    p.add_argument("--out", default=None, help="run directory when measuring alone")
    args = p.parse_args(argv)
    if not 0 < args.fidelity <= 1:
        p.error("--fidelity: expected a share in (0, 1], got %g" % args.fidelity)
    if args.fidelity < 1:
        args.train_samples = max(16, math.ceil(args.fidelity * args.train_samples))
        args.eval_samples = max(min(args.eval_samples, 200),
                                math.ceil(args.fidelity * args.eval_samples))
    return args


def load_rows(path, n_train, n_eval, seed):
    """The split column is leak-free (data/juliet/SOURCE.md): train / validation / test."""
    by_split = {"train": [], "validation": [], "test": []}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["split"] in by_split:
                by_split[row["split"]].append((row["func_before"], int(row["vul"])))
    rng = random.Random(seed)
    for rows in by_split.values():
        rng.shuffle(rows)
    return (by_split["train"][:n_train], by_split["validation"][:n_eval],
            by_split["test"][:n_eval])


def encode(rows, max_length, vocab):
    """Hashed word-level tokens (crc32 mod vocab-1, +1 so 0 is padding), truncated."""
    ids, labels = [], []
    for text, label in rows:
        toks = [1 + zlib.crc32(t.encode()) % (vocab - 1) for t in TOKEN.findall(text)]
        ids.append(toks[:max_length])
        labels.append(label)
    return ids, labels


def batches(ids, labels, batch_size, torch, shuffle_rng=None):
    order = list(range(len(ids)))
    if shuffle_rng is not None:
        shuffle_rng.shuffle(order)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        width = max(1, max(len(ids[j]) for j in idx))
        x = torch.full((len(idx), width), PAD, dtype=torch.long)
        for r, j in enumerate(idx):
            if ids[j]:
                x[r, :len(ids[j])] = torch.tensor(ids[j])
        yield x, torch.tensor([labels[j] for j in idx])


def build_model(torch, vocab, dim, max_length, heads=4):
    """Embeddings + one pre-norm transformer block written with plain ops (torch 1.13's fused
    encoder fast path ignores CPU autocast) + masked mean pooling + a linear head."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)
            self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
            self.drop = nn.Dropout(0.1)

        def forward(self, h, pad):  # h: [b, s, d]; pad: [b, s] True at padding
            b, s, d = h.shape
            q, k, v = self.qkv(self.norm1(h)).view(b, s, 3, heads, d // heads).unbind(2)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [b, heads, s, d/heads]
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d // heads)  # [b, heads, s, s]
            att = att.masked_fill(pad[:, None, None, :], float("-inf")).softmax(-1)
            ctx = (self.drop(att) @ v).transpose(1, 2).reshape(b, s, d)
            h = h + self.drop(self.proj(ctx))
            return h + self.drop(self.ff(self.norm2(h)))

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim, padding_idx=PAD)
            self.pos = nn.Embedding(max_length, dim)
            self.block = Block()
            self.head = nn.Linear(dim, 2)

        def forward(self, x):  # x: [batch, seq]
            pad = x == PAD
            pad[:, 0] = False  # an empty function keeps one position, so no row is all -inf
            pos = torch.arange(x.shape[1]).unsqueeze(0)
            h = self.block(self.emb(x) + self.pos(pos), pad)  # [b, s, d]
            keep = (~pad).unsqueeze(-1).to(h.dtype)
            pooled = (h * keep).sum(1) / keep.sum(1)
            return self.head(pooled)

    return Classifier()


def scores(pred, gold):
    tp = sum(1 for p, g in zip(pred, gold) if p == 1 and g == 1)
    tn = sum(1 for p, g in zip(pred, gold) if p == 0 and g == 0)
    fp = sum(1 for p, g in zip(pred, gold) if p == 1 and g == 0)
    fn = sum(1 for p, g in zip(pred, gold) if p == 0 and g == 1)

    def f1(tp_, fp_, fn_):
        return 0.0 if tp_ == 0 else 2 * tp_ / (2 * tp_ + fp_ + fn_)

    n = max(1, len(gold))
    f1_vul, f1_neg = f1(tp, fp, fn), f1(tn, fn, fp)
    pos, neg = tp + fn, tn + fp
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {"f1_vul": f1_vul, "accuracy": (tp + tn) / n,
            "f1_weighted": (f1_vul * pos + f1_neg * neg) / n,
            "mcc": 0.0 if denom == 0 else (tp * tn - fp * fn) / denom}


def predict(model, ids, labels, args, torch, stage=None):
    model.eval()
    pred = []
    with torch.no_grad():
        for x, _ in batches(ids, labels, 64, torch):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(x)
            pred.extend(logits.float().argmax(1).tolist())
            if stage is not None:
                stage.add_work(len(x))
    return pred


def main(argv):
    args = parse_args(argv)
    with greenknobs.Tracker(out=args.out, project_name="juliet-torch") as t:
        with t.stage("load_dataset", work="samples") as s:
            import torch  # counted here: importing torch is part of this pipeline's cost
            if args.threads > 0:
                torch.set_num_threads(args.threads)
            torch.manual_seed(args.seed)
            train, val, test = load_rows(args.data, args.train_samples, args.eval_samples,
                                         args.seed)
            s.add_work(len(train) + len(val) + len(test))
        with t.stage("tokenize", work="samples") as s:
            tr_ids, tr_y = encode(train, args.max_length, args.vocab)
            va_ids, va_y = encode(val, args.max_length, args.vocab)
            te_ids, te_y = encode(test, args.max_length, args.vocab)
            s.add_work(len(tr_ids) + len(va_ids) + len(te_ids))
        model = build_model(torch, args.vocab, args.dim, args.max_length)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
        rng = random.Random(args.seed)
        best_f1, f1, epochs_run = -1.0, float("nan"), 0
        t0 = time.time()
        with t.stage("train", work="samples") as s:
            for epoch in range(args.epochs):
                model.train()
                for x, y in batches(tr_ids, tr_y, args.batch_size, torch, rng):
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.float().backward()
                    opt.step()
                    s.add_work(len(x))
                epochs_run += 1
                with t.stage("validate", work="samples") as v:
                    f1 = scores(predict(model, va_ids, va_y, args, torch, v), va_y)["f1_vul"]
                print("epoch %d: loss %.4f  validation f1_vul %.4f" % (epoch + 1, loss.item(), f1),
                      flush=True)
                if args.early_stop and f1 <= best_f1:
                    print("early stop: validation F1 did not improve", flush=True)
                    break
                best_f1 = max(best_f1, f1)
        with t.stage("evaluate", work="samples") as s:
            m = scores(predict(model, te_ids, te_y, args, torch, s), te_y)
        for k, value in m.items():
            t.metric(k, value)
        t.metric("val_f1_vul", f1)  # the last epoch's: the model just tested
        t.metric("epochs_run", epochs_run)
        t.metric("train_s", time.time() - t0)
        print("test: f1_vul %.4f  accuracy %.4f  mcc %.4f" % (m["f1_vul"], m["accuracy"],
                                                            m["mcc"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
