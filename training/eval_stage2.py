#!/usr/bin/env python3
"""Score stage-2 action models on ../shared/eval/stage2-dev.jsonl (issue 9), with Hark's engine or
llama.cpp.

For every request: the prompt of training/prompt.py over the demo home (no state), greedy decoding
up to the end of the JSON line, constrained by default to the catalog (only its devices, their
type's commands, typed arguments). --engine hark (the default) runs Hark's stage-2 worker
(.build/release/hark-stage2) over the frames harkd uses, with its ActionGrammar (prompt.grammar_spec);
--engine llama.cpp runs llama-cpp-python with the GBNF grammar of prompt.grammar. The item passes
when the predicted action *set* equals one of its `expect` alternatives (`[]`: nothing should
happen).

Categories are inferred from each item (first that applies): out-of-scope (expects []), timers
(start_timer / cancel_timer), room/all ("all", "every", "everything", "except", or the lights of a
room named by the room), multi (two or more actions), numbers (an argument), single (the rest).

Usage (the llama.cpp venv):
  .venv/bin/python training/eval_stage2.py --int4 M-q4_0.gguf --full M-f16.gguf [--no-grammar] [--engine llama.cpp]
  .venv/bin/python training/eval_stage2.py --held build/stage2-data --limit 200 --int4 ...
Ends with `dev_exact_int4_pct: N` and `dev_exact_full_pct: N` (for --held: held_exact_..._pct).
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV = os.path.join(ROOT, "..", "shared", "eval", "stage2-dev.jsonl")
CATEGORIES = ["single", "multi", "room/all", "numbers", "timers", "out-of-scope"]


def category(item):
    exp = item["expect"][0]
    t = " " + item["text"].lower() + " "
    if not exp:
        return "out-of-scope"
    if any(a["command"] in ("start_timer", "cancel_timer") for a in exp):
        return "timers"
    if re.search(r"\b(all|every|everything|except)\b", t) or re.search(r"\blights\b", t):
        return "room/all"
    if len(exp) >= 2:
        return "multi"
    if any(a.get("args") for a in exp):
        return "numbers"
    return "single"


def load_dev(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def load_held(data_dir, limit):
    cats = json.load(open(os.path.join(data_dir, "catalogs.json")))
    cats["demo"] = prompt.load_catalog(os.path.join(ROOT, "devices", "demo-home.yaml"))
    items = []
    for i, l in enumerate(open(os.path.join(data_dir, "held.jsonl"))):
        if i >= limit:
            break
        ex = json.loads(l)
        items.append({"text": ex["text"], "state": ex.get("state"), "home": ex["home"], "expect": [ex["actions"]],
                      "catalog": cats[ex["home"]]})
    return items


class Runner:
    def __init__(self, path, threads, use_grammar):
        import llama_cpp
        self.llama_cpp = llama_cpp
        self.m = llama_cpp.Llama(path, n_ctx=1024, n_threads=threads, n_batch=512, verbose=False)
        self.use_grammar = use_grammar
        self.grammars = {}

    def actions(self, cat, text, state=None):
        key = id(cat)
        if key not in self.grammars:
            self.grammars[key] = (prompt.render_catalog(cat),
                                  self.llama_cpp.LlamaGrammar.from_string(prompt.grammar(cat), verbose=False)
                                  if self.use_grammar else None)
        cat_text, g = self.grammars[key]
        p = prompt.build_prompt(cat_text, text, prompt.render_state(state))
        out = self.m.create_completion(p, max_tokens=160, temperature=0.0, top_k=1, grammar=g, stop=["\n"])
        raw = out["choices"][0]["text"]
        return prompt.parse_actions(raw), raw


class HarkRunner:
    """The same requests through Hark's own engine: the stage-2 worker harkd starts (hark-stage2,
    built by `swift build`), spoken to over its frames (HarkStage2.Stage2Frame: 4-byte little-endian
    length, kind 1, a JSON message) exactly as harkd does: `prime` with the catalog prefix, then one
    `generate` per request with the catalog's ActionGrammar spec (prompt.grammar_spec)."""

    def __init__(self, path, threads, use_grammar):
        exe = os.path.join(ROOT, ".build", "release", "hark-stage2")
        if not os.access(exe, os.X_OK):
            sys.exit(f"eval_stage2: {exe} is missing; build it with: swift build -c release --product hark-stage2")
        ours, theirs = socket.socketpair()  # the worker's stdin is also its stdout, as harkd gives it
        self.path = path
        self.p = subprocess.Popen([exe, "--llm", path, "--threads", str(threads), "--context", "1024"],
                                  stdin=theirs, stdout=theirs)
        theirs.close()
        self.io = ours.makefile("rwb")
        self.use_grammar = use_grammar
        self.next_id = 0
        ready = self.read()
        if ready.get("op") != "ready":
            sys.exit(f"eval_stage2: hark-stage2 did not start: {ready}")
        self.rss_mb = None
        self.primed = None
        self.catalogs = {}

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.io.write(len(body).to_bytes(4, "little") + b"\x01" + body)
        self.io.flush()

    def read(self):
        head = self.io.read(5)
        if len(head) < 5:
            sys.exit(f"eval_stage2: hark-stage2 ended (exit {self.p.wait()})")
        n, kind = int.from_bytes(head[:4], "little"), head[4]
        body = self.io.read(n)
        if kind != 1:
            sys.exit(f"eval_stage2: hark-stage2 sent a frame of kind {kind}")
        return json.loads(body)

    def request(self, msg):
        self.next_id += 1
        self.send(dict(msg, id=self.next_id))
        answer = self.read()
        if answer.get("op") == "error":
            sys.exit(f"eval_stage2: hark-stage2: {answer.get('message')}")
        return answer

    def actions(self, cat, text, state=None):
        key = id(cat)
        if key not in self.catalogs:  # per catalog, once: its text and its grammar spec
            self.catalogs[key] = (prompt.render_catalog(cat), prompt.grammar_spec(cat))
        cat_text, spec = self.catalogs[key]
        if self.primed != cat_text:
            self.request({"op": "prime", "prompt": prompt.prefix_of(cat_text)})
            self.primed = cat_text
        msg = {"op": "generate", "prompt": prompt.build_prompt(cat_text, text, prompt.render_state(state)),
               "max_tokens": 160, "stop": ["\n"]}
        if self.use_grammar:
            msg["grammar"] = spec
        raw = self.request(msg).get("text", "")
        return prompt.parse_actions(raw), raw

    def close(self):
        # The worker's peak resident memory, all requests done, and what is resident now split into
        # the model file's mapped pages (the weights) and the rest (KV cache, tokenizer, scratch, the
        # Swift runtime and libraries), which is about the same for any model of this shape.
        with open(f"/proc/{self.p.pid}/status") as f:
            self.rss_mb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        model, inside, weights, total = os.path.realpath(self.path), False, 0, 0
        with open(f"/proc/{self.p.pid}/smaps") as f:
            for line in f:
                head = line.split()
                if head and "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
                    inside = head[-1] == model
                elif head and head[0] == "Rss:":
                    total += int(head[1])
                    weights += int(head[1]) if inside else 0
        self.weights_mb, self.rest_mb = weights / 1024, (total - weights) / 1024
        self.send({"op": "quit", "id": 0})
        self.p.wait(timeout=30)


