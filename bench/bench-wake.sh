#!/usr/bin/env bash
# Wake-word CPU and memory of harkd against openWakeWord 0.4.0 + onnxruntime (one head, ncpu=1),
# measured in the same run on the same audio; prints ratios (STYLE.md, DESIGN.md §6).
#
#   bench/bench-wake.sh            (make bench-wake: needs build venv models bench-audio)
#
# Environment: HARKD (default .build/release/harkd), BENCH_RUNS (default 5), BENCH_AUDIO
# (default build/bench), WAKE_WORD (default hey_jarvis_v0.1), PYTHON (default .venv/bin/python).
# Needs only the venv's Python (CPU time and peak RSS come from wait4(2); no /usr/bin/time, no sox).
# Exits 0 whether or not the targets are met (it is a benchmark, not a test); non-zero only when it
# cannot measure.
#
# Method (CPU time, not wall time, so that other load on the machine matters little):
#  * harkd: user+sys CPU time and peak RSS of the whole process from wait4(2) (the rusage that
#    /usr/bin/time -f "%U %S %M" prints, at microsecond instead of 10 ms resolution; the timing
#    helper's own Python start-up is not in the child's rusage), once on the 60 s file and once on
#    its first second (build/bench/*_1s.wav, cut here from the same file). Startup (model loading,
#    planning, process start) and the first second cancel in the difference, so
#        harkd cpu per audio second = (cpu(60 s file) - cpu(1 s clip)) / (audio(60 s) - audio(1 s))
#    where audio counts whole 1280-sample chunks only (0.96 s for the 1 s clip), as both sides
#    process. A difference below 0 (timer noise, near silence) is reported as 0.
#  * reference: bench/wake_reference.py's cpu_s (time.process_time, all threads) of its streaming
#    loop, which excludes imports and model loading, over the same 60 s file (750 chunks).
#    Neither side is charged its start-up, so the two figures are the steady streaming cost.
#  * harkd is copied to a temporary file first, so a rebuild of .build during the run changes nothing.
#  * each figure is the median of BENCH_RUNS runs; the runs of harkd and of the reference are
#    interleaved (ref, harkd 60 s, harkd 1 s, ...) so that both see the same background load.
#  * RSS: harkd's peak resident set (ru_maxrss, KiB, = /usr/bin/time's %M) with one wake word on
#    the speech file, the maximum over its runs, printed in MB = MiB (KiB / 1024). The reference
#    Python process's peak is shown for information only (it includes the interpreter, numpy and onnxruntime).
#  * harkd --no-gate on the speech file is measured the same way, for information: what the
#    voice-activity gate saves.
# Output: a table per condition (harkd, reference, ratio harkd/reference, target, PASS/FAIL), and
# last three lines exactly `cpu_ratio_speech: R`, `cpu_ratio_silence: R`, `rss_mb: N`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

harkd=${HARKD:-.build/release/harkd}
runs=${BENCH_RUNS:-5}
audio=${BENCH_AUDIO:-build/bench}
wake=${WAKE_WORD:-hey_jarvis_v0.1}
py=${PYTHON:-.venv/bin/python}

# Targets (DESIGN.md §6: the reference costs the same on speech and silence; harkd must not).
target_speech=1.0   # aim 0.5
aim_speech=0.5
target_silence=0.1
target_rss_mb=40

die() { echo "bench-wake: $*" >&2; exit 1; }
[ -x "$harkd" ] || die "$harkd not found (make build)"
[ -x "$py" ] || die "$py not found (make venv)"
[ -f "models/$wake.onnx" ] || die "models/$wake.onnx not found (make models)"
speech="$audio/speech_noise_60s.wav"
silence="$audio/near_silence_60s.wav"
for f in "$speech" "$silence" "${speech%_60s.wav}_1s.wav" "${silence%_60s.wav}_1s.wav"; do
    [ -f "$f" ] || die "$f not found (make bench-audio)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-wake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Measure one fixed binary even if someone rebuilds .build while this runs.
harkd_src=$harkd
harkd_built=$(date -u -r "$harkd_src" '+built %Y-%m-%d %H:%M:%S UTC')
cp "$harkd_src" "$tmp/harkd"
harkd=$tmp/harkd

