#!/usr/bin/env python3
"""GGUF fixtures for HarkGGUF's tests, written and read by llama.cpp's own `gguf` package (gguf-py).

    .venv/bin/python tools/make_tiny_gguf.py            # writes Tests/HarkGGUFTests/Fixtures/
    .venv/bin/python tools/make_tiny_gguf.py --check    # rewrites in a temp dir, fails if different

(`make gguf-fixtures`; the outputs are committed and the tests never run Python.)

* ``tiny-llama.gguf`` (~14 KB): a 2-layer llama (embedding 32, 4 heads, 2 KV heads, feed-forward 32,
  16 tokens) with tensors in F32, F16, BF16, Q8_0, Q4_0 and Q4_1 quantized by gguf-py from seeded
  random values, a tokenizer (tokens, scores, token types, merges, special ids, a chat template),
  and ``hark.test.*`` keys of every GGUF value type, typed arrays and nested arrays.
* ``tiny-qwen3moe.gguf`` (~3 KB): a 1-layer qwen3moe (embedding 8, 2 heads, 1 KV head, key length 4,
  4 experts, 2 used, expert width 4) in F32/F16, data aligned to 64 (``general.alignment``).
* ``tiny_reference.json``: what gguf-py's GGUFReader reads back from both (the tensor table, the
  first bytes of each tensor's data), and ggml's type table (``GGML_QUANT_SIZES``).
* ``smollm2_reference.json``: the same for the real models/SmolLM2-135M-Instruct.Q4_1.gguf (make
  models): header, selected metadata, the tensor table's first entries and an FNV-1a 64 hash of all
  of it, and spot checks of tensor data (size, first and last 16 bytes, FNV-1a 64 of all bytes).

Hash: FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3) over the bytes, as hex.
"""
from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import json
import os
import sys
import tempfile

import numpy as np
import gguf
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T, GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "HarkGGUFTests", "Fixtures")
SMOLLM2 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def fnv1a64_np(data: np.ndarray) -> str:
    # The same hash, vectorised in chunks is not possible (it is sequential); tensors we hash are small.
    return fnv1a64(bytes(data))


def quantized(writer: gguf.GGUFWriter, name: str, values: np.ndarray, qtype: T) -> None:
    """Adds `values` (numpy shape = reversed ggml dims) as `qtype`, quantized by gguf-py."""
    if qtype == T.F32:
        writer.add_tensor(name, values.astype(np.float32))
    elif qtype == T.F16:
        writer.add_tensor(name, values.astype(np.float16))
    else:
        data = gguf.quants.quantize(values.astype(np.float32), qtype)
        writer.add_tensor(name, data, raw_dtype=qtype)


