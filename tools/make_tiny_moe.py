#!/usr/bin/env python3
"""Tiny random mixture-of-experts models of every MoE architecture Hark runs, written to GGUF, with
the reference logits Hark's tests compare against (issue 5).

For each of llama (Mixtral-style experts), qwen2moe, qwen3moe, olmoe and granitemoe:
  1. transformers builds the model from a small config with seeded random weights (norm weights
     random too, so they matter), in float32 on the CPU;
  2. this script writes it to Tests/HarkLLMTests/Fixtures/tiny-<arch>.gguf with gguf-py, float32,
     with the tensor names, shapes and q/k permutation llama.cpp's converter uses, and a 128-token
     byte-level vocabulary;
  3. transformers' float32 logits at every position of 3 prompts go into tiny-moe.json;
  4. (second phase, in the llama.cpp venv) llama.cpp loads each file and its logits for the same
     prompts go into tiny-moe.json too: the files are standard GGUF.

Usage (make tiny-moe-fixtures):
  .venv-torch/bin/python tools/make_tiny_moe.py torch     # steps 1-3 (torch + transformers)
  .venv/bin/python tools/make_tiny_moe.py llama           # step 4 (llama-cpp-python)
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HarkLLMTests", "Fixtures")
JSON = os.path.join(OUT, "tiny-moe.json")
VOCAB, HIDDEN, LAYERS, HEADS, EXPERTS, USED = 128, 64, 2, 4, 4, 2
PROMPTS = [[5, 17, 99, 3, 64, 127, 42], [1, 2, 3, 4, 5, 6, 7], [120, 88, 10, 32, 77, 15, 60]]
ARCHS = ["llama", "qwen2moe", "qwen3moe", "olmoe", "granitemoe", "llama-swa"]
# llama-swa: the llama model with `llama.attention.sliding_window` = 3 (Mistral-style sliding-window
# attention; the prompts are longer than the window). llama.cpp ignores the key for llama, so only
# transformers' logits are its reference.
WINDOW = 3


def byte_level_tokens():
    """GPT-2's printable character for each of bytes 0-127 (so '\\n' and ' ' have tokens)."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(VOCAB)]


def config(arch):
    import transformers as T
    if arch == "llama-swa":
        cfg = config("llama")
        cfg.sliding_window = WINDOW
        return cfg
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False,
                  bos_token_id=1, eos_token_id=2, pad_token_id=None, attn_implementation="eager")
    if arch == "llama":
        return T.MixtralConfig(intermediate_size=32, num_local_experts=EXPERTS, num_experts_per_tok=USED,
                               num_key_value_heads=2, rope_theta=10000.0, **common)
    if arch == "qwen2moe":
        return T.Qwen2MoeConfig(intermediate_size=48, moe_intermediate_size=32, shared_expert_intermediate_size=40,
                                num_experts=EXPERTS, num_experts_per_tok=USED, decoder_sparse_step=1, mlp_only_layers=[],
                                num_key_value_heads=2, norm_topk_prob=False, rope_theta=10000.0, **common)
    if arch == "qwen3moe":
        return T.Qwen3MoeConfig(intermediate_size=48, moe_intermediate_size=32, num_experts=EXPERTS,
                                num_experts_per_tok=USED, head_dim=16, decoder_sparse_step=1, mlp_only_layers=[],
                                norm_topk_prob=True, num_key_value_heads=2, rope_theta=10000.0, **common)
    if arch == "olmoe":
        # llama.cpp's olmoe reads attn_k_norm over the full width: as many KV heads as heads.
        return T.OlmoeConfig(intermediate_size=32, num_experts=EXPERTS, num_experts_per_tok=USED,
                             num_key_value_heads=HEADS, norm_topk_prob=False, rope_theta=10000.0, **common)
    if arch == "granitemoe":
        return T.GraniteMoeConfig(intermediate_size=32, num_local_experts=EXPERTS, num_experts_per_tok=USED,
                                  num_key_value_heads=2, embedding_multiplier=12.0, residual_multiplier=0.22,
                                  attention_multiplier=0.015625, logits_scaling=6.0, rope_theta=10000.0, **common)
    raise ValueError(arch)


