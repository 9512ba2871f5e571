# EPRStream: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
INPUT ?= ../shared/media/solidWhiteRight.mp4
OUTPUT ?= out/demo.mp4
SWIFT ?= swift
SWIFT_FLAGS ?= -c release

.PHONY: setup build demo test test-swift clean
.DEFAULT_GOAL := build

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build $(SWIFT_FLAGS) --product eprstream

demo: build
	@mkdir -p $(dir $(OUTPUT))
	.build/release/eprstream run "$(INPUT)" -o "$(OUTPUT)"
	@echo "demo: wrote $(OUTPUT)"

# Tests run on a release build: the pixel loops are far too slow unoptimised.
test-swift: setup
	$(SWIFT) build $(SWIFT_FLAGS) --product eprstream
	$(SWIFT) test $(SWIFT_FLAGS)

test: test-swift test-training

clean:
	rm -rf .build out

-include Training/train.mk
