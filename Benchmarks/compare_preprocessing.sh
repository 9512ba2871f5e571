#!/usr/bin/env bash
# Preprocessing in the compiled graph (issue 14) against the host path before it, and both against
# OpenVINO's own Python API running the model alone, in one script, interleaved
# (host, graph, python, python, graph, host, ...) so a change in machine load hits all alike:
#   eprstream bench --preprocess host    swscale to RGB at network size + Swift normalisation loop
#   eprstream bench --preprocess graph   u8 yuv420p planes in, conversion/resize/normalisation in the graph
#   Benchmarks/baselines.py openvino     model only, f32 input prepared beforehand, 2 async requests
# Medians and ratios go to Benchmarks/preprocessing.md.
#
# Environment (all optional): CLIP=../shared/media/solidWhiteRight.mp4  MODEL=Models/eprnet-camvid-int8.xml
#   ROUNDS=3  FRAMES=100  INPUT_SIZE=360x640  NOTE='a line for preprocessing.md' (e.g. what else ran)
# Use a release build: `swift build -c release` first (the script builds it if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIP=${CLIP:-$ROOT/../shared/media/solidWhiteRight.mp4}
MODEL=${MODEL:-$ROOT/Models/eprnet-camvid-int8.xml}
ROUNDS=${ROUNDS:-3}
FRAMES=${FRAMES:-100}
INPUT_SIZE=${INPUT_SIZE:-360x640}
for f in "$CLIP" "$MODEL"; do [[ -f $f ]] || { echo "missing $f (set CLIP / MODEL)" >&2; exit 66; }; done
[[ -x $ROOT/.venv-ov/bin/python ]] || { echo "missing .venv-ov: run scripts/setup.sh" >&2; exit 69; }
[[ -x $ROOT/.build/release/eprstream ]] || swift build -c release --product eprstream
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load_before=$(cut -d' ' -f1 /proc/loadavg)
# Odd rounds run host, graph, python; even rounds the reverse, so a trend in load favours none.
for round in $(seq "$ROUNDS"); do
  order="host graph python"
  (( round % 2 == 0 )) && order="python graph host"
  for what in $order; do
    echo "== round $round: $what"
    if [[ $what == python ]]; then
      "$ROOT/.venv-ov/bin/python" "$ROOT/Benchmarks/baselines.py" openvino --model "$MODEL" --clip "$CLIP" \
        --frames "$FRAMES" --repeats 1 --input-size "$INPUT_SIZE" --out "$TMP/python.jsonl" > /dev/null
    else
      "$ROOT/.build/release/eprstream" bench "$CLIP" --model "$MODEL" --frames "$FRAMES" --repeats 1 \
        --input-size "$INPUT_SIZE" --preprocess "$what" --json "$TMP/$what-$round.json" --quiet > /dev/null
    fi
  done
done

"$ROOT/.venv-ov/bin/python" - "$TMP" "$ROUNDS" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" "${NOTE:-}" \
  > "$ROOT/Benchmarks/preprocessing.md" <<'PY'
import glob, json, statistics, sys
tmp, rounds, load_before, load_after, note = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
runs = {m: [json.load(open(p)) for p in sorted(glob.glob("%s/%s-[0-9]*.json" % (tmp, m)))] for m in ("host", "graph")}
python = [json.loads(l) for l in open("%s/python.jsonl" % tmp)]
py = statistics.median(r["fps"] for r in python)
med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], (int, float))}
       for m, rs in runs.items()}
first = runs["graph"][0]
print("# Preprocessing in the graph vs on the host\n")
print("`Benchmarks/compare_preprocessing.sh`, %s: %d interleaved rounds of `eprstream bench --repeats 1` "
      "(host path, graph path) and OpenVINO's Python API on the model alone, %d frames of `%s` at input %dx%d, "
      "`%s`. Machine as seen: %s. Load average %s before, %s after. Ratios within this run are the figures "
      "to quote.\n" % (first["date"][:16].replace("T", " "), rounds, first["frames"], first["input"].split("/")[-1],
                       first["input_size"][0], first["input_size"][1], first["model"].split("/")[-1],
                       first["machine"], load_before, load_after))
if note:
    print("Note: %s\n" % note)
print("| median | host path | graph path | graph / host |\n|---|---:|---:|---:|")
for k, label in [("pipeline_fps", "full pipeline, fps"), ("runner_fps", "runner alone, fps"),
                 ("pipeline_cpu_ms_per_frame", "full pipeline, CPU ms per frame"),
                 ("runner_cpu_ms_per_frame", "runner alone, CPU ms per frame")]:
    h, g = med["host"][k], med["graph"][k]
    print("| %s | %.2f | %.2f | %.2fx |" % (label, h, g, g / h))
print("| full pipeline fps, each round | %s | %s | |" % tuple(", ".join("%.2f" % r["pipeline_fps"] for r in runs[m])
                                                         for m in ("host", "graph")))
stage = lambda m, s: statistics.median(r["stage_ms_per_frame"].get(s, 0) for r in runs[m])
print("| preprocess stage busy, ms per frame | %.2f | %.2f | %.2fx |" % (stage("host", "preprocess"), stage("graph", "preprocess"),
      stage("graph", "preprocess") / max(stage("host", "preprocess"), 1e-9)))
print("\nOpenVINO %s Python API, model only: **%.2f fps** (median of %d; runs %s).\n"
      % (python[0]["label"].split()[1], py, len(python), ", ".join("%.2f" % r["fps"] for r in python)))
print("| full pipeline / OpenVINO model only | host path | graph path |\n|---|---:|---:|")
print("| fps ratio | %.2fx | %.2fx |" % (med["host"]["pipeline_fps"] / py, med["graph"]["pipeline_fps"] / py))
print("| runner alone / OpenVINO model only | %.2fx | %.2fx |" % (med["host"]["runner_fps"] / py, med["graph"]["runner_fps"] / py))
PY
cat "$ROOT/Benchmarks/preprocessing.md"