# First second of each file: tools/gen_bench_audio.py writes it beside the 60 s one. Audio seconds in
# whole 1280-sample chunks.
speech1="${speech%_60s.wav}_1s.wav"
silence1="${silence%_60s.wav}_1s.wav"
chunk_audio_s() {
    "$py" -c 'import sys, wave
w = wave.open(sys.argv[1], "rb")
assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), "need 16 kHz mono S16"
print(w.getnframes() // 1280 * 1280 / 16000)' "$1"
}

# measure RUSAGE_OUT CMD...: runs CMD (stdin /dev/null, stdout and stderr inherited) and writes
# "user+sys_seconds maxrss_kib" of that one child, from wait4(2), to RUSAGE_OUT; returns its status.
measure() {
    "$py" -c 'import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
p.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    print(f"{ru.ru_utime + ru.ru_stime:.6f} {ru.ru_maxrss}", file=f)
sys.exit(p.returncode if p.returncode >= 0 else 1)' "$@"
}

# run_harkd OUT WAV [flags...]: appends "user+sys_s maxrss_kib" to OUT.
run_harkd() {
    local out=$1 wav=$2; shift 2
    measure "$tmp/time" "$harkd" --input "$wav" --dry-run --events - --models models --wake-word "$wake" "$@" \
        >"$tmp/events" 2>"$tmp/log" || { cat "$tmp/log" >&2; die "harkd failed on $wav"; }
    cat "$tmp/time" >>"$out"
    # last log line with gate counters, for the report
    grep -o 'chunks=[0-9]* chunks_computed=[0-9]*' "$tmp/log" | tail -1 >"$out.gate" || true
}

# run_ref OUT WAV: appends "cpu_per_audio_s maxrss_kib" to OUT.
run_ref() {
    local out=$1 wav=$2
    measure "$tmp/time" "$py" bench/wake_reference.py "$wav" "models/$wake.onnx" >"$tmp/ref.json" 2>"$tmp/ref.log" \
        || { cat "$tmp/ref.log" >&2; die "wake_reference.py failed on $wav"; }
    "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["cpu_s"], d["audio_s"], open(sys.argv[2]).read().split()[1])' "$tmp/ref.json" "$tmp/time" >>"$out"
    "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["reference"])' "$tmp/ref.json" >"$tmp/ref.version"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$2"; }

a60_speech=$(chunk_audio_s "$speech"); a1_speech=$(chunk_audio_s "$speech1")
a60_silence=$(chunk_audio_s "$silence"); a1_silence=$(chunk_audio_s "$silence1")

echo "bench-wake: harkd vs openWakeWord reference, one head ($wake), $runs interleaved runs, medians of CPU time (user+sys)"
echo "harkd: $harkd_src ($harkd_built, sha256 $(sha256sum "$harkd" | cut -c1-12))   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/h_speech60"; : >"$tmp/h_speech1"; : >"$tmp/h_nogate60"; : >"$tmp/h_nogate1"
: >"$tmp/h_silence60"; : >"$tmp/h_silence1"; : >"$tmp/r_speech"; : >"$tmp/r_silence"
for i in $(seq "$runs"); do
    run_ref "$tmp/r_speech" "$speech"
    run_harkd "$tmp/h_speech60" "$speech"
    run_harkd "$tmp/h_speech1" "$speech1"
    run_harkd "$tmp/h_nogate60" "$speech" --no-gate
    run_harkd "$tmp/h_nogate1" "$speech1" --no-gate
    run_ref "$tmp/r_silence" "$silence"
    run_harkd "$tmp/h_silence60" "$silence"
    run_harkd "$tmp/h_silence1" "$silence1"
done
echo "reference: $(cat "$tmp/ref.version"), ncpu=1, streaming loop only (model load excluded)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# per_s H60 H1 A60 A1 -> harkd cpu per audio second (from medians); prints "per_s med60 med1"
per_s() {
    local m60 m1
    m60=$(col 1 "$1" | median); m1=$(col 1 "$2" | median)
    awk -v a="$m60" -v b="$m1" -v x="$3" -v y="$4" \
        'BEGIN { d = (a - b) / (x - y); if (d < 0) d = 0; printf "%.5f %.3f %.3f\n", d, a, b }'
}
ref_per_s() { awk '{ print $1 / $2 }' "$1" | median; }
spread() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f..%.3f", v[1], v[NR] }'; }