def tiny_llama(path: str) -> None:
    rng = np.random.default_rng(5)
    E, H, KV, HD, F, VOC, L = 32, 4, 2, 8, 32, 16, 2
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("hark tiny llama")
    w.add_block_count(L)
    w.add_context_length(128)
    w.add_embedding_length(E)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_rope_dimension_count(HD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOC)
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "a", "b", "ab", "é", "ü", "Ġturn", "Ġoff",
              "Ġthe", "Ġlight", "日本", "<0x0A>"]
    assert len(tokens) == VOC
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_scores([float(-i) for i in range(VOC)])
    w.add_token_types([3, 3, 3, 4, 4] + [1] * (VOC - 6) + [6])
    w.add_token_merges(["a b", "Ġ t", "Ġt urn"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}{{ ''.__class__ }}")
    # Every value type, typed arrays and nested arrays.
    w.add_uint8("hark.test.u8", 200)
    w.add_int8("hark.test.i8", -100)
    w.add_uint16("hark.test.u16", 60000)
    w.add_int16("hark.test.i16", -30000)
    w.add_uint32("hark.test.u32", 4_000_000_000)
    w.add_int32("hark.test.i32", -2_000_000_000)
    w.add_uint64("hark.test.u64", 18_000_000_000_000_000_000)
    w.add_int64("hark.test.i64", -9_000_000_000_000_000_000)
    w.add_float32("hark.test.f32", 1.5)
    w.add_float64("hark.test.f64", -2.25e300)
    w.add_bool("hark.test.bool", True)
    w.add_string("hark.test.string", "héllo, wörld")
    for vt, values in [(V.UINT8, [0, 255]), (V.INT8, [-128, 127]), (V.UINT16, [0, 65535]), (V.INT16, [-32768, 32767]),
                       (V.UINT32, [0, 4294967295]), (V.INT32, [-2147483648, 2147483647]),
                       (V.UINT64, [0, 18446744073709551615]), (V.INT64, [-9223372036854775808, 9223372036854775807]),
                       (V.FLOAT32, [0.5, -1.0]), (V.FLOAT64, [0.1, 1e-300]), (V.BOOL, [True, False, True])]:
        w.add_key_value(f"hark.test.array.{vt.name.lower()}", values, V.ARRAY, sub_type=vt)
    w.add_array("hark.test.nested.ints", [[1, 2], [3], [-4, 5, 6]])
    w.add_array("hark.test.nested.strings", [["x"], ["y", "z"]])

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    quantized(w, "token_embd.weight", r(VOC, E), T.F16)
    for i in range(L):
        quantized(w, f"blk.{i}.attn_norm.weight", 1 + 0.1 * r(E), T.F32)
        quantized(w, f"blk.{i}.attn_q.weight", r(H * HD, E), T.Q4_0)
        quantized(w, f"blk.{i}.attn_k.weight", r(KV * HD, E), T.BF16)
        quantized(w, f"blk.{i}.attn_v.weight", r(KV * HD, E), T.Q8_0)
        quantized(w, f"blk.{i}.attn_output.weight", r(E, H * HD), T.Q4_1)
        quantized(w, f"blk.{i}.ffn_norm.weight", 1 + 0.1 * r(E), T.F32)
        quantized(w, f"blk.{i}.ffn_gate.weight", r(F, E), T.Q8_0)
        quantized(w, f"blk.{i}.ffn_down.weight", r(E, F), T.Q4_0)
        quantized(w, f"blk.{i}.ffn_up.weight", r(F, E), T.Q8_0)
    quantized(w, "output_norm.weight", 1 + 0.1 * r(E), T.F32)
    quantized(w, "output.weight", r(VOC, E), T.Q8_0)
    write(w)


def tiny_qwen3moe(path: str) -> None:
    rng = np.random.default_rng(6)
    E, H, KV, HD, X, XU, XF, VOC = 8, 2, 1, 4, 4, 2, 4, 8
    w = gguf.GGUFWriter(path, "qwen3moe")
    w.add_custom_alignment(64)
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(E)
    w.add_feed_forward_length(16)
    w.add_expert_feed_forward_length(XF)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_expert_count(X)
    w.add_expert_used_count(XU)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(VOC)])
    w.add_bos_token_id(0)
    w.add_eos_token_id(VOC - 1)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    quantized(w, "token_embd.weight", r(VOC, E), T.F32)
    quantized(w, "blk.0.attn_norm.weight", r(E), T.F32)
    quantized(w, "blk.0.attn_q.weight", r(H * HD, E), T.F16)
    quantized(w, "blk.0.attn_k.weight", r(KV * HD, E), T.F16)
    quantized(w, "blk.0.attn_v.weight", r(KV * HD, E), T.F16)
    quantized(w, "blk.0.attn_output.weight", r(E, H * HD), T.F16)
    quantized(w, "blk.0.attn_q_norm.weight", r(HD), T.F32)
    quantized(w, "blk.0.attn_k_norm.weight", r(HD), T.F32)
    quantized(w, "blk.0.ffn_norm.weight", r(E), T.F32)
    quantized(w, "blk.0.ffn_gate_inp.weight", r(X, E), T.F32)
    quantized(w, "blk.0.ffn_gate_exps.weight", r(X, XF, E), T.F16)
    quantized(w, "blk.0.ffn_down_exps.weight", r(X, E, XF), T.F16)
    quantized(w, "blk.0.ffn_up_exps.weight", r(X, XF, E), T.F16)
    quantized(w, "output_norm.weight", r(E), T.F32)
    write(w)


