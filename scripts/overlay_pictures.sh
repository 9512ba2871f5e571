#!/bin/sh
# The README's overlay pictures: frame 60 of the demo clip in each overlay mode, rendered by
# eprstream itself and extracted with ffmpeg at half size. Usage: scripts/overlay_pictures.sh [CLIP]
set -eu
clip=${1:-../shared/media/solidWhiteRight.mp4}
bin=.build/release/eprstream
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shot() {   # name, eprstream flags...
    name=$1; shift
    "$bin" run "$clip" -o "$tmp/$name.mp4" --max-frames 61 --quiet "$@"
    ffmpeg -v error -y -i "$tmp/$name.mp4" -vf "select=eq(n\,60),scale=iw/2:-2" -frames:v 1 "Media/overlay-$name.png"
}
shot blend --overlay blend
shot mask --overlay mask
shot contours --overlay contours
shot contours-road-car --overlay contours --classes Road,Car
shot side-by-side --overlay side-by-side
ls -l Media/overlay-*.png
