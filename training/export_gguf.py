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
  token_embd (vocab, 576) · output_norm (576) · no output.weight (tied: llama.cpp and Hark use
  token_embd) · per layer: attn_norm, attn_q (576, 576), attn_k/v (192, 576), attn_{q,k,v}.bias = 0,
  attn_output, ffn_norm, ffn_gate_inp (E, 576), ffn_{gate,up}_exps (E, w, 576),
  ffn_down_exps (E, 576, w) · c, ffn_{gate,up}_shexp (S, 576), ffn_down_shexp (576, S) · 2,
  ffn_gate_inp_shexp (576). q and k keep the rotate-half order: qwen2moe uses NeoX RoPE.

Usage:
  .venv-torch/bin/python training/export_gguf.py torch [--delta D.npz | --upcycle U.npz] --out M-f16.gguf
      (writes M-f16.gguf and M-f16.logits.npz: the torch model's float32 logits on 3 prompts)
  .venv/bin/python training/export_gguf.py llama --out M-f16.gguf [--types q4_0,q4_k]
      (quantizes with llama.cpp's llama_model_quantize, then compares llama.cpp's logits with torch's)
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
    from upcycle import apply
    hp, w = smollm.load(SMOL)
    d = np.load(delta_path or upcycle_path)
    cfg = json.loads(str(d["cfg"]))
    arr = apply(hp, w, {"perm": d["perm"].astype(np.int64), "router": d["router"], "shared_gate": d["shared_gate"]})
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


def phase_torch(a):
    import torch
    import data
    from moe_model import ActionModel
    cfg, arr = merged_arrays(a.delta, a.upcycle)
    tmp = a.out + ".part"
    write_gguf(cfg, arr, tmp)
    os.replace(tmp, a.out)
    print(f"export: wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")
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


def quantize(src, dst, ftype, embd_type=None):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    if embd_type is not None:
        params.token_embedding_type = embd_type
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        sys.exit(f"export: llama_model_quantize {dst} failed ({rc})")


def llama_logits(path, ids):
    import llama_cpp
    m = llama_cpp.Llama(path, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    m.reset()
    m.eval(list(map(int, ids)))
    return np.array(m.scores[:len(ids)], dtype=np.float32)


def phase_llama(a):
    import llama_cpp
    ref = np.load(a.out.replace(".gguf", ".logits.npz"))
    types = {"q4_0": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, llama_cpp.GGML_TYPE_Q4_0),
             "q4_k": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, None),
             "q4_k_s": (llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_S, None)}
    files = [("f16", a.out)]
    for t in [x for x in a.types.split(",") if x]:
        dst = a.out.replace("-f16.gguf", f"-{t}.gguf")
        quantize(a.out, dst + ".part", *types[t])
        os.replace(dst + ".part", dst)
        files.append((t, dst))
    for t, path in files:
        worst, agree, n = 0.0, 0, 0
        for i in range(len(CHECK_REQUESTS)):
            ids, want = ref[f"ids{i}"], ref[f"logits{i}"]
            got = llama_logits(path, ids)
            worst = max(worst, float(np.abs(got - want).max()))
            agree += int((got.argmax(1) == want.argmax(1)).sum())
            n += len(ids)
        print(f"export: {t:6s} {os.path.getsize(path) / 1e6:7.1f} MB  llama.cpp vs torch: max |logit diff| {worst:.3f}, "
              f"argmax equal at {agree}/{n} positions")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["torch", "llama"])
    ap.add_argument("--delta")
    ap.add_argument("--upcycle", default=os.path.join(ROOT, "build", "stage2", "upcycle.npz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stage2", "hark-moe-f16.gguf"))
    ap.add_argument("--types", default="q4_0,q4_k")
    a = ap.parse_args()
    (phase_torch if a.phase == "torch" else phase_llama)(a)


if __name__ == "__main__":
    main()
