# Hark: the two commands are `make run` and `make test`; everything else is what they call.
#
#   make run         set up (Debian packages, models, build), then run the demo
#   make test        set up, generate the test audio, build and run every test
#   make bench       benchmarks (make bench-wake: wake-word CPU and memory vs openWakeWord;
#                    make bench-dispatch: action → MQTT PUBACK latency and journal throughput;
#                    make bench-commands: stage-1 end of speech → actions latency;
#                    make bench-second-pass: stage-1 accuracy and latency, first pass / Whisper / both;
#                    make bench-whisper: hark-whisper vs faster-whisper, seconds per utterance;
#                    make bench-llm: hark-llm vs llama.cpp, prefill and decode tokens/s, peak RSS;
#                    make bench-power: the always-on stage's estimated milliwatts on each board;
#                    make bench-stage2: free-form requests end to end, warm/cold/say latency and accuracy;
#                    make bench-speculation: the worker's speculated grammar-forced tokens vs token by token)
#   make stage2-prompt-fixtures  re-capture training/prompt.py's prompts and answer lines for
#                    harkd's stage-2 prompt tests, and the held-out requests its test of the trained
#                    model says (committed; .venv)
#   make gguf-fixtures      re-write the GGUF test fixtures with gguf-py (committed; needs the
#                    gguf package in the venv, tools/requirements-llm.txt)
#   make whisper-fixtures   re-capture the faster-whisper reference (committed; needs the
#                    faster-whisper venv, which only this and bench-whisper install)
#   make bench-quant        the stage-2 kernels: quantized matrix products, GB/s and GFLOP/s
#   make quant-fixtures     re-capture gguf-py's quantization fixtures (committed; needs the gguf
#                    package in the venv, tools/requirements-llm.txt)
#   make llm-fixtures       re-capture llama.cpp's token ids and greedy logits on SmolLM2 (committed;
#                    needs the llama.cpp venv, which only this and bench-llm install)
#   make tiny-moe-fixtures  re-write the tiny MoE models (one per architecture) and the SentencePiece
#                    vocabulary with their transformers / llama.cpp references (committed; needs the
#                    5.4 GB torch venv, .venv-torch, and the llama.cpp venv)
#   make model       the default stage-2 model (issue 9; make run builds it): SmolLM2 from PyPI
#                    (models/) + the trained delta in training/ -> build/stage2/hark-moe-q4_0.gguf,
#                    SHA-256 checked, copied to models/hark-moe-q4_0.gguf (harkd's stage 2 default)
#                    (llama.cpp venv; no torch). make eval-stage2 scores it and its F16 on the dev set
#                    with Hark's engine; make train-model repeats the whole training run (~1 h 45 min)
#   make install     harkd, harkctl, the systemd units, sysusers file, config, demo catalog and models
#                    under $(DESTDIR)$(PREFIX) and $(DESTDIR)/etc; make uninstall removes them

SHELL := /bin/bash
SWIFT ?= swift
# One build configuration for the daemon and the tests: optimised (the numeric code is ~100x slower
# unoptimised) and testable, so `make run` and `make test` share one build.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN ?= .build/release
PYTHON_VENV := .venv/bin/python

# Installation (GNU conventions): programs, units and data under PREFIX; the configuration in
# /etc/hark, where the unit's ConfigurationDirectory= is; everything below DESTDIR when staging.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system
SYSUSERSDIR := $(PREFIX)/lib/sysusers.d
DATADIR := $(PREFIX)/share/hark
DOCDIR := $(PREFIX)/share/doc/hark
CONFDIR := /etc/hark
MODEL_FILES := $(shell cut -d' ' -f3 models/manifest.sha256 2>/dev/null | sed 's|^models/||')

