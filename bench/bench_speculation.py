#!/usr/bin/env python3
"""The stage-2 worker's speculation of grammar-forced tokens against token-by-token decoding.

    .venv/bin/python bench/bench_speculation.py [--held build/stage2-data --limit 200] [--threads 2]

Every request (the shared dev set, or a gen_data output's held-out requests) goes to one hark-stage2
worker twice, with `speculate: false` and with speculation (the default; each first on every other
request), through the same frames
harkd uses (training/eval_stage2.py's HarkRunner), with the catalog's action grammar. Prints how many
answers are identical (they must all be), the decode time of each way and their ratio, and the
model's passes over the answer tokens. Ends with `identical: N/M` and `decode_ratio: R`
(speculative / token by token).
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))
import eval_stage2 as ev  # noqa: E402
import prompt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "hark-moe-q4_0.gguf"))
    ap.add_argument("--held", help="a gen_data output dir: its held-out requests instead of the dev set")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    ev.DEMO = prompt.load_catalog(os.path.join(ROOT, "devices", "demo-home.yaml"))
    items = ev.load_held(a.held, a.limit) if a.held else ev.load_dev(ev.DEV)
    runner = ev.HarkRunner(a.model, a.threads, True)
    decode = {False: 0.0, True: 0.0}
    same = tokens = passes = drafted = kept = 0
    primed = None
    for n, it in enumerate(items):
        cat = it.get("catalog") or ev.DEMO
        cat_text, spec = prompt.render_catalog(cat), prompt.grammar_spec(cat)
        if primed != cat_text:
            runner.request({"op": "prime", "prompt": prompt.prefix_of(cat_text)})
            primed = cat_text
        answers = {}
        # Each way goes first on every other request, so neither always finds the caches warmer.
        for speculate in ((False, True) if n % 2 == 0 else (True, False)):
            answers[speculate] = runner.request({"op": "generate", "prompt": prompt.build_prompt(cat_text, it["text"], prompt.render_state(it.get("state"))),
                                                 "max_tokens": 160, "stop": ["\n"], "grammar": spec, "speculate": speculate})
            decode[speculate] += answers[speculate]["timings"]["decode_ms"]
        fast, plain = answers[True], answers[False]
        if fast["text"] == plain["text"]:
            same += 1
        else:
            print(f"different: {it['text']!r}: {plain['text']!r} token by token, {fast['text']!r} speculated")
        tokens += fast["tokens"]
        passes += int(fast["timings"]["decode_passes"])
        drafted += int(fast["timings"]["drafted_tokens"])
        kept += int(fast["timings"]["accepted_tokens"])
    runner.close()
    print(f"{len(items)} requests ({'held-out' if a.held else 'dev set'}), {a.threads} threads: {tokens} answer tokens in {passes} passes "
          f"(token by token: one a token); {kept} of {drafted} speculated tokens kept")
    print(f"decode time: token by token {decode[False] / 1000:.1f} s, speculated {decode[True] / 1000:.1f} s")
    print(f"identical: {same}/{len(items)}")
    print(f"decode_ratio: {decode[True] / decode[False]:.2f}")
    return 0 if same == len(items) else 1


if __name__ == "__main__":
    sys.exit(main())
