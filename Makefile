# EPRStream: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
INPUT ?= ../shared/media/solidWhiteRight.mp4
OUTPUT ?= out/demo.mp4
SWIFT ?= swift
SWIFT_FLAGS ?= -c release

.PHONY: setup build demo preview test test-swift fuzz eval eval-reference clean
.DEFAULT_GOAL := build

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build $(SWIFT_FLAGS) --product eprstream

demo: build
	@mkdir -p $(dir $(OUTPUT))
	.build/release/eprstream run "$(INPUT)" -o "$(OUTPUT)"
	@echo "demo: wrote $(OUTPUT)"

# The demo watched in a browser: open http://127.0.0.1:$(PORT)/ while it runs.
PORT ?= 8080
preview: build
	@mkdir -p $(dir $(OUTPUT))
	.build/release/eprstream run "$(INPUT)" -o "$(OUTPUT)" --preview $(PORT)

# Tests run on a release build: the pixel loops are far too slow unoptimised.
# (`swift test` builds the eprstream binary the end-to-end tests run; a separate `swift build`
# first would be rebuilt anyway, as tests build with -enable-testing.)
test-swift: setup
	$(SWIFT) test $(SWIFT_FLAGS) --skip EPRServerTests
	@# The in-process HTTP server answers on Swift's cooperative threads (one per core); tests
	@# beside it that block (waiting on processes) could hold them all, so these run on their own.
	$(SWIFT) test $(SWIFT_FLAGS) --no-parallel --filter EPRServerTests

test: test-swift test-training

# The fuzz target (libFuzzer + AddressSanitizer/LeakSanitizer, its own .build-fuzz) for FUZZ_SECONDS
# on a fresh seed corpus; `make test` replays the kept regression inputs without it.
FUZZ_SECONDS ?= 60
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# Accuracy of the shipped models through the Swift runner: CamVid val, image path and video path.
CAMVID ?= ../shared/datasets/camvid
# Every shipped model (EPRNet, EPRNet-Light; fp32 and int8) on CamVid val: out/eval-NAME-{fp32,int8}.json.
eval: build
	@mkdir -p out
	@for m in eprnet eprnet-light; do \
	  for f in Models/$$m-camvid.onnx:fp32 Models/$$m-camvid-int8.xml:int8; do \
	    file=$${f%%:*}; kind=$${f##*:}; [ -f $$file ] || continue; \
	    echo "== $$file"; \
	    .build/release/eprstream eval --dataset $(CAMVID) --list val.txt --model $$file --through-video --json out/eval-$$m-$$kind.json || exit 1; \
	  done; \
	done

# The training toolchain's confusion matrix that the Swift eval test compares against.
eval-reference: training-venv
	cd Training && $(abspath Training/.venv)/bin/python -m eprnet.reference

clean:
	rm -rf .build .build-fuzz out

-include Training/train.mk