def write(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def table(reader: gguf.GGUFReader, rows: list | None = None) -> list[dict]:
    out = []
    for t in reader.tensors if rows is None else [reader.tensors[i] for i in rows]:
        data = bytes(reader.data[t.data_offset:t.data_offset + int(t.n_bytes)])
        out.append({"name": t.name, "type": int(t.tensor_type), "dims": [int(d) for d in t.shape],
                    "elements": int(t.n_elements), "bytes": int(t.n_bytes), "offset": int(t.data_offset),
                    "head": data[:16].hex(), "tail": data[-16:].hex(), "fnv1a64": fnv1a64(data)})
    return out


def table_hash(reader: gguf.GGUFReader) -> str:
    """FNV-1a 64 of one line per tensor: name, type id, dims (ne0 first), absolute offset."""
    text = "".join(f"{t.name} {int(t.tensor_type)} {','.join(str(int(d)) for d in t.shape)} {int(t.data_offset)}\n"
                   for t in reader.tensors)
    return fnv1a64(text.encode())


def tiny_reference(paths: dict[str, str]) -> dict:
    files = {}
    for name, path in paths.items():
        r = gguf.GGUFReader(path)
        files[name] = {"version": int(r.fields["GGUF.version"].contents()), "alignment": int(r.alignment),
                       "data_offset": int(r.data_offset), "size": os.path.getsize(path),
                       "keys": [k for k in r.fields if not k.startswith("GGUF.")], "tensors": table(r)}
    types = {t.name: [int(t), GGML_QUANT_SIZES[t][0], GGML_QUANT_SIZES[t][1]] for t in T}
    return {"gguf_version": importlib.metadata.version("gguf"), "files": files, "ggml_types": types}


def smollm2_reference() -> dict:
    r = gguf.GGUFReader(SMOLLM2)
    f = lambda k: r.fields[k].contents()
    tokens = f("tokenizer.ggml.tokens")
    merges = f("tokenizer.ggml.merges")
    template = f("tokenizer.chat_template").encode()
    spot = ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_k.weight", "blk.29.ffn_down.weight",
            "output_norm.weight"]
    index = {t.name: i for i, t in enumerate(r.tensors)}
    norm = r.tensors[index["blk.0.attn_norm.weight"]]
    return {
        "gguf_version": importlib.metadata.version("gguf"),
        "size": os.path.getsize(SMOLLM2),
        "version": int(f("GGUF.version")), "tensor_count": len(r.tensors),
        "kv_count": int(f("GGUF.kv_count")), "alignment": int(r.alignment), "data_offset": int(r.data_offset),
        "keys": [k for k in r.fields if not k.startswith("GGUF.")],
        "architecture": f("general.architecture"), "name": f("general.name"),
        "block_count": int(f("llama.block_count")), "context_length": int(f("llama.context_length")),
        "embedding_length": int(f("llama.embedding_length")),
        "feed_forward_length": int(f("llama.feed_forward_length")),
        "head_count": int(f("llama.attention.head_count")), "head_count_kv": int(f("llama.attention.head_count_kv")),
        "rope_dimension_count": int(f("llama.rope.dimension_count")), "rope_freq_base": float(f("llama.rope.freq_base")),
        "rms_epsilon": float(f("llama.attention.layer_norm_rms_epsilon")), "vocab_size": int(f("llama.vocab_size")),
        "token_count": len(tokens), "tokens_head": tokens[:8], "tokens_tail": tokens[-3:],
        "merge_count": len(merges), "merges_head": merges[:3],
        "token_type_head": [int(x) for x in f("tokenizer.ggml.token_type")[:8]],
        "bos": int(f("tokenizer.ggml.bos_token_id")), "eos": int(f("tokenizer.ggml.eos_token_id")),
        "unk": int(f("tokenizer.ggml.unknown_token_id")), "pad": int(f("tokenizer.ggml.padding_token_id")),
        "add_bos_token": bool(f("tokenizer.ggml.add_bos_token")),
        "chat_template_bytes": len(template), "chat_template_fnv1a64": fnv1a64(template),
        "chat_template_head": template[:40].decode(),
        "type_counts": {str(k): v for k, v in sorted(__import__("collections").Counter(int(t.tensor_type) for t in r.tensors).items())},
        "table_fnv1a64": table_hash(r),
        "tensors_head": table(r, list(range(11))),
        "spot": table(r, [index[n] for n in spot]),
        "attn_norm_0_first": [float(x) for x in np.frombuffer(bytes(r.data[norm.data_offset:norm.data_offset + 16]), dtype="<f4")],
    }


def generate(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    paths = {"tiny-llama.gguf": os.path.join(out, "tiny-llama.gguf"),
             "tiny-qwen3moe.gguf": os.path.join(out, "tiny-qwen3moe.gguf")}
    tiny_llama(paths["tiny-llama.gguf"])
    tiny_qwen3moe(paths["tiny-qwen3moe.gguf"])
    with open(os.path.join(out, "tiny_reference.json"), "w") as fp:
        json.dump(tiny_reference(paths), fp, indent=1)
        fp.write("\n")
    with open(os.path.join(out, "smollm2_reference.json"), "w") as fp:
        json.dump(smollm2_reference(), fp, indent=1, ensure_ascii=False)
        fp.write("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare")
    args = parser.parse_args()
    if not args.check:
        generate(FIXTURES)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        names = ["tiny-llama.gguf", "tiny-qwen3moe.gguf", "tiny_reference.json", "smollm2_reference.json"]
        _, mismatch, errors = filecmp.cmpfiles(tmp, FIXTURES, names, shallow=False)
        if mismatch or errors:
            print(f"fixtures differ from a fresh run: {mismatch + errors}", file=sys.stderr)
            return 1
    print("fixtures match a fresh run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
