#!/usr/bin/env bash
# Builds the fuzz target with libFuzzer and AddressSanitizer (its own build folder) and runs it for
# SECONDS (default 60) on a fresh seed corpus and the kept regression inputs. A crash leaves its
# input in .build-fuzz/artifacts/ and exits non-zero: fix it, then keep the input in
# Tests/Fuzz/regressions/ (the Swift tests replay every file there). Usage: fuzz.sh [SECONDS]
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
swift build -c release --product eprstream-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld   # gold fails on the ASan link
corpus=.build-fuzz/corpus
rm -rf "$corpus" && mkdir -p "$corpus" .build-fuzz/artifacts
bash scripts/fuzz_corpus.sh "$corpus"
# -rss_limit_mb: a header may announce a huge picture; FFmpeg's own limits apply, not ours.
.build-fuzz/release/eprstream-fuzz "$corpus" -dict=Tests/Fuzz/media.dict -max_total_time="$seconds" \
    -timeout=20 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix=.build-fuzz/artifacts/