def permute(w, heads):
    """llama.cpp's converter reorders q and k rows for llama's adjacent-pair RoPE."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(name, cfg, sd, path):
    import gguf
    arch = "llama" if name == "llama-swa" else name
    w = gguf.GGUFWriter(path, arch)
    if name == "llama-swa":
        w.add_uint32("llama.attention.sliding_window", WINDOW)
    w.add_name(f"hark-tiny-{arch}")
    head = cfg.hidden_size // cfg.num_attention_heads if arch != "qwen3moe" else cfg.head_dim
    kv = cfg.num_key_value_heads
    ff = cfg.intermediate_size
    expert_ff = getattr(cfg, "moe_intermediate_size", None) or cfg.intermediate_size
    w.add_uint32(f"{arch}.block_count", LAYERS)
    w.add_uint32(f"{arch}.context_length", 256)
    w.add_uint32(f"{arch}.embedding_length", HIDDEN)
    w.add_uint32(f"{arch}.feed_forward_length", ff if arch in ("qwen2moe", "qwen3moe") else expert_ff)
    w.add_uint32(f"{arch}.attention.head_count", HEADS)
    w.add_uint32(f"{arch}.attention.head_count_kv", kv)
    w.add_uint32(f"{arch}.attention.key_length", head)
    w.add_uint32(f"{arch}.attention.value_length", head)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps)
    w.add_float32(f"{arch}.rope.freq_base", 10000.0)
    w.add_uint32(f"{arch}.rope.dimension_count", head)
    w.add_uint32(f"{arch}.expert_count", EXPERTS)
    w.add_uint32(f"{arch}.expert_used_count", USED)
    if arch in ("qwen2moe", "qwen3moe"):
        w.add_uint32(f"{arch}.expert_feed_forward_length", expert_ff)
    if arch == "qwen2moe":
        w.add_uint32(f"{arch}.expert_shared_feed_forward_length", cfg.shared_expert_intermediate_size)
    if arch == "granitemoe":
        w.add_float32(f"{arch}.embedding_scale", cfg.embedding_multiplier)
        w.add_float32(f"{arch}.residual_scale", cfg.residual_multiplier)
        w.add_float32(f"{arch}.attention.scale", cfg.attention_multiplier)
        w.add_float32(f"{arch}.logit_scale", cfg.logits_scaling)
    w.add_uint32("general.file_type", 0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(byte_level_tokens())
    w.add_token_types([1] * VOCAB)
    w.add_token_merges(["Ġ t"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    def t(name):
        return sd[name].detach().float().numpy().astype(np.float32)

    norm_rope = arch in ("llama", "granitemoe")
    w.add_tensor("token_embd.weight", t("model.embed_tokens.weight"))
    w.add_tensor("output_norm.weight", t("model.norm.weight"))
    w.add_tensor("output.weight", t("lm_head.weight"))
    for l in range(LAYERS):
        p, h = f"blk.{l}.", f"model.layers.{l}."
        a = h + "self_attn."
        q, k = t(a + "q_proj.weight"), t(a + "k_proj.weight")
        if norm_rope:
            q, k = permute(q, HEADS), permute(k, kv)
        w.add_tensor(p + "attn_norm.weight", t(h + "input_layernorm.weight"))
        w.add_tensor(p + "attn_q.weight", q)
        w.add_tensor(p + "attn_k.weight", k)
        w.add_tensor(p + "attn_v.weight", t(a + "v_proj.weight"))
        w.add_tensor(p + "attn_output.weight", t(a + "o_proj.weight"))
        if arch == "qwen2moe":
            for x in "qkv":
                w.add_tensor(p + f"attn_{x}.bias", t(a + f"{x}_proj.bias"))
        if arch in ("qwen3moe", "olmoe"):
            w.add_tensor(p + "attn_q_norm.weight", t(a + "q_norm.weight"))
            w.add_tensor(p + "attn_k_norm.weight", t(a + "k_norm.weight"))
        w.add_tensor(p + "ffn_norm.weight", t(h + "post_attention_layernorm.weight"))
        moe = h + ("block_sparse_moe." if arch == "granitemoe" else "mlp.")
        router = moe + ("router.weight" if arch == "granitemoe" else "gate.weight")
        w.add_tensor(p + "ffn_gate_inp.weight", t(router))
        gate_up, down = t(moe + "experts.gate_up_proj"), t(moe + "experts.down_proj")
        w.add_tensor(p + "ffn_gate_exps.weight", np.ascontiguousarray(gate_up[:, :expert_ff, :]))
        w.add_tensor(p + "ffn_up_exps.weight", np.ascontiguousarray(gate_up[:, expert_ff:, :]))
        w.add_tensor(p + "ffn_down_exps.weight", down)
        if arch == "qwen2moe":
            s = moe + "shared_expert."
            w.add_tensor(p + "ffn_gate_shexp.weight", t(s + "gate_proj.weight"))
            w.add_tensor(p + "ffn_up_shexp.weight", t(s + "up_proj.weight"))
            w.add_tensor(p + "ffn_down_shexp.weight", t(s + "down_proj.weight"))
            w.add_tensor(p + "ffn_gate_inp_shexp.weight", t(moe + "shared_expert_gate.weight").reshape(HIDDEN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def phase_torch():
    import torch
    import transformers as T
    out = {"transformers": T.__version__, "torch": torch.__version__, "prompts": PROMPTS, "models": {}}
    for i, arch in enumerate(ARCHS):
        torch.manual_seed(100 + i)
        cfg = config(arch)
        model = T.AutoModelForCausalLM.from_config(cfg).float().eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name:
                    p.copy_(1 + 0.2 * torch.randn_like(p))
                elif p.dim() >= 2:
                    p.copy_(0.08 * torch.randn_like(p))
                else:
                    p.copy_(0.05 * torch.randn_like(p))
        path = os.path.join(OUT, f"tiny-{arch}.gguf")
        write_gguf(arch, cfg, model.state_dict(), path)
        logits = []
        with torch.no_grad():
            for prompt in PROMPTS:
                logits.append(model(torch.tensor([prompt])).logits[0].float().tolist())
        out["models"][arch] = {"file": os.path.basename(path), "transformers": logits}
        print(f"make_tiny_moe: {arch}: {type(model).__name__} -> {path}")
    with open(JSON, "w") as f:
        json.dump(out, f, separators=(",", ":"))


def phase_llama():
    import llama_cpp
    with open(JSON) as f:
        out = json.load(f)
    out["llama_cpp_python"] = llama_cpp.__version__
    for arch, entry in out["models"].items():
        if arch == "llama-swa":
            continue
        llm = llama_cpp.Llama(model_path=os.path.join(OUT, entry["file"]), n_ctx=64, n_threads=1,
                              logits_all=True, verbose=False)
        logits = []
        for prompt in out["prompts"]:
            llm.reset()
            llm.eval(prompt)
            logits.append([[float(x) for x in llm.scores[i]] for i in range(len(prompt))])
        entry["llama_cpp"] = logits
        ref = np.array(entry["transformers"])
        diff = np.max(np.abs(np.array(logits) - ref)) / np.max(np.abs(ref))
        print(f"make_tiny_moe: {arch}: llama.cpp loads it; max |llama.cpp - transformers| / max |logit| = {diff:.2e}")
    with open(JSON, "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    {"torch": phase_torch, "llama": phase_llama}[sys.argv[1]]()
