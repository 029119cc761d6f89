#!/usr/bin/env python3
"""Stage 2 end to end (issue 10): latency and accuracy of free-form requests through harkd, with
llama.cpp on the same model, prompt, grammar and texts as the reference.

    make bench-stage2          (.venv/bin/python bench/bench_stage2.py [--model M] [--clips N] [--cold N])

1. `say` (warm): harkd with the worker kept loaded (`always`); every dev-set text through
   `harkctl say`; wall time per request and the exact action-set match.
2. Spoken (warm): harkd listening on stdin, the clips of tools/gen_command_audio.py (the dev set's
   texts, 3 voices) played in real time with 1.5 s between them; end of speech (the clip's last voiced
   sample, from the generator's manifest) -> answer: the utterance event's t_endpoint after it (the
   capture's hangover, audio time) plus the wall time from that decision to the answer, from each
   request's `stage2 answered` event (stage 1's own latency when stage 1 took the command).
3. Spoken (cold): `harkd --input CLIP` with the worker not running (`on_handoff`) and its files in the
   page cache, on clips that stage 1 handed over in the warm run; the catalog prefix restored from
   the cache directory as a deployed harkd would.
4. Reference: llama.cpp (llama-cpp-python) on the same model file, prompt (training/prompt.py) and
   GBNF grammar, greedy, 2 threads, the same texts; it keeps the shared prompt prefix between calls.
5. harkd's resident memory with stage 2 configured but unloaded, and with --no-stage2.

Ends with `warm_p50_ms`, `cold_p50_ms`, `say_p50_ms`, `spoken_exact_pct` (and p95s, the warm p95 after
the decision `warm_decision_p95_ms`, `say_exact_pct`, `constraint_us_p95` (the action grammar's cost per
generated token, over the say answers and the cold workers' first answers),
`llama_cpp_say_p50_ms`, `say_vs_llama_cpp`). Without the trained model (make model) it uses
SmolLM2-135M-Instruct, which was never trained on the format: the accuracy figures then say so.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))
import prompt  # noqa: E402

BIN = os.path.join(ROOT, ".build", "release")
DEV = os.path.join(ROOT, "..", "shared", "eval", "stage2-dev.jsonl")
COMMANDS = os.path.join(ROOT, "build", "testdata", "commands")


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def exact(actions, expect):
    return actions is not None and any(prompt.action_set(actions) == prompt.action_set(e) for e in expect)


class Harkd:
    def __init__(self, config, extra, stdin=False):
        self.dir = tempfile.mkdtemp(prefix="bench-stage2-")
        self.socket = os.path.join(self.dir, "control.sock")
        self.events_path = os.path.join(self.dir, "events.jsonl")
        args = [os.path.join(BIN, "harkd"), "--input", "-" if stdin else "none", "--socket", self.socket, "--dry-run",
                "--events", self.events_path, "--catalog", os.path.join(ROOT, "devices"), "--models", os.path.join(ROOT, "models"),
                "--log-level", "warning"] + (["--config", config] if config else []) + extra
        self.log = open(os.path.join(self.dir, "harkd.log"), "w")
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=self.log, stderr=self.log, cwd=ROOT)
        deadline = time.time() + 120
        while not os.path.exists(self.socket):
            if self.p.poll() is not None or time.time() > deadline:
                raise SystemExit(f"bench-stage2: harkd did not start: {open(self.log.name).read()}")
            time.sleep(0.05)

    def events(self):
        try:
            return [json.loads(l) for l in open(self.events_path) if l.strip()]
        except FileNotFoundError:
            return []

    def wait_for(self, predicate, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self.events()):
                return True
            time.sleep(0.05)
        return False

    def rss_mb(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()


def write_config(model, cache, start):
    path = os.path.join(tempfile.mkdtemp(prefix="bench-stage2-config-"), "harkd.yaml")
    with open(path, "w") as f:
        f.write(f"stage2:\n  model: {model}\n  start: {start}\n  request_timeout: 300\n  cache_dir: {cache}\n")
    return path


def answer_actions(reply):
    """The actions a `say` answer dispatched (stage 1 or 2), or [] when it understood nothing."""
    if not reply.get("understood"):
        return []
    return [{"device": a["device"], "command": a["command"], "args": a.get("args", {})} for a in reply.get("actions", [])]


def bench_say(items, model, cache):
    h = Harkd(write_config(model, cache, "always"), [])
    try:
        if not h.wait_for(lambda ev: any(e.get("type") == "stage2" and e.get("state") == "primed" for e in ev)):
            raise SystemExit("bench-stage2: the worker did not come up")
        times, ok, parts = [], 0, []
        for it in items:
            seen = len(h.events())
            t0 = time.perf_counter()
            out = subprocess.run([os.path.join(BIN, "harkctl"), "say", "--socket", h.socket, "--json", "--timeout", "300", it["text"]],
                                 capture_output=True, text=True)
            times.append((time.perf_counter() - t0) * 1000)
            try:
                reply = json.loads(out.stdout)
            except ValueError:
                print(f"  say '{it['text']}': no answer: {out.stderr.strip()}")
                continue
            ok += exact(answer_actions(reply), it["expect"])
            answered = [e for e in h.events()[seen:] if e.get("type") == "stage2" and e.get("state") == "answered"]
            if answered:
                parts.append((times[-1], answered[-1]))
        if parts:
            # Where a stage-2 answer's time goes: the worker's prefill and decode, and the rest (harkctl's
            # start, the socket, harkd's validation and dispatch).
            for key in ("prefill_ms", "decode_ms"):
                xs = [a.get(key, 0) for _, a in parts]
                print(f"  say via the model ({len(parts)}): {key} p50 {pct(xs, 50):.0f}, p95 {pct(xs, 95):.0f}")
            rest = [t - a.get("ms", 0) for t, a in parts]
            print(f"  say via the model: wall time less the answered event's ms p50 {pct(rest, 50):.0f}, p95 {pct(rest, 95):.0f}")
        # The constraint's cost per generated token, per answer (a worker that has met its cursors before).
        constraint = [a["constraint_us"] for _, a in parts if "constraint_us" in a]
        return times, ok, constraint
    finally:
        h.stop()


def clips(voices, limit):
    manifest = json.load(open(os.path.join(COMMANDS, "manifest.json")))
    chosen = [f for f in manifest["files"] if f["kind"] == "oog" and f["snr_db"] is None and f["voice"] in voices]
    if limit and limit < len(chosen):
        # Spread over the texts, the voices taking turns.
        by_voice = {v: [f for f in chosen if f["voice"] == v] for v in voices}
        texts = len(by_voice[voices[0]])
        chosen = [by_voice[voices[i % len(voices)]][int(i * texts / limit)] for i in range(limit)]
    return chosen


def read_pcm(path):
    with wave.open(path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), path
        return w.readframes(w.getnframes())


def expected_for(text, dev):
    return next((it["expect"] for it in dev if it["text"] == text), None)


def endpoint_ms(events, start, end, speech_end):
    """The end-of-speech decision's delay after the last voiced sample (audio time `speech_end`, s):
    the utterance event's t_endpoint between event indexes [start, end), less speech_end."""
    utt = next((e for e in events[start:end] if e.get("type") == "utterance"), None)
    return None if utt is None else (utt["t_endpoint"] - speech_end) * 1000


