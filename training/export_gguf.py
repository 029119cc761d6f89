#!/usr/bin/env python3
"""Build the stage-2 model's GGUF from SmolLM2's GGUF and the trained delta, and quantize it.

  delta (npz, what training writes and what the repository would commit):
    cfg (json), perm (layers, 1536) FFN unit order, router (layers, E, 576), shared_gate (layers, 576),
    norms (f32), and LoRA factors `{l}.{m}.A` (r, in), `{l}.{m}.B` (out, r) in float16 for
    m in q k v o gate up down, with scale = alpha / r.
  merge: W = dequant(SmolLM2 Q4_1)[reordered] + scale * B @ A, in float64. The factors are float16,
    so every product is exact in float64 and the sums are exact unless their exponents spread over
    more than ~30 bits: the merged weights do not depend on the BLAS or the CPU, and neither does
    the F16 file, so the same delta gives the same file bit for bit.

`qwen2moe` tensors written (numpy shapes; GGUF lists them reversed):
  token_embd (vocab, 576) · output_norm (576) · output (vocab, 576) = token_embd (SmolLM2 ties them,
  but llama.cpp's qwen2moe loader requires output.weight) · per layer: attn_norm, attn_q (576, 576), attn_k/v (192, 576), attn_{q,k,v}.bias = 0,
  attn_output, ffn_norm, ffn_gate_inp (E, 576), ffn_{gate,up}_exps (E, w, 576),
  ffn_down_exps (E, 576, w) · c, ffn_{gate,up}_shexp (S, 576), ffn_down_shexp (576, S) · 2,
  ffn_gate_inp_shexp (576). q and k keep the rotate-half order: qwen2moe uses NeoX RoPE.

Usage:
  .venv/bin/python training/export_gguf.py build --delta D.npz --out M-f16.gguf [--types q4_0,q4_k]
      merges, writes M-f16.gguf and quantizes it with llama.cpp's llama_model_quantize (M-q4_0.gguf,
      ...). Needs numpy, gguf and llama-cpp-python only: this is what `make model` runs.
      --upcycle U.npz instead of --delta: the upcycled model before any training.
  .venv-torch/bin/python training/export_gguf.py reference --delta D.npz --out M-f16.gguf
      the torch model's float32 logits on 3 prompts -> M-f16.logits.npz
  .venv/bin/python training/export_gguf.py check --out M-f16.gguf [--types q4_0,q4_k]
      llama.cpp's logits of each file against torch's
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
MATS = ("q", "k", "v", "o", "gate", "up", "down")
CHECK_REQUESTS = ["turn off the kitchen light", "set a timer for ten minutes and dim the lamp to 30 percent",
                  "what is the weather like"]


def merged_arrays(delta_path=None, upcycle_path=None):
    """(cfg, arrays) of the model a delta (or a bare upcycling, no training) describes."""
    import smollm
    hp, w = smollm.load(SMOL)
    d = np.load(delta_path or upcycle_path)
    cfg = json.loads(str(d["cfg"]))
    arr = smollm.apply(hp, w, {"perm": d["perm"].astype(np.int64), "router": d["router"], "shared_gate": d["shared_gate"]})
    if delta_path:
        for k in d.files:
            if k.endswith(".norm") or k in ("final_norm",) or k.endswith("_norm"):
                arr[k] = d[k].astype(np.float32)
        scale = cfg["lora_alpha"] / cfg["lora_rank"] if cfg.get("lora_rank") else 0.0
        for l in range(cfg["layers"]):
            for m in MATS:
                ka = f"{l}.{m}.A"
                if ka in d.files:
                    delta = d[f"{l}.{m}.B"].astype(np.float64) @ d[ka].astype(np.float64)
                    arr[f"{l}.{m}"] = (arr[f"{l}.{m}"].astype(np.float64) + scale * delta).astype(np.float32)
    return cfg, arr


def write_gguf(cfg, arr, path, name="hark-stage2-moe"):
    import gguf
    import smollm
    A = "qwen2moe"
    E, S, wd = cfg["experts"], cfg["shared_ff"], cfg["expert_ff"]
    H = cfg["hidden"]
    g = gguf.GGUFWriter(path, A)
    g.add_name(name)
    g.add_uint32(f"{A}.block_count", cfg["layers"])
    g.add_uint32(f"{A}.context_length", 2048)
    g.add_uint32(f"{A}.embedding_length", H)
    g.add_uint32(f"{A}.feed_forward_length", cfg["ff"])
    g.add_uint32(f"{A}.expert_feed_forward_length", wd)
    g.add_uint32(f"{A}.expert_shared_feed_forward_length", S)
    g.add_uint32(f"{A}.attention.head_count", cfg["heads"])
    g.add_uint32(f"{A}.attention.head_count_kv", cfg["kv_heads"])
    g.add_float32(f"{A}.attention.layer_norm_rms_epsilon", cfg["eps"])
    g.add_float32(f"{A}.rope.freq_base", cfg["rope_theta"])
    g.add_uint32(f"{A}.rope.dimension_count", H // cfg["heads"])
    g.add_uint32(f"{A}.expert_count", E)
    g.add_uint32(f"{A}.expert_used_count", cfg["top_k"])
    g.add_uint32("general.file_type", 1)  # mostly F16
    tf = smollm.tokenizer_fields(SMOL)
    g.add_tokenizer_model("gpt2")
    g.add_tokenizer_pre("smollm")
    g.add_token_list(tf["tokens"])
    g.add_token_merges(tf["merges"])
    g.add_token_types(tf["types"])
    g.add_bos_token_id(1)
    g.add_eos_token_id(2)
    g.add_pad_token_id(2)
    g.add_add_bos_token(False)

    f16 = lambda a: np.ascontiguousarray(a, dtype=np.float16)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    g.add_tensor("token_embd.weight", f16(arr["embed"]))
    g.add_tensor("output_norm.weight", f32(arr["final_norm"]))
    g.add_tensor("output.weight", f16(arr["embed"]))  # llama.cpp's qwen2moe requires it (no tying)
    c = cfg["routed_scale"]
    for l in range(cfg["layers"]):
        p, t = f"blk.{l}.", lambda k: arr[f"{l}.{k}"]
        g.add_tensor(p + "attn_norm.weight", f32(t("attn_norm")))
        g.add_tensor(p + "attn_q.weight", f16(t("q")))
        g.add_tensor(p + "attn_k.weight", f16(t("k")))
        g.add_tensor(p + "attn_v.weight", f16(t("v")))
        g.add_tensor(p + "attn_output.weight", f16(t("o")))
        for x, n in (("q", H), ("k", t("k").shape[0]), ("v", t("v").shape[0])):
            g.add_tensor(p + f"attn_{x}.bias", np.zeros(n, dtype=np.float32))
        g.add_tensor(p + "ffn_norm.weight", f32(t("ffn_norm")))
        g.add_tensor(p + "ffn_gate_inp.weight", f32(t("router")))
        gate, up, down = t("gate").astype(np.float64), t("up").astype(np.float64), t("down").astype(np.float64)
        g.add_tensor(p + "ffn_gate_exps.weight", f16(gate[S:].reshape(E, wd, H)))
        g.add_tensor(p + "ffn_up_exps.weight", f16(up[S:].reshape(E, wd, H)))
        g.add_tensor(p + "ffn_down_exps.weight", f16((down[:, S:] * c).reshape(H, E, wd).transpose(1, 0, 2)))
        g.add_tensor(p + "ffn_gate_shexp.weight", f16(gate[:S]))
        g.add_tensor(p + "ffn_up_shexp.weight", f16(up[:S]))
        g.add_tensor(p + "ffn_down_shexp.weight", f16(down[:, :S] * 2.0))
        g.add_tensor(p + "ffn_gate_inp_shexp.weight", f32(t("shared_gate")))
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def check_prompts():
    cat = prompt.load_catalog(os.path.join(ROOT, "devices", "demo-home.yaml"))
    return [prompt.build_prompt(prompt.render_catalog(cat), r) for r in CHECK_REQUESTS]


def phase_build(a):
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)  # build/stage2 in a fresh clone
    if not a.quantize_only:
        cfg, arr = merged_arrays(a.delta, None if a.delta else a.upcycle)
        tmp = a.out + ".part"
        write_gguf(cfg, arr, tmp)
        os.replace(tmp, a.out)
        print(f"export: wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")
    import llama_cpp
    for t in [x for x in a.types.split(",") if x]:
        dst = a.out.replace("-f16.gguf", f"-{t}.gguf")
        quantize(a.out, dst + ".part", *quant_types(llama_cpp)[t])
        os.replace(dst + ".part", dst)
        print(f"export: wrote {dst} ({os.path.getsize(dst) / 1e6:.1f} MB)")


def quant_types(llama_cpp):
    """ftype and token_embd type per name. token_embd is only read row by row, so Q4_0 files keep
    it at Q4_0 rather than llama.cpp's default for the tied/output-like embedding; q4_0o also puts
    output.weight at Q4_0 (llama.cpp would use Q8_0: 576 is no multiple of the K-quants' 256).
    K-quants barely apply to this model: rows of 576 or 128 weights are not multiples of 256, so
    llama.cpp's Q4_K_M file falls back to Q5_0 for 243 of its 301 matrices."""
    return {"q4_0": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, llama_cpp.GGML_TYPE_Q4_0),
            "q4_0o": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, llama_cpp.GGML_TYPE_Q4_0, llama_cpp.GGML_TYPE_Q4_0),
            "q4_1": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1, llama_cpp.GGML_TYPE_Q4_1),
            "q4_0e8": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, llama_cpp.GGML_TYPE_Q8_0),
            "q8_0": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, None),
            "q4_k": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, None),
            "q4_k_s": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_S, None)}


