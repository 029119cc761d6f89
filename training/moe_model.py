"""The stage-2 action model in PyTorch: a `qwen2moe` transformer (llama.cpp's and Hark's semantics)
made from SmolLM2-135M by fine-grained upcycling, with LoRA adapters for training.

Per layer (x: (batch, tokens, 576)):
    n = rms(x) * attn_norm;  x += o(attention(q(n), k(n), v(n)))       GQA 9 q / 3 kv heads of 64,
                                                                         rotate-half RoPE, theta 1e5
    n = rms(x) * ffn_norm
    p = softmax(router · n)  (E experts);  top-k of p kept as they are (no renormalisation)
    x += 2·sigmoid(g_sh · n) · down_sh(silu(gate_sh n) ⊙ up_sh n)                      shared expert
       + Σ_{e in top-k} p_e · c · down_e(silu(gate_e n) ⊙ up_e n)                        routed experts
The MLP's 1536 neurons are ordered [shared S | expert 0 | ... | expert E-1] (each of width w), so
gate/up/down stay the dense matrices of SmolLM2 (reordered) and the whole FFN is computed as one dense
MLP whose hidden units are scaled per token: 1 for shared units, p_e·c for a chosen expert's units,
0 for the others. That is exactly the sparse model's output and gradient (an unchosen expert's
units are multiplied by an exact 0), at the dense MLP's cost, which on a CPU beats gathering tokens
per expert. The GGUF export (export_gguf.py) writes the 2 into ffn_down_shexp and c into
ffn_down_exps, so the file's forward pass is the standard qwen2moe one.

Frozen: the embedding (tied with the output) and the base matrices (bf16 buffers). Trained: LoRA
(A, B) on q, k, v, o, gate, up, down; the routers; the shared-expert gates; the norms.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def q4_0(w):
    """llama.cpp's Q4_0 round trip (ggml quantize_row_q4_0_ref), rows in blocks of 32: d = the
    block's value of largest magnitude / -8, q = min(15, trunc(x/d + 8.5)), stored d in fp16,
    w' = (q - 8) · d. w: float32 (rows, cols), cols a multiple of 32."""
    b = w.reshape(-1, 32)
    mx = b.gather(1, b.abs().argmax(1, keepdim=True))
    d = mx / -8
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp(torch.trunc(b * inv + 8.5), max=15)
    return ((q - 8) * d.half().float()).reshape(w.shape)


def ste(w, f):
    """f(w) forward, identity gradient (straight-through)."""
    return w + (f(w) - w).detach()


class LoRALinear(nn.Module):
    """y = x W^T + (x A^T) B^T · scale, W frozen (out, in).

    qat: y = x · Q(W + B A · scale)^T instead, Q = the F16 rounding then the Q4_0 round trip that
    the exported Q4_0 file applies (col_scale: per-input-column factors the file multiplies in
    before quantizing, the 2 of the shared expert's down and c of the routed experts' down), with
    straight-through gradients: training sees exactly the INT4 weights llama.cpp will use."""

    def __init__(self, weight, rank, alpha, dtype, qat=False, col_scale=None):
        super().__init__()
        self.qat = qat
        self.cached = None
        self.register_buffer("weight", weight.float() if qat else weight.to(dtype), persistent=False)
        self.register_buffer("col_scale", col_scale, persistent=False)
        out_f, in_f = weight.shape
        self.rank = rank
        if rank > 0:
            self.A = nn.Parameter(torch.randn(rank, in_f) / math.sqrt(in_f))
            self.B = nn.Parameter(torch.zeros(out_f, rank))
            self.scale = alpha / rank

    def quantized_weight(self):
        w = self.weight
        if self.rank > 0:
            w = w + (self.B @ self.A) * self.scale
        if self.col_scale is not None:
            w = w * self.col_scale
        w = ste(w, lambda v: q4_0(v.half().float()))
        if self.col_scale is not None:
            w = w / self.col_scale
        return w

    def forward(self, x):
        if self.qat:
            if self.cached is None:  # once per model call: the prefix and the requests share it
                self.cached = self.quantized_weight().to(x.dtype)
            return F.linear(x, self.cached)
        y = F.linear(x, self.weight.to(x.dtype))
        if self.rank > 0:
            y = y + F.linear(F.linear(x, self.A.to(x.dtype)), self.B.to(x.dtype)) * self.scale
        return y

    def delta(self):
        return (self.B.double() @ self.A.double()) * self.scale if self.rank > 0 else None


class RMSNorm(nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = nn.Parameter(weight.clone().float())
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight).to(x.dtype)


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return x * cos + torch.cat((-x2, x1), -1) * sin


