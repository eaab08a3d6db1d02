#!/usr/bin/python3
"""The PyTorch-Python side of `make bench-python`: what a user of the Python stack would run for the same
fine-tuning, on the same batches greenknobs computes on (scripts/bench_vs_python.py drives both).

The model is the independent implementation of HF's eager ModernBERT forward in tests/model/hf_reference.py
(parameters in a dict, trained with torch.optim.AdamW), the loop HF's Trainer runs on CPU: autocast
bf16 when asked, fp32 cross-entropy, backward, clip_grad_norm_(max_grad_norm), linear warm-up/decay, AdamW
(no weight decay on biases and norms), zero_grad. Evaluation: no_grad, argmax, cross-entropy per batch.

  /usr/bin/python3 bench/python/train_loop.py DATA_JSON --precision fp32|bf16 --threads N [--mode train|eval|both]
DATA_JSON is written by `speed_compare --data-out` (config, samples, the Trainer's batch plan). Prints one JSON line.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "model"))
import hf_reference  # noqa: E402


def layer_norm(x, w, b, eps):
    # CPU autocast in 1.13 does not run layer_norm in fp32 and layer_norm rejects bf16 input with fp32
    # weights: cast the input to the weight's dtype (what greenknobs' Norm does too).
    return F.layer_norm(x.to(w.dtype), (x.shape[-1],), w, b, eps)


hf_reference.layer_norm = layer_norm


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def init_weights(cfg, gen):
    """HF _init_weights shapes and scales (truncated normal); every parameter a leaf with grad."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    n = cfg["num_hidden_layers"]
    std = cfg.get("initializer_range", 0.02)
    std_out = std / math.sqrt(2.0 * n)

    def tn(shape, s):
        t = torch.empty(shape)
        torch.nn.init.trunc_normal_(t, std=s, a=-3 * s, b=3 * s)
        return t

    w = {"model.embeddings.tok_embeddings.weight": tn((v, h), std),
         "model.embeddings.norm.weight": torch.ones(h)}
    for layer in range(n):
        p = f"model.layers.{layer}."
        if layer > 0:
            w[p + "attn_norm.weight"] = torch.ones(h)
        w[p + "attn.Wqkv.weight"] = tn((3 * h, h), std)
        w[p + "attn.Wo.weight"] = tn((h, h), std_out)
        w[p + "mlp_norm.weight"] = torch.ones(h)
        w[p + "mlp.Wi.weight"] = tn((2 * i, h), std)
        w[p + "mlp.Wo.weight"] = tn((h, i), std_out)
    w["model.final_norm.weight"] = torch.ones(h)
    w["head.dense.weight"] = tn((h, h), std_out)
    w["head.norm.weight"] = torch.ones(h)
    w["classifier.weight"] = tn((cfg.get("num_labels", 2), h), 1.0 / math.sqrt(h))
    w["classifier.bias"] = torch.zeros(cfg.get("num_labels", 2))
    for t in w.values():
        t.requires_grad_(True)
    return w


def collate(ids, labels, idx):
    s = max(len(ids[i]) for i in idx)
    x = torch.zeros((len(idx), s), dtype=torch.int64)
    m = torch.zeros((len(idx), s), dtype=torch.int64)
    for r, i in enumerate(idx):
        x[r, :len(ids[i])] = torch.tensor(ids[i], dtype=torch.int64)
        m[r, :len(ids[i])] = 1
    return x, m, torch.tensor([labels[i] for i in idx], dtype=torch.int64), sum(len(ids[i]) for i in idx)


def train(cfg, w, d, ids_key, labels_key, plan_key, bf16):
    ids, labels, plan = d[ids_key], d[labels_key], d[plan_key]
    decay = [t for k, t in w.items() if not ("norm" in k or k.endswith(".bias"))]
    no_decay = [t for k, t in w.items() if "norm" in k or k.endswith(".bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": d["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=d["lr"])
    total = len(plan)
    warm = math.ceil(d["warmup_ratio"] * total)
    params = list(w.values())
    tokens = 0
    loss_sum = 0.0
    t0 = time.perf_counter()
    for step, idx in enumerate(plan):
        x, m, y, real = collate(ids, labels, idx)
        lr = d["lr"] * (step / max(1, warm) if step < warm else max(0.0, (total - step) / max(1, total - warm)))
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = hf_reference.forward(cfg, w, x, m)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        loss_sum += loss.item() * len(idx)
        torch.nn.utils.clip_grad_norm_(params, d["max_grad_norm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += real
    return tokens, time.perf_counter() - t0, loss_sum / sum(len(i) for i in plan)


def evaluate(cfg, w, ids, labels, batch, bf16):
    n = len(ids)
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, batch):
            idx = list(range(start, min(n, start + batch)))
            x, m, y, _ = collate(ids, labels, idx)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = hf_reference.forward(cfg, w, x, m)
            logits = logits.float()
            F.cross_entropy(logits, y, reduction="sum").item()
            logits.argmax(1).tolist()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mode", default="both", choices=["train", "eval", "both"])
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    d = json.load(open(a.data))
    cfg = d["config"]
    bf16 = a.precision == "bf16"
    torch.manual_seed(42)
    w = init_weights(cfg, None)
    out = {"impl": "python", "precision": a.precision, "threads": torch.get_num_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
           "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", ""), "torch_version": torch.__version__}
    batch = len(d["train_plan"][0])
    if a.mode != "eval":
        if d["warm_plan"]:
            train(cfg, w, d, "warm_ids", "warm_labels", "warm_plan", bf16)
        c0 = cpu_s()
        tokens, wall, loss = train(cfg, w, d, "train_ids", "train_labels", "train_plan", bf16)
        out.update(train_tokens_per_s=tokens / wall, train_tokens=tokens, train_wall_s=wall,
                   train_cpu_s=cpu_s() - c0, train_final_loss=loss)
    if a.mode != "train":
        evaluate(cfg, w, d["eval_ids"][:batch], d["eval_labels"][:batch], batch, bf16)
        c0 = cpu_s()
        t0 = time.perf_counter()
        out["eval_samples_per_s"] = evaluate(cfg, w, d["eval_ids"], d["eval_labels"], batch, bf16)
        out["eval_wall_s"] = time.perf_counter() - t0
        out["eval_cpu_s"] = cpu_s() - c0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
