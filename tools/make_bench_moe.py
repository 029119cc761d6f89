#!/usr/bin/env python3
"""Write the random mixture-of-experts GGUF files `make bench-llm` times (issue 5).

A Mixtral-style `llama` model with experts (`llama.expert_count`), random weights (speed does not
depend on them), SmolLM2's tokenizer copied from models/SmolLM2-135M-Instruct.Q4_1.gguf so prompts
tokenize as text does:

  8 layers, embedding 512, 8 heads (4 KV heads), 8 experts of width 1024 with 2 used per token,
  vocabulary 49 152: 161 M parameters (101 M of them in experts).

The float32 file is written with gguf-py, then quantized by llama.cpp itself (llama_model_quantize
through llama-cpp-python) to Q4_0 and Q4_K_S, so the files are exactly what llama.cpp would make.

Usage: .venv/bin/python tools/make_bench_moe.py OUT_DIR
"""
import os
import sys

import gguf
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
LAYERS, EMBD, HEADS, KV_HEADS, EXPERTS, USED, EXPERT_FF = 8, 512, 8, 4, 8, 2, 1024


def write_f32(path):
    smol = gguf.GGUFReader(SMOL)
    tokens = smol.fields["tokenizer.ggml.tokens"].contents()
    merges = smol.fields["tokenizer.ggml.merges"].contents()
    types = smol.fields["tokenizer.ggml.token_type"].contents()
    vocab = len(tokens)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("hark-bench-moe")
    w.add_uint32("llama.block_count", LAYERS)
    w.add_uint32("llama.context_length", 2048)
    w.add_uint32("llama.embedding_length", EMBD)
    w.add_uint32("llama.feed_forward_length", EXPERT_FF)
    w.add_uint32("llama.attention.head_count", HEADS)
    w.add_uint32("llama.attention.head_count_kv", KV_HEADS)
    w.add_uint32("llama.expert_count", EXPERTS)
    w.add_uint32("llama.expert_used_count", USED)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_uint32("llama.rope.dimension_count", EMBD // HEADS)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.vocab_size", vocab)
    w.add_uint32("general.file_type", 0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([int(t) for t in types])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    rng = np.random.default_rng(5)

    def rand(*shape, scale):
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)

    kv = EMBD // HEADS * KV_HEADS
    w.add_tensor("token_embd.weight", rand(vocab, EMBD, scale=0.02))
    w.add_tensor("output_norm.weight", np.ones(EMBD, dtype=np.float32))
    w.add_tensor("output.weight", rand(vocab, EMBD, scale=0.02))
    for l in range(LAYERS):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", np.ones(EMBD, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", rand(EMBD, EMBD, scale=0.04))
        w.add_tensor(p + "attn_k.weight", rand(kv, EMBD, scale=0.04))
        w.add_tensor(p + "attn_v.weight", rand(kv, EMBD, scale=0.04))
        w.add_tensor(p + "attn_output.weight", rand(EMBD, EMBD, scale=0.04))
        w.add_tensor(p + "ffn_norm.weight", np.ones(EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_gate_inp.weight", rand(EXPERTS, EMBD, scale=0.1))
        # numpy shape (experts, rows, columns) is GGUF [columns, rows, experts].
        w.add_tensor(p + "ffn_gate_exps.weight", rand(EXPERTS, EXPERT_FF, EMBD, scale=0.04))
        w.add_tensor(p + "ffn_up_exps.weight", rand(EXPERTS, EXPERT_FF, EMBD, scale=0.04))
        w.add_tensor(p + "ffn_down_exps.weight", rand(EXPERTS, EMBD, EXPERT_FF, scale=0.03))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src, dst, ftype):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        sys.exit(f"make_bench_moe: llama_model_quantize {dst} failed ({rc})")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench-llm")
    os.makedirs(out, exist_ok=True)
    f32 = os.path.join(out, "moe-161m-f32.gguf")
    if not os.path.exists(f32):
        write_f32(f32 + ".part")
        os.replace(f32 + ".part", f32)
    import llama_cpp
    for name, ftype in (("q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0), ("q4_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_S)):
        dst = os.path.join(out, f"moe-161m-{name}.gguf")
        if not os.path.exists(dst):
            quantize(f32, dst + ".part", ftype)
            os.replace(dst + ".part", dst)
        print(f"make_bench_moe: {dst}")


if __name__ == "__main__":
    main()
