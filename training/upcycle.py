#!/usr/bin/env python3
"""Fine-grained sparse upcycling of SmolLM2-135M's dense MLPs into qwen2moe experts (issue 9).

For each of the 30 layers, SmolLM2's 1536 FFN units are split by what they do on home-control
prompts (calibration: the first --calib generated training examples, run through the dense model):
  - the S units with the largest mean |unit activation| · |down column| form the shared expert,
    which every token uses;
  - the other 1536 - S are clustered by co-activation into E experts of equal width (balanced
    k-means on each unit's activation pattern over the calibration tokens), as in MoEfication;
  - each router starts as the least-squares fit of log(activation mass of each expert) on the FFN
    input, so it picks the experts whose units fire; c (routed_scale) = 1 / the mean probability of
    a chosen expert, so a chosen expert contributes about what its units did in the dense model.
Nothing is copied: the MoE has SmolLM2's parameter count plus the routers (E x 576 per layer), and
per token it runs S + k·w of the 1536 units.

Writes --out (npz): cfg (json), perm (layers, 1536) unit order [shared | expert 0 | ...],
router (layers, E, 576), shared_gate (layers, 576), and prints the answer-token loss of the dense
model and of the upcycled one on held-out examples.

Usage: python training/upcycle.py [--shared 1024 --experts 4 --top-k 2] [--out build/stage2/upcycle.npz]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import smollm  # noqa: E402
from moe_model import ActionModel  # noqa: E402
from smollm import apply  # noqa: E402,F401  (train.py and export import it from here too)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def moe_cfg(hp, shared, experts, top_k, lora_rank=0, lora_alpha=16, routed_scale=1.0):
    ff = hp["ff"]
    assert (ff - shared) % experts == 0
    return dict(hp, shared_ff=shared, experts=experts, top_k=top_k, expert_ff=(ff - shared) // experts,
                lora_rank=lora_rank, lora_alpha=lora_alpha, routed_scale=routed_scale)


def dense_arrays(hp, w):
    """Dense SmolLM2 in the MoE module: one 'shared expert' of all 1536 units, no routed units."""
    up = {"perm": [np.arange(hp["ff"])] * hp["layers"], "router": np.zeros((hp["layers"], 1, hp["hidden"])),
          "shared_gate": np.zeros((hp["layers"], hp["hidden"]))}
    return moe_cfg(hp, hp["ff"], 1, 1), apply(hp, w, up)


def batches(examples, homes, size):
    """Groups of examples of one home: (prefix ids, padded suffix ids, labels)."""
    by = {}
    for ex in examples:
        by.setdefault(ex[0], []).append(ex)
    for k, exs in by.items():
        for i in range(0, len(exs), size):
            yield make_batch(homes, k, exs[i:i + size])


def make_batch(homes, key, exs):
    """One batch of requests in home `key`: its catalog prefix, the requests padded with id 2, and
    their labels (-100 where no answer token is)."""
    L = max(len(e[1]) for e in exs)
    ids = torch.full((len(exs), L), 2, dtype=torch.long)
    lab = torch.full((len(exs), L), -100, dtype=torch.long)
    for j, (_, s, y) in enumerate(exs):
        ids[j, :len(s)] = torch.tensor(s)
        lab[j, :len(y)] = torch.tensor(y)
    return torch.tensor(homes.prefix[key]), ids, lab


def answer_loss(model, examples, homes, size=16):
    tot, n = 0.0, 0
    dev = model.embed.device
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16):
        for pre, ids, lab in batches(examples, homes, size):
            pre, ids, lab = pre.to(dev), ids.to(dev), lab.to(dev)
            h, _ = model.hidden(ids, pre)
            m = lab[:, 1:] != -100
            logits = model.logits(h[:, :-1][m])
            tot += torch.nn.functional.cross_entropy(logits, lab[:, 1:][m], reduction="sum").item()
            n += int(m.sum())
    return tot / n


def initial_shared_gate(layers, hidden, seed):
    """The shared-expert gate vectors start at ~0 (sigmoid 0.5, and the export's 2x makes it 1), but
    not at exactly 0: llama.cpp (llama-cpp-python 0.3.36) computes NaN logits for a qwen2moe file
    whose ffn_gate_inp_shexp is all zeros, while N(0, 1e-6) entries move the output by < 1e-3."""
    return (np.random.default_rng(seed + 7).standard_normal((layers, hidden)) * 1e-6).astype(np.float32)


def balanced_kmeans(feat, k, iters, rng):
    """feat: (units, dims) unit-normalised rows -> labels with exactly units/k per cluster."""
    n = feat.shape[0]
    cap = n // k
    cent = feat[rng.choice(n, k, replace=False)]
    for _ in range(iters):
        sim = feat @ cent.T                                   # (units, k)
        order = np.argsort(-sim, axis=None)                   # best (unit, cluster) pairs first
        lab = -np.ones(n, dtype=np.int64)
        count = np.zeros(k, dtype=np.int64)
        for flat in order:
            u, c = divmod(int(flat), k)
            if lab[u] < 0 and count[c] < cap:
                lab[u] = c
                count[c] += 1
        cent = np.stack([feat[lab == c].mean(0) for c in range(k)])
        cent /= np.linalg.norm(cent, axis=1, keepdims=True) + 1e-9
    return lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=int, default=1024)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--calib", type=int, default=96, help="training examples run for calibration")
    ap.add_argument("--eval", type=int, default=160, help="held-out examples for the loss check")
    ap.add_argument("--data", default=os.path.join(ROOT, "build", "stage2-data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stage2", "upcycle.npz"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    hp, w = smollm.load(data.SMOL)
    tok = data.tokenizer()
    homes = data.Homes(tok, a.data)
    calib = data.load(tok, homes, os.path.join(a.data, "train.jsonl"), a.calib)
    held = data.load(tok, homes, os.path.join(a.data, "held.jsonl"), a.eval)

    cfg, arr = dense_arrays(hp, w)
    dense = ActionModel(cfg, arr).eval()
    for layer in dense.layers:
        layer.capture = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for pre, ids, lab in batches(calib, homes, 16):
            dense.hidden(ids, pre)
    print(f"upcycle: calibration on {len(calib)} examples ({time.time() - t0:.0f} s)")
    L, E, S = hp["layers"], a.experts, a.shared
    perm = np.zeros((L, hp["ff"]), dtype=np.int64)
    router = np.zeros((L, E, hp["hidden"]), dtype=np.float32)
    agree, chosen_p = [], []
    for l, layer in enumerate(dense.layers):
        n = torch.cat([x[0].reshape(-1, hp["hidden"]) for x in layer.capture]).numpy()
        h = torch.cat([x[1].reshape(-1, hp["ff"]) for x in layer.capture]).numpy()
        sub = rng.choice(len(n), min(len(n), 6000), replace=False)
        n, h = n[sub], h[sub]
        mass = np.abs(h) * np.linalg.norm(w[f"{l}.down"], axis=0)[None]       # (tokens, units)
        imp = mass.mean(0)
        shared = np.argsort(-imp)[:S]
        rest = np.setdiff1d(np.arange(hp["ff"]), shared)
        feat = np.log1p(mass[:, rest] / (imp[rest][None] + 1e-9)).T
        feat = feat - feat.mean(1, keepdims=True)
        feat /= np.linalg.norm(feat, axis=1, keepdims=True) + 1e-9
        lab = balanced_kmeans(feat, E, 8, rng)
        groups = [rest[lab == e] for e in range(E)]
        perm[l] = np.concatenate([shared] + groups)
        y = np.log(np.stack([mass[:, g].sum(1) for g in groups], 1) + 1e-6)    # (tokens, E)
        y -= y.mean(1, keepdims=True)
        X = n
        W = np.linalg.solve(X.T @ X + 1e-2 * len(X) * np.eye(X.shape[1]), X.T @ y).T   # (E, hidden)
        router[l] = W
        z = X @ W.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        top = np.argsort(-z, 1)[:, :a.top_k]
        oracle = np.argsort(-y, 1)[:, :a.top_k]
        agree.append(np.mean([len(set(t) & set(o)) / a.top_k for t, o in zip(top, oracle)]))
        chosen_p.append(np.take_along_axis(p, top, 1).mean())
        layer.capture = None
    c = float(1.0 / np.mean(chosen_p))
    print(f"upcycle: router picks the oracle's experts {100 * np.mean(agree):.1f} % of the time "
          f"(layers {min(agree):.2f}-{max(agree):.2f}); mean chosen p {np.mean(chosen_p):.3f}, c = {c:.3f}")
    up = {"perm": perm, "router": router, "shared_gate": initial_shared_gate(L, hp["hidden"], a.seed)}
    mcfg = moe_cfg(hp, S, E, a.top_k, routed_scale=c)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    np.savez(a.out, cfg=json.dumps(mcfg), perm=perm.astype(np.int16), router=router,
             shared_gate=up["shared_gate"])
    print(f"upcycle: wrote {a.out}")
    base_loss = answer_loss(dense, held, homes)
    del dense
    moe = ActionModel(mcfg, apply(hp, w, up)).eval()
    moe_loss = answer_loss(moe, held, homes)
    print(f"upcycle: answer-token loss on {len(held)} held-out examples (no training yet): "
          f"dense SmolLM2 {base_loss:.3f}, upcycled MoE {moe_loss:.3f} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
