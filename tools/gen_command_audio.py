#!/usr/bin/env python3
"""Deterministic spoken commands for Hark's stage-1 recogniser (issue 4).

    .venv/bin/python tools/gen_command_audio.py --out build/testdata/commands

Writes 16 kHz mono S16 WAV files and ``manifest.json`` under the output folder:

* ``ingrammar/<voice>_<NN>_{clean,snr10}.wav``: every command of
  tools/corpus/commands.jsonl (NN = its line, from 00) by every voice of
  COMMAND_VOICES.
* ``oog/<voice>_<NN>_{clean,snr10}.wav``: every text of the shared stage-2 dev
  set (../shared/eval/stage2-dev.jsonl beside the repository; NN = its line) by
  the first three voices of COMMAND_VOICES.
* ``oos/<voice>_<NN>_{clean,snr10}.wav``: the project's own out-of-scope
  questions (tools/corpus/out-of-scope.jsonl) by the same three voices.
* ``babble/<voice>_<NN>_babble10.wav``: the in-grammar clips of the first three
  voices of COMMAND_VOICES (the same audio as their ``_clean`` twin) with babble
  at 10 dB SNR instead of pink or brown noise (see "Babble" below).

Each clip: 0.6-1.0 s of silence, the wake phrase ("hey jarvis" or "hey, jarvis",
its rate varied per index as tools/gen_test_audio.py does), 0.3-0.6 s, the
command (rate 0.9-1.1 per index), 1.0 s of silence. The _snr10 twin adds pink or
brown noise (alternating per index) at 10 dB SNR. Synthesis, levels, the SNR
definition, noise and determinism are those of tools/gen_test_audio.py, which
this imports: same inputs, same sha256.

Babble: BABBLE_TALKERS other voices talking at once under the whole clip. Each
voice of BABBLE_POOL has a babble track, made once per process: its share of
tools/corpus/ordinary_speech.txt (sentence i goes to voice i mod 10), each
sentence trimmed and levelled as every phrase is, 0.1-0.31 s apart, until the
track is BABBLE_TRACK_S long. A clip draws (from the rng seeded by its path)
BABBLE_TALKERS voices of the pool that are not its own speaker, an offset into
each track and a gain of -3..+3 dB per talker, and sums the excerpts; it draws
again (same rng, at most BABBLE_DRAWS times) while some 100 ms stretch of the
sum lies more than BABBLE_MAX_DIP_DB below its mean, so the babble covers the
whole clip. The sum is scaled to 10 dB SNR with the definition above (mean
power of the babble over the whole clip).

Before rendering, every corpus line is parsed with the stage-1 phrase grammar of
DESIGN §4 over the demo home (devices/demo-home.yaml) and must give exactly its
``actions``; the corpus must use every phrase pattern (with and without "the"),
every device and every spoken name. The same parser marks which stage-2 dev
texts stage 1 also understands (``in_stage1_grammar``).

Manifest entry per file, besides tools/gen_test_audio.py's fields: ``kind``
(ingrammar | oog | oos | babble), ``text (the command), ``wake_text``, ``wake_rate``,
``command_rate``, the wake phrase span ``wake_start_s``/``wake_end_s`` and the
command span ``command_start_s``/``command_end_s``, with the same spans in
samples (``*_sample``). Spans are exact: each phrase is synthesized alone,
trimmed (10 ms of margin kept each side, see gen_test_audio.trim) and spliced
in; a span's end is one past its last sample (end_s = end_sample / 16000).
In-grammar and babble clips carry the expected ``actions``; oog and oos clips
``expect`` (a list of acceptable action lists) and, where stage 1 parses the
text, ``stage1_actions``. Babble clips say ``"noise": "babble"`` and list the
talkers under them in ``babble_voices`` (``voice`` stays the command's voice).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import gen_test_audio as gta
from gen_test_audio import SR, Clip

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ROOT / "tools" / "corpus" / "commands.jsonl"
HOME = ROOT / "devices" / "demo-home.yaml"
STAGE2_DEV = ROOT.parent / "shared" / "eval" / "stage2-dev.jsonl"
GENERATOR_VERSION = 2  # 2: babble/ clips (the others unchanged)

# Voices (names of gen_test_audio.VOICES). The in-grammar clips use all of them,
# the out-of-grammar clips the first OOG_VOICE_COUNT.
COMMAND_VOICES = ["piper_joe", "flite_rms", "flite_kal", "espeak_en-us+f2"]
OOG_VOICE_COUNT = 3
# Speaking rate of the command per index (1.1 = 10 % faster); the wake phrase
# uses gen_test_audio's WAKE_RATES and WAKE_TEXTS.
COMMAND_RATES = [1.0, 0.95, 1.05, 0.9, 1.1]
SNR_DB = 10.0
# Babble (see the docstring): the voices whose in-grammar clips get a babble twin, the
# voices that may babble (all of gen_test_audio's; never the clip's own speaker), how many
# talk at once, the length of each voice's babble track, and the coverage check.
BABBLE_VOICE_COUNT = 3
BABBLE_POOL = ["piper_joe", "flite_slt", "flite_rms", "flite_awb", "flite_kal16", "flite_kal",
               "espeak_en-us", "espeak_en-us+f2", "espeak_en-gb+m3", "espeak_en-gb-x-rp+f3"]
SAME_SPEAKER = {"flite_kal": "kal", "flite_kal16": "kal"}  # one flite voice at 8 and 16 kHz
BABBLE_TALKERS = 4
BABBLE_TRACK_S = 30.0
BABBLE_MAX_DIP_DB = 20.0
BABBLE_DRAWS = 50


# --------------------------------------------------------------------------
# The demo home and the stage-1 grammar (DESIGN §4)
# --------------------------------------------------------------------------
def read_home(path: Path = HOME) -> dict[str, dict]:
    """id -> {"type", "names", "limits"} from demo-home.yaml. Not a YAML parser (the venv
    has none): it reads this file's layout, two-space device blocks with flow lists."""
    devices: dict[str, dict] = {}
    cur = None
    in_devices = False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_devices = line == "devices:"
            continue
        if not in_devices:
            continue
        if m := re.fullmatch(r"  (\w+):", line):
            cur = devices.setdefault(m[1], {"type": None, "names": [], "limits": {}})
        elif cur is not None and (m := re.fullmatch(r"    type: (\w+)", line)):
            cur["type"] = m[1]
        elif cur is not None and (m := re.fullmatch(r"    names: \[(.*)\]", line)):
            cur["names"] = [n.strip() for n in m[1].split(",") if n.strip()]
        elif cur is not None and (m := re.search(r"celsius: \{min: (\d+), max: (\d+)\}", line)):
            cur["limits"]["celsius"] = (int(m[1]), int(m[2]))
    if "speaker" not in devices or not any(d["names"] for d in devices.values()):
        raise SystemExit(f"gen_command_audio: {path}: no devices with spoken names found; "
                         "has the layout of the file changed?")
    return devices


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words_to_int(s: str) -> int | None:
    """'zero' ... 'ninety nine', 'one hundred' -> int; anything else -> None."""
    w = s.split()
    if w == ["one", "hundred"]:
        return 100
    if len(w) == 1 and w[0] in _ONES:
        return _ONES.index(w[0])
    if 1 <= len(w) <= 2 and w[0] in _TENS:
        tens = 20 + 10 * _TENS.index(w[0])
        if len(w) == 1:
            return tens
        if w[1] in _ONES[1:10]:
            return tens + _ONES.index(w[1])
    return None