def score(path, items, threads, use_grammar, log, engine="llama.cpp"):
    r = (HarkRunner if engine == "hark" else Runner)(path, threads, use_grammar)
    per = {c: [0, 0] for c in CATEGORIES}
    ok_total = 0
    t0 = time.time()
    for it in items:
        cat = it.get("catalog") or DEMO
        pred, raw = r.actions(cat, it["text"], it.get("state"))
        ok = pred is not None and any(prompt.action_set(pred) == prompt.action_set(e) for e in it["expect"])
        c = category(it)
        per[c][0] += ok
        per[c][1] += 1
        ok_total += ok
        if not ok:
            log.write(json.dumps({"model": os.path.basename(path), "engine": engine, "text": it["text"], "got": raw,
                                  "expect": it["expect"][0]}) + "\n")
    el = time.time() - t0
    if hasattr(r, "close"):
        r.close()
    mem = {k: getattr(r, k) for k in ("rss_mb", "weights_mb", "rest_mb") if getattr(r, k, None) is not None}
    return ok_total, per, el, mem


DEMO = None


def main():
    global DEMO
    ap = argparse.ArgumentParser()
    ap.add_argument("--int4", required=True)
    ap.add_argument("--full", help="the full-precision (F16) file; left out, only --int4 is scored")
    ap.add_argument("--dev", default=DEV)
    ap.add_argument("--held", help="a gen_data output dir: score its held.jsonl instead of the dev set")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--catalog", default=os.path.join(ROOT, "devices", "demo-home.yaml"))
    ap.add_argument("--no-grammar", action="store_true")
    ap.add_argument("--engine", choices=["hark", "llama.cpp"], default="hark",
                    help="hark: Hark's stage-2 worker (.build/release/hark-stage2, its ActionGrammar); "
                         "llama.cpp: llama-cpp-python with prompt.grammar's GBNF")
    ap.add_argument("--threads", type=int, default=1,
                    help="llama.cpp threads (1: its spinning barriers collapse when the cores are shared)")
    ap.add_argument("--log", default=os.path.join(ROOT, "build", "stage2", "eval-failures.jsonl"))
    a = ap.parse_args()
    DEMO = prompt.load_catalog(a.catalog)
    items = load_held(a.held, a.limit) if a.held else load_dev(a.dev)
    name = "held" if a.held else "dev"
    os.makedirs(os.path.dirname(a.log), exist_ok=True)
    results = {}
    with open(a.log, "w") as log:
        for label, path in (("int4", a.int4), ("full", a.full)):
            if path is None:
                continue
            ok, per, el, mem = score(path, items, a.threads, not a.no_grammar, log, a.engine)
            results[label] = (ok, per, mem, os.path.getsize(path))
            loaded = (f", worker's peak resident {mem['rss_mb']:.0f} MiB; at the end weights {mem['weights_mb']:.0f} "
                      f"+ the rest {mem['rest_mb']:.0f} MiB") if mem else ""
            print(f"{label}: {os.path.basename(path)} ({os.path.getsize(path) / 1e6:.1f} MB{loaded}): {ok}/{len(items)} exact "
                  f"in {el:.0f} s ({el / len(items):.2f} s per request)", flush=True)
    labels = list(results)
    print(f"\n{'category':14s} {'n':>4s} " + " ".join(f"{x:>7s}" for x in labels))
    for c in CATEGORIES:
        n = results["int4"][1][c][1]
        if n:
            print(f"{c:14s} {n:4d} " + " ".join(f"{100 * results[x][1][c][0] / n:6.1f}%" for x in labels))
    print(f"(engine {a.engine}; failures: {a.log}; grammar {'off' if a.no_grammar else 'on'})")
    if "full" in results:  # how much smaller INT4 is than F16: the file, the weights resident, the whole worker
        (_, _, m4, f4), (_, _, mf, ff) = results["int4"], results["full"]
        print(f"int4_file_smaller_pct: {100 * (1 - f4 / ff):.1f}")
        if m4 and mf:
            print(f"int4_weights_resident_smaller_pct: {100 * (1 - m4['weights_mb'] / mf['weights_mb']):.1f}")
            print(f"int4_worker_peak_smaller_pct: {100 * (1 - m4['rss_mb'] / mf['rss_mb']):.1f}")
    for label in labels:
        print(f"{name}_exact_{label}_pct: {100 * results[label][0] / len(items):.1f}")


if __name__ == "__main__":
    main()
