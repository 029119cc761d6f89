#!/usr/bin/env python3
"""A SentencePiece vocabulary in GGUF and llama.cpp's token ids for it (issue 5: the tokenizer's
SentencePiece path, as Llama and Mixtral files carry it).

Phase "train" (the torch venv, which has sentencepiece): trains a 600-piece BPE SentencePiece model
with byte fallback on tools/corpus/ordinary_speech.txt, as Llama's tokenizer is built, and writes its
pieces, scores and types as a vocabulary-only `llama` GGUF (Tests/HarkLLMTests/Fixtures/tiny-spm.gguf,
no tensors).
Phase "llama" (the llama.cpp venv): llama.cpp loads the vocabulary (vocab_only) and tokenizes the
strings of tools/capture_llm_fixtures.py, with and without special-token parsing, into spm-tokens.json.

Usage (make tiny-moe-fixtures runs both):
  .venv-torch/bin/python tools/make_tiny_spm.py train
  .venv/bin/python tools/make_tiny_spm.py llama
"""
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HarkLLMTests", "Fixtures")
GGUF = os.path.join(OUT, "tiny-spm.gguf")
CORPUS = os.path.join(ROOT, "tools", "corpus", "ordinary_speech.txt")


def train():
    import gguf
    import sentencepiece as spm
    lines = [l.strip() for l in open(CORPUS, encoding="utf-8") if l.strip() and not l.startswith("#")]
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "corpus.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(lines * 3))
        spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(tmp, "spm"), vocab_size=600,
                                       model_type="bpe", byte_fallback=True, character_coverage=1.0,
                                       split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                       user_defined_symbols=["<|cmd|>"], minloglevel=2)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, "spm.model"))
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        types.append(2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i)
                     else 5 if sp.is_unused(i) else 4 if tokens[-1] == "<|cmd|>" else 1)
    w = gguf.GGUFWriter(GGUF, "llama")
    w.add_name("hark-tiny-spm")
    for key, value in (("block_count", 1), ("context_length", 64), ("embedding_length", 8),
                       ("feed_forward_length", 8), ("attention.head_count", 1)):
        w.add_uint32(f"llama.{key}", value)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"make_tiny_spm: {len(tokens)} pieces -> {GGUF}")


def capture():
    import llama_cpp
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from capture_llm_fixtures import token_strings
    llm = llama_cpp.Llama(model_path=GGUF, vocab_only=True, verbose=False)
    cases = []
    for text in token_strings() + ["<|cmd|> turn on", "a<|cmd|>b", "<s>hello</s>"]:
        b = text.encode("utf-8")
        cases.append({"text": text,
                      "plain": llm.tokenize(b, add_bos=False, special=False),
                      "special": llm.tokenize(b, add_bos=False, special=True),
                      "with_bos": llm.tokenize(b, add_bos=True, special=False)})
    path = os.path.join(OUT, "spm-tokens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"model": os.path.basename(GGUF), "llama_cpp_python": llama_cpp.__version__, "cases": cases},
                  f, ensure_ascii=False, indent=0)
    print(f"make_tiny_spm: {len(cases)} tokenization cases -> {path}")


if __name__ == "__main__":
    {"train": train, "llama": capture}[sys.argv[1]]()
