#!/usr/bin/env python3
"""Captures onnxruntime's outputs of each openWakeWord model on fixed inputs, for the Swift
ONNX runtime's per-model parity tests (Tests/HarkWakeTests/Fixtures/onnx-models.json).

The inputs come from a real utterance so the values are in the models' working range:
  audio (16 kHz S16 WAV) -> melspectrogram.onnx on the first 1760 samples of a speech region
  -> (x/10 + 2, as openWakeWord transforms it) -> embedding_model.onnx on a 76-frame window
  -> each head on two 16-embedding windows: where hey_jarvis scores highest (so the verifier
     branch of its If node runs when the score passes 0.5) and lowest (the else branch).

Usage: python3 tools/capture_onnx_fixtures.py --wav build/testdata/parity/<clip>.wav --models models --out Tests/HarkWakeTests/Fixtures/onnx-models.json
"""
import argparse, json, wave
import numpy as np
import onnxruntime as ort


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def rounded(a):
    return [float(f"{v:.7g}") for v in np.asarray(a, dtype=np.float32).ravel()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wav", required=True)
    ap.add_argument("--models", default="models")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with wave.open(args.wav) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)

    mel = session(f"{args.models}/melspectrogram.onnx")
    emb = session(f"{args.models}/embedding_model.onnx")
    start = int(np.argmax(np.abs(audio) > 1000))
    mel_in = audio[start:start + 1760][None, :]
    mel_out = mel.run(None, {"input": mel_in})[0]

    full = np.squeeze(mel.run(None, {"input": audio[None, :]})[0]) / 10 + 2
    windows = np.array([full[i:i + 76] for i in range(0, full.shape[0] - 76 + 1, 8)], dtype=np.float32)
    embeddings = np.concatenate([emb.run(None, {"input_1": w[None, :, :, None]})[0].reshape(1, 96) for w in windows])
    emb_in = windows[len(windows) // 2][None, :, :, None]
    emb_out = emb.run(None, {"input_1": emb_in})[0]

    heads = {}
    jarvis = session(f"{args.models}/hey_jarvis_v0.1.onnx")
    scores = [jarvis.run(None, {jarvis.get_inputs()[0].name: embeddings[i:i + 16][None]})[0].item()
              for i in range(len(embeddings) - 15)]
    best = int(np.argmax(scores))
    head_in = embeddings[best:best + 16][None].astype(np.float32)
    worst = int(np.argmin(scores))
    low_in = embeddings[worst:worst + 16][None].astype(np.float32)
    for name in ["hey_jarvis_v0.1", "alexa_v0.1", "hey_mycroft_v0.1", "hey_marvin_v0.1"]:
        s = session(f"{args.models}/{name}.onnx")
        iname = s.get_inputs()[0].name
        heads[name] = {"high": rounded(s.run(None, {iname: head_in})[0]), "low": rounded(s.run(None, {iname: low_in})[0])}

    fixture = {
        "reference": f"onnxruntime=={ort.__version__}",
        "source_wav": args.wav,
        "melspectrogram": {"input_shape": list(mel_in.shape), "input": rounded(mel_in), "output_shape": list(mel_out.shape), "output": rounded(mel_out)},
        "embedding": {"input_shape": list(emb_in.shape), "input": rounded(emb_in), "output_shape": list(emb_out.shape), "output": rounded(emb_out)},
        "heads": {"input_shape": list(head_in.shape), "high_input": rounded(head_in), "low_input": rounded(low_in), "outputs": heads},
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {args.out}: hey_jarvis high={heads['hey_jarvis_v0.1']['high']} low={heads['hey_jarvis_v0.1']['low']}")


if __name__ == "__main__":
    main()
