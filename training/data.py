"""Tokenised training examples: the shared catalog prefix, and per request the rest of the prompt
plus the answer, with labels on the answer tokens only (training/prompt.py makes the text).

The tokenizer is SmolLM2's (gpt2 byte-level BPE with the 'smollm' pre-tokenizer) read from the GGUF
by transformers and cached as build/stage2-tokenizer/tokenizer.json; eval and llama.cpp tokenise
the same text identically (checked by `python training/data.py --check`, in the llama.cpp venv).
The prompt and the answer are tokenised separately, as at inference, where the model generates the
answer's tokens after the prompt's.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TOK_DIR = os.path.join(ROOT, "build", "stage2-tokenizer")


def tokenizer():
    from tokenizers import Tokenizer
    path = os.path.join(TOK_DIR, "tokenizer.json")
    if not os.path.exists(path):
        from transformers import AutoTokenizer
        t = AutoTokenizer.from_pretrained(os.path.dirname(SMOL), gguf_file=os.path.basename(SMOL))
        t.save_pretrained(TOK_DIR)
    return Tokenizer.from_file(path)


def encode(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


class Homes:
    """Catalog text and its tokenised prefix for each home key ('demo' and the random ones)."""

    def __init__(self, tok, data_dir, demo_catalog=os.path.join(ROOT, "devices", "demo-home.yaml")):
        cats = {"demo": prompt.load_catalog(demo_catalog)}
        cats.update(json.load(open(os.path.join(data_dir, "catalogs.json"))))
        self.cats = cats
        self.text = {k: prompt.render_catalog(c) for k, c in cats.items()}
        self.prefix = {k: encode(tok, prompt.prefix_of(t)) for k, t in self.text.items()}


def example_ids(tok, homes, ex):
    """(home key, suffix ids, labels): suffix = user turn + assistant header + answer."""
    full = prompt.build_prompt(homes.text[ex["home"]], ex["text"], prompt.render_state(ex.get("state")))
    pre = prompt.prefix_of(homes.text[ex["home"]])
    assert full.startswith(pre)
    q = encode(tok, full[len(pre):])
    a = encode(tok, prompt.answer(ex["actions"], ex["reply"]))
    return ex["home"], q + a, [-100] * len(q) + a


def load(tok, homes, path, limit=None):
    out = []
    with open(path) as f:
        for i, line in enumerate(f):
            if limit and i >= limit:
                break
            out.append(example_ids(tok, homes, json.loads(line)))
    return out


if __name__ == "__main__" and "--check" in sys.argv:
    # In the llama.cpp venv: the cached tokenizer and llama.cpp agree on 500 prompts and answers.
    import llama_cpp
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(TOK_DIR, "tokenizer.json"))
    m = llama_cpp.Llama(SMOL, vocab_only=True, verbose=False)
    data_dir = sys.argv[sys.argv.index("--check") + 1]
    homes = Homes(tok, data_dir)
    bad = n = 0
    for line in list(open(os.path.join(data_dir, "train.jsonl")))[:500]:
        ex = json.loads(line)
        full = prompt.build_prompt(homes.text[ex["home"]], ex["text"], prompt.render_state(ex.get("state")))
        for s in (full, prompt.answer(ex["actions"], ex["reply"])):
            n += 1
            if encode(tok, s) != m.tokenize(s.encode(), add_bos=False, special=True):
                bad += 1
    print(f"tokenizer check: {n - bad} of {n} texts tokenised identically by llama.cpp")