_ON_OFF_TYPES = {"light", "switch", "fan", "thermostat", "media"}
_PERCENT = {"light": "set_brightness", "cover": "set_position", "media": "set_volume"}


def stage1_parse(text: str, home: dict[str, dict]) -> tuple[str, list[dict], str | None, bool] | None:
    """Parse a command with the stage-1 phrases of DESIGN §4.
    Returns (pattern, actions, spoken name or None, said "the") or None if out of grammar."""
    names = {n: i for i, d in home.items() for n in d["names"]}
    s_re = "(?P<the>the )?(?P<s>" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + ")"
    t = " ".join(text.lower().split())

    def act(device, command, **args):
        return [{"device": device, "command": command, "args": args}]

    fixed = {"volume up": ("volume", "volume_up"), "volume down": ("volume", "volume_down"),
             "mute": ("mute", "mute"), "unmute": ("unmute", "unmute"),
             "cancel the timer": ("cancel_timer", "cancel_timer")}
    if t in fixed:
        return fixed[t][0], act("speaker", fixed[t][1]), None, False
    if m := re.fullmatch(r"set (?:a|the) timer for (?P<n>[a-z ]+) (?P<u>minutes|seconds)", t):
        n = words_to_int(m["n"])
        if n is None:
            return None
        return f"timer_{m['u']}", act("speaker", "start_timer", seconds=n * (60 if m["u"] == "minutes" else 1)), \
            None, False
    patterns = [
        ("turn_on_S", rf"turn (?P<v>on|off) {s_re}"),
        ("turn_S_on", rf"turn {s_re} (?P<v>on|off)"),
        ("switch_on_S", rf"switch (?P<v>on|off) {s_re}"),
        ("switch_S_on", rf"switch {s_re} (?P<v>on|off)"),
        ("set_percent", rf"set {s_re} to (?P<n>[a-z ]+) percent"),
        ("set_degrees", rf"set {s_re} to (?P<n>[a-z ]+) degrees"),
        ("set_level", rf"set {s_re} to (?P<level>low|medium|high)"),
        ("open_close", rf"(?P<v>open|close) {s_re}"),
        ("lock_unlock", rf"(?P<v>lock|unlock) {s_re}"),
    ]
    for pat, rx in patterns:
        m = re.fullmatch(rx, t)
        if not m:
            continue
        dev = names[m["s"]]
        typ = home[dev]["type"]
        the = m["the"] is not None
        if pat in ("turn_on_S", "turn_S_on", "switch_on_S", "switch_S_on"):
            if typ not in _ON_OFF_TYPES:
                return None
            return pat, act(dev, "turn_" + m["v"]), m["s"], the
        if pat == "set_percent":
            n = words_to_int(m["n"])
            if n is None or typ not in _PERCENT:
                return None
            return f"{pat}_{typ}", act(dev, _PERCENT[typ], percent=n), m["s"], the
        if pat == "set_degrees":
            n = words_to_int(m["n"])
            lo, hi = home[dev]["limits"].get("celsius", (0, 100))
            if n is None or typ != "thermostat" or not lo <= n <= hi:
                return None
            return pat, act(dev, "set_temperature", celsius=n), m["s"], the
        if pat == "set_level":
            return (pat, act(dev, "set_speed", level=m["level"]), m["s"], the) if typ == "fan" else None
        if pat == "open_close":
            return (pat, act(dev, m["v"]), m["s"], the) if typ == "cover" else None
        if pat == "lock_unlock":
            return (pat, act(dev, m["v"]), m["s"], the) if typ == "lock" else None
    return None


