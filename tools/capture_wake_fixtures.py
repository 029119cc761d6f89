#!/usr/bin/env python3
"""Capture reference openWakeWord 0.4.0 scores as small JSON fixtures for the Swift port.

    .venv/bin/python tools/capture_wake_fixtures.py --audio build/testdata --models models \
        --out Tests/HarkWakeTests/Fixtures

For each parity clip (see tools/gen_test_audio.py) and head, a fresh
``openwakeword.model.Model(wakeword_model_paths=[head])`` (onnxruntime, one
thread, as openWakeWord sets it) gets ``predict()`` on consecutive 1280-sample
int16 chunks, exactly as a streaming user would; a final partial chunk is
dropped. Output, under ``<out>/oww_reference/``:

* ``scores/<clip>__<head>.json``: ``{"clip", "sha256", "model", "chunk_samples",
  "scores" (per chunk, 6 decimals), "reference", "threshold", "above_threshold_chunks",
  "activations", "forced_zero_chunks"}``. hey_jarvis on every parity clip;
  alexa, hey_mycroft, hey_marvin on their own clip and on one other clip.
* ``intermediates_<clip>.json``: for one clean clip, per chunk for the first
  chunks: the melspectrogram rows the streaming preprocessor computed (after
  openWakeWord's x/10+2 transform), the number of samples fed to the
  melspectrogram model, the 96-d embedding row appended, the hey_jarvis head's
  raw output before openWakeWord zeroes the first 5 predictions, and the
  score predict() returned; plus the initial state (melspectrogram buffer of
  76x32 ones; the feature buffer = embeddings of 10 s of zeros, 116 identical rows).
* ``index.json``: every fixture with its clip, sha256 and head.

The Swift tests regenerate the audio with ``make`` and must check each clip's
sha256 before comparing scores.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oww_ref as ref  # noqa: E402

THRESHOLD = 0.5
# The extra clip each non-default head is also run on.
OTHER_HEADS = {
    "alexa_v0.1": ("parity/alexa_piper_joe.wav", "parity/jarvis_piper_joe_clean.wav"),
    "hey_mycroft_v0.1": ("parity/hey_mycroft_piper_joe.wav", "parity/hey_marvin_piper_joe.wav"),
    "hey_marvin_v0.1": ("parity/hey_marvin_piper_joe.wav", "parity/speech_piper_joe.wav"),
}
INTERMEDIATE_CLIP = "parity/jarvis_piper_joe_clean.wav"
INTERMEDIATE_HEAD = "hey_jarvis_v0.1"
INTERMEDIATE_CHUNKS = 24  # 1.92 s: leading silence and the whole spoken "hey jarvis"


def r6(x) -> list:
    return [round(float(v), 6) for v in np.asarray(x).ravel()]


def score_fixture(audio: Path, models: Path, clip: dict, head: str) -> dict:
    pcm = ref.read_wav16k(audio / clip["path"])
    sha = ref.sha256_file(audio / clip["path"])
    if sha != clip["sha256"]:
        raise SystemExit(f"{clip['path']}: sha256 differs from the manifest")
    model = ref.make_model(models, head)
    scores = [round(s, 6) for s in ref.stream_scores(model, pcm)]
    fired = ref.activations(scores, THRESHOLD)
    return {
        "clip": clip["path"],
        "sha256": sha,
        "model": head,
        "chunk_samples": ref.CHUNK,
        "n_chunks": len(scores),
        "scores": scores,
        "reference": ref.reference_string(),
        "threshold": THRESHOLD,
        "above_threshold_chunks": [i for i, s in enumerate(scores) if s >= THRESHOLD],
        "activations": [{"chunk": i, "t_s": ref.chunk_end_s(i), "score": scores[i]} for i in fired],
        "forced_zero_chunks": [0, 1, 2, 3, 4],
        "ground_truth": clip["wake_words"],
        "max_score": max(scores) if scores else None,
    }


def intermediates(audio: Path, models: Path, clip: dict, head: str, n_chunks: int) -> dict:
    pcm = ref.read_wav16k(audio / clip["path"])
    model = ref.make_model(models, head)
    pre = model.preprocessor
    sess = model.models[head]
    in_name = model.model_input_names[head]
    n_in = model.model_inputs[head]

    init_fb = pre.feature_buffer
    assert np.all(init_fb == init_fb[0]), "initial feature buffer rows differ"
    init_mel = pre.melspectrogram_buffer
    assert init_mel.shape == (76, 32) and np.all(init_mel == 1.0)

    # Record every call of the melspectrogram function (its output is after x/10+2).
    calls = []
    orig = pre._get_melspectrogram

    def spy(x, **kw):
        out = orig(x, **kw)
        calls.append((len(x), out))
        return out

    pre._get_melspectrogram = spy
    chunks = []
    for c in range(n_chunks):
        x = pcm[c * ref.CHUNK:(c + 1) * ref.CHUNK]
        calls.clear()
        fb_before = pre.feature_buffer.shape[0]
        score = float(model.predict(x)[head])
        assert len(calls) == 1
        n_in_samples, mel = calls[0]
        mel = np.atleast_2d(mel)
        emb = pre.feature_buffer[-1]
        raw = float(sess.run(None, {in_name: pre.get_features(n_in)})[0].ravel()[0])
        chunks.append({
            "chunk": c,
            "mel_input_samples": n_in_samples,
            "mel_rows": [r6(row) for row in mel],
            "melspectrogram_buffer_rows": int(pre.melspectrogram_buffer.shape[0]),
            "embedding": r6(emb),
            "feature_buffer_rows": int(pre.feature_buffer.shape[0]),
            "feature_buffer_rows_before": int(fb_before),
            "head_raw_score": round(raw, 6),
            "score": round(score, 6),
        })
    return {
        "clip": clip["path"],
        "sha256": clip["sha256"],
        "model": head,
        "chunk_samples": ref.CHUNK,
        "reference": ref.reference_string(),
        "notes": [
            "mel_rows: output of melspectrogram.onnx on the streaming window, squeezed, then x/10+2.",
            "The window is the last (chunk + 480) samples of the raw buffer (10 s deque of int16, "
            "as float32, not scaled); for chunk 0 the buffer holds only 1280 samples.",
            "The melspectrogram buffer starts as 76x32 ones, the new rows are appended (max 970 rows).",
            "embedding: embedding_model.onnx on the last 76 mel rows, shape (1,76,32,1); appended to "
            "the feature buffer, which keeps the last 120 rows.",
            "The head sees the last 16 feature rows, shape (1,16,96).",
            "score: what predict() returned; openWakeWord sets the first 5 predictions to 0.0 "
            "(head_raw_score is the head's output for the same features).",
        ],
        "initial_state": {
            "melspectrogram_buffer": "ones, 76 x 32",
            "feature_buffer_rows": int(init_fb.shape[0]),
            "feature_buffer_row": r6(init_fb[0]),
            "feature_buffer_from": "embeddings of 10 s (160000 samples) of int16 zeros; every row equal",
            "mel_of_zeros": r6(orig(np.zeros(1760, dtype=np.int16))[0]),
        },
        "chunks": chunks,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio", type=Path, default=Path("build/testdata"))
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--out", type=Path, default=Path("Tests/HarkWakeTests/Fixtures"))
    a = ap.parse_args(argv)

    manifest = json.loads((a.audio / "manifest.json").read_text())
    parity = {f["path"]: f for f in manifest["files"] if f["set"] == "parity"}
    runs = [(p, "hey_jarvis_v0.1") for p in sorted(parity)]
    for head, clips in OTHER_HEADS.items():
        runs += [(p, head) for p in clips]

    out = a.out / "oww_reference"
    (out / "scores").mkdir(parents=True, exist_ok=True)
    for old in (out / "scores").glob("*.json"):
        old.unlink()
    index = {"reference": ref.reference_string(), "chunk_samples": ref.CHUNK, "threshold": THRESHOLD,
             "audio_generator": "tools/gen_test_audio.py", "scores": [], "intermediates": []}
    for path, head in runs:
        fx = score_fixture(a.audio, a.models, parity[path], head)
        name = f"{Path(path).stem}__{head}.json"
        (out / "scores" / name).write_text(json.dumps(fx, separators=(",", ":")) + "\n")
        index["scores"].append({"file": f"scores/{name}", "clip": path, "sha256": fx["sha256"],
                                "model": head, "max_score": fx["max_score"],
                                "above_threshold_chunks": fx["above_threshold_chunks"]})
        print(f"{path:40s} {head:18s} max {fx['max_score']:.6f} >=0.5 at chunks "
              f"{fx['above_threshold_chunks']}")
    im = intermediates(a.audio, a.models, parity[INTERMEDIATE_CLIP], INTERMEDIATE_HEAD, INTERMEDIATE_CHUNKS)
    name = f"intermediates_{Path(INTERMEDIATE_CLIP).stem}.json"
    (out / name).write_text(json.dumps(im, separators=(",", ":")) + "\n")
    index["intermediates"].append({"file": name, "clip": INTERMEDIATE_CLIP, "sha256": im["sha256"],
                                   "model": INTERMEDIATE_HEAD, "chunks": INTERMEDIATE_CHUNKS})
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*.json"))
    print(f"wrote {len(runs)} score fixtures + 1 intermediates file to {out} ({total / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
