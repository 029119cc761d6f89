#!/usr/bin/env python3
"""Speech to text per utterance: hark-whisper against faster-whisper, Whisper tiny.en (make bench-whisper).

    .venv/bin/python bench/bench_whisper.py [--hark .build/release/hark-whisper] [--threads 1,2] [--runs N]
    .venv/bin/python bench/bench_whisper.py --reference-only      # faster-whisper alone

Input: ~38 command clips of tools/gen_command_audio.py (build/testdata/commands), 3-5 s each: "hey
jarvis, <command>" by the four command voices, clean and at 10 dB SNR (pink or brown noise), and by
three of them under babble. One more clip is the warm-up.

Each side runs in its own child process per thread count and compute type, loads the model once,
transcribes the warm-up clip and then every clip, and reports, one JSON object per line (the
`hark-whisper --json` contract): {"load_s": S}, then per file {"file", "text", "tokens", "seconds"},
seconds being the wall time of that file's transcription (reading the WAV included, the model load
not). faster-whisper runs as `WhisperModel(models/whisper-tiny.en, device="cpu", compute_type=CT,
cpu_threads=N, num_workers=1)` with the greedy options of tools/capture_whisper_fixtures.py, for CT
int8 (DESIGN.md §6's anchor: ~0.3-0.4 s for a 3-5 s command on 2 threads) and float32; hark-whisper
as `hark-whisper --model DIR --compute-type CT --threads N --json FILE...` for the same two. Peak RSS
and CPU time of each child come from wait4(2). With --runs N every configuration runs N times, interleaved, and each clip's time is
its median over the runs.

Prints a table, Hark / faster-whisper ratios against both compute types, how many transcripts agree,
and ends with `time_ratio_1t: R` and `time_ratio_2t: R`: Hark's mean seconds per utterance over
faster-whisper int8's (Hark with --compute-type int8: the same compute type), with 1 and 2 threads;
before them `time_ratio_float32_1t` / `_2t`, Hark float32 against faster-whisper float32.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
VOICES = ["piper_joe", "flite_rms", "flite_kal", "espeak_en-us+f2"]
MIN_S, MAX_S = 3.0, 5.0


# --------------------------------------------------------------------------
# The faster-whisper child: the same JSON-lines protocol as hark-whisper --json
# --------------------------------------------------------------------------
def read_pcm(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def fw_child(model_dir: str, compute_type: str, threads: int, files: list[str]) -> int:
    from capture_whisper_fixtures import OPTIONS
    t0 = time.perf_counter()
    from faster_whisper import WhisperModel
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
    print(json.dumps({"load_s": time.perf_counter() - t0}), flush=True)
    for f in files:
        t = time.perf_counter()
        segments, _ = model.transcribe(read_pcm(f), **OPTIONS)
        segments = list(segments)
        dt = time.perf_counter() - t
        print(json.dumps({"file": f, "text": "".join(s.text for s in segments).strip(),
                          "tokens": [t for s in segments for t in s.tokens], "seconds": dt}), flush=True)
    return 0


# --------------------------------------------------------------------------
# The parent
# --------------------------------------------------------------------------
def select(manifest: dict) -> tuple[list[dict], dict]:
    """Clips of 3-5 s spread over the commands: per voice 4 clean and 4 at 10 dB SNR, and 2 under
    babble for each voice that has babble clips; plus a warm-up clip that is none of them."""
    files = sorted((f for f in manifest["files"] if MIN_S <= f["duration_s"] <= MAX_S), key=lambda f: f["path"])

    def spread(cands: list[dict], n: int, offset: int) -> list[dict]:
        return [cands[(offset + i * len(cands) // n) % len(cands)] for i in range(min(n, len(cands)))]
    out = []
    for vi, v in enumerate(VOICES):
        for kind, suffix, n in (("ingrammar", "_clean.wav", 4), ("ingrammar", "_snr10.wav", 4), ("babble", ".wav", 2)):
            cands = [f for f in files if f["kind"] == kind and f["voice"] == v and f["path"].endswith(suffix)]
            out += spread(cands, n, 3 * vi + len(suffix))
    chosen = {f["path"] for f in out}
    warm = next(f for f in files if f["kind"] == "ingrammar" and f["path"] not in chosen)
    return out, warm


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Runs one side; returns load_s, per-file results, peak RSS (MB) and CPU seconds of the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if status != 0:
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            sys.exit(f"bench-whisper: {' '.join(cmd[:4])} ... exited with status {status}: " + " | ".join(tail))
    lines = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    load = next((x["load_s"] for x in lines if "load_s" in x), None)
    files = [x for x in lines if "file" in x]
    if load is None or not files:
        sys.exit(f"bench-whisper: {cmd[0]} printed no load_s or no file results (is --json supported?)")
    return {"load_s": load, "files": files, "rss_mb": usage.ru_maxrss / 1024.0,
            "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall}


def pct(v: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(v), q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hark", default=str(ROOT / ".build/release/hark-whisper"))
    ap.add_argument("--model", default="models/whisper-tiny.en")
    ap.add_argument("--audio", default=str(ROOT / "build/testdata/commands"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--reference-only", action="store_true", help="faster-whisper alone (no ratios)")
    ap.add_argument("--fw-child", metavar="COMPUTE_TYPE", help=argparse.SUPPRESS)
    ap.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.fw_child:
        return fw_child(a.model, a.fw_child, a.child_threads, a.files)

    if not a.reference_only and not os.access(a.hark, os.X_OK):
        sys.exit(f"bench-whisper: {a.hark} not found: build it with `swift build -c release -Xswiftc "
                 f"-enable-testing --product hark-whisper` (or run with --reference-only)")
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        sys.exit("bench-whisper: faster-whisper is not installed: run tools/setup-venv.sh --whisper")
    mpath = Path(a.audio) / "manifest.json"
    if not mpath.is_file():
        sys.exit(f"bench-whisper: {mpath} missing: make command-audio")
    clips, warm = select(json.loads(mpath.read_text(encoding="utf-8")))
    paths = [str(Path(a.audio) / f["path"]) for f in [warm] + clips]
    threads = [int(t) for t in a.threads.split(",")]
    sides = ["fw-int8", "fw-float32"] + ([] if a.reference_only else ["hark-int8", "hark-float32"])
    audio_s = [f["duration_s"] for f in clips]
    print(f"== {len(clips)} clips, {min(audio_s):.1f}-{max(audio_s):.1f} s (mean {np.mean(audio_s):.2f} s): "
          f"{', '.join(VOICES)}; clean, 10 dB SNR, babble; warm-up {warm['path']}; {a.runs} run(s)", flush=True)

    results: dict[tuple[str, int], list[dict]] = {}
    for run in range(a.runs):
        for n in threads:
            for side in sides:
                if side.startswith("hark"):
                    cmd = [a.hark, "--model", a.model, "--compute-type", side[5:], "--threads", str(n), "--json", *paths]
                    env = None
                else:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--fw-child", side[3:],
                           "--child-threads", str(n), "--model", a.model, *paths]
                    # cpu_threads sets CTranslate2's threads; OMP_NUM_THREADS / MKL_NUM_THREADS are left
                    # alone: MKL_NUM_THREADS=1 switches MKL to other int8 kernels, whose transcripts differ
                    # from the fixtures' on ~1 clip in 5 (float32's do not).
                    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
                    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                        env.pop(k, None)
                r = run_child(cmd, env)
                if len(r["files"]) != len(paths):
                    sys.exit(f"bench-whisper: {side} gave {len(r['files'])} results for {len(paths)} files")
                results.setdefault((side, n), []).append(r)
                print(f"   run {run + 1}, {side}, {n} thread(s): load {r['load_s']:.2f} s, "
                      f"clips {sum(x['seconds'] for x in r['files'][1:]):.1f} s, peak RSS {r['rss_mb']:.0f} MB",
                      flush=True)

    def stats(side: str, n: int) -> dict:
        runs = results[(side, n)]
        per_clip = np.median(np.array([[x["seconds"] for x in r["files"][1:]] for r in runs]), axis=0)
        return {"mean": float(per_clip.mean()), "p50": pct(per_clip, 50), "p95": pct(per_clip, 95),
                "max": float(per_clip.max()), "load": float(np.median([r["load_s"] for r in runs])),
                "rss": max(r["rss_mb"] for r in runs), "cpu": float(np.median([r["cpu_s"] for r in runs])),
                "rtf": float(per_clip.sum() / sum(audio_s)),
                "texts": [x["text"] for x in runs[-1]["files"][1:]],
                "tokens": [x["tokens"] for x in runs[-1]["files"][1:]]}
    s = {(side, n): stats(side, n) for side in sides for n in threads}

    print(f"\n{'side':14}{'threads':>8}{'mean s':>9}{'p50 s':>9}{'p95 s':>9}{'max s':>9}{'RTF':>8}"
          f"{'load s':>9}{'RSS MB':>9}{'CPU s':>8}")
    for n in threads:
        for side in sides:
            x = s[(side, n)]
            print(f"{side:14}{n:>8}{x['mean']:9.3f}{x['p50']:9.3f}{x['p95']:9.3f}{x['max']:9.3f}{x['rtf']:8.3f}"
                  f"{x['load']:9.2f}{x['rss']:9.0f}{x['cpu']:8.1f}")
    print("(seconds per utterance, median over runs; RTF = transcription seconds / audio seconds; "
          "CPU = the child's user+sys for load, warm-up and all clips)")

    def agree(p: str, q: str, n: int) -> str:
        # faster-whisper's segment text has its leading space stripped; Hark's keeps Whisper's.
        tx = sum(u.strip() == v.strip() for u, v in zip(s[(p, n)]["texts"], s[(q, n)]["texts"]))
        tk = sum(u == v for u, v in zip(s[(p, n)]["tokens"], s[(q, n)]["tokens"]))
        return f"{tx}/{len(clips)} texts, {tk}/{len(clips)} token sequences"
    for n in threads:
        print(f"agreement, {n} thread(s): fw-int8 vs fw-float32 {agree('fw-int8', 'fw-float32', n)}"
              + ("" if a.reference_only else
                 f"; hark-int8 vs fw-int8 {agree('hark-int8', 'fw-int8', n)}; hark-int8 vs fw-float32 "
                 f"{agree('hark-int8', 'fw-float32', n)}; hark-float32 vs fw-float32 {agree('hark-float32', 'fw-float32', n)}"))
    if len(threads) > 1:
        for side in sides:
            t0, t1 = threads[0], threads[-1]
            same = sum(u == v for u, v in zip(s[(side, t0)]["tokens"], s[(side, t1)]["tokens"]))
            print(f"{side}: {same}/{len(clips)} token sequences the same with {t0} and {t1} threads")
    if a.reference_only:
        return 0
    for mine, ref in (("hark-int8", "fw-int8"), ("hark-float32", "fw-float32"), ("hark-float32", "fw-int8")):
        for n in threads:
            h, r = s[(mine, n)], s[(ref, n)]
            print(f"{mine} / {ref}, {n} thread(s): mean {h['mean'] / r['mean']:.2f}, p50 {h['p50'] / r['p50']:.2f}, "
                  f"p95 {h['p95'] / r['p95']:.2f}, load {h['load'] / r['load']:.2f}, peak RSS {h['rss'] / r['rss']:.2f}")
    for n in (1, 2):
        if n in threads:
            print(f"time_ratio_float32_{n}t: {s[('hark-float32', n)]['mean'] / s[('fw-float32', n)]['mean']:.3f}")
    for n in (1, 2):
        if n in threads:
            print(f"time_ratio_{n}t: {s[('hark-int8', n)]['mean'] / s[('fw-int8', n)]['mean']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