read -r h_speech h_speech_m60 h_speech_m1 < <(per_s "$tmp/h_speech60" "$tmp/h_speech1" "$a60_speech" "$a1_speech")
read -r h_nogate h_nogate_m60 h_nogate_m1 < <(per_s "$tmp/h_nogate60" "$tmp/h_nogate1" "$a60_speech" "$a1_speech")
read -r h_silence h_silence_m60 h_silence_m1 < <(per_s "$tmp/h_silence60" "$tmp/h_silence1" "$a60_silence" "$a1_silence")
r_speech=$(ref_per_s "$tmp/r_speech")
r_silence=$(ref_per_s "$tmp/r_silence")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
ratio_speech=$(ratio "$h_speech" "$r_speech")
ratio_nogate=$(ratio "$h_nogate" "$r_speech")
ratio_silence=$(ratio "$h_silence" "$r_silence")
rss_kib=$(col 2 "$tmp/h_speech60" | sort -g | tail -1)
rss_mb=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
ref_rss_mb=$(awk '{ print $3 }' "$tmp/r_speech" | sort -g | tail -1 | awk '{ printf "%.1f", $1 / 1024 }')
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "PASS" : "FAIL") }'; }
pct() { awk -v v="$1" 'BEGIN { printf "%.5f (%5.2f %%)", v, 100 * v }'; }

echo
echo "CPU seconds per second of audio (medians; harkd: (cpu(60 s) - cpu(1 s clip)) / audio seconds between them)"
printf '%-26s %-22s %-22s %-8s %s\n' condition harkd reference ratio target
printf '%-26s %-22s %-22s %-8s %s\n' "speech + noise, 60 s" "$(pct "$h_speech")" "$(pct "$r_speech")" "$ratio_speech" \
    "<= $target_speech (aim $aim_speech)  $(verdict "$ratio_speech" "$target_speech"), aim $(verdict "$ratio_speech" "$aim_speech")"
printf '%-26s %-22s %-22s %-8s %s\n' "near silence, 60 s" "$(pct "$h_silence")" "$(pct "$r_silence")" "$ratio_silence" \
    "<= $target_silence  $(verdict "$ratio_silence" "$target_silence")"
printf '%-26s %-22s %-22s %-8s %s\n' "speech, harkd --no-gate" "$(pct "$h_nogate")" "$(pct "$r_speech")" "$ratio_nogate" \
    "(information: the gate saves $(awk -v a="$h_nogate" -v b="$h_speech" 'BEGIN { printf "%.0f", (a > 0 ? 100 * (a - b) / a : 0) }') % on this file)"
echo
echo "harkd process CPU s, median (spread) of $runs: 60 s file / 1 s clip"
printf '  %-24s %s (%s) / %s (%s)   %s\n' speech "$h_speech_m60" "$(col 1 "$tmp/h_speech60" | spread)" "$h_speech_m1" "$(col 1 "$tmp/h_speech1" | spread)" "$(cat "$tmp/h_speech60.gate")"
printf '  %-24s %s (%s) / %s (%s)   %s\n' "speech --no-gate" "$h_nogate_m60" "$(col 1 "$tmp/h_nogate60" | spread)" "$h_nogate_m1" "$(col 1 "$tmp/h_nogate1" | spread)" "$(cat "$tmp/h_nogate60.gate")"
printf '  %-24s %s (%s) / %s (%s)   %s\n' "near silence" "$h_silence_m60" "$(col 1 "$tmp/h_silence60" | spread)" "$h_silence_m1" "$(col 1 "$tmp/h_silence1" | spread)" "$(cat "$tmp/h_silence60.gate")"
echo "reference streaming-loop CPU s over $(awk 'NR == 1 { print $2 }' "$tmp/r_speech") s, spread of $runs: speech $(col 1 "$tmp/r_speech" | spread), near silence $(col 1 "$tmp/r_silence" | spread)"
echo
echo "peak RSS, speech file, one wake word (max of $runs runs, MB = MiB)"
printf '  harkd %s MB   target <= %s MB  %s   (reference Python process, information: %s MB)\n' \
    "$rss_mb" "$target_rss_mb" "$(verdict "$rss_mb" "$target_rss_mb")" "$ref_rss_mb"
echo
echo "cpu_ratio_speech: $ratio_speech"
echo "cpu_ratio_silence: $ratio_silence"
echo "rss_mb: $rss_mb"
