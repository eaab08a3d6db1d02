#!/usr/bin/python3
"""Independent reference for ModernBertForSequenceClassification's eager forward (HF modeling_modernbert.py
semantics), written against PyTorch's Python API so the C++ encoder can be checked against a second
implementation. Writes the golden logits the C++ test compares with.

Also ModernBertForMaskedLM's forward (head -> decoder tied to the token embeddings, plus decoder.bias).

Usage (Debian's python3-torch; `python3` on PATH may be a pyenv without torch):
  /usr/bin/python3 tests/model/hf_reference.py golden CHECKPOINT_DIR INPUTS_JSON OUT_JSON
      INPUTS_JSON holds {"input_ids": [[...]], "attention_mask": [[...]]}; OUT_JSON gets them plus "logits".
  /usr/bin/python3 tests/model/hf_reference.py fixture DIR
      writes a random 3-layer checkpoint (window 4, global every 3, mean pooling) made here, not by our C++.
  /usr/bin/python3 tests/model/hf_reference.py mlm-fixture DIR
      the same encoder shape as a ModernBertForMaskedLM checkpoint, written as HF's save_pretrained does
      (no decoder.weight: it is tied to model.embeddings.tok_embeddings.weight).
  /usr/bin/python3 tests/model/hf_reference.py mlm-golden CHECKPOINT_DIR INPUTS_JSON OUT_JSON MASK_ID TOP_K
      OUT_JSON gets, per row, every MASK_ID position with the top-k token ids and their logits, and the
      full logit rows at those positions ("mask_logits").
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[entry["dtype"]])
        out[name] = t.reshape(entry["shape"]).to(torch.float32)
    return out


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def act(x, name):
    if name == "gelu":
        return F.gelu(x)
    if name in ("gelu_pytorch_tanh", "gelu_new"):
        return F.gelu(x, approximate="tanh")
    if name == "silu":
        return F.silu(x)
    return F.relu(x)


def rope(position_ids, dim, base):
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    freqs = (inv[None, :, None] @ position_ids[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def encoder(cfg, w, input_ids, attention_mask):
    eps = cfg.get("norm_eps", cfg.get("layer_norm_eps", 1e-5))
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    hd = hidden // heads
    n_layers = cfg["num_hidden_layers"]
    every = cfg.get("global_attn_every_n_layers", 3)
    window = cfg.get("local_attention", 128)
    ids = cfg.get("greenknobs_layer_ids", list(range(n_layers)))
    pooling = cfg.get("classifier_pooling", "cls")
    hact = cfg.get("hidden_activation", "gelu")
    cact = cfg.get("classifier_activation", "gelu")
    g = lambda name: w.get(name)

    bs, seq = input_ids.shape
    x = w["model.embeddings.tok_embeddings.weight"][input_ids]
    x = layer_norm(x, g("model.embeddings.norm.weight"), g("model.embeddings.norm.bias"), eps)

    # _prepare_4d_attention_mask: (1 - mask) * finfo.min, expanded to [B, 1, S, S].
    minv = torch.finfo(torch.float32).min
    m = attention_mask[:, None, None, :].expand(bs, 1, seq, seq).to(torch.float32)
    global_mask = (1.0 - m).masked_fill((1.0 - m).bool(), minv)
    rows = torch.arange(seq).unsqueeze(0)
    distance = torch.abs(rows - rows.T)
    inside = (distance <= window // 2)[None, None]
    sliding_mask = global_mask.masked_fill(inside.logical_not(), minv)

    pos = torch.arange(seq).unsqueeze(0)
    cos_g, sin_g = rope(pos, hd, cfg.get("global_rope_theta", 160000.0))
    cos_l, sin_l = rope(pos, hd, cfg.get("local_rope_theta", 10000.0))

    for i in range(n_layers):
        p = f"model.layers.{i}."
        is_global = ids[i] % every == 0
        h = x
        if g(p + "attn_norm.weight") is not None:
            h = layer_norm(h, g(p + "attn_norm.weight"), g(p + "attn_norm.bias"), eps)
        qkv = F.linear(h, w[p + "attn.Wqkv.weight"], g(p + "attn.Wqkv.bias"))
        qkv = qkv.view(bs, -1, 3, heads, hd)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)
        cos, sin = (cos_g, sin_g) if is_global else (cos_l, sin_l)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5
        scores = scores + (global_mask if is_global else sliding_mask)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32)
        o = torch.matmul(probs, v).transpose(1, 2).contiguous().view(bs, -1, hidden)
        x = x + F.linear(o, w[p + "attn.Wo.weight"], g(p + "attn.Wo.bias"))
        h = layer_norm(x, w[p + "mlp_norm.weight"], g(p + "mlp_norm.bias"), eps)
        inp, gate = F.linear(h, w[p + "mlp.Wi.weight"], g(p + "mlp.Wi.bias")).chunk(2, dim=-1)
        x = x + F.linear(act(inp, hact) * gate, w[p + "mlp.Wo.weight"], g(p + "mlp.Wo.bias"))
    return layer_norm(x, w["model.final_norm.weight"], g("model.final_norm.bias"), eps)


def forward(cfg, w, input_ids, attention_mask):
    eps = cfg.get("norm_eps", cfg.get("layer_norm_eps", 1e-5))
    pooling = cfg.get("classifier_pooling", "cls")
    cact = cfg.get("classifier_activation", "gelu")
    g = lambda name: w.get(name)
    x = encoder(cfg, w, input_ids, attention_mask)
    if pooling == "cls":
        pooled = x[:, 0]
    else:
        am = attention_mask.to(torch.float32)
        pooled = (x * am.unsqueeze(-1)).sum(dim=1) / am.sum(dim=1, keepdim=True)
    h = act(F.linear(pooled, w["head.dense.weight"], g("head.dense.bias")), cact)
    h = layer_norm(h, w["head.norm.weight"], g("head.norm.bias"), eps)
    return F.linear(h, w["classifier.weight"], w["classifier.bias"])


def mlm_logits(cfg, w, input_ids, attention_mask):
    """[B, S, vocab]: HF ModernBertForMaskedLM without sparse prediction."""
    eps = cfg.get("norm_eps", cfg.get("layer_norm_eps", 1e-5))
    cact = cfg.get("classifier_activation", "gelu")
    g = lambda name: w.get(name)
    x = encoder(cfg, w, input_ids, attention_mask)
    h = act(F.linear(x, w["head.dense.weight"], g("head.dense.bias")), cact)
    h = layer_norm(h, w["head.norm.weight"], g("head.norm.bias"), eps)
    decoder = w.get("decoder.weight", w["model.embeddings.tok_embeddings.weight"])
    return F.linear(h, decoder, g("decoder.bias"))


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        # No numpy here: go through a uint8 view (little-endian host).
        b = bytes(t.contiguous().to(torch.float32).view(torch.uint8).flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    head = json.dumps(header).encode()
    head += b" " * ((8 - (8 + len(head)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def make_fixture(out_dir):
    cfg = {"architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
           "vocab_size": 64, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 3,
           "num_attention_heads": 2, "local_attention": 4, "global_attn_every_n_layers": 3,
           "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "pad_token_id": 0,
           "classifier_pooling": "mean", "num_labels": 2, "norm_eps": 1e-5}
    torch.manual_seed(1234)
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    w = {"model.embeddings.tok_embeddings.weight": torch.randn(v, h),
         "model.embeddings.norm.weight": 1 + 0.1 * torch.randn(h)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        if layer > 0:
            w[p + "attn_norm.weight"] = 1 + 0.1 * torch.randn(h)
        w[p + "attn.Wqkv.weight"] = 0.3 * torch.randn(3 * h, h)
        w[p + "attn.Wo.weight"] = 0.3 * torch.randn(h, h)
        w[p + "mlp_norm.weight"] = 1 + 0.1 * torch.randn(h)
        w[p + "mlp.Wi.weight"] = 0.3 * torch.randn(2 * i, h)
        w[p + "mlp.Wo.weight"] = 0.3 * torch.randn(h, i)
    w["model.final_norm.weight"] = 1 + 0.1 * torch.randn(h)
    w["head.dense.weight"] = 0.3 * torch.randn(h, h)
    w["head.norm.weight"] = 1 + 0.1 * torch.randn(h)
    w["classifier.weight"] = 0.3 * torch.randn(2, h)
    w["classifier.bias"] = 0.1 * torch.randn(2)
    json.dump(cfg, open(f"{out_dir}/config.json", "w"), indent=1)
    write_safetensors(f"{out_dir}/model.safetensors", w)


def make_mlm_fixture(out_dir):
    cfg = {"architectures": ["ModernBertForMaskedLM"], "model_type": "modernbert",
           "vocab_size": 64, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 3,
           "num_attention_heads": 2, "local_attention": 4, "global_attn_every_n_layers": 3,
           "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "pad_token_id": 0,
           "norm_eps": 1e-5, "decoder_bias": True, "tie_word_embeddings": True}
    torch.manual_seed(4321)
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    w = {"model.embeddings.tok_embeddings.weight": torch.randn(v, h),
         "model.embeddings.norm.weight": 1 + 0.1 * torch.randn(h)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        if layer > 0:
            w[p + "attn_norm.weight"] = 1 + 0.1 * torch.randn(h)
        w[p + "attn.Wqkv.weight"] = 0.3 * torch.randn(3 * h, h)
        w[p + "attn.Wo.weight"] = 0.3 * torch.randn(h, h)
        w[p + "mlp_norm.weight"] = 1 + 0.1 * torch.randn(h)
        w[p + "mlp.Wi.weight"] = 0.3 * torch.randn(2 * i, h)
        w[p + "mlp.Wo.weight"] = 0.3 * torch.randn(h, i)
    w["model.final_norm.weight"] = 1 + 0.1 * torch.randn(h)
    w["head.dense.weight"] = 0.3 * torch.randn(h, h)
    w["head.norm.weight"] = 1 + 0.1 * torch.randn(h)
    w["decoder.bias"] = 0.1 * torch.randn(v)
    json.dump(cfg, open(f"{out_dir}/config.json", "w"), indent=1)
    write_safetensors(f"{out_dir}/model.safetensors", w)


def mlm_golden(ckpt, inputs_path, out_path, mask_id, top_k):
    cfg = json.load(open(f"{ckpt}/config.json"))
    w = read_safetensors(f"{ckpt}/model.safetensors")
    inputs = json.load(open(inputs_path))
    ids = torch.tensor(inputs["input_ids"], dtype=torch.int64)
    mask = torch.tensor(inputs["attention_mask"], dtype=torch.int64)
    with torch.no_grad():
        logits = mlm_logits(cfg, w, ids, mask)
    rows = []
    for b in range(ids.shape[0]):
        masks = []
        for pos in range(ids.shape[1]):
            if int(ids[b, pos]) == mask_id and int(mask[b, pos]) == 1:
                top = torch.topk(logits[b, pos], top_k)
                masks.append({"position": pos, "ids": top.indices.tolist(), "logits": top.values.tolist(),
                              "all_logits": logits[b, pos].tolist()})
        rows.append({"masks": masks})
    inputs["mask_id"] = mask_id
    inputs["top_k"] = top_k
    inputs["outputs"] = rows
    json.dump(inputs, open(out_path, "w"), indent=1)


def main():
    if sys.argv[1] == "fixture":
        make_fixture(sys.argv[2])
        return
    if sys.argv[1] == "mlm-fixture":
        make_mlm_fixture(sys.argv[2])
        return
    if sys.argv[1] == "mlm-golden":
        mlm_golden(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
        return
    ckpt, inputs_path, out_path = sys.argv[2:5]
    cfg = json.load(open(f"{ckpt}/config.json"))
    w = read_safetensors(f"{ckpt}/model.safetensors")
    inputs = json.load(open(inputs_path))
    ids = torch.tensor(inputs["input_ids"], dtype=torch.int64)
    mask = torch.tensor(inputs["attention_mask"], dtype=torch.int64)
    with torch.no_grad():
        logits = forward(cfg, w, ids, mask)
    inputs["logits"] = logits.tolist()
    json.dump(inputs, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main()
