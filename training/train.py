#!/usr/bin/env python3
"""Fine-tune the upcycled stage-2 MoE on the generated requests (issue 9). Seeded; bf16 autocast; CPU, or
CUDA with --device cuda.

What trains: LoRA (rank --rank) on q, k, v, o, gate, up, down of every layer, the routers, the
shared-expert gates and the norms; the embedding and base matrices stay SmolLM2's. So the result is
a small delta over the registry's base model (export_gguf.py merges it), which `make model` can
ship instead of the whole file.

A batch holds --batch requests to one home: the home's catalog prefix (the fixed system message,
~280 tokens for the demo home) runs once, batch 1, and its keys/values are shared by every request
in the batch (gradients flow back through them), so the long prefix costs once per batch rather than
once per example. Logits are computed only at answer positions. The loss is the answer tokens'
cross-entropy plus --balance times the Switch-style load-balancing loss of the routers.

Logs one line per --log-every steps: step, loss, tokens/s (prefix + suffix tokens through forward
and backward, per wall second), examples/s. Stops at --steps or after --minutes, whichever first,
then writes the delta (--out) and the answer-token loss on held-out examples.

Usage: python training/train.py [--minutes 8] [--batch 16] [--rank 16] [--lr 5e-4] --out build/stage2/delta.npz
"""
import argparse
import json
import math
import os
import random
import sys
import time

# OpenMP threads that spin while they wait collapse when the 2 cores are shared: with another
# build running, 2 spinning threads did 20 tokens/s, 2 passive ones 112 and 1 thread 128.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import smollm  # noqa: E402
from moe_model import ActionModel  # noqa: E402
from upcycle import answer_loss, apply, make_batch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_delta(model, cfg, up, path):
    out = {"cfg": json.dumps(cfg), "perm": up["perm"].astype(np.int16)}
    L = cfg["layers"]
    out["router"] = np.stack([model.layers[l].router.detach().cpu().numpy() for l in range(L)]).astype(np.float32)
    out["shared_gate"] = np.stack([model.layers[l].shared_gate.detach().cpu().numpy() for l in range(L)]).astype(np.float32)
    out["final_norm"] = model.final_norm.weight.detach().cpu().numpy().astype(np.float32)
    for l, layer in enumerate(model.layers):
        out[f"{l}.attn_norm"] = layer.attn_norm.weight.detach().cpu().numpy().astype(np.float32)
        out[f"{l}.ffn_norm"] = layer.ffn_norm.weight.detach().cpu().numpy().astype(np.float32)
        for m in ("q", "k", "v", "o", "gate", "up", "down"):
            lin = getattr(layer, m)
            if lin.rank:
                out[f"{l}.{m}.A"] = lin.A.detach().cpu().numpy().astype(np.float16)
                out[f"{l}.{m}.B"] = lin.B.detach().cpu().numpy().astype(np.float16)
    tmp = path + ".part.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)


