#!/usr/bin/env python3
"""faster-whisper with an initial prompt, for HarkWhisper's prompt (issue 4: the second pass hears the
catalog's spoken names as text said before the speech).

    .venv/bin/python tools/capture_whisper_prompt_fixtures.py \\
        --audio build/testdata/commands --model models/whisper-tiny.en \\
        --out Tests/HarkWhisperTests/Fixtures/whisper_prompt_reference.json

(`make whisper-fixtures`; needs `tools/setup-venv.sh --whisper`, `make models`, `make command-audio`.)
The output is committed; tests read it and never run Python.

What it records, with faster-whisper's WhisperModel (float32) on the local CTranslate2 model directory:

* ``encodings``: texts and the ids faster-whisper's tokenizer gives them as an initial prompt
  (``tokenizer.encode(" " + text.strip())``, Hugging Face tokenizers on the model's tokenizer.json).
* ``prompt``: PROMPT (the demo home's spoken names as ``CommandGrammar.prompt`` writes them), its ids and
  the whole prompt faster-whisper hands CTranslate2 (``get_prompt``: <|startofprev|>, the text's ids,
  <|startoftranscript|>, <|notimestamps|>).
* ``clips``: in-grammar command clips of tools/gen_command_audio.py at 10 dB SNR and clean, and
  out-of-grammar ones, each transcribed greedily with OPTIONS (those of
  tools/capture_whisper_fixtures.py) and ``initial_prompt=PROMPT``: text, token ids, no-speech
  probability; and the same without the prompt.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import capture_whisper_fixtures as cwf

ROOT = Path(__file__).resolve().parent.parent
PROMPT = ("Kitchen light, kitchen fan, fan, coffee maker, coffee machine, living room lamp, lamp, tv, television, "
          "living room tv, bedroom light, thermostat, bedroom thermostat, heating, blinds, bedroom blinds, hallway light, "
          "front door, volume, mute, unmute, timer.")
TEXTS = ["Turn on the kitchen light.", "set the tv to 20%", "What's the weather like in São Paulo?",
         "  Set the thermostat to 21°C, then   lock the front door!  ", "don't won't I'm we'll they've",
         "1234567 + 89 = 1234656", "hey jarvis", "Ünïcödé — “quotes” …"]
# Per voice: the in-grammar clips at 10 dB SNR and clean with these line numbers, and two
# out-of-grammar requests at 10 dB SNR.
INGRAMMAR_LINES = [2, 14, 27, 46, 55]
OOG_LINES = [3, 17]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio", default=ROOT / "build/testdata/commands", type=Path)
    ap.add_argument("--model", default=ROOT / "models/whisper-tiny.en", type=Path)
    ap.add_argument("--out", default=ROOT / "Tests/HarkWhisperTests/Fixtures/whisper_prompt_reference.json", type=Path)
    a = ap.parse_args(argv)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(k, None)
    try:
        import ctranslate2
        import faster_whisper
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
    except ImportError as e:
        print(f"capture_whisper_prompt_fixtures: {e}: run tools/setup-venv.sh --whisper", file=sys.stderr)
        return 1
    mpath = a.audio / "manifest.json"
    if not mpath.is_file():
        print(f"capture_whisper_prompt_fixtures: {mpath} missing: make command-audio", file=sys.stderr)
        return 1
    files = {f["path"]: f for f in json.loads(mpath.read_text(encoding="utf-8"))["files"]}
    model = WhisperModel(str(a.model), device="cpu", compute_type="float32", cpu_threads=cwf.CPU_THREADS, num_workers=1)
    tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    encode = lambda text: [int(i) for i in tok.encode(" " + text.strip())]
    prompt_ids = encode(PROMPT)
    full = [int(i) for i in model.get_prompt(tok, prompt_ids, without_timestamps=True)]

    paths = []
    for v in cwf.COMMAND_VOICES:
        for n in INGRAMMAR_LINES:
            paths += [f"ingrammar/{v}_{n:02d}_snr10.wav", f"ingrammar/{v}_{n:02d}_clean.wav"]
    for v in cwf.COMMAND_VOICES[:3]:
        paths += [f"oog/{v}_{n:02d}_snr10.wav" for n in OOG_LINES]
    clips = []
    t0 = time.perf_counter()
    for p in paths:
        c = files[p]
        audio = cwf.read_pcm(a.audio / p)
        entry = {"path": p, "sha256": c["sha256"], "kind": c["kind"], "voice": c["voice"], "snr_db": c.get("snr_db"),
                 "text": c["text"]}
        for key, prompt in (("prompted", PROMPT), ("unprompted", None)):
            segments, _ = model.transcribe(audio, **{**cwf.OPTIONS, "initial_prompt": prompt})
            segments = list(segments)
            if len(segments) != 1:
                raise SystemExit(f"capture_whisper_prompt_fixtures: {p}: {len(segments)} segments, expected one")
            s = segments[0]
            entry[key] = {"text": s.text.strip(), "tokens": [int(x) for x in s.tokens],
                          "no_speech_prob": cwf.sig(s.no_speech_prob)}
        clips.append(entry)
        print(f"{p}: {entry['prompted']['text']!r} | without: {entry['unprompted']['text']!r}", flush=True)

    from importlib.metadata import version
    doc = {
        "generator": "tools/capture_whisper_prompt_fixtures.py",
        "reference": f"faster-whisper WhisperModel(model_dir, device='cpu', compute_type='float32', "
                     f"cpu_threads={cwf.CPU_THREADS}, num_workers=1).transcribe(audio, **options, initial_prompt=prompt)",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "tokenizers": version("tokenizers"), "python": platform.python_version()},
        "options": cwf.OPTIONS,
        "encodings": [{"text": t, "ids": encode(t)} for t in TEXTS],
        "prompt": {"text": PROMPT, "ids": prompt_ids, "full": full},
        "clips": clips,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    a.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {a.out}: {len(clips)} clips, prompt of {len(prompt_ids)} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
