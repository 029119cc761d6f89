#!/usr/bin/env python3
"""Deterministic audio for the wake-word CPU benchmarks.

    .venv/bin/python tools/gen_bench_audio.py --out build/bench

Writes (16 kHz mono S16) plus build/bench/manifest.json:

* speech_noise_60s.wav: exactly 60 s of continuous ordinary speech (sentences
  from tools/corpus/ordinary_speech.txt, four voices of three synthesizers taking
  turns, 0.25-0.6 s pauses) mixed with pink noise at 10 dB SNR; no wake word.
* near_silence_60s.wav: exactly 60 s of a quiet room: pink noise at -60 dBFS RMS,
  50 Hz mains hum with two harmonics at -66 dBFS RMS, and a tiny click (1 ms,
  -40 dBFS peak) every 2-9 s.
* speech_noise_1s.wav, near_silence_1s.wav: the first second of each (a plain
  sample copy), for the benchmarks' start-up runs and the power tests.

Same machinery and determinism rules as tools/gen_test_audio.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_test_audio as g  # noqa: E402

BENCH_VOICES = ["piper_joe", "flite_rms", "espeak_en-us+f2", "flite_slt"]


def bench_clips() -> list[g.Clip]:
    sents = g.corpus()
    segs = [("sil", 0.3)]
    # Sentences from the end of the corpus, about 75 s worth, cut to 60 s.
    for i, s in enumerate(reversed(sents[-24:])):
        segs += [("say", BENCH_VOICES[i % len(BENCH_VOICES)], s), ("sil", g._pause(i))]
    return [
        g.Clip("speech_noise_60s.wav", "bench", "negative", segs, snr_db=10.0, noise="pink",
               min_seconds=60.0, max_seconds=60.0),
        g.Clip("near_silence_60s.wav", "bench", "noise", [("sil", 60.0)], noise="pink",
               noise_dbfs=-60.0, hum_dbfs=-66.0, clicks_dbfs=-40.0, max_seconds=60.0),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/bench", type=Path)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    g.generate(bench_clips(), a.out, a.jobs)
    for name in ("speech_noise_60s.wav", "near_silence_60s.wav"):
        first_second(a.out / name, a.out / name.replace("_60s.wav", "_1s.wav"))
    return 0


def first_second(src: Path, dst: Path) -> None:
    with wave.open(str(src), "rb") as r:
        params, pcm = r.getparams(), r.readframes(r.getframerate())
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(pcm)


if __name__ == "__main__":
    sys.exit(main())