# Every pattern the corpus must use; those with a spoken name with and without "the".
REQUIRED_PATTERNS = {"turn_on_S", "turn_S_on", "switch_on_S", "switch_S_on", "set_percent_light",
                     "set_percent_cover", "set_percent_media", "set_degrees", "set_level",
                     "open_close", "lock_unlock", "volume", "mute", "unmute", "timer_minutes",
                     "timer_seconds", "cancel_timer"}


def read_jsonl(path: Path) -> list[dict]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"gen_command_audio: {path}:{n}: not JSON ({e})")
    return out


def load_commands(home: dict[str, dict]) -> list[dict]:
    """The corpus, checked: each line's actions are what stage 1 makes of its text, and
    together the lines cover every pattern, device and spoken name."""
    cmds = read_jsonl(COMMANDS)
    seen_pat: set[tuple[str, bool | None]] = set()
    seen_names, seen_devices, errors = set(), set(), []
    for n, c in enumerate(cmds, 1):
        r = stage1_parse(c.get("text", ""), home)
        if r is None:
            errors.append(f"line {n}: {c.get('text')!r} is not a stage-1 phrase")
            continue
        pat, actions, name, the = r
        if actions != c.get("actions"):
            errors.append(f"line {n}: {c['text']!r} means {json.dumps(actions)}, "
                          f"the corpus says {json.dumps(c.get('actions'))}")
        seen_pat.add((pat, the if name else None))
        seen_names.update([name] if name else [])
        seen_devices.update(a["device"] for a in actions)
    for pat in sorted(REQUIRED_PATTERNS):
        needs = [True, False] if any(p == pat and t is not None for p, t in seen_pat) else [None]
        for the in needs:
            if (pat, the) not in seen_pat:
                errors.append(f"no command of pattern {pat}"
                              + ("" if the is None else f" {'with' if the else 'without'} 'the'"))
    all_names = {nm for d in home.values() for nm in d["names"]}
    if missing := sorted(all_names - seen_names):
        errors.append(f"spoken names never used: {missing}")
    if missing := sorted(set(home) - seen_devices):
        errors.append(f"devices never used: {missing}")
    if errors:
        raise SystemExit(f"gen_command_audio: {COMMANDS}:\n  " + "\n  ".join(errors))
    return cmds


OUT_OF_SCOPE = ROOT / "tools" / "corpus" / "out-of-scope.jsonl"


