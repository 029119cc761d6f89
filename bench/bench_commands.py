#!/usr/bin/env python3
"""Stage-1 command latency and CPU of harkd (make bench-commands).

    .venv/bin/python bench/bench_commands.py [--harkd .build/release/harkd] [--voices piper_joe,flite_rms]

Input: the in-grammar command clips of tools/gen_command_audio.py (build/testdata/commands), clean,
for the given voices: "hey jarvis, <command>" each. They are joined into one recording with 1 s of
silence between clips, so stage 1 hears them as a speaker would hear commands one after another. The
latency comes from one run of `harkd --input - --dry-run --events -` fed at the microphone's pace (80 ms
chunks in real time, so the silence after each command takes the wall time it takes in a room, and
what harkd does in it counts), or with --fast from the CPU runs, `harkd --input FILE`, as fast as it
can go (then any work after the last word counts as after the decision). --limit N takes the first N
clips (N >= 40) to shorten the real-time run.

Latency from the end of speech (the last voiced sample of the command, exact from the generator's
manifest) to the `actions` event, in two parts:
  * endpoint: audio time from the end of speech to the end-of-speech decision (the utterance event's
    t_endpoint): the silence hangover plus the detector's granularity;
  * processing: wall time from that decision to the actions event (its latency_ms: the final search,
    parsing, validation, the journal and the report).
CPU seconds per audio second of the whole always-on stage (wake word, gate, capture, recognition):
harkd's user+sys time from wait4(2) on the joined recording, minus a run on its first second (start-up
and model loading cancel), over the audio in between.

Ratios are against the published anchors of DESIGN.md §6 (Home Assistant Speech-to-Phrase: 0.71 s from
end of speech to action; Willow: <= 0.5 s) and the design target (processing <= 50 ms p95).
Ends with `processing_p95_ms: N`, `endpoint_p50_ms: N`, `cpu_per_audio_s: R`.
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
SR = 16000


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.astype("<i2").tobytes())


def run(harkd: str, wav: Path, realtime: bool = False) -> tuple[list[dict], float]:
    """Runs harkd on wav; returns its events and user+sys CPU seconds. With realtime, the audio goes to
    harkd's standard input in 80 ms chunks at the pace a microphone delivers it."""
    with tempfile.TemporaryFile() as out:
        source = "-" if realtime else str(wav)
        proc = subprocess.Popen([harkd, "--input", source, "--dry-run", "--events", "-", "--log-level", "error",
                                 "--catalog", str(ROOT / "devices")], stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT,
                                stdin=subprocess.PIPE if realtime else subprocess.DEVNULL)
        if realtime:
            pcm = read_wav(wav).tobytes()
            chunk = 1280 * 2
            started = time.monotonic()
            for n, offset in enumerate(range(0, len(pcm), chunk)):
                delay = started + n * 0.08 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                proc.stdin.write(pcm[offset:offset + chunk])
                proc.stdin.flush()
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            sys.exit(f"bench-commands: harkd exited with status {status} on {wav}")
        out.seek(0)
        events = [json.loads(line) for line in out.read().decode().splitlines() if line.strip()]
    return events, usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--harkd", default=str(ROOT / ".build/release/harkd"))
    ap.add_argument("--audio", default=str(ROOT / "build/testdata/commands"))
    ap.add_argument("--voices", default="piper_joe,flite_rms")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips (at least 40)")
    ap.add_argument("--fast", action="store_true",
                    help="latency from a run as fast as harkd can go, not at the microphone's pace")
    a = ap.parse_args()
    manifest = json.loads((Path(a.audio) / "manifest.json").read_text())
    voices = a.voices.split(",")
    clips = [f for f in manifest["files"] if f["kind"] == "ingrammar" and f["snr_db"] is None and f["voice"] in voices]
    if a.limit:
        clips = clips[:max(40, a.limit)]
    if len(clips) < 40:
        sys.exit(f"bench-commands: only {len(clips)} clips for voices {voices} (make command-audio)")

    gap = np.zeros(SR, dtype="<i2")
    pieces, spans, pos = [], [], 0
    for f in clips:
        pcm = read_wav(Path(a.audio) / f["path"])
        spans.append((pos / SR, (pos + len(pcm)) / SR, pos / SR + f["command_end_sample"] / SR, f))
        pieces += [pcm, gap]
        pos += len(pcm) + len(gap)
    joined = np.concatenate(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        whole, first = Path(tmp) / "commands.wav", Path(tmp) / "first_second.wav"
        write_wav(whole, joined)
        write_wav(first, joined[:SR])
        audio_s = (len(joined) // 1280 - SR // 1280) * 1280 / SR
        cpu, results = [], []
        for _ in range(a.runs):
            events, cpu_whole = run(a.harkd, whole)
            _, cpu_first = run(a.harkd, first)
            cpu.append(max(0.0, cpu_whole - cpu_first) / audio_s)
            results.append(events)
        if not a.fast:
            results.append(run(a.harkd, whole, realtime=True)[0])

    events = results[-1]
    endpoint_ms, processing_ms, exact, heard = [], [], 0, 0
    utterances = [e for e in events if e["type"] == "utterance"]
    actions = [e for e in events if e["type"] == "actions"]
    for start, end, speech_end, f in spans:
        utt = next((u for u in utterances if start <= u["t_endpoint"] <= end + 1.0), None)
        if utt is None:
            continue
        heard += 1
        endpoint_ms.append((utt["t_endpoint"] - speech_end) * 1000)
    # Actions events carry no audio time: the n-th actions event belongs to the n-th utterance that
    # was not rejected, in order.
    order = [e for e in events if e["type"] in ("utterance", "actions", "rejected")]
    pending = None
    slowest = []
    for e in order:
        if e["type"] == "utterance":
            pending = e
        elif e["type"] == "actions" and pending is not None:
            processing_ms.append(e["latency_ms"])
            span = next((s for s in spans if s[0] <= pending["t_endpoint"] <= s[1] + 1.0), None)
            if span is not None:
                slowest.append((e["latency_ms"], f'{span[3]["voice"]} "{span[3]["text"]}"'))
                got = sorted(json.dumps({k: x[k] for k in ("device", "command", "args")}, sort_keys=True) for x in e["actions"])
                want = sorted(json.dumps(x, sort_keys=True) for x in span[3]["actions"])
                exact += got == want
            pending = None

    cpu_ratio = float(np.median(cpu))
    p50e, p95e = pct(endpoint_ms, 50), pct(endpoint_ms, 95)
    p50p, p95p = pct(processing_ms, 50), pct(processing_ms, 95)
    pace = "as fast as harkd goes" if a.fast else "at the microphone's pace"
    print(f"== {len(clips)} commands ({', '.join(voices)}, clean), {audio_s:.0f} s of audio, {a.runs} runs for CPU; "
          f"latency from one run {pace}: {heard} utterances, {len(processing_ms)} actions events, {exact} exact")
    print(f"{'':34}{'p50':>10}{'p95':>10}")
    print(f"{'end of speech -> decision (ms)':34}{p50e:10.0f}{p95e:10.0f}")
    print(f"{'decision -> actions event (ms)':34}{p50p:10.1f}{p95p:10.1f}")
    print(f"{'end of speech -> actions (ms)':34}{p50e + p50p:10.0f}{p95e + p95p:10.0f}")
    print(f"anchors (DESIGN.md §6): Home Assistant Speech-to-Phrase 710 ms -> ratio {(p50e + p50p) / 710:.2f}; "
          f"Willow 500 ms -> ratio {(p50e + p50p) / 500:.2f}; processing target 50 ms p95 -> ratio {p95p / 50:.2f} "
          f"({'PASS' if p95p <= 50 else 'FAIL'})")
    print("slowest after the decision: " + "; ".join(f"{ms:.0f} ms {what}" for ms, what in sorted(slowest, reverse=True)[:4]))
    print(f"cpu per audio second (whole always-on stage, commands): {cpu_ratio:.4f} "
          f"(median of {a.runs}: {', '.join(f'{c:.4f}' for c in cpu)})")
    print(f"processing_p95_ms: {p95p:.1f}")
    print(f"endpoint_p50_ms: {p50e:.0f}")
    print(f"cpu_per_audio_s: {cpu_ratio:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