def phase_reference(a):
    import torch
    import data
    from moe_model import ActionModel
    cfg, arr = merged_arrays(a.delta, None if a.delta else a.upcycle)
    # Reference logits: the same arrays rounded to F16 as the file holds them, computed in float32.
    r16 = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 and k != "router" else v) for k, v in arr.items()}
    for l in range(cfg["layers"]):
        S = cfg["shared_ff"]
        # the file stores down · c and down_sh · 2 in F16: round those products as the file does
        d = arr[f"{l}.down"].astype(np.float64)
        r16[f"{l}.down"] = np.concatenate([(d[:, :S] * 2).astype(np.float16).astype(np.float64) / 2,
                                           (d[:, S:] * cfg["routed_scale"]).astype(np.float16).astype(np.float64)
                                           / cfg["routed_scale"]], 1).astype(np.float32)
    model = ActionModel(dict(cfg, lora_rank=0), r16, dtype=torch.float32).eval()
    tok = data.tokenizer()
    out = {}
    with torch.no_grad():
        for i, p in enumerate(check_prompts()):
            ids = torch.tensor([data.encode(tok, p)])
            h, _ = model.hidden(ids)
            out[f"ids{i}"] = ids[0].numpy()
            out[f"logits{i}"] = model.logits(h)[0].numpy()
    np.savez(a.out.replace(".gguf", ".logits.npz"), **out)
    print(f"export: torch float32 logits of {len(CHECK_REQUESTS)} prompts saved")