def outcome_of(events, start, end):
    """Between event indexes [start, end): (actions, latency ms after the end-of-speech decision, via)
    of one spoken request."""
    seg = events[start:end]
    stage1 = next((e for e in seg if e.get("type") == "actions" and e.get("stage") == 1), None)
    if stage1:
        return [{k: a[k] for k in ("device", "command", "args")} for a in stage1["actions"]], stage1["latency_ms"], "stage 1"
    rejected = next((e for e in seg if e.get("type") == "rejected" and e.get("stage") == 1 and e.get("audio")), None)
    if not rejected:
        return None, None, "no request"
    answered = next((e for e in events if e.get("type") == "stage2" and e.get("state") == "answered"
                     and e.get("audio") == rejected["audio"] and events.index(e) >= start), None)
    if not answered:
        return None, None, "no answer"
    return answered.get("actions", []), answered["ms"], answered.get("via", "")


def bench_spoken_warm(chosen, dev, model, cache):
    h = Harkd(write_config(model, cache, "always"), [], stdin=True)
    silence = b"\0\0" * 24000   # 1.5 s
    marks, speech_ends, fed = [], [], 0
    try:
        h.wait_for(lambda ev: any(e.get("type") == "stage2" and e.get("state") == "primed" for e in ev))
        chunk = 1280 * 2
        for f in chosen:
            pcm = read_pcm(os.path.join(COMMANDS, f["path"])) + silence
            marks.append(len(h.events()))
            speech_ends.append(fed / 16000 + f["command_end_sample"] / 16000)
            fed += len(pcm) // 2
            t = time.perf_counter()
            for i in range(0, len(pcm), chunk):
                h.p.stdin.write(pcm[i:i + chunk])
                h.p.stdin.flush()
                t += 0.08
                time.sleep(max(0.0, t - time.perf_counter()))
            # The answer before the next clip, so each request is warm and alone.
            h.wait_for(lambda ev: any(e.get("type") == "stage2" and e.get("state") == "answered" for e in ev[marks[-1]:])
                       or any(e.get("type") == "actions" and e.get("stage") == 1 for e in ev[marks[-1]:])
                       or any(e.get("type") == "rejected" and e.get("reason") == "no_speech" for e in ev[marks[-1]:]), 120)
        time.sleep(1)
        events = h.events()
        marks.append(len(events))
        results = []
        for k, f in enumerate(chosen):
            actions, ms, via = outcome_of(events, marks[k], marks[k + 1])
            results.append((f, actions, ms, via, exact(actions, expected_for(f["text"], dev) or [[]]),
                            endpoint_ms(events, marks[k], marks[k + 1], speech_ends[k])))
        return results
    finally:
        h.stop()