# Debian packages: build (ALSA, SQLite, libmosquitto, libcurl, PocketSphinx and its en-us model), tests (the mosquitto broker; gcc
# builds the virtual ALSA mixer plugin), test audio (espeak-ng, flite, sox, Python venv for Piper and
# the openWakeWord reference), benchmarks (time).
APT_PACKAGES := libasound2-dev libsqlite3-dev libmosquitto-dev mosquitto libcurl4-openssl-dev libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us gcc g++ alsa-utils espeak-ng flite sox python3-venv python3-pip time
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: model train-model eval-stage2 stage2-prompt-fixtures run test deps models build venv venv-whisper venv-llm venv-torch llm-fixtures tiny-moe-fixtures bench-llm test-data command-audio bench-audio demo bench bench-wake bench-dispatch bench-commands bench-second-pass bench-whisper bench-power bench-stage2 bench-speculation fixtures gguf-fixtures whisper-fixtures clean install install-files uninstall

run: deps models build model demo-audio demo

# Suites that measure time (timeouts, timers, a broker restart, kill -9) run after the others. Swift
# Testing runs synchronous tests on the cooperative thread pool, and on a 2-core machine the CPU-bound
# wake-word suites hold both of its threads for tens of seconds, which would starve their waits.
# The spoken-command accuracy suite and the Whisper suites keep both cores busy for minutes: they run
# last, on their own.
HEAVY_SUITES := CommandAccuracyTests|WhisperParityTests|WhisperTranscriberTests|SmolLM2ParityTests
# harkd's stage-2 suites wait on harkd and its worker from async tests: beside the heavy suites'
# synchronous ones they wait minutes for a thread of the cooperative pool, so they run last, alone.
STAGE2_SUITES := Stage2SayTests|Stage2SpokenTests|Stage2RemoteTests
# PowerGovernorDaemonTests measures the always-on stage's CPU time twice (its budget) and then holds
# harkd's loop to it: beside the wake-word suites the load changed between the two (a fresh clone's
# run here: first under the budget at 70 s of audio, not 60), so it runs alone.
POWER_SUITES := PowerGovernorDaemonTests
TIMED_SUITES := FeedbackTests|ExecTransportTests|HomeAssistantTransportTests|SpeakerTransportTests|PlaybackTests|MQTTBrokerTests|HarkdMQTTTests|JournalCrashTests|ControlServerTests|SystemdNotifyTests|PowerStatusTests
# The control socket's 30 s flood measures harkd's answer latency (bound 100 ms): it runs alone, since
# beside JournalCrashTests' kill -9 loop (SQLite fsyncs) its slowest answer took 357 and 451 ms in two
# runs, and 51 ms alone.
LOAD_SUITES := ControlFloodTests

# Every group runs, even after one failed; tools/test-groups.sh ends with a summary of the failures.
# venv-llm: Stage2RemoteTests runs llama-cpp-python's OpenAI-compatible server; model: Stage2SayTests says
# held-out requests to harkd with the trained default model.
test: deps models venv venv-llm model test-data command-audio bench-audio
	$(SWIFT) build $(SWIFT_FLAGS) --build-tests
	tools/test-groups.sh "$(SWIFT)" "$(SWIFT_FLAGS)" \
		"fast=--skip $(TIMED_SUITES)|$(LOAD_SUITES)|$(POWER_SUITES)|$(HEAVY_SUITES)|$(STAGE2_SUITES)" \
		"timed=--filter $(TIMED_SUITES)" \
		"load=--filter $(LOAD_SUITES)" \
		"power=--filter $(POWER_SUITES)" \
		"heavy=--filter $(HEAVY_SUITES)" \
		"stage2=--filter $(STAGE2_SUITES)"

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	else echo "deps: Debian packages present"; fi

models:
	tools/fetch-models.sh

build:
	$(SWIFT) build $(SWIFT_FLAGS) --product harkd
	$(SWIFT) build $(SWIFT_FLAGS) --product harkctl
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-whisper
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-llm
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2

# The service (systemd/README.md). The unit and the config name /usr/local; they are installed with
# PREFIX's paths. An existing configuration or catalog is kept. A catalog with file-transport
# devices gets the ReadWritePaths= drop-in harkd prints for it.
install: build models install-files

