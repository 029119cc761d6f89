#!/usr/bin/env python3
"""Captures gguf-py's (llama.cpp's gguf.quants) quantization and dequantization of seeded random data
for each weight type HarkKernels implements, into Tests/HarkKernelsTests/Fixtures/quant_fixtures.json.

gguf.quants quantizes F16, BF16, Q8_0, Q4_0 and Q4_1 (as ggml's *_ref functions) and only dequantizes
the K-quants, so K-quant blocks are random bytes with finite float16 scales. Floats are written as
their IEEE bit patterns in hex (8 digits each, float16 4), so nothing is lost to decimal printing.

    .venv/bin/python tools/capture_quant_fixtures.py    (gguf as pinned in tools/requirements-llm.txt)
"""
import importlib.metadata
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/HarkKernelsTests/Fixtures/quant_fixtures.json"


def f32hex(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(">u4").tobytes().hex()


def half_scales(rng, n, scale):
    """n finite float16 scales of magnitude about `scale`, as bytes."""
    return (np.abs(rng.standard_normal(n)) * scale).astype(np.float16).view(np.uint8).reshape(n, 2)


def k_blocks(rng, qtype, n):
    """n random blocks of a K-quant with sane float16 scales."""
    if qtype == T.Q4_K:   # d, dmin, scales[12], qs[128]
        return np.concatenate([half_scales(rng, n, 0.01), half_scales(rng, n, 0.01),
                               rng.integers(0, 256, (n, 12 + 128), dtype=np.uint8)], axis=1)
    if qtype == T.Q5_K:   # d, dmin, scales[12], qh[32], qs[128]
        return np.concatenate([half_scales(rng, n, 0.01), half_scales(rng, n, 0.01),
                               rng.integers(0, 256, (n, 12 + 32 + 128), dtype=np.uint8)], axis=1)
    if qtype == T.Q6_K:   # ql[128], qh[64], scales[16] (int8), d
        return np.concatenate([rng.integers(0, 256, (n, 128 + 64 + 16), dtype=np.uint8),
                               half_scales(rng, n, 0.001)], axis=1)
    raise ValueError(qtype)


def main():
    rng = np.random.default_rng(20261122)
    cases = []
    # Quantized by gguf-py from floats: 8 blocks of 32 (and 256 values for the float formats), the
    # last block all zeros (the d = 0 path), one value with a tie for Q8_0's rounding.
    for qtype in (T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1):
        x = rng.standard_normal(256).astype(np.float32) * np.float32(0.5)
        x[-32:] = 0
        if qtype == T.Q8_0:
            x[32:64] = np.linspace(-1, 1, 32, dtype=np.float32)
        q = quants.quantize(x.reshape(1, -1), qtype)
        d = quants.dequantize(q, qtype).reshape(-1)
        cases.append({"type": qtype.name.lower(), "count": 256, "input": f32hex(x),
                      "bytes": q.view(np.uint8).tobytes().hex(), "dequantized": f32hex(d)})
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        b = k_blocks(rng, qtype, 3)
        d = quants.dequantize(b, qtype).reshape(-1)
        cases.append({"type": qtype.name.lower().replace("_k", "_K"), "count": 768, "input": "",
                      "bytes": b.tobytes().hex(), "dequantized": f32hex(d)})
    doc = {"source": f"gguf {importlib.metadata.version('gguf')} (gguf.quants), numpy {np.__version__}, seed 20261122",
           "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
