#!/usr/bin/env python3
"""Contamination check: how many ../shared/eval/stage2-dev.jsonl requests appear verbatim in the
generated training data (after lower-casing and dropping punctuation). The generator never reads the
dev set; this only reports, so the dev score can be read knowing which dev requests the model saw.

Usage: python training/check_overlap.py TRAIN.jsonl [DEV.jsonl]
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def norm(t):
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", t.lower()).split())


def main():
    train = sys.argv[1]
    dev = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared", "eval", "stage2-dev.jsonl")
    seen = {}
    for line in open(train):
        t = norm(json.loads(line)["text"])
        seen[t] = seen.get(t, 0) + 1
    devs = [json.loads(l)["text"] for l in open(dev)]
    hits = [(t, seen[norm(t)]) for t in devs if norm(t) in seen]
    for t, n in hits:
        print(f"  in train {n:4d}x: {t}")
    print(f"dev_requests_verbatim_in_train: {len(hits)} of {len(devs)}")


if __name__ == "__main__":
    main()
