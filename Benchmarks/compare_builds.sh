#!/usr/bin/env bash
# `eprstream bench` of two builds, interleaved (before, after, after, before, ...) so that a change in
# machine load hits both alike: the full pipeline's fps, the runner's alone, and their ratio (how
# much of the runner's speed the whole pipeline keeps). Medians go to stdout as a markdown table.
#
#   BEFORE=/path/to/old/eprstream Benchmarks/compare_builds.sh
#
# Environment: BEFORE (required: the baseline binary, a release build of the commit to compare
# against), AFTER=.build/release/eprstream, CLIP=../shared/media/solidWhiteRight.mp4,
# MODEL=Models/eprnet-camvid-int8.xml, ROUNDS=2, FRAMES=60.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BEFORE=${BEFORE:?set BEFORE to the baseline eprstream binary}
AFTER=${AFTER:-$ROOT/.build/release/eprstream}
CLIP=${CLIP:-$ROOT/../shared/media/solidWhiteRight.mp4}
MODEL=${MODEL:-$ROOT/Models/eprnet-camvid-int8.xml}
ROUNDS=${ROUNDS:-2}
FRAMES=${FRAMES:-60}
for f in "$BEFORE" "$AFTER"; do [[ -x $f ]] || { echo "missing binary $f" >&2; exit 66; }; done
for f in "$CLIP" "$MODEL"; do [[ -f $f ]] || { echo "missing $f (set CLIP / MODEL)" >&2; exit 66; }; done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load_before=$(cut -d' ' -f1 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  order="before after"
  (( round % 2 == 0 )) && order="after before"
  for which in $order; do
    binary=$BEFORE; [[ $which == after ]] && binary=$AFTER
    echo "== round $round: $which" >&2
    "$binary" bench "$CLIP" --model "$MODEL" --frames "$FRAMES" --repeats 1 \
      --json "$TMP/$which-$round.json" --quiet > /dev/null
  done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$TMP" "$load_before" "$load_after" "$(lscpu | sed -n 's/^Model name: *//p')" "$FRAMES" "$ROUNDS" <<'PY'
import glob, json, statistics, sys
tmp, load_before, load_after, cpu, frames, rounds = sys.argv[1:]
print(f"Machine: {cpu}, {len(open('/proc/cpuinfo').read().split('processor')) - 1} cores; "
      f"load average {load_before} before, {load_after} after; {frames} frames, {rounds} rounds, interleaved.\n")
print("| build | full pipeline fps | runner alone fps | full / runner |")
print("|---|---|---|---|")
for which in ("before", "after"):
    runs = [json.load(open(p)) for p in sorted(glob.glob(f"{tmp}/{which}-*.json"))]
    full = statistics.median(r["pipeline_fps"] for r in runs)
    runner = statistics.median(r["runner_fps"] for r in runs)
    ratio = statistics.median(r["ratio"] for r in runs)
    each = ", ".join(f"{r['ratio']:.3f}" for r in runs)
    print(f"| {which} | {full:.2f} | {runner:.2f} | {ratio:.3f} (runs: {each}) |")
PY
