"""Helpers to run the reference openWakeWord 0.4.0 (onnxruntime) the way a streaming user does.

Shared by tools/capture_wake_fixtures.py and tools/eval_wake_accuracy.py.
"""
from __future__ import annotations

import hashlib
import wave
from importlib.metadata import version
from pathlib import Path

import warnings

import numpy as np

warnings.filterwarnings("ignore", message="Specified provider .CUDAExecutionProvider")

CHUNK = 1280
SR = 16000
HEADS = ["hey_jarvis_v0.1", "alexa_v0.1", "hey_mycroft_v0.1", "hey_marvin_v0.1"]


def reference_string() -> str:
    return f"openwakeword=={version('openwakeword')} onnxruntime=={version('onnxruntime')}"


def read_wav16k(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, SR):
            raise ValueError(f"{path}: need 16 kHz mono S16, got "
                             f"{w.getnchannels()} ch, {8 * w.getsampwidth()} bit, {w.getframerate()} Hz")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_model(models_dir: Path, head: str):
    """A fresh reference Model with one head, using the melspectrogram/embedding
    files from models_dir (identical to the ones inside the wheel)."""
    from openwakeword.model import Model

    models_dir = Path(models_dir)
    return Model(wakeword_model_paths=[str(models_dir / f"{head}.onnx")],
                 melspec_onnx_model_path=str(models_dir / "melspectrogram.onnx"),
                 embedding_onnx_model_path=str(models_dir / "embedding_model.onnx"))


def stream_scores(model, pcm: np.ndarray) -> list[float]:
    """predict() on consecutive 1280-sample chunks; a final partial chunk is dropped."""
    (name,) = model.models.keys()
    out = []
    for i in range(0, len(pcm) - CHUNK + 1, CHUNK):
        out.append(float(model.predict(pcm[i:i + CHUNK])[name]))
    return out


def activations(scores: list[float], threshold: float = 0.5, refractory_chunks: int = 12) -> list[int]:
    """Chunk indices where a detection fires: the first chunk >= threshold, then
    nothing for refractory_chunks chunks (about 1 s) and until the score has
    dropped below the threshold again."""
    fired = []
    armed = True
    last = -10 ** 9
    for i, s in enumerate(scores):
        if s >= threshold:
            if armed and i - last > refractory_chunks:
                fired.append(i)
                last = i
            armed = False
        else:
            armed = True
    return fired


def chunk_end_s(i: int) -> float:
    return (i + 1) * CHUNK / SR
