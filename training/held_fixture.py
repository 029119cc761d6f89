"""Writes the held-out requests that harkd's test of the default stage-2 model says (issue 9).

    .venv/bin/python training/held_fixture.py      (make stage2-prompt-fixtures)

gen_data.py's held-out set (phrasings and homes the training data never holds) is generated afresh
with its default seed; of its requests to the demo home with no known state (a fresh harkd knows
none), 60 spread evenly over the set are kept with the actions they mean. Stage2SayTests says each
through a harkd running the INT4 model that `make model` builds and scores the exact action sets.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "Tests/HarkDaemonTests/Fixtures/stage2-held-demo.json"
COUNT = 60


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(HERE / "gen_data.py"), "--out", tmp], check=True, stdout=subprocess.DEVNULL)
        held = [json.loads(line) for line in open(os.path.join(tmp, "held.jsonl"))]
    demo = [ex for ex in held if ex["home"] == "demo" and not ex.get("state")]
    step = len(demo) / COUNT
    picked = [demo[int(i * step)] for i in range(COUNT)]
    out = {"source": "training/gen_data.py (default seed): held.jsonl, demo home, no state, every "
                     f"{step:.2f}th of {len(demo)}",
           "requests": [{"text": ex["text"], "actions": ex["actions"]} for ex in picked]}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"held_fixture: {len(picked)} requests -> {OUT.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
