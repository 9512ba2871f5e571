#!/usr/bin/env bash
# Leak check: one short run (--max-frames 20, 128x224 network input, a clip with audio) under
# valgrind memcheck, on a copy of the release binary with its debug info stripped (valgrind 3.19
# cannot read Swift 6.3's DWARF 5). One-time allocations of OpenVINO, oneTBB, FFmpeg/x264 and the
# Swift runtime are suppressed (Benchmarks/leak.supp, each entry says why); what remains
# "definitely" or "indirectly lost" is a leak. Writes Benchmarks/leak-check.md; exit 1 on a leak.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/eprstream
[ -x "$bin" ] || swift build -c release --product eprstream
copy=.build/release/eprstream-nodebug   # beside the original: the same $ORIGIN rpath
objcopy --strip-debug "$bin" "$copy"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ffmpeg -hide_banner -nostdin -v error -f lavfi -i testsrc=size=320x180:rate=10:duration=3 \
    -f lavfi -i sine=duration=3 -c:v libx264 -c:a aac -shortest "$work/clip.mp4"
log=$work/valgrind.log
start=$(date +%s)
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect --suppressions=Benchmarks/leak.supp --num-callers=40 \
    --log-file="$log" "$copy" run "$work/clip.mp4" -o "$work/out.mp4" --max-frames 20 \
    --input-size 128x224 --quiet > "$work/stdout.txt" 2>&1 || true
wall=$(( $(date +%s) - start ))
mkdir -p out && cp "$log" out/leak-valgrind.log   # the full report
frames=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$work/out.mp4" || echo "?")
summary=$(sed -n '/LEAK SUMMARY/,/suppressed:/p' "$log" | sed 's/^==[0-9]*== *//')
[ -n "$summary" ] || summary=$(sed -n '/HEAP SUMMARY/,$p' "$log" | sed 's/^==[0-9]*== *//' | head -12)
errors=$(grep -E "ERROR SUMMARY" "$log" | tail -1 | sed 's/^==[0-9]*== *//')
definite=$(grep -Eo "definitely lost: [0-9,]+ bytes" "$log" | tail -1 | grep -Eo "[0-9,]+" | tr -d , || echo 0)
indirect=$(grep -Eo "indirectly lost: [0-9,]+ bytes" "$log" | tail -1 | grep -Eo "[0-9,]+" | tr -d , || echo 0)
{
  echo "# Leak check (valgrind memcheck, --max-frames 20)"
  echo
  echo "Made by \`Benchmarks/leak_check.sh\` on $(date -u +%Y-%m-%d) UTC."
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Run: \`eprstream run clip.mp4 -o out.mp4 --max-frames 20 --input-size 128x224 --quiet\` (testsrc 320x180 with AAC audio),"
  echo "valgrind $(valgrind --version | sed 's/valgrind-//'), suppressions Benchmarks/leak.supp; $frames frames written; ${wall} s under valgrind."
  echo
  echo '```'
  echo "$summary"
  echo "$errors"
  echo '```'
  echo
  echo "Definitely lost: ${definite:-0} bytes; indirectly lost: ${indirect:-0} bytes (after the suppressions)."
  echo
  echo "The ERROR SUMMARY counts memcheck's other findings, not leaks: almost all are reads of the"
  echo "network's label maps (MaskBlender, Legend) that memcheck traces (--track-origins=yes) to a stack"
  echo "allocation inside OpenVINO's CPU plugin, whose JIT kernels produce the labels. The labels"
  echo "themselves are right (CamVid eval through this runtime matches the training toolchain), so this"
  echo "looks like memcheck's imprecision on the JIT's vector code; it is left unsuppressed and not"
  echo "investigated further here. The full log is out/leak-valgrind.log."
} > Benchmarks/leak-check.md
cat Benchmarks/leak-check.md
[ "${definite:-0}" = 0 ] && [ "${indirect:-0}" = 0 ]
