#!/usr/bin/env bash
# eprstream against the tools a user would otherwise pick, on the same clip, in one run:
#   eprstream bench --json        (runner alone, decode + encode, full pipeline)
#   OpenVINO Python API           (model only, .venv-ov)
#   ONNX Runtime                  (model only, Benchmarks/.venv)
#   skilled Python script         (OpenCV -> OpenVINO int8, normalisation in the graph, 2 async requests -> argmax -> blend -> VideoWriter)
#   typical Python script         (OpenCV -> resize -> ONNX Runtime -> argmax -> blend -> VideoWriter)
# then writes Benchmarks/results.md and Benchmarks/results.png.
#
# Environment (all optional):
#   CLIP=../shared/media/solidWhiteRight.mp4  MODEL_INT8=Models/eprnet-camvid-int8.xml
#   MODEL_ONNX=Models/eprnet-camvid.onnx  FRAMES=200  REPEATS=3  INPUT_SIZE=360x640
#   NOTE='a line for results.md' (e.g. which model files were measured)
# Use a release build: `swift build -c release` first (the script builds it if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIP=${CLIP:-$ROOT/../shared/media/solidWhiteRight.mp4}
MODEL_INT8=${MODEL_INT8:-$ROOT/Models/eprnet-camvid-int8.xml}
MODEL_ONNX=${MODEL_ONNX:-$ROOT/Models/eprnet-camvid.onnx}
FRAMES=${FRAMES:-200}
REPEATS=${REPEATS:-3}
INPUT_SIZE=${INPUT_SIZE:-360x640}
OUT=$ROOT/Benchmarks
VENV=$OUT/.venv

for f in "$CLIP" "$MODEL_INT8" "$MODEL_ONNX"; do
  [[ -f $f ]] || { echo "missing $f (set CLIP / MODEL_INT8 / MODEL_ONNX)" >&2; exit 66; }
done
[[ -x $ROOT/.venv-ov/bin/python ]] || { echo "missing .venv-ov: run scripts/setup.sh" >&2; exit 69; }

# Benchmarks/.venv: ONNX Runtime, OpenVINO (the version setup.sh installs), OpenCV, numpy, matplotlib
# (created once, reused).
OPENVINO_VERSION=$("$ROOT/.venv-ov/bin/python" -c 'import openvino; print(openvino.__version__.split("-")[0])')
if ! "$VENV/bin/python" -c "import onnxruntime, openvino, cv2, numpy, matplotlib" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check onnxruntime "openvino==$OPENVINO_VERSION" opencv-python-headless numpy matplotlib
fi

[[ -x $ROOT/.build/release/eprstream ]] || swift build -c release
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LINES=$TMP/baselines.jsonl

echo "== eprstream bench ($FRAMES frames x $REPEATS, load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$ROOT/.build/release/eprstream" bench "$CLIP" --model "$MODEL_INT8" --frames "$FRAMES" --repeats "$REPEATS" \
  --input-size "$INPUT_SIZE" --json "$TMP/eprstream.json"
cp "$TMP/eprstream.json" "$OUT/eprstream-bench.json"

common=(--clip "$CLIP" --frames "$FRAMES" --repeats "$REPEATS" --input-size "$INPUT_SIZE" --out "$LINES")
echo "== OpenVINO Python, model only ($(basename "$MODEL_INT8"))"
"$ROOT/.venv-ov/bin/python" "$OUT/baselines.py" openvino --model "$MODEL_INT8" "${common[@]}"
echo "== ONNX Runtime, model only ($(basename "$MODEL_ONNX"))"
"$VENV/bin/python" "$OUT/baselines.py" onnxruntime --model "$MODEL_ONNX" "${common[@]}"
echo "== skilled Python script ($(basename "$MODEL_INT8"))"
"$VENV/bin/python" "$OUT/baselines.py" skilled --model "$MODEL_INT8" "${common[@]}"
echo "== typical Python script ($(basename "$MODEL_ONNX"))"
"$VENV/bin/python" "$OUT/baselines.py" script --model "$MODEL_ONNX" "${common[@]}"
cp "$LINES" "$OUT/baselines.jsonl"

"$VENV/bin/python" "$OUT/baselines.py" report --eprstream "$TMP/eprstream.json" --results "$LINES" --outdir "$OUT"
echo "wrote $OUT/results.md and $OUT/results.png (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$OUT/results.md"
