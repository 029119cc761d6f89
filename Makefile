# Hark: the two commands are `make run` and `make test`; everything else is what they call.
#
#   make run         set up (Debian packages, models, build), then run the demo
#   make test        set up, generate the test audio, build and run every test
#   make bench       benchmarks (make bench-wake: wake-word CPU and memory vs openWakeWord)

SHELL := /bin/bash
SWIFT ?= swift
# One build configuration for the daemon and the tests: optimised (the numeric code is ~100x slower
# unoptimised) and testable, so `make run` and `make test` share one build.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN := .build/release
PYTHON_VENV := .venv/bin/python

# Debian packages: build (ALSA, SQLite, libmosquitto, libcurl), tests (the mosquitto broker; gcc builds the virtual ALSA mixer plugin), test audio (espeak-ng, flite, sox, Python venv for Piper and
# the openWakeWord reference), benchmarks (time).
APT_PACKAGES := libasound2-dev libsqlite3-dev libmosquitto-dev mosquitto libcurl4-openssl-dev gcc alsa-utils espeak-ng flite sox python3-venv python3-pip time
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps models build venv test-data bench-audio demo bench bench-wake fixtures clean

run: deps models build demo-audio demo

test: deps models venv test-data
	$(SWIFT) build $(SWIFT_FLAGS) --build-tests
	$(SWIFT) test $(SWIFT_FLAGS) --skip-build

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

venv:
	tools/setup-venv.sh

# Test audio is generated, never committed; regenerated when its generator changes.
test-data: build/testdata/manifest.json
build/testdata/manifest.json: tools/gen_test_audio.py tools/corpus/ordinary_speech.txt tools/requirements-ref.txt | venv
	$(PYTHON_VENV) tools/gen_test_audio.py --out build/testdata

demo-audio: build/testdata/demo/demo.wav
build/testdata/demo/demo.wav: | venv
	$(MAKE) test-data

bench-audio: build/bench/speech_noise_60s.wav
build/bench/speech_noise_60s.wav: tools/gen_bench_audio.py | venv
	$(PYTHON_VENV) tools/gen_bench_audio.py --out build/bench

# The demo: "hey jarvis, turn on the kitchen light" plus other speech, as fast as it can be processed;
# then, where a capture device exists, live listening until Ctrl-C.
demo:
	@echo "== harkd on build/testdata/demo/demo.wav (\"hey jarvis, turn on the kitchen light\" + other speech)"
	$(BIN)/harkd --input build/testdata/demo/demo.wav --dry-run --events -
	@if [ -z "$$CI" ] && arecord -l 2>/dev/null | grep -q '^card'; then \
		echo "== listening live on alsa:default (say \"hey jarvis\"; Ctrl-C to stop)"; \
		$(BIN)/harkd --input alsa:default --dry-run --events - ; \
	else echo "== no capture device found: skipping live listening"; fi

bench: bench-wake

bench-wake: deps models build venv bench-audio
	bench/bench-wake.sh

# Re-capture the reference fixtures (needs the venv; results are committed).
fixtures: models venv test-data
	$(PYTHON_VENV) tools/capture_wake_fixtures.py --audio build/testdata --models models --out Tests/HarkWakeTests/Fixtures

clean:
	rm -rf .build build
