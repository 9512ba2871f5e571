#!/usr/bin/env bash
# Seed corpus for the fuzz target: tiny real clips (64x48, 6 frames) in each container and codec
# a user's file may come in, made by ffmpeg, plus the kept regression inputs. Usage: fuzz_corpus.sh DIR
set -euo pipefail
dir=${1:?usage: fuzz_corpus.sh DIR}
mkdir -p "$dir"
src=(-f lavfi -i testsrc=size=64x48:rate=10:duration=0.6)
aud=(-f lavfi -i sine=frequency=440:duration=0.6)
ff() { ffmpeg -hide_banner -nostdin -v error -y "$@"; }
ff "${src[@]}" "${aud[@]}" -c:v libx264 -bf 2 -g 3 -c:a aac -b:a 16k "$dir/h264-aac.mp4"
ff "${src[@]}" -c:v libx264 -movflags +faststart "$dir/h264-faststart.mp4"
ff "${src[@]}" -c:v libx264 -g 2 -movflags frag_keyframe+empty_moov+default_base_moof "$dir/h264-fragmented.mp4"
ff -i "$dir/h264-faststart.mp4" -c copy -metadata:s:v rotate=90 "$dir/h264-rotated.mp4"
ff "${src[@]}" "${aud[@]}" -c:v libx265 -x265-params log-level=none -c:a libopus -b:a 16k "$dir/h265-opus.mkv"
ff "${src[@]}" "${aud[@]}" -c:v libx264 -c:a mp2 -b:a 32k "$dir/h264-mp2.ts"
ff "${src[@]}" -c:v libx265 -x265-params log-level=none "$dir/h265.ts"
ff "${src[@]}" "${aud[@]}" -c:v mpeg4 -bf 1 -c:a libmp3lame -b:a 32k "$dir/mpeg4-mp3.avi"
ff "${src[@]}" -c:v libvpx-vp9 -b:v 50k -deadline realtime "$dir/vp9.webm"
ff "${src[@]}" -c:v libvpx-vp9 -b:v 50k -deadline realtime "$dir/vp9.mkv"
ff "${src[@]}" -c:v mpeg4 "$dir/mpeg4.mov"
# An interrupted recording: moov-at-end file cut before its index.
ff "${src[@]}" -c:v libx264 "$dir/full.mp4"
head -c $(( $(stat -c %s "$dir/full.mp4") * 2 / 3 )) "$dir/full.mp4" > "$dir/h264-no-moov.mp4"
rm "$dir/full.mp4"
here=$(cd "$(dirname "$0")/.." && pwd)
find "$here/Tests/Fuzz/regressions" -type f ! -name README.md -exec cp {} "$dir/" \;
ls "$dir" | wc -l | xargs echo "fuzz seeds:"