class Layer(nn.Module):
    def __init__(self, cfg, w, l, dtype):
        super().__init__()
        r, a = cfg["lora_rank"], cfg["lora_alpha"]
        T = lambda k: torch.from_numpy(w[f"{l}.{k}"])
        self.attn_norm = RMSNorm(T("attn_norm"), cfg["eps"])
        self.ffn_norm = RMSNorm(T("ffn_norm"), cfg["eps"])
        qat = cfg.get("qat", False)
        self.q, self.k, self.v, self.o = (LoRALinear(T(n), r, a, dtype, qat) for n in "qkvo")
        self.gate, self.up = (LoRALinear(T(n), r, a, dtype, qat) for n in ("gate", "up"))
        cs = torch.cat([torch.full((cfg["shared_ff"],), 2.0),
                        torch.full((cfg["ff"] - cfg["shared_ff"],), float(cfg["routed_scale"]))])
        self.down = LoRALinear(T("down"), r, a, dtype, qat, cs if qat else None)
        self.router = nn.Parameter(T("router").float())                  # (E, hidden)
        self.shared_gate = nn.Parameter(T("shared_gate").float())        # (hidden,)
        self.cfg = cfg
        self.capture = None

    def attention(self, n, cos, sin, past=None):
        """n: (B, L, H). past: (k, v) of a shared prefix, (1, kv, P, d). Returns output, (k, v)."""
        cfg = self.cfg
        B, L, _ = n.shape
        d = cfg["hidden"] // cfg["heads"]
        q = self.q(n).view(B, L, cfg["heads"], d).transpose(1, 2)
        k = self.k(n).view(B, L, cfg["kv_heads"], d).transpose(1, 2)
        v = self.v(n).view(B, L, cfg["kv_heads"], d).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if past is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            pk, pv = past
            P = pk.shape[2]
            kk = torch.cat([pk.expand(B, -1, -1, -1), k], 2)
            vv = torch.cat([pv.expand(B, -1, -1, -1), v], 2)
            mask = torch.ones(L, P + L, dtype=torch.bool, device=n.device)
            mask[:, P:] = torch.tril(mask[:, P:])
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, enable_gqa=True)
        return self.o(o.transpose(1, 2).reshape(B, L, -1)), (k, v)

    def unit_scale(self, n):
        """Per-token scale of the 1536 FFN units (shared: 2·sigmoid(g·n); expert e's: p_e·c or 0),
        and the router probabilities (for the balance loss)."""
        cfg = self.cfg
        E, k, w, S = cfg["experts"], cfg["top_k"], cfg["expert_ff"], cfg["shared_ff"]
        logits = F.linear(n.float(), self.router)
        p = logits.softmax(-1)
        top = p.topk(k, -1).indices
        keep = torch.zeros_like(p).scatter_(-1, top, 1.0)
        pe = (p * keep) * cfg["routed_scale"]
        sh = 2 * torch.sigmoid(F.linear(n.float(), self.shared_gate[None]))
        scale = torch.cat([sh.expand(*sh.shape[:-1], S), pe.repeat_interleave(w, -1)], -1)
        return scale, p, keep

    def forward(self, x, cos, sin, past=None):
        a, kv = self.attention(self.attn_norm(x), cos, sin, past)
        x = x + a
        n = self.ffn_norm(x)
        scale, p, keep = self.unit_scale(n)
        h = F.silu(self.gate(n)) * self.up(n)
        if self.capture is not None:  # upcycle.py's calibration: FFN inputs and unit activations
            self.capture.append((n.detach().float(), h.detach().float()))
        h = h * scale.to(n.dtype)
        return x + self.down(h), kv, (p, keep)


class ActionModel(nn.Module):
    def __init__(self, cfg, w, dtype=torch.bfloat16):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("embed", torch.from_numpy(w["embed"]).to(dtype), persistent=False)
        # qat: the Q4_0 file's token_embd is Q4_0 (rows looked up); output.weight stays Q8_0 there,
        # close to SmolLM2's own Q8_0 values that `embed` holds.
        e_in = q4_0(torch.from_numpy(w["embed"]).half().float()) if cfg.get("qat") else None
        self.register_buffer("embed_in", e_in.to(dtype) if e_in is not None else self.embed, persistent=False)
        self.layers = nn.ModuleList(Layer(cfg, w, l, dtype) for l in range(cfg["layers"]))
        self.final_norm = RMSNorm(torch.from_numpy(w["final_norm"]), cfg["eps"])
        d = cfg["hidden"] // cfg["heads"]
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        self.register_buffer("inv_freq", inv, persistent=False)
        self.dtype = dtype

    def rope_at(self, start, n):
        t = torch.arange(start, start + n, dtype=torch.float64, device=self.inv_freq.device)
        f = torch.outer(t, self.inv_freq)
        emb = torch.cat([f, f], -1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def hidden(self, ids, prefix=None):
        """ids: (B, L) token ids after an optional shared prefix (P,). Returns (B, L, H) final hidden
        states (after the final norm) and the router stats of every layer."""
        pasts = [None] * len(self.layers)
        for m in self.modules():
            if isinstance(m, LoRALinear):
                m.cached = None
        P = 0
        if prefix is not None:
            P = prefix.shape[0]
            cos, sin = self.rope_at(0, P)
            x = self.embed_in[prefix][None]
            for i, layer in enumerate(self.layers):
                x, pasts[i], _ = layer(x, cos, sin)
        cos, sin = self.rope_at(P, ids.shape[1])
        x = self.embed_in[ids]
        stats = []
        for i, layer in enumerate(self.layers):
            x, _, st = layer(x, cos, sin, pasts[i])
            stats.append(st)
        return self.final_norm(x), stats

    def logits(self, h):
        return F.linear(h, self.embed.to(h.dtype)).float()

    def trainable(self):
        return [p for p in self.parameters() if p.requires_grad]
