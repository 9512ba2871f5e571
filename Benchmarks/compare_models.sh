#!/usr/bin/env bash
# EPRNet vs EPRNet-Light (the shipped int8 IRs) through `eprstream bench`, interleaved
# (E L E L ...) so that a change in machine load hits both alike; medians per model and the
# Light/EPRNet ratios go to Benchmarks/models.md.
#
# Environment (all optional): CLIP=../shared/media/solidWhiteRight.mp4  ROUNDS=3  FRAMES=100
#   INPUT_SIZE=360x640
# Use a release build: `swift build -c release` first (the script builds it if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIP=${CLIP:-$ROOT/../shared/media/solidWhiteRight.mp4}
ROUNDS=${ROUNDS:-3}
FRAMES=${FRAMES:-100}
INPUT_SIZE=${INPUT_SIZE:-360x640}
[[ -f $CLIP ]] || { echo "missing $CLIP (set CLIP)" >&2; exit 66; }
[[ -x $ROOT/.build/release/eprstream ]] || swift build -c release --product eprstream
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load_before=$(cut -d' ' -f1 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for model in eprnet eprnet-light; do
    echo "== round $round: $model"
    "$ROOT/.build/release/eprstream" bench "$CLIP" --model "$model" --frames "$FRAMES" --repeats 1 \
      --input-size "$INPUT_SIZE" --json "$TMP/$model-$round.json" > /dev/null
  done
done

python3 - "$TMP" "$ROUNDS" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" > "$ROOT/Benchmarks/models.md" <<'PY'
import glob, json, statistics, sys
tmp, rounds, load_before, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {m: [json.load(open(p)) for p in sorted(glob.glob("%s/%s-[0-9]*.json" % (tmp, m)))] for m in ("eprnet", "eprnet-light")}
keys = [("runner_fps", "runner alone, fps"), ("pipeline_fps", "full pipeline, fps"),
        ("runner_cpu_ms_per_frame", "runner CPU ms per frame"), ("pipeline_cpu_ms_per_frame", "pipeline CPU ms per frame")]
med = {m: {k: statistics.median(r[k] for r in rs) for k, _ in keys} for m, rs in runs.items()}
first = runs["eprnet"][0]
print("# EPRNet vs EPRNet-Light through eprstream\n")
print("`Benchmarks/compare_models.sh`, %s: %d interleaved rounds of `eprstream bench --repeats 1`, %d frames of "
      "`%s` at input %dx%d, int8 IRs, %s. Load average %s before, %s after (training jobs share the cores, so "
      "fps are low in absolute terms; the ratios are what to read).\n"
      % (first["date"][:10], rounds, first["frames"], first["input"].split("/")[-1], first["input_size"][0],
         first["input_size"][1], first["machine"], load_before, load_after))
print("| median | EPRNet | EPRNet-Light | Light / EPRNet |\n|---|---|---|---|")
for k, label in keys:
    e, l = med["eprnet"][k], med["eprnet-light"][k]
    print("| %s | %.2f | %.2f | %.2fx |" % (label, e, l, l / e))
PY
cat "$ROOT/Benchmarks/models.md"