def load_stage2_dev(path: Path) -> tuple[list[dict], str]:
    """The shared stage-2 dev set's texts for the `oog/` clips; where a checkout has no ../shared,
    none (said loudly, and recorded in the manifest): the project's own `oos/` clips are always made."""
    if not path.is_file():
        print(f"gen_command_audio: WARNING: {path} not found (the shared stage-2 dev set lives beside the "
              f"repository): no oog/ clips; the oos/ clips of {OUT_OF_SCOPE.relative_to(ROOT)} are made as always",
              file=sys.stderr)
        return [], "absent"
    return read_jsonl(path), "../shared/eval/stage2-dev.jsonl" if path == STAGE2_DEV else str(path)


# --------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------
@dataclass
class CommandClip(Clip):
    truth: dict = field(default_factory=dict)  # added to the file's manifest entry


def _clips(kind: str, voices: list[str], items: list[tuple[str, dict]]) -> list[CommandClip]:
    out = []
    for vi, v in enumerate(voices):
        for ci, (text, truth) in enumerate(items):
            wake_text = gta.WAKE_TEXTS[ci % len(gta.WAKE_TEXTS)]
            wake_rate = gta.WAKE_RATES[ci % len(gta.WAKE_RATES)]
            rate = COMMAND_RATES[ci % len(COMMAND_RATES)]
            segs = [("sil", 0.6 + 0.1 * ((vi + ci) % 5)),
                    ("wake", v, wake_text, "hey_jarvis", wake_rate),
                    ("sil", 0.3 + 0.05 * ((vi + ci) % 7)),
                    ("say", v, text, rate),
                    ("sil", 1.0)]
            t = {"text": text, "wake_text": wake_text, "wake_rate": wake_rate, "command_rate": rate, **truth}
            base = f"{kind}/{v}_{ci:02d}"
            out.append(CommandClip(f"{base}_clean.wav", "commands", kind, segs, truth=t))
            out.append(CommandClip(f"{base}_snr10.wav", "commands", kind, segs, snr_db=SNR_DB,
                                   noise=gta.NOISES[ci % 2], truth=t))
    return out


def _babble_clips(voices: list[str], items: list[tuple[str, dict]]) -> list[CommandClip]:
    """The clean in-grammar clips of `voices` again, under babble at SNR_DB (rendered by _job)."""
    out = []
    for c in _clips("babble", voices, items):
        if c.path.endswith("_clean.wav"):
            out.append(replace(c, path=c.path.replace("_clean.wav", f"_babble{SNR_DB:.0f}.wav"),
                               snr_db=SNR_DB, noise="babble"))
    return out


def all_clips(cmds: list[dict], dev: list[dict], home: dict[str, dict],
              oos: list[dict] | None = None) -> list[CommandClip]:
    ing = [(c["text"], {"actions": c["actions"]}) for c in cmds]

    def other(texts: list[dict]) -> list[tuple[str, dict]]:
        out = []
        for d in texts:
            r = stage1_parse(d["text"], home)
            out.append((d["text"], {"expect": d["expect"], "in_stage1_grammar": r is not None,
                                    **({"stage1_actions": r[1]} if r else {})}))
        return out
    return (_clips("ingrammar", COMMAND_VOICES, ing)
            + _clips("oog", COMMAND_VOICES[:OOG_VOICE_COUNT], other(dev))
            + _clips("oos", COMMAND_VOICES[:OOG_VOICE_COUNT], other(oos or []))
            + _babble_clips(COMMAND_VOICES[:BABBLE_VOICE_COUNT], ing))


# --------------------------------------------------------------------------
# Babble
# --------------------------------------------------------------------------
_BABBLE_TRACKS: dict[str, np.ndarray] = {}


def speaker(voice: str) -> str:
    return SAME_SPEAKER.get(voice, voice)


def babble_track(voice: str) -> np.ndarray:
    """BABBLE_TRACK_S of `voice` reading its share of the ordinary-speech corpus (cached)."""
    if voice not in _BABBLE_TRACKS:
        sents = gta.corpus()
        vi = BABBLE_POOL.index(voice)
        mine = sents[vi::len(BABBLE_POOL)]
        pieces, n, i = [], 0, 0
        while n < BABBLE_TRACK_S * SR:
            a = gta.say(voice, mine[i % len(mine)])
            gap = np.zeros(int(round((0.1 + 0.03 * (i % 8)) * SR)))
            pieces += [a, gap]
            n += len(a) + len(gap)
            i += 1
        _BABBLE_TRACKS[voice] = np.concatenate(pieces)
    return _BABBLE_TRACKS[voice]