def bench_spoken_cold(chosen, dev, model, cache, constraint):
    config = write_config(model, cache, "on_handoff")
    results = []
    for f in chosen:
        out = subprocess.run([os.path.join(BIN, "harkd"), "--config", config, "--input", os.path.join(COMMANDS, f["path"]), "--dry-run",
                              "--events", "-", "--catalog", os.path.join(ROOT, "devices"), "--models", os.path.join(ROOT, "models"),
                              "--log-level", "warning"], capture_output=True, text=True, cwd=ROOT, timeout=600)
        events = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        actions, ms, via = outcome_of(events, 0, len(events))
        results.append((f, actions, ms, via, exact(actions, expected_for(f["text"], dev) or [[]]),
                        endpoint_ms(events, 0, len(events), f["command_end_sample"] / 16000)))
        # A fresh worker's constraint: every cursor met for the first time.
        constraint.extend(e["constraint_us"] for e in events if e.get("type") == "stage2" and e.get("state") == "answered"
                          and "constraint_us" in e)
    return results


def bench_llama_cpp(items, model):
    import llama_cpp
    demo = prompt.load_catalog(os.path.join(ROOT, "devices", "demo-home.yaml"))
    text = prompt.render_catalog(demo)
    grammar = llama_cpp.LlamaGrammar.from_string(prompt.grammar(demo), verbose=False)
    m = llama_cpp.Llama(model, n_ctx=1024, n_threads=2, n_batch=512, verbose=False)
    m.create_completion(prompt.build_prompt(text, "hello"), max_tokens=1, temperature=0.0, top_k=1)   # the prefix, once
    times, ok = [], 0
    for it in items:
        t0 = time.perf_counter()
        out = m.create_completion(prompt.build_prompt(text, it["text"]), max_tokens=160, temperature=0.0, top_k=1, grammar=grammar, stop=["\n"])
        times.append((time.perf_counter() - t0) * 1000)
        ok += exact(prompt.parse_actions(out["choices"][0]["text"]), it["expect"])
    return times, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="the stage-2 GGUF (default models/hark-moe-q4_0.gguf, else SmolLM2-135M-Instruct)")
    ap.add_argument("--voices", default="piper_joe,flite_rms,flite_kal")
    ap.add_argument("--clips", type=int, default=24, help="spoken clips, spread over the dev set and voices (0: all 180)")
    ap.add_argument("--cold", type=int, default=5, help="cold spoken runs")
    ap.add_argument("--say", type=int, default=0, help="dev-set texts for say and llama.cpp (0: all)")
    a = ap.parse_args()
    trained = os.path.join(ROOT, "models", "hark-moe-q4_0.gguf")
    model = a.model or (trained if os.path.exists(trained) else os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    print(f"bench-stage2: model {os.path.relpath(model, ROOT)}" + ("" if model == trained else
          " (not the trained stage-2 model: `make model` builds it; this one was never trained on the answer format)"))
    dev = [json.loads(l) for l in open(DEV) if l.strip()]
    items = dev[:a.say] if a.say else dev
    cache = tempfile.mkdtemp(prefix="bench-stage2-cache-")

    # Memory: harkd with stage 2 configured (unloaded) and without it.
    rss = {}
    for label, extra in (("stage2_unloaded", ["--stage2-model", model]), ("no_stage2", ["--no-stage2"])):
        h = Harkd(None, extra, stdin=True)
        time.sleep(3)
        rss[label] = h.rss_mb()
        h.stop()
    print(f"harkd resident memory: {rss['stage2_unloaded']:.1f} MB with stage 2 unloaded, {rss['no_stage2']:.1f} MB with --no-stage2")

    say_times, say_ok, constraint_warm = bench_say(items, model, cache)
    print(f"say (warm, {len(items)} texts): p50 {pct(say_times, 50):.0f} ms, p95 {pct(say_times, 95):.0f} ms; exact {say_ok}/{len(items)}")
    ref_times, ref_ok = bench_llama_cpp(items, model)
    print(f"llama.cpp, same model/prompt/grammar ({len(items)} texts): p50 {pct(ref_times, 50):.0f} ms, p95 {pct(ref_times, 95):.0f} ms; "
          f"exact {ref_ok}/{len(items)}")

    chosen = clips(a.voices.split(","), a.clips)
    warm = bench_spoken_warm(chosen, dev, model, cache)
    # Latency from the end of speech (the clip's last voiced sample): the end-of-speech decision's
    # delay (the capture's silence hangover, in audio time) plus the time from the decision to the
    # actions (stage 1's processing, Whisper and the model when stage 2 answers).
    warm_ms = [r[2] + r[5] for r in warm if r[2] is not None and r[5] is not None]
    decided_ms = [r[2] for r in warm if r[2] is not None]
    endpoint = [r[5] for r in warm if r[5] is not None]
    warm_ok = sum(r[4] for r in warm)
    for f, actions, ms, via, ok, ep in warm:
        print(f"  {f['path']}: '{f['text']}' -> {via}, {json.dumps(actions)}, {ms if ms is None else round(ms)} ms{'' if ok else '  (wrong)'}")
    print(f"spoken (warm, {len(warm)} clips): end of speech -> actions p50 {pct(warm_ms, 50):.0f} ms, p95 {pct(warm_ms, 95):.0f} ms "
          f"(end of speech -> decision p50 {pct(endpoint, 50):.0f} ms; decision -> actions p50 {pct(decided_ms, 50):.0f}, "
          f"p95 {pct(decided_ms, 95):.0f} ms); exact {warm_ok}/{len(warm)}")
    # Cold runs time the worker's start, so they use clips that stage 1 handed over in the warm run
    # (a clip stage 1 takes never starts the worker).
    handed = [r[0] for r in warm if r[3] not in ("stage 1", "no request")]
    constraint_cold = []
    cold = bench_spoken_cold(handed[:a.cold], dev, model, cache, constraint_cold)
    cold_ms = [r[2] + r[5] for r in cold if r[2] is not None and r[5] is not None]
    print(f"spoken (cold, {len(cold)} clips stage 1 handed over): end of speech -> actions p50 {pct(cold_ms, 50):.0f} ms, "
          f"p95 {pct(cold_ms, 95):.0f} ms")
    for f, actions, ms, via, ok, ep in cold:
        print(f"  {f['path']}: '{f['text']}' -> {via}, {ms if ms is None else round(ms)} ms after the decision")

    print(f"constraint per token (µs, mean over each answer's tokens): say (one worker, {len(constraint_warm)} answers) "
          f"p50 {pct(constraint_warm, 50):.1f}, p95 {pct(constraint_warm, 95):.1f}, max {max(constraint_warm, default=float('nan')):.1f}; "
          f"cold workers ({len(constraint_cold)} answers) p50 {pct(constraint_cold, 50):.1f}, max {max(constraint_cold, default=float('nan')):.1f}")
    print(f"constraint_us_p95: {pct(constraint_warm + constraint_cold, 95):.1f}")
    print(f"harkd_rss_stage2_unloaded_mb: {rss['stage2_unloaded']:.1f}")
    print(f"harkd_rss_no_stage2_mb: {rss['no_stage2']:.1f}")
    print(f"llama_cpp_say_p50_ms: {pct(ref_times, 50):.0f}")
    print(f"say_vs_llama_cpp: {pct(say_times, 50) / pct(ref_times, 50):.2f}")
    print(f"say_exact_pct: {100 * say_ok / len(items):.1f}")
    print(f"warm_decision_p95_ms: {pct(decided_ms, 95):.0f}")
    print(f"warm_p95_ms: {pct(warm_ms, 95):.0f}")
    print(f"warm_p50_ms: {pct(warm_ms, 50):.0f}")
    print(f"cold_p50_ms: {pct(cold_ms, 50):.0f}")
    print(f"say_p50_ms: {pct(say_times, 50):.0f}")
    print(f"spoken_exact_pct: {100 * warm_ok / max(1, len(warm)):.1f}")


if __name__ == "__main__":
    main()
