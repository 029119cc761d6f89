#!/usr/bin/env python3
"""Measure how often the reference hey_jarvis model detects a voice (for choosing voices).

    .venv/bin/python tools/try_voices.py flite_slt flite_awb espeak:en-us+m1:160 flite:kal

Builds, in memory, the same 10 commands x (clean, 10 dB SNR) wake clips that
tools/gen_test_audio.py makes for its accuracy set (same rates, wake wordings,
noise colours), for each voice, and prints detections at threshold 0.5 and the
max score per clip. A voice is a key of gen_test_audio.VOICES or an ad-hoc spec
``espeak:VOICE[:WPM]``, ``flite:VOICE``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_test_audio as g  # noqa: E402
import oww_ref as ref  # noqa: E402


def register(spec: str) -> str:
    if spec in g.VOICES:
        return spec
    kind, _, rest = spec.partition(":")
    if kind == "espeak":
        voice, _, wpm = rest.partition(":")
        g.VOICES[spec] = ("espeak-ng", {"voice": voice, "speed": int(wpm or 150)})
    elif kind == "flite":
        g.VOICES[spec] = ("flite", {"voice": rest})
    else:
        raise SystemExit(f"unknown voice {spec!r}")
    return spec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", nargs="+")
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args(argv)
    tot = det = 0
    for spec in a.voices:
        v = register(spec)
        t0 = time.perf_counter()
        res = {}
        for snr in (None, 10.0):
            for ci, cmd in enumerate(g.COMMANDS):
                rate = g.WAKE_RATES[ci]
                segs = [("sil", 0.8), ("wake", v, g.WAKE_TEXTS[ci % len(g.WAKE_TEXTS)], "hey_jarvis", rate),
                        ("sil", 0.3), ("say", v, cmd, rate), ("sil", 0.8)]
                clip = g.Clip(f"try/{v}_{ci:02d}_{snr}.wav", "try", "wake", segs, snr_db=snr,
                              noise=g.NOISES[ci % 2])
                x, _ = g.render(clip)
                pcm = g.quantize(x).astype(np.int16)
                s = ref.stream_scores(ref.make_model(a.models, "hey_jarvis_v0.1"), pcm)
                res.setdefault(snr, []).append(max(s))
        c, n = np.array(res[None]), np.array(res[10.0])
        dc, dn = int(np.sum(c >= a.threshold)), int(np.sum(n >= a.threshold))
        tot += 20
        det += dc + dn
        print(f"{spec:24s} clean {dc:2d}/10 [{' '.join(f'{x:.2f}' for x in c)}]  "
              f"snr10 {dn:2d}/10 [{' '.join(f'{x:.2f}' for x in n)}]  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    print(f"all: {det}/{tot} detected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
