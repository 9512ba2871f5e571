#!/usr/bin/env bash
# The full pipeline with the network on every frame, every 2nd, every 3rd and auto, against the
# runner alone, in one `eprstream bench --infer-every 1,2,3,auto` process (repeats interleaved).
# Writes Benchmarks/infer-every.md (the bench report, with the machine and the load) and
# Benchmarks/infer-every.json.
#
# Environment (all optional): CLIP=../shared/media/solidWhiteRight.mp4  FRAMES=90  REPEATS=3
#   WRAP=/usr/local/bin/with-training-paused (set WRAP= to run beside whatever else runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIP=${CLIP:-$ROOT/../shared/media/solidWhiteRight.mp4}
FRAMES=${FRAMES:-90}
REPEATS=${REPEATS:-3}
WRAP=${WRAP-/usr/local/bin/with-training-paused}
[[ -f $CLIP ]] || { echo "missing $CLIP (set CLIP)" >&2; exit 66; }
[[ -x $ROOT/.build/release/eprstream ]] || swift build -c release --product eprstream
[[ -n $WRAP && ! -x $WRAP ]] && WRAP=
report=$($WRAP "$ROOT/.build/release/eprstream" bench "$CLIP" --frames "$FRAMES" --repeats "$REPEATS" \
  --infer-every 1,2,3,auto --json "$ROOT/Benchmarks/infer-every.json")
{
  echo "# The network on every Nth frame: full pipeline vs the runner alone"
  echo
  echo "\`Benchmarks/infer_every.sh\`, $(date -u '+%Y-%m-%d %H:%M') UTC, $(lscpu | sed -n 's/^Model name: *//p')," \
       "$(nproc) cores; ${WRAP:+training jobs paused (with-training-paused), }other engineers' builds and tests may share the cores" \
       "(the load averages below). Every frame is written in each row; N=1 is the default for files."
  echo
  echo '```'
  echo "$report"
  echo '```'
} > "$ROOT/Benchmarks/infer-every.md"
cat "$ROOT/Benchmarks/infer-every.md"