def add_babble(x: np.ndarray, clip: CommandClip, own_voice: str) -> tuple[np.ndarray, list[str]]:
    """x plus babble at clip.snr_db, peak-limited as gen_test_audio does; and the talkers."""
    rng = np.random.default_rng(gta.seed_for(clip.path))
    pool = [v for v in BABBLE_POOL if speaker(v) != speaker(own_voice)]
    for _ in range(BABBLE_DRAWS):
        talkers = [pool[i] for i in rng.choice(len(pool), BABBLE_TALKERS, replace=False)]
        b = np.zeros(len(x))
        for v in talkers:
            track = babble_track(v)
            assert len(track) > len(x), (clip.path, v, len(track), len(x))
            off = int(rng.integers(0, len(track) - len(x)))
            b += track[off:off + len(x)] * 10 ** (rng.uniform(-3.0, 3.0) / 20)
        pb = float(np.mean(b * b))
        # the quietest 100 ms (5 frames of 20 ms) against the mean
        fp = gta.frame_powers(b)
        if np.convolve(fp, np.ones(5) / 5, mode="valid").min() >= pb * 10 ** (-BABBLE_MAX_DIP_DB / 10):
            break
    else:
        raise SystemExit(f"gen_command_audio: {clip.path}: no babble without a 100 ms hole deeper than "
                         f"{BABBLE_MAX_DIP_DB} dB in {BABBLE_DRAWS} draws: shorten the tracks' pauses "
                         "or add talkers")
    x = x + b * np.sqrt(gta.active_power(x) / 10 ** (clip.snr_db / 10) / pb)
    peak = float(np.max(np.abs(x)))
    if peak > gta.PEAK_LIMIT:
        x = x * (gta.PEAK_LIMIT / peak)
    return x, talkers


def _job(clip: CommandClip) -> tuple[str, bytes, dict, float]:
    """gen_test_audio's job (plus babble where asked) and the exact wake and command spans in samples."""
    if clip.noise == "babble":
        t0 = time.perf_counter()
        x, meta = gta.render(replace(clip, snr_db=None, noise=None))
        x, talkers = add_babble(x, clip, meta["voice"])
        meta.update({"snr_db": clip.snr_db, "noise": "babble", "babble_voices": talkers})
        path, pcm, dt = clip.path, gta.quantize(x).tobytes(), time.perf_counter() - t0
    else:
        path, pcm, meta, dt = gta._job(clip)
    pos, spans = 0, {}
    for seg in clip.segments:
        if seg[0] == "sil":
            n = int(round(seg[1] * SR))
        else:
            n = len(gta.say(seg[1], seg[2], seg[-1]))  # cached by render()
            spans["wake" if seg[0] == "wake" else "command"] = (pos, pos + n)
        pos += n
    assert pos == len(pcm) // 2, (clip.path, pos, len(pcm) // 2)
    for k in ("noise_dbfs", "hum_dbfs", "clicks_dbfs"):
        meta.pop(k, None)
    meta.update(clip.truth)
    for k, (a, b) in spans.items():
        meta.update({f"{k}_start_s": a / SR, f"{k}_end_s": b / SR,
                     f"{k}_start_sample": a, f"{k}_end_sample": b})
    return path, pcm, meta, dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/testdata/commands", type=Path)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--stage2-dev", type=Path, default=STAGE2_DEV)
    a = ap.parse_args(argv)
    for tool in ("flite", "espeak-ng"):
        if shutil.which(tool) is None:
            print(f"gen_command_audio: '{tool}' not found (apt-get install flite espeak-ng)", file=sys.stderr)
            return 1
    home = read_home()
    oog_texts, oog_source = load_stage2_dev(a.stage2_dev)
    clips = all_clips(load_commands(home), oog_texts, home, read_jsonl(OUT_OF_SCOPE))
    a.out.mkdir(parents=True, exist_ok=True)
    for sub in sorted({c.path.split("/")[0] for c in clips}):
        shutil.rmtree(a.out / sub, ignore_errors=True)
    # chunksize 2: a clip and its noisy twin (adjacent) are rendered by one process, which
    # synthesizes their phrases once.
    gta.generate(clips, a.out, a.jobs, job=_job, chunksize=2,
                 extra={"generator": "tools/gen_command_audio.py", "generator_version": GENERATOR_VERSION,
                        "command_voices": COMMAND_VOICES, "oog_source": oog_source,
                        "oog_voices": COMMAND_VOICES[:OOG_VOICE_COUNT], "snr_db": SNR_DB,
                        "babble": {"voices": COMMAND_VOICES[:BABBLE_VOICE_COUNT], "pool": BABBLE_POOL,
                                   "talkers": BABBLE_TALKERS, "track_s": BABBLE_TRACK_S,
                                   "max_dip_db": BABBLE_MAX_DIP_DB}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