install-files:
	@test -x $(BIN)/harkd -a -x $(BIN)/harkctl -a -x $(BIN)/hark-whisper -a -x $(BIN)/hark-stage2 || { echo "install: no $(BIN)/harkd, $(BIN)/harkctl, $(BIN)/hark-whisper or $(BIN)/hark-stage2; run make build (or set BIN)"; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/models $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR)/devices
	install -m 0755 $(BIN)/harkd $(BIN)/harkctl $(BIN)/hark-whisper $(BIN)/hark-stage2 $(DESTDIR)$(BINDIR)/
	sed 's|/usr/local|$(PREFIX)|g' systemd/harkd.service > $(DESTDIR)$(UNITDIR)/harkd.service && chmod 0644 $(DESTDIR)$(UNITDIR)/harkd.service
	install -m 0644 systemd/harkd-retry.timer $(DESTDIR)$(UNITDIR)/harkd-retry.timer
	install -m 0644 systemd/hark.sysusers $(DESTDIR)$(SYSUSERSDIR)/hark.conf
	for f in $(MODEL_FILES); do install -D -m 0644 models/$$f $(DESTDIR)$(DATADIR)/models/$$f || exit 1; done
	install -m 0644 models/manifest.sha256 $(DESTDIR)$(DATADIR)/models/
	install -d $(DESTDIR)$(DATADIR)/boards
	install -m 0644 devices/boards/*.yaml $(DESTDIR)$(DATADIR)/boards/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 devices/README.md $(DESTDIR)$(DOCDIR)/devices.md
	install -m 0644 systemd/README.md $(DESTDIR)$(DOCDIR)/systemd.md
	@if [ -e $(DESTDIR)$(CONFDIR)/harkd.yaml ]; then echo "install: keeping $(DESTDIR)$(CONFDIR)/harkd.yaml"; \
	else sed 's|/usr/local|$(PREFIX)|g' systemd/harkd.yaml > $(DESTDIR)$(CONFDIR)/harkd.yaml && chmod 0644 $(DESTDIR)$(CONFDIR)/harkd.yaml; fi
	@if [ -e $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml ]; then echo "install: keeping $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml"; \
	else install -m 0644 devices/demo-home.yaml $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml; fi
	@paths=$$($(BIN)/harkd --config $(DESTDIR)$(CONFDIR)/harkd.yaml --catalog $(DESTDIR)$(CONFDIR)/devices --print-read-write-paths); \
	if echo "$$paths" | grep -q '^ReadWritePaths='; then \
		install -d $(DESTDIR)$(UNITDIR)/harkd.service.d && echo "$$paths" > $(DESTDIR)$(UNITDIR)/harkd.service.d/10-catalog-paths.conf; \
		echo "install: $(DESTDIR)$(UNITDIR)/harkd.service.d/10-catalog-paths.conf opens the catalog's file paths"; fi
	@[ -n "$(DESTDIR)" ] || echo "install: done; now: systemd-sysusers && systemctl daemon-reload && systemctl enable --now harkd"

# Removes what install put there; a configuration or catalog that was edited is kept.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/harkd $(DESTDIR)$(BINDIR)/harkctl $(DESTDIR)$(BINDIR)/hark-whisper $(DESTDIR)$(BINDIR)/hark-stage2
	rm -f $(DESTDIR)$(UNITDIR)/harkd.service $(DESTDIR)$(UNITDIR)/harkd-retry.timer $(DESTDIR)$(UNITDIR)/harkd.service.d/10-catalog-paths.conf
	rm -f $(DESTDIR)$(SYSUSERSDIR)/hark.conf
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	@if [ -e $(DESTDIR)$(CONFDIR)/harkd.yaml ]; then \
		if sed 's|/usr/local|$(PREFIX)|g' systemd/harkd.yaml | cmp -s - $(DESTDIR)$(CONFDIR)/harkd.yaml; then rm -f $(DESTDIR)$(CONFDIR)/harkd.yaml; \
		else echo "uninstall: keeping the edited $(DESTDIR)$(CONFDIR)/harkd.yaml"; fi; fi
	@if [ -e $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml ]; then \
		if cmp -s devices/demo-home.yaml $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml; then rm -f $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml; \
		else echo "uninstall: keeping the edited $(DESTDIR)$(CONFDIR)/devices/demo-home.yaml"; fi; fi
	@for d in $(DESTDIR)$(UNITDIR)/harkd.service.d $(DESTDIR)$(CONFDIR)/devices $(DESTDIR)$(CONFDIR); do rmdir $$d 2>/dev/null || true; done

venv:
	tools/setup-venv.sh

# faster-whisper and CTranslate2 (tools/requirements-whisper.txt) on top of the venv: only for the
# speech-to-text reference (whisper-fixtures, bench-whisper), never for `make test`.
venv-whisper: venv
	tools/setup-venv.sh --whisper

# llama.cpp (llama-cpp-python with its OpenAI-compatible server, built from source for x86-64-v3)
# and gguf-py (tools/requirements-llm.txt) on top of the venv: for llm-fixtures, bench-llm, and
# make test's Stage2RemoteTests (the server on loopback).
venv-llm: venv
	tools/setup-venv.sh --llm

# torch, transformers and sentencepiece (tools/requirements-torch.txt) in their own .venv-torch: only
# for tiny-moe-fixtures.
venv-torch: .venv-torch/.hark-torch-stamp
.venv-torch/.hark-torch-stamp: tools/requirements-torch.txt
	python3 -m venv .venv-torch
	.venv-torch/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements-torch.txt
	touch $@

# Test audio is generated, never committed; regenerated when its generator changes.
test-data: build/testdata/manifest.json
build/testdata/manifest.json: tools/gen_test_audio.py tools/corpus/ordinary_speech.txt tools/requirements-ref.txt | venv
	$(PYTHON_VENV) tools/gen_test_audio.py --out build/testdata

# Spoken commands for the stage-1 recogniser; the out-of-grammar texts are the shared stage-2 dev set
# beside the repository (the generator says so when it is missing).
command-audio: build/testdata/commands/manifest.json
build/testdata/commands/manifest.json: tools/gen_command_audio.py tools/corpus/commands.jsonl tools/gen_test_audio.py devices/demo-home.yaml tools/requirements-ref.txt tools/corpus/out-of-scope.jsonl $(wildcard ../shared/eval/stage2-dev.jsonl) | venv
	$(PYTHON_VENV) tools/gen_command_audio.py --out build/testdata/commands

demo-audio: build/testdata/demo/demo.wav
build/testdata/demo/demo.wav: | venv
	$(MAKE) test-data

bench-audio: build/bench/speech_noise_60s.wav
build/bench/speech_noise_60s.wav: tools/gen_bench_audio.py tools/gen_test_audio.py tools/requirements-ref.txt | venv
	$(PYTHON_VENV) tools/gen_bench_audio.py --out build/bench

# The demo: "hey jarvis, turn on the kitchen light" plus other speech, as fast as it can be processed;
# then, where a capture device exists, live listening until Ctrl-C.
demo:
	@echo "== harkd on build/testdata/demo/demo.wav (\"hey jarvis, turn on the kitchen light\" + other speech)"
	$(BIN)/harkd --input build/testdata/demo/demo.wav --dry-run --events -
	@echo "== harkd dispatching tools/demo-actions.jsonl to the demo home (dry run: validated, journaled in memory, nothing sent)"
	$(BIN)/harkd --input none --actions tools/demo-actions.jsonl --dry-run --events - --log-level warning
	@if [ -z "$$CI" ] && arecord -l 2>/dev/null | grep -q '^card'; then \
		echo "== listening live on alsa:default (say \"hey jarvis\"; Ctrl-C to stop)"; \
		$(BIN)/harkd --input alsa:default --dry-run --events - ; \
	else echo "== no capture device found: skipping live listening"; fi

bench: bench-wake bench-dispatch bench-commands bench-second-pass bench-whisper bench-quant bench-llm bench-power bench-stage2 bench-speculation

bench-wake: deps models build venv bench-audio
	bench/bench-wake.sh

.PHONY: bench-quant quant-fixtures

# The stage-2 kernels: matrix-vector and 64-row products of each weight type on SmolLM2-135M's shapes,
# against a read-bandwidth ceiling measured in the same run (bench/quant/main.swift, ~1 min).
bench-quant:
	bench/quant/run.sh

# gguf-py's quantization and dequantization of seeded random data per weight type (committed).
quant-fixtures: venv-llm
	$(PYTHON_VENV) tools/capture_quant_fixtures.py

# 10 000 actions through the dispatcher to a mosquitto on a free loopback port, against raw libmosquitto
# and plain GRDB in the same run (bench/dispatch/main.swift); ends with dispatch_p99_ms and journal_actions_per_s.
# The broker runs from a temporary directory and is stopped by its pid however the benchmark ends; as root,
# mosquitto would switch to the user 'mosquitto', which cannot write there ("user root" keeps it).
bench-dispatch: deps
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-bench-dispatch
	@set -eu; dir=$$(mktemp -d /tmp/hark-bench-mosquitto.XXXXXX); \
	port=$$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file %s/mosquitto.log\n' "$$port" "$$dir" > "$$dir/mosquitto.conf"; \
	[ "$$(id -u)" != 0 ] || echo "user root" >> "$$dir/mosquitto.conf"; \
	/usr/sbin/mosquitto -c "$$dir/mosquitto.conf" >> "$$dir/mosquitto.log" 2>&1 & broker=$$!; \
	trap 'kill $$broker 2>/dev/null; wait $$broker 2>/dev/null; rm -rf "$$dir"' EXIT; \
	for _ in $$(seq 400); do (exec 3<>"/dev/tcp/127.0.0.1/$$port") 2>/dev/null && break; \
		kill -0 $$broker 2>/dev/null || { cat "$$dir/mosquitto.log" >&2; exit 1; }; sleep 0.05; done; \
	echo "== mosquitto on 127.0.0.1:$$port"; \
	$(BIN)/hark-bench-dispatch --port "$$port" $(BENCH_DISPATCH_ARGS)

# Stage-1 commands: end of speech -> actions latency (endpoint + processing, p50/p95) and CPU per audio
# second over the generated command clips (bench/bench_commands.py); ends with processing_p95_ms,
# endpoint_p50_ms and cpu_per_audio_s.
bench-commands: deps models build venv command-audio
	$(PYTHON_VENV) bench/bench_commands.py $(BENCH_COMMANDS_ARGS)

# Speech to text: hark-whisper against faster-whisper (int8, the DESIGN anchor, and float32) on the
# same tiny.en model, each in a child process with 1 and 2 threads, ~38 command clips of 3-5 s
# (bench/bench_whisper.py), Hark in int8 and float32; ends with time_ratio_1t and time_ratio_2t (Hark int8 / faster-whisper int8).
# Stage-1 commands three ways over the command clips (clean, 10 dB, babble, the dev set's requests, the
# project's out-of-scope questions): the first pass alone, Whisper constrained to the grammar alone,
# and the combination harkd runs; accuracy and latency after end of speech (bench/second-pass).
bench-second-pass: deps models command-audio
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-bench-second-pass
	$(BIN)/hark-bench-second-pass $(BENCH_SECOND_PASS_ARGS)

bench-whisper: deps models venv-whisper command-audio
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-whisper
	$(PYTHON_VENV) bench/bench_whisper.py --hark $(BIN)/hark-whisper $(BENCH_WHISPER_ARGS)

# The always-on stage's estimated milliwatts on each board profile (devices/boards) for 60 s of a quiet
# room, steady noise and continuous speech, with the CPU seconds per audio second they come from and,
# as the reference in the same run, the same pipeline without the voice-activity gate; then the CPU at
# each of the governor's levers (bench/power/main.swift). This machine counts as generic-x86
# (BENCH_POWER_ARGS="--host NAME" names another profile). Ends with <profile>_<condition>_mw lines.
bench-power: deps models bench-audio
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-bench-power
	$(BIN)/hark-bench-power $(BENCH_POWER_ARGS)

# The stage-2 engine against llama.cpp: SmolLM2 Q4_1 and a random 161 M MoE in Q4_0 and Q4_K
# (written by tools/make_bench_moe.py into build/bench-llm), 1 and 2 threads (bench/bench_llm.py).
# Stage 2 end to end: say and spoken requests through harkd (warm, cold), llama.cpp on the same model,
# prompt, grammar and texts as the reference, harkd's memory with stage 2 unloaded (~10 min).
bench-stage2: deps models venv-llm command-audio
	$(SWIFT) build $(SWIFT_FLAGS) --product harkd
	$(SWIFT) build $(SWIFT_FLAGS) --product harkctl
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2
	$(PYTHON_VENV) bench/bench_stage2.py $(BENCH_STAGE2_ARGS)

# The same answers in fewer passes: every dev-set request decoded both ways by one worker.
bench-speculation: deps models venv model
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2
	$(PYTHON_VENV) bench/bench_speculation.py $(BENCH_SPECULATION_ARGS)

bench-llm: deps models venv-llm
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-llm
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2
	HARK_LLM=$(BIN)/hark-llm $(PYTHON_VENV) bench/bench_llm.py

# llama.cpp's token ids for 256 strings and greedy continuations with top-5 logits on SmolLM2
# (tools/capture_llm_fixtures.py; committed).
llm-fixtures: models venv-llm
	$(PYTHON_VENV) tools/capture_llm_fixtures.py

# Tiny random models of llama (Mixtral-style experts, and with a sliding window), qwen2moe, qwen3moe,
# olmoe and granitemoe written to GGUF with transformers' and llama.cpp's logits, and a SentencePiece
# vocabulary with llama.cpp's token ids (Tests/HarkLLMTests/Fixtures; committed).
tiny-moe-fixtures: models venv-llm venv-torch
	.venv-torch/bin/python tools/make_tiny_moe.py torch
	$(PYTHON_VENV) tools/make_tiny_moe.py llama
	.venv-torch/bin/python tools/make_tiny_spm.py train
	$(PYTHON_VENV) tools/make_tiny_spm.py llama

# Re-capture the reference fixtures (needs the venv; results are committed).
fixtures: models venv test-data
	$(PYTHON_VENV) tools/capture_wake_fixtures.py --audio build/testdata --models models --out Tests/HarkWakeTests/Fixtures

# GGUF fixtures written and read back by llama.cpp's gguf-py (committed; ~1 min, most of it
# hashing the real model's tensors).
gguf-fixtures: models venv-llm
	$(PYTHON_VENV) tools/make_tiny_gguf.py

# faster-whisper's transcripts, tokens and intermediates on command clips (committed; ~3 min).
whisper-fixtures: models venv-whisper command-audio
	$(PYTHON_VENV) tools/capture_whisper_fixtures.py --audio build/testdata/commands --model models/whisper-tiny.en \
		--out Tests/HarkWhisperTests/Fixtures/whisper_reference.json
	$(PYTHON_VENV) tools/capture_whisper_prompt_fixtures.py --audio build/testdata/commands --model models/whisper-tiny.en \
		--out Tests/HarkWhisperTests/Fixtures/whisper_prompt_reference.json

clean:
	rm -rf .build build

# The default stage-2 model (training/README.md): SmolLM2 from PyPI (models/) + the trained delta
# committed in training/ -> F16 and INT4 (Q4_0) GGUF, both checked against training/hark-moe.sha256,
# the INT4 file copied to models/ where harkd's stage 2 looks. Built once; kept while it checks out.
STAGE2_DELTA ?= training/hark-moe-delta.npz
STAGE2_OUT := build/stage2/hark-moe
# q4_0o: every matrix Q4_0, output.weight too (export_gguf.py; llama.cpp's plain Q4_0 keeps it Q8_0)
STAGE2_TYPE := q4_0o
model: models venv-llm
	@test -f $(STAGE2_DELTA) || { echo "model: no trained delta at $(STAGE2_DELTA) (training/README.md says how to train one)" >&2; exit 1; }
	@if [ -f models/hark-moe-q4_0.gguf ] && sha256sum --quiet --check training/hark-moe.sha256 2>/dev/null && cmp -s $(STAGE2_OUT)-$(STAGE2_TYPE).gguf models/hark-moe-q4_0.gguf; then \
		echo "model: models/hark-moe-q4_0.gguf is built and verified"; \
	else \
		$(PYTHON_VENV) training/export_gguf.py build --delta $(STAGE2_DELTA) --out $(STAGE2_OUT)-f16.gguf --types $(STAGE2_TYPE) && \
		sha256sum --check training/hark-moe.sha256 && \
		cp $(STAGE2_OUT)-$(STAGE2_TYPE).gguf models/hark-moe-q4_0.gguf; \
	fi

# The whole training run again from its seeds (training/README.md, "Pipeline"): the shipped delta was
# trained on one H100 (2 × 8 min); TRAIN_DEVICE=cpu runs the same steps on the CPU (about 5 h on 2
# cores). The retrained model is scored beside the shipped one's figures. Never run by make test or CI.
RETRAIN := build/stage2/retrain
TRAIN_DEVICE ?= cuda
TRAIN_DATA := build/stage2-data-80k
train-model: venv-torch venv-llm
	.venv-torch/bin/python training/gen_data.py
	.venv-torch/bin/python training/gen_data.py --train 80000 --homes 1200 --out $(TRAIN_DATA)
	.venv-torch/bin/python training/upcycle.py --eval 64
	.venv-torch/bin/python training/train.py --device $(TRAIN_DEVICE) --data $(TRAIN_DATA) --minutes 0 --steps 842 \
		--batch 16 --lr 1e-3 --decay 0.1 --seed 1 --out $(RETRAIN)-p1.npz
	.venv-torch/bin/python training/train.py --device $(TRAIN_DEVICE) --data $(TRAIN_DATA) --qat --resume $(RETRAIN)-p1.npz \
		--minutes 0 --steps 892 --batch 16 --lr 4e-4 --warmup 5 --decay 0.1 --seed 2 --eval 1000 --out $(RETRAIN)-delta.npz
	$(PYTHON_VENV) training/export_gguf.py build --delta $(RETRAIN)-delta.npz --out $(RETRAIN)-f16.gguf --types $(STAGE2_TYPE)
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2
	$(PYTHON_VENV) training/eval_stage2.py --int4 $(RETRAIN)-$(STAGE2_TYPE).gguf --full $(RETRAIN)-f16.gguf

stage2-prompt-fixtures: venv
	$(PYTHON_VENV) training/prompt_fixtures.py
	$(PYTHON_VENV) training/held_fixture.py

# Scored with Hark's own engine (the stage-2 worker); EVAL_STAGE2_ARGS="--engine llama.cpp" for llama.cpp's.
eval-stage2: model
	$(SWIFT) build $(SWIFT_FLAGS) --product hark-stage2
	$(PYTHON_VENV) training/eval_stage2.py --int4 $(STAGE2_OUT)-$(STAGE2_TYPE).gguf --full $(STAGE2_OUT)-f16.gguf $(EVAL_STAGE2_ARGS)