def load_delta(model, path):
    """Continue from a delta train.py wrote (the optimizer starts afresh): long runs go in chunks."""
    d = np.load(path)
    T = lambda k: torch.from_numpy(d[k].astype(np.float32))
    with torch.no_grad():
        model.final_norm.weight.copy_(T("final_norm"))
        for l, layer in enumerate(model.layers):
            layer.router.copy_(T("router")[l])
            layer.shared_gate.copy_(T("shared_gate")[l])
            layer.attn_norm.weight.copy_(T(f"{l}.attn_norm"))
            layer.ffn_norm.weight.copy_(T(f"{l}.ffn_norm"))
            for m in ("q", "k", "v", "o", "gate", "up", "down"):
                lin = getattr(layer, m)
                if lin.rank:
                    lin.A.copy_(T(f"{l}.{m}.A"))
                    lin.B.copy_(T(f"{l}.{m}.B"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "build", "stage2-data"))
    ap.add_argument("--upcycle", default=os.path.join(ROOT, "build", "stage2", "upcycle.npz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stage2", "delta.npz"))
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--minutes", type=float, default=8.0,
                    help="stop after this long; 0: run --steps exactly, with the schedule over steps (reproducible)")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="end after this step while the schedule still runs over --steps (to end one phase early, reproducibly)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--balance", type=float, default=0.01)
    ap.add_argument("--demo-share", type=float, default=None,
                    help="share of batches from the demo home (default: as in the data)")
    ap.add_argument("--threads", type=int, default=2, help="1 is as fast while another job shares the cores")
    ap.add_argument("--log-every", type=int, default=5)
    ap.add_argument("--eval", type=int, default=0, help="held-out examples scored at the end")
    ap.add_argument("--limit", type=int, default=None, help="read only this many training examples")
    ap.add_argument("--qat", action="store_true",
                    help="train against the Q4_0 round trip of every matrix (straight-through), as the INT4 file holds them")
    ap.add_argument("--resume", help="a delta to continue from (use another --seed for each chunk); its unit "
                    "order, routers and configuration are used, so --upcycle is not read")
    ap.add_argument("--decay", type=float, default=0.1,
                    help="cosine decay of the learning rate over --minutes (or --steps) down to this fraction (1: constant)")
    ap.add_argument("--save-every", type=float, default=10.0,
                    help="minutes between writes of the delta while training (a cut-off run keeps its progress)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (the same steps on a GPU; not bit-identical to cpu)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)

    t0 = time.time()
    hp, w = smollm.load(data.SMOL)
    u = np.load(a.resume or a.upcycle)
    up = {"perm": u["perm"].astype(np.int64), "router": u["router"], "shared_gate": u["shared_gate"]}
    cfg = json.loads(str(u["cfg"]))
    if a.resume:  # the delta's LoRA shape wins over --rank/--alpha
        a.rank, a.alpha = cfg["lora_rank"], cfg["lora_alpha"]
    cfg = dict(cfg, lora_rank=a.rank, lora_alpha=a.alpha, qat=a.qat)
    model = ActionModel(cfg, apply(hp, w, up))
    del w
    if a.resume:
        load_delta(model, a.resume)
    model.to(a.device)
    tok = data.tokenizer()
    homes = data.Homes(tok, a.data)
    train = data.load(tok, homes, os.path.join(a.data, "train.jsonl"), a.limit)
    by = {}
    for ex in train:
        by.setdefault(ex[0], []).append(ex)
    keys = list(by)
    weights = [len(by[k]) for k in keys]
    if a.demo_share is not None:
        rest = sum(n for k, n in zip(keys, weights) if k != "demo")
        weights = [a.demo_share if k == "demo" else (1 - a.demo_share) * n / rest for k, n in zip(keys, weights)]
    params = model.trainable()
    n_train = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0, betas=(0.9, 0.99))
    print(f"train: {len(train)} examples in {len(keys)} homes; {n_train / 1e6:.2f} M trainable parameters "
          f"(LoRA rank {a.rank}); ready in {time.time() - t0:.0f} s", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    model.train()
    t_start = time.time()
    tokens = examples = 0
    window = []
    last_save = t_start
    step = 0
    for step in range(1, a.steps + 1):
        frac = step / a.steps if a.minutes <= 0 else min(1.0, (time.time() - t_start) / (a.minutes * 60))
        lr = a.lr * min(1.0, step / a.warmup) * (a.decay + (1 - a.decay) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        k = random.choices(keys, weights)[0]
        exs = random.sample(by[k], min(a.batch, len(by[k])))
        pre, ids, lab = (t.to(a.device) for t in make_batch(homes, k, exs))
        with torch.autocast(torch.device(a.device).type, dtype=torch.bfloat16):
            h, stats = model.hidden(ids, pre)
            m = lab[:, 1:] != -100
            logits = model.logits(h[:, :-1][m])
            loss = F.cross_entropy(logits, lab[:, 1:][m])
            real = (ids != 2) | (lab != -100)
            bal = 0.0
            for p, keep in stats:
                pm, km = p[real], keep[real]
                bal = bal + cfg["experts"] * (km.mean(0) / cfg["top_k"] * pm.mean(0)).sum()
            total = loss + a.balance * bal / len(stats)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        tokens += pre.numel() + ids.numel()
        examples += len(exs)
        window.append(loss.item())
        el = time.time() - t_start
        if step % a.log_every == 0:
            print(f"step {step:5d}  loss {np.mean(window):.4f}  balance {float(bal.detach()) / len(stats):.3f}  "
                  f"lr {lr:.1e}  {tokens / el:6.0f} tok/s  {examples / el:5.2f} ex/s  {el:6.0f} s", flush=True)
            window = []
        if 0 < a.minutes * 60 < el or step == a.stop_at:
            break
        if time.time() - last_save > a.save_every * 60:
            save_delta(model, cfg, up, a.out)
            last_save = time.time()
            print(f"step {step:5d}  delta -> {a.out}", flush=True)
    if step:  # --steps 0 only scores --resume's delta (with --qat: as the Q4_0 file will hold it)
        el = time.time() - t_start
        print(f"train: {step} steps, {examples} examples, {tokens} tokens in {el:.0f} s: "
              f"{tokens / el:.0f} tokens/s forward+backward, {examples / el:.2f} examples/s", flush=True)
        save_delta(model, cfg, up, a.out)
        print(f"train: delta -> {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")
    if a.eval:
        model.eval()
        held = data.load(tok, homes, os.path.join(a.data, "held.jsonl"), a.eval)
        print(f"train: held-out answer-token loss {answer_loss(model, held, homes):.4f} on {len(held)} examples")


if __name__ == "__main__":
    main()
