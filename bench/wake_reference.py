#!/usr/bin/env python3
"""CPU cost of the reference wake-word detector: openWakeWord 0.4.0 + onnxruntime, one head.

    .venv/bin/python bench/wake_reference.py build/bench/speech_noise_60s.wav models/hey_jarvis_v0.1.onnx

Loads one head (with melspectrogram.onnx and embedding_model.onnx from the same
folder unless --features-dir says otherwise) the way openWakeWord does by
default (ncpu=1: one intra-op and one inter-op thread per onnxruntime session),
then streams the WAV (16 kHz mono S16) through Model.predict() in consecutive
1280-sample chunks, as a live user would; a final partial chunk is dropped.

Prints one JSON object:
  audio_s          seconds of audio streamed
  cpu_s            process CPU time (time.process_time, all threads) of the streaming loop only
  wall_s           wall time of the streaming loop
  cpu_per_audio_s  cpu_s / audio_s (0.017 = 1.7 % of one core)
  load_cpu_s, load_wall_s   model loading (imports excluded), reported apart
  max_score, detections     what the detector saw (threshold 0.5)
Use --repeat N to stream the file N times through the same model (the result is
the total over all passes) for steadier numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import wave
from importlib.metadata import version
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="Specified provider .CUDAExecutionProvider")

CHUNK = 1280


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wav", type=Path)
    ap.add_argument("model", type=Path, help="head .onnx, e.g. models/hey_jarvis_v0.1.onnx")
    ap.add_argument("--features-dir", type=Path, default=None,
                    help="folder with melspectrogram.onnx and embedding_model.onnx (default: the model's)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args(argv)

    with wave.open(str(a.wav), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 16000):
            print(f"{a.wav}: need 16 kHz mono S16", file=sys.stderr)
            return 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    n_chunks = len(pcm) // CHUNK
    chunks = [pcm[i * CHUNK:(i + 1) * CHUNK] for i in range(n_chunks)]

    from openwakeword.model import Model  # import cost is excluded from everything

    feats = a.features_dir or a.model.parent
    c0, w0 = time.process_time(), time.perf_counter()
    model = Model(wakeword_model_paths=[str(a.model)],
                  melspec_onnx_model_path=str(feats / "melspectrogram.onnx"),
                  embedding_onnx_model_path=str(feats / "embedding_model.onnx"),
                  ncpu=1)
    load_cpu, load_wall = time.process_time() - c0, time.perf_counter() - w0
    (name,) = model.models.keys()

    scores = np.empty(n_chunks * a.repeat, dtype=np.float64)
    k = 0
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(a.repeat):
        for ch in chunks:
            scores[k] = model.predict(ch)[name]
            k += 1
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0

    above = scores >= a.threshold
    detections = int(np.sum(above[1:] & ~above[:-1]) + (1 if len(above) and above[0] else 0))
    audio_s = n_chunks * a.repeat * CHUNK / 16000
    print(json.dumps({
        "wav": str(a.wav),
        "model": name,
        "reference": f"openwakeword=={version('openwakeword')} onnxruntime=={version('onnxruntime')}",
        "threads": 1,
        "chunk_samples": CHUNK,
        "repeat": a.repeat,
        "audio_s": round(audio_s, 3),
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "cpu_per_audio_s": round(cpu / audio_s, 5) if audio_s else None,
        "load_cpu_s": round(load_cpu, 4),
        "load_wall_s": round(load_wall, 4),
        "max_score": round(float(scores.max()), 6) if len(scores) else None,
        "detections": detections,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
