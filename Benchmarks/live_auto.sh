#!/usr/bin/env bash
# A 25 fps RTSP camera through `eprstream run` with the network on every frame (--infer-every 1)
# and with --infer-every auto, interleaved: frames received, written, dropped, how often the
# network ran, mask age and glass-to-glass latency, from each run's summary. Two cameras: the
# dashcam clip looped and served as it is (GStreamer, no re-encoding), and a live test pattern
# encoded by the server (x264, so its RTCP sender reports carry real capture times).
# Writes Benchmarks/live-auto.md.
#
# Environment (all optional): SECONDS_PER_RUN=20 ROUNDS=1 PORT=8654
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN_S=${SECONDS_PER_RUN:-20}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-8654}
BIN=$ROOT/.build/release/eprstream
[[ -x $BIN ]] || swift build -c release --product eprstream
TMP=$(mktemp -d)
SERVER=
trap '[[ -n $SERVER ]] && kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT

serve() {  # args for rtsp_server.py; waits for "ready"
  /usr/bin/python3 "$ROOT/Tests/EPRStreamTests/Fixtures/rtsp_server.py" --port "$PORT" "$@" > "$TMP/server.out" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do grep -q ready "$TMP/server.out" && return; sleep 0.1; done
  echo "server did not start" >&2; exit 69
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
for camera in file pattern; do
  if [[ $camera == file ]]; then serve --file "$ROOT/../shared/media/solidWhiteRight.mp4" --loops 20
  else serve --pattern --size 960x540 --fps 25; fi
  for round in $(seq "$ROUNDS"); do
    for every in 1 auto; do
      echo "== $camera, --infer-every $every, round $round" >&2
      "$BIN" run "rtsp://127.0.0.1:$PORT/cam" -o /dev/null --duration "$RUN_S" --infer-every "$every" --quiet \
        > "$TMP/$camera-$every-$round.txt" 2> "$TMP/$camera-$every-$round.err" || true
    done
  done
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=
done

python3 - "$TMP" "$ROUNDS" "$RUN_S" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" \
  "$(lscpu | sed -n 's/^Model name: *//p')" > "$ROOT/Benchmarks/live-auto.md" <<'PY'
import glob, re, sys, datetime
tmp, rounds, secs, lb, la, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def num(pat, text, cast=float):
    m = re.search(pat, text)
    return cast(m.group(1)) if m else None
print("# A 25 fps RTSP camera: network on every frame vs `--infer-every auto`\n")
print(f"`Benchmarks/live_auto.sh`, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {cpu} ({open('/proc/cpuinfo').read().count('processor')} cores), "
      f"load average {lb} before, {la} after. {secs} s per run, shipped int8 EPRNet, input 360x640, output /dev/null. "
      "`file`: the 960x540 dashcam clip looped and served as it is by GStreamer; `pattern`: a 960x540 test pattern "
      "encoded live by the server.\n")
print("| camera | --infer-every | received | written | written / received | dropped | network runs/s | mask age p50 | glass-to-glass p50 / p95 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|")
for camera in ("file", "pattern"):
    for every in ("1", "auto"):
        for r in range(1, rounds + 1):
            t = open(f"{tmp}/{camera}-{every}-{r}.txt").read()
            rec = num(r"live: (\d+) frames received", t, int)
            wr = num(r"done: (\d+) frames", t, int) or num(r"interrupted: (\d+) frames", t, int)
            dr = num(r"dropped (\d+)", t, int)
            runs = num(r"infer ([\d.]+)/s", t)
            age = num(r"mask age p50 (\d+)", t, int)
            g = re.search(r"glass-to-glass (p50 \d+ ms, p95 \d+ ms|unknown)", t)
            fps = num(r"([\d.]+) fps end to end", t)
            share = f"{100 * wr / rec:.0f}%" if rec and wr is not None else "?"
            print(f"| {camera} | {every} | {rec} | {wr} | {share} | {dr} | {runs if runs is not None else fps} | "
                  f"{age if age is not None else 0} | {g.group(1) if g else '?'} |")
print("\n(With `1` the network runs on every written frame, so its rate is the written fps.)")
PY
cat "$ROOT/Benchmarks/live-auto.md"
