#!/usr/bin/env python3
"""onnxruntime's single-thread CPU time per call on the openWakeWord 0.4.0 models: the figure the
Sgemm benchmark (bench/kernels/run.sh) is compared with.

    pip install onnxruntime numpy
    pip download --no-deps openwakeword==0.4.0 && unzip -o openwakeword-0.4.0-*.whl 'openwakeword/resources/models/*'
    python3 bench/kernels/ort_time.py openwakeword/resources/models
"""
import sys
import time

import numpy as np
import onnxruntime as ort


def per_call_us(path, shape, calls=500, rounds=9):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(50):
        session.run(None, {name: x})
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()  # CPU time of this thread: the machine may be shared
        for _ in range(calls):
            session.run(None, {name: x})
        best = min(best, (time.thread_time() - t0) / calls)
    return best * 1e6


models = sys.argv[1] if len(sys.argv) > 1 else "openwakeword/resources/models"
print(f"onnxruntime {ort.__version__}, 1 thread, best of 9 rounds of 500 calls (thread CPU time)")
for file, shape in [("embedding_model.onnx", (1, 76, 32, 1)), ("melspectrogram.onnx", (1, 1760)),
                    ("hey_jarvis_v0.1.onnx", (1, 16, 96)), ("hey_mycroft_v0.1.onnx", (1, 16, 96))]:
    print(f"{file:24} {str(list(shape)):14} {per_call_us(f'{models}/{file}', shape):8.0f} µs/call")
