#!/usr/bin/env python3
"""Reference wake-word accuracy on the generated test audio.

    .venv/bin/python tools/eval_wake_accuracy.py --audio build/testdata --models models \
        [--fixture Tests/HarkWakeTests/Fixtures/reference_accuracy.json]

Runs openWakeWord 0.4.0 (onnxruntime, a fresh Model per file, hey_jarvis_v0.1)
over every file of the ``accuracy`` set in the manifest, streaming 1280-sample
chunks, and reports per voice and overall:

* wake clips: detected / total at the threshold. A clip counts as detected when
  a detection fires (first chunk >= threshold, see oww_ref.activations) with a
  chunk end time between the start of the spoken wake phrase and 1.5 s after
  its end. Detections anywhere else are false accepts.
* negative speech: false accepts (detections) over the minutes of audio, and
  the highest score seen.

Writes the full per-file result to build/wake_accuracy_reference.json and, with
--fixture, a compact per-file summary that the Swift tests can compare with.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oww_ref as ref  # noqa: E402

HEAD = "hey_jarvis_v0.1"
WINDOW_AFTER_END_S = 1.5


def _eval(args):
    audio_dir, models_dir, f, threshold = args
    pcm = ref.read_wav16k(Path(audio_dir) / f["path"])
    model = ref.make_model(Path(models_dir), HEAD)
    scores = ref.stream_scores(model, pcm)
    fired = ref.activations(scores, threshold)
    times = [ref.chunk_end_s(i) for i in fired]
    res = {"path": f["path"], "sha256": f["sha256"], "voice": f["voice"], "synth": f["synth"],
           "snr_db": f["snr_db"], "kind": f["kind"], "duration_s": f["duration_s"],
           "max_score": round(max(scores) if scores else 0.0, 6),
           "activations_chunk": fired, "activations_s": times}
    if f["kind"] == "wake":
        ww = [w for w in f["wake_words"] if w["word"] == "hey_jarvis"]
        hit, fa = None, 0
        for i, t in zip(fired, times):
            if any(w["start_s"] <= t <= w["end_s"] + WINDOW_AFTER_END_S for w in ww) and hit is None:
                hit = (i, t)
            else:
                fa += 1
        res["detected"] = hit is not None
        res["detect_chunk"] = hit[0] if hit else None
        res["latency_s"] = round(hit[1] - ww[0]["end_s"], 4) if hit else None
        res["false_accepts"] = fa
    else:
        res["false_accepts"] = len(fired)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio", type=Path, default=Path("build/testdata"))
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", default="accuracy", help="manifest set to evaluate (default: accuracy)")
    ap.add_argument("--out", type=Path, default=Path("build/wake_accuracy_reference.json"))
    ap.add_argument("--fixture", type=Path, default=None,
                    help="also write a compact summary here (e.g. Tests/HarkWakeTests/Fixtures/...)")
    a = ap.parse_args(argv)

    manifest = json.loads((a.audio / "manifest.json").read_text())
    files = [f for f in manifest["files"] if f["set"] == a.set and f["kind"] in ("wake", "negative")]
    t0 = time.perf_counter()
    work = [(str(a.audio), str(a.models), f, a.threshold) for f in files]
    if a.jobs > 1:
        with mp.get_context("spawn").Pool(a.jobs) as pool:
            results = pool.map(_eval, work, chunksize=1)
    else:
        results = [_eval(w) for w in work]
    dt = time.perf_counter() - t0

    per_voice = defaultdict(lambda: {"wake_total": 0, "wake_detected": 0, "wake_clean": [0, 0],
                                     "wake_snr10": [0, 0], "wake_fa": 0, "neg_minutes": 0.0,
                                     "neg_fa": 0, "neg_max_score": 0.0})
    for r in results:
        v = per_voice[r["voice"]]
        if r["kind"] == "wake":
            v["wake_total"] += 1
            v["wake_detected"] += int(r["detected"])
            key = "wake_clean" if r["snr_db"] is None else "wake_snr10"
            v[key][0] += int(r["detected"])
            v[key][1] += 1
            v["wake_fa"] += r["false_accepts"]
        else:
            v["neg_minutes"] += r["duration_s"] / 60
            v["neg_fa"] += r["false_accepts"]
            v["neg_max_score"] = max(v["neg_max_score"], r["max_score"])
    wake = [r for r in results if r["kind"] == "wake"]
    neg = [r for r in results if r["kind"] == "negative"]
    det = sum(r["detected"] for r in wake)
    lat = sorted(r["latency_s"] for r in wake if r["detected"])
    summary = {
        "reference": ref.reference_string(),
        "model": HEAD,
        "threshold": a.threshold,
        "detection_window": f"[wake start, wake end + {WINDOW_AFTER_END_S} s]",
        "wake_clips": len(wake),
        "wake_detected": det,
        "false_reject_rate": round(1 - det / len(wake), 4) if wake else None,
        "false_accepts_in_wake_clips": sum(r["false_accepts"] for r in wake),
        "negative_minutes": round(sum(r["duration_s"] for r in neg) / 60, 2),
        "negative_false_accepts": sum(r["false_accepts"] for r in neg),
        "negative_max_score": max((r["max_score"] for r in neg), default=None),
        "latency_s_median": lat[len(lat) // 2] if lat else None,
        "latency_s_range": [lat[0], lat[-1]] if lat else None,
        "per_voice": {k: {**v, "neg_minutes": round(v["neg_minutes"], 2)} for k, v in sorted(per_voice.items())},
    }

    print(f"reference: {summary['reference']}  model {HEAD}  threshold {a.threshold}  ({dt:.1f} s)")
    print(f"{'voice':24s} {'wake det/total':>15s} {'clean':>8s} {'snr10':>8s} {'neg min':>8s} "
          f"{'neg FA':>7s} {'neg max':>8s}")
    for k, v in sorted(per_voice.items()):
        wt = f"{v['wake_detected']}/{v['wake_total']}" if v["wake_total"] else "-"
        c = f"{v['wake_clean'][0]}/{v['wake_clean'][1]}" if v["wake_total"] else "-"
        s = f"{v['wake_snr10'][0]}/{v['wake_snr10'][1]}" if v["wake_total"] else "-"
        print(f"{k:24s} {wt:>15s} {c:>8s} {s:>8s} {v['neg_minutes']:8.2f} {v['neg_fa']:7d} "
              f"{v['neg_max_score']:8.3f}")
    print(f"overall: wake {det}/{len(wake)} detected (FRR {summary['false_reject_rate']:.1%}), "
          f"{summary['false_accepts_in_wake_clips']} extra detections in wake clips; "
          f"negatives: {summary['negative_false_accepts']} false accepts in "
          f"{summary['negative_minutes']} min, max score {summary['negative_max_score']}; "
          f"latency after wake end median {summary['latency_s_median']} s, range {summary['latency_s_range']}")
    missed = [r for r in wake if not r["detected"]]
    for r in missed:
        print(f"  missed: {r['path']} max {r['max_score']:.3f}")
    for r in neg:
        if r["false_accepts"]:
            print(f"  false accept: {r['path']} at {r['activations_s']}")

    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"summary": summary, "files": results}, indent=1) + "\n")
    if a.fixture:
        compact = {"summary": summary,
                   "files": [{k: r[k] for k in ("path", "sha256", "kind", "max_score", "activations_chunk")
                              if k in r} | ({"detected": r["detected"]} if r["kind"] == "wake" else {})
                             for r in results]}
        a.fixture.parent.mkdir(parents=True, exist_ok=True)
        a.fixture.write_text(json.dumps(compact, separators=(",", ":")) + "\n")
        print(f"wrote {a.fixture} ({a.fixture.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
