#!/usr/bin/env python3
"""onnxruntime (MLAS) single-thread GFLOP/s on the Sgemm benchmark's shapes, for comparison with
bench/kernels/run.sh. Each shape is a graph of R MatMul nodes W_r[M×K] · X[K×N] (W constant, X the
input, as in an im2col convolution), so the per-run overhead is shared by R products.

    pip install onnxruntime onnx numpy && python3 bench/kernels/ort_gemm.py
"""
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SHAPES = [  # name, M, K, N: as in bench/kernels/main.swift
    ("conv0", 24, 9, 2368), ("conv1", 24, 72, 2368), ("conv2", 24, 72, 2304), ("conv3", 48, 72, 576),
    ("conv4", 48, 144, 544), ("conv5", 48, 144, 544), ("conv6", 48, 144, 512), ("conv7", 72, 144, 256),
    ("conv8", 72, 216, 240), ("conv9", 72, 216, 240), ("conv10", 72, 216, 224), ("conv11", 96, 216, 56),
    ("conv12", 96, 288, 48), ("conv13", 96, 288, 48), ("conv14", 96, 288, 40), ("conv15", 96, 288, 20),
    ("conv16", 96, 288, 16), ("conv17", 96, 288, 16), ("conv18", 96, 288, 12), ("conv19", 96, 288, 1),
    ("mel-conv", 257, 512, 8), ("mel-matmul", 8, 257, 32), ("head-1536", 128, 1536, 1),
    ("head-128", 128, 128, 1), ("lstm1-W", 256, 96, 1), ("lstm1-R", 256, 64, 1),
    ("lstm2-W", 128, 128, 1), ("lstm2-R", 128, 32, 1), ("row-1536", 1, 1536, 128), ("row-lstm", 1, 128, 512),
]


def session(m, k, n, repeats):
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [k, n])
    nodes, weights, outputs = [], [], []
    for r in range(repeats):
        weights.append(numpy_helper.from_array(rng.uniform(-1, 1, (m, k)).astype(np.float32), f"w{r}"))
        nodes.append(helper.make_node("MatMul", [f"w{r}", "x"], [f"y{r}"]))
        outputs.append(helper.make_tensor_value_info(f"y{r}", TensorProto.FLOAT, [m, n]))
    graph = helper.make_graph(nodes, "gemms", [x], outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


print(f"onnxruntime {ort.__version__}, 1 thread, thread CPU time, best of 15 rounds")
print(f"{'shape':12} {'M':>5} {'K':>5} {'N':>5} {'GFLOP/s':>8} {'µs':>8}")
total = 0.0
for name, m, k, n in SHAPES:
    repeats = 10
    s = session(m, k, n, repeats)
    feed = {"x": np.random.default_rng(1).uniform(-1, 1, (k, n)).astype(np.float32)}
    flops = 2 * m * n * k
    calls = max(1, int(2e7 / (flops * repeats)))
    for _ in range(5):
        s.run(None, feed)
    best = float("inf")
    for _ in range(15):
        t0 = time.thread_time()
        for _ in range(calls):
            s.run(None, feed)
        best = min(best, (time.thread_time() - t0) / (calls * repeats))
    if name.startswith("conv"):
        total += best
    print(f"{name:12} {m:5} {k:5} {n:5} {flops / best / 1e9:8.1f} {best * 1e6:8.2f}")
print(f"embedding model, 20 conv GEMMs: {total * 1e6:.0f} µs")
