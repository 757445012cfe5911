#!/usr/bin/python3
"""Reference fixtures for roads' Hugging Face model directories (model/hf.go).

Builds tiny random GPT-2 and GPT-NeoX models in plain PyTorch, written from
the architectures as transformers' modelling code defines them (GPT-2:
Conv1D weights [in, out], gelu_new, tied head, layer_norm_epsilon; GPT-NeoX:
fused query_key_value laid out head by head, rotary embeddings on rotary_pct
of each head in the rotate_half layout, parallel residual, exact GELU, untied
embed_out), saves each as an HF directory (config.json + model.safetensors,
one BF16 copy, one sharded copy) and writes expected.json: for every
directory the logits of a few sequences, the per-token log-probs of their
completions, and, for the sequence classifiers, the reward score at the last
token.

Second direction: `make_fixtures.py --read DIR...` reads directories roads
wrote (model/testdata/hf/roads_*) with the same code and writes
roads_expected.json, which the Go test compares with roads' own numbers.

Run by hand from the repository root (CI uses only the committed files):
    apt-get install -y python3-torch libopenblas0-pthread
    /usr/bin/python3 model/testdata/hf/make_fixtures.py
    ROADS_WRITE_FIXTURE=1 go test ./model -run TestHFRoadsDirectories   # writes roads_*
    /usr/bin/python3 model/testdata/hf/make_fixtures.py --read model/testdata/hf/roads_*
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SEQS = [  # (prompt, completion) token ids
    ([1, 2, 3], [4, 5, 6, 7]),
    ([9], [8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12]),
    ([20, 21, 22, 23, 24, 25], [26]),
    ([30, 31], [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 10, 13, 14, 15, 16, 17, 18, 19, 29, 28]),
    ([5, 6, 7], [8, 49, 49]),  # ends in GPT-2's pad id: a classifier scores the last non-pad token
]

# ---------------------------------------------------------------- safetensors

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
TD = {v: k for k, v in DT.items()}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.contiguous().numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        s, t = e["data_offsets"]
        raw = bytearray(data[s:t])
        if e["dtype"] == "BF16":
            x = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            x = torch.frombuffer(raw, dtype=TD[e["dtype"]])
        out[name] = x.reshape(e["shape"]).float()
    return out


def read_dir(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        w = {}
        for shard in sorted(set(json.load(open(idx))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, shard)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, w

# --------------------------------------------------------------- the models


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def causal_attention(q, k, v):  # [H, T, hd]
    T, hd = q.shape[1], q.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(s, -1) @ v


def gpt2_hidden(cfg, w, ids):
    p = "transformer." if "transformer.wte.weight" in w else ""
    D, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg["layer_norm_epsilon"]
    T = len(ids)
    act = torch.nn.functional.gelu if cfg.get("activation_function") == "gelu" else gelu_new
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        q_ = f"{p}h.{i}."
        a = layer_norm(h, w[q_ + "ln_1.weight"], w[q_ + "ln_1.bias"], eps)
        qkv = a @ w[q_ + "attn.c_attn.weight"] + w[q_ + "attn.c_attn.bias"]  # Conv1D: x W + b, W [in, out]
        q, k, v = qkv.split(D, -1)
        heads = lambda x: x.view(T, H, D // H).transpose(0, 1)
        o = causal_attention(heads(q), heads(k), heads(v)).transpose(0, 1).reshape(T, D)
        h = h + o @ w[q_ + "attn.c_proj.weight"] + w[q_ + "attn.c_proj.bias"]
        m = layer_norm(h, w[q_ + "ln_2.weight"], w[q_ + "ln_2.bias"], eps)
        h = h + act(m @ w[q_ + "mlp.c_fc.weight"] + w[q_ + "mlp.c_fc.bias"]) @ w[q_ + "mlp.c_proj.weight"] + w[q_ + "mlp.c_proj.bias"]
    return layer_norm(h, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps), w[p + "wte.weight"]


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), -1)


def neox_hidden(cfg, w, ids):
    p = "gpt_neox."
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    rd = int(hd * cfg.get("rotary_pct", 0.25))
    base = cfg.get("rotary_emb_base", 10000)
    eps = cfg["layer_norm_eps"]
    T = len(ids)
    act = gelu_new if cfg.get("hidden_act") == "gelu_new" else torch.nn.functional.gelu
    inv_freq = 1.0 / (base ** (torch.arange(0, rd, 2, dtype=torch.int64).float() / rd))
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()  # [T, rd]
    h = w[p + "embed_in.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        q_ = f"{p}layers.{i}."
        a = layer_norm(h, w[q_ + "input_layernorm.weight"], w[q_ + "input_layernorm.bias"], eps)
        qkv = a @ w[q_ + "attention.query_key_value.weight"].T + w[q_ + "attention.query_key_value.bias"]
        qkv = qkv.view(T, H, 3 * hd).transpose(0, 1)  # [H, T, 3hd]: per head q | k | v
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        def rope(x):
            xr, xp = x[..., :rd], x[..., rd:]
            return torch.cat((xr * cos + rotate_half(xr) * sin, xp), -1)
        o = causal_attention(rope(q), rope(k), v).transpose(0, 1).reshape(T, D)
        o = o @ w[q_ + "attention.dense.weight"].T + w[q_ + "attention.dense.bias"]
        mlp = lambda x: act(x @ w[q_ + "mlp.dense_h_to_4h.weight"].T + w[q_ + "mlp.dense_h_to_4h.bias"]) @ w[q_ + "mlp.dense_4h_to_h.weight"].T + w[q_ + "mlp.dense_4h_to_h.bias"]
        if cfg.get("use_parallel_residual", True):
            h = h + o + mlp(layer_norm(h, w[q_ + "post_attention_layernorm.weight"], w[q_ + "post_attention_layernorm.bias"], eps))
        else:
            h = h + o
            h = h + mlp(layer_norm(h, w[q_ + "post_attention_layernorm.weight"], w[q_ + "post_attention_layernorm.bias"], eps))
    head = w[p + "embed_in.weight"] if cfg.get("tie_word_embeddings") else w.get("embed_out.weight")
    return layer_norm(h, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], eps), head


def evaluate(cfg, w):
    hidden = gpt2_hidden if cfg["model_type"] == "gpt2" else neox_hidden
    scalar = any(a.endswith("ForSequenceClassification") for a in cfg.get("architectures", []))
    out = []
    for prompt, completion in SEQS:
        ids = prompt + completion
        h, head = hidden(cfg, w, torch.tensor(ids))
        if scalar:  # score at the last token that is not pad_token_id (transformers' rule); no bias
            last, pad = len(ids) - 1, cfg.get("pad_token_id")
            while pad is not None and last > 0 and ids[last] == pad:
                last -= 1
            out.append({"tokens": ids, "prompt_len": len(prompt), "score": float((h[last] @ w["score.weight"].T)[0])})
            continue
        logits = h @ head.T
        logp = torch.log_softmax(logits.double(), -1)
        lp = [float(logp[t - 1, ids[t]]) for t in range(len(prompt), len(ids))]
        out.append({"tokens": ids, "prompt_len": len(prompt), "logits": [[float(x) for x in row] for row in logits],
                    "completion_logprobs": lp, "completion_logprob_sum": sum(lp)})
    return out

# ------------------------------------------------------------ random models


def rand(*shape, std=0.2, g):
    return torch.randn(*shape, generator=g) * std


def gpt2_weights(cfg, g, scalar):
    D, F, V, P = cfg["n_embd"], cfg["n_inner"], cfg["vocab_size"], cfg["n_positions"]
    w = {"transformer.wte.weight": rand(V, D, g=g), "transformer.wpe.weight": rand(P, D, g=g)}
    for i in range(cfg["n_layer"]):
        q = f"transformer.h.{i}."
        w.update({q + "ln_1.weight": 1 + rand(D, std=0.1, g=g), q + "ln_1.bias": rand(D, std=0.1, g=g),
                  q + "attn.c_attn.weight": rand(D, 3 * D, g=g), q + "attn.c_attn.bias": rand(3 * D, std=0.1, g=g),
                  q + "attn.c_proj.weight": rand(D, D, g=g), q + "attn.c_proj.bias": rand(D, std=0.1, g=g),
                  q + "ln_2.weight": 1 + rand(D, std=0.1, g=g), q + "ln_2.bias": rand(D, std=0.1, g=g),
                  q + "mlp.c_fc.weight": rand(D, F, g=g), q + "mlp.c_fc.bias": rand(F, std=0.1, g=g),
                  q + "mlp.c_proj.weight": rand(F, D, g=g), q + "mlp.c_proj.bias": rand(D, std=0.1, g=g)})
        # causal-mask buffer older transformers versions saved: roads must ignore it
        w[q + "attn.bias"] = torch.tril(torch.ones(1, 1, P, P))
    w.update({"transformer.ln_f.weight": 1 + rand(D, std=0.1, g=g), "transformer.ln_f.bias": rand(D, std=0.1, g=g)})
    if scalar:
        w["score.weight"] = rand(1, D, g=g)
    return w


def neox_weights(cfg, g, scalar):
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    w = {"gpt_neox.embed_in.weight": rand(V, D, g=g)}
    for i in range(cfg["num_hidden_layers"]):
        q = f"gpt_neox.layers.{i}."
        w.update({q + "input_layernorm.weight": 1 + rand(D, std=0.1, g=g), q + "input_layernorm.bias": rand(D, std=0.1, g=g),
                  q + "post_attention_layernorm.weight": 1 + rand(D, std=0.1, g=g), q + "post_attention_layernorm.bias": rand(D, std=0.1, g=g),
                  q + "attention.query_key_value.weight": rand(3 * D, D, g=g), q + "attention.query_key_value.bias": rand(3 * D, std=0.1, g=g),
                  q + "attention.dense.weight": rand(D, D, g=g), q + "attention.dense.bias": rand(D, std=0.1, g=g),
                  q + "mlp.dense_h_to_4h.weight": rand(F, D, g=g), q + "mlp.dense_h_to_4h.bias": rand(F, std=0.1, g=g),
                  q + "mlp.dense_4h_to_h.weight": rand(D, F, g=g), q + "mlp.dense_4h_to_h.bias": rand(D, std=0.1, g=g)})
        w[q + "attention.rotary_emb.inv_freq"] = torch.zeros(4)  # a buffer some versions saved
    w.update({"gpt_neox.final_layer_norm.weight": 1 + rand(D, std=0.1, g=g), "gpt_neox.final_layer_norm.bias": rand(D, std=0.1, g=g)})
    if scalar:
        w["score.weight"] = rand(1, D, g=g)
    else:
        w["embed_out.weight"] = rand(V, D, g=g)
    return w


def gpt2_config(arch):
    return {"model_type": "gpt2", "architectures": [arch], "vocab_size": 50, "n_positions": 32, "n_ctx": 32,
            "n_embd": 16, "n_layer": 2, "n_head": 2, "n_inner": 40, "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "bos_token_id": 49, "eos_token_id": 49,
            "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "scale_attn_weights": True,
            "summary_type": "cls_index", "use_cache": True, "transformers_version": "4.46.0", "torch_dtype": "float32"}


def neox_config(arch, parallel=True, pct=0.5, base=10000):
    return {"model_type": "gpt_neox", "architectures": [arch], "vocab_size": 50, "max_position_embeddings": 32,
            "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 40,
            "hidden_act": "gelu", "rotary_pct": pct, "rotary_emb_base": base, "use_parallel_residual": parallel,
            "attention_bias": True, "layer_norm_eps": 1e-5, "initializer_range": 0.02, "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 0, "attention_dropout": 0.0, "hidden_dropout": 0.0,
            "rope_scaling": None, "use_cache": True, "transformers_version": "4.46.0", "torch_dtype": "float32"}


def save_dir(name, cfg, w, dtype=torch.float32, shards=1):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    w = {k: v.to(dtype) for k, v in w.items()}
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), w)
    else:
        names = list(w)
        per = (len(names) + shards - 1) // shards
        wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {k: w[k] for k in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(d, fn), part)
            wm.update({k: fn for k in part})
        json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for v in w.values())}, "weight_map": wm},
                  open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)
    return {k: v.float() for k, v in w.items()}  # what the file holds, widened


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--read":
        out = {}
        for d in sys.argv[2:]:
            cfg, w = read_dir(d)
            out[os.path.basename(os.path.normpath(d))] = evaluate(cfg, w)
        json.dump(out, open(os.path.join(HERE, "roads_expected.json"), "w"), indent=1)
        print("wrote roads_expected.json for", ", ".join(out))
        return
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(20261203)
    out = {}
    models = [
        ("gpt2_lm", gpt2_config("GPT2LMHeadModel"), gpt2_weights, False, torch.float32, 1),
        ("gpt2_lm_bf16", gpt2_config("GPT2LMHeadModel"), gpt2_weights, False, torch.bfloat16, 1),
        ("gpt2_rm", gpt2_config("GPT2ForSequenceClassification") | {"num_labels": 1, "pad_token_id": 49}, gpt2_weights, True, torch.float32, 1),
        ("neox_lm", neox_config("GPTNeoXForCausalLM"), neox_weights, False, torch.float32, 2),
        ("neox_lm_f16_sequential", neox_config("GPTNeoXForCausalLM", parallel=False, pct=1.0, base=100), neox_weights, False, torch.float16, 1),
        ("neox_rm", neox_config("GPTNeoXForSequenceClassification") | {"num_labels": 1}, neox_weights, True, torch.float32, 1),
    ]
    for name, cfg, make, scalar, dtype, shards in models:
        w = save_dir(name, cfg, make(cfg, g, scalar), dtype, shards)
        out[name] = evaluate(cfg, w)
    json.dump({"torch_version": torch.__version__, "models": out}, open(os.path.join(HERE, "expected.json"), "w"), indent=1)
    print("wrote", ", ".join(out), "and expected.json with torch", torch.__version__)


if __name__ == "__main__":
    main()