def quantize(src, dst, ftype, embd_type=None, out_type=None):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    if embd_type is not None:
        params.token_embedding_type = embd_type
    if out_type is not None:
        params.output_tensor_type = out_type
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        sys.exit(f"export: llama_model_quantize {dst} failed ({rc})")


def llama_logits(path, ids):
    import llama_cpp
    m = llama_cpp.Llama(path, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    m.reset()
    m.eval(list(map(int, ids)))
    return np.array(m.scores[:len(ids)], dtype=np.float32)


def phase_check(a):
    ref = np.load(a.out.replace(".gguf", ".logits.npz"))
    files = [("f16", a.out)] + [(t, a.out.replace("-f16.gguf", f"-{t}.gguf")) for t in a.types.split(",") if t]
    for t, path in files:
        worst, mean, agree, n = 0.0, 0.0, 0, 0
        for i in range(len(CHECK_REQUESTS)):
            ids, want = ref[f"ids{i}"], ref[f"logits{i}"]
            got = llama_logits(path, ids)
            if not np.isfinite(got).all():
                sys.exit(f"export: llama.cpp computed non-finite logits for {path}")
            worst = max(worst, float(np.abs(got - want).max()))
            mean += float(np.abs(got - want).mean()) * len(ids)
            agree += int((got.argmax(1) == want.argmax(1)).sum())
            n += len(ids)
        print(f"export: {t:6s} {os.path.getsize(path) / 1e6:7.1f} MB  llama.cpp vs torch float32: |logit diff| "
              f"max {worst:.3f} mean {mean / n:.4f}; most likely token equal at {agree}/{n} positions")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["build", "reference", "check"])
    ap.add_argument("--delta")
    ap.add_argument("--upcycle", default=os.path.join(ROOT, "build", "stage2", "upcycle.npz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stage2", "hark-moe-f16.gguf"))
    ap.add_argument("--types", default="q4_0")
    ap.add_argument("--quantize-only", action="store_true", help="build: quantize an existing --out F16 file")
    a = ap.parse_args()
    {"build": phase_build, "reference": phase_reference, "check": phase_check}[a.phase](a)


if __name__ == "__main__":
    main()
