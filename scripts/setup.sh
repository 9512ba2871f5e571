#!/usr/bin/env bash
# Installs everything EPRStream needs on a fresh Debian 12 machine, idempotently:
# apt packages (FFmpeg 5.1 dev libraries, FreeType, fonts, the RTSP test server's GStreamer,
# Debian's PyTorch for the training package's tests, headless Chromium for the preview's playback test),
# the OpenVINO wheel in .venv-ov (its C API is what the Swift runner links), and a stable
# .openvino/{include,lib} link so Package.swift can find headers and set the rpath.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    pkg-config ffmpeg libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
    libfreetype-dev fonts-dejavu-core
    python3 python3-venv python3-numpy python3-pil python3-torch python3-matplotlib python3-onnx python3-pytest
    python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav curl prometheus
    chromium
)
OPENVINO_VERSION=2026.4.1

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing apt packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The pyenv/system `python3` without Debian's torch: nncf breaks when torch 1.13 is importable.
# This venv serves the Swift build (OpenVINO's C API) and the int8 quantisation (nncf).
PY=${EPR_PYTHON:-python3}
OV_PACKAGES=("openvino==$OPENVINO_VERSION" "nncf==3.4.0" "onnx==1.23.2" "pillow==13.0.0" "numpy==2.4.6")
if ! .venv-ov/bin/python -c "
import sys, openvino, nncf, onnx, PIL, numpy
sys.exit(openvino.__version__.split('-')[0] != '$OPENVINO_VERSION')" 2>/dev/null; then
    echo "setup: installing ${OV_PACKAGES[*]} into .venv-ov"
    [ -x .venv-ov/bin/python ] || "$PY" -m venv .venv-ov
    .venv-ov/bin/pip install -q --disable-pip-version-check "${OV_PACKAGES[@]}"
fi

ov_dir=$(.venv-ov/bin/python -c "import openvino, os; print(os.path.dirname(openvino.__file__))")
# The wheel ships only versioned sonames; the linker needs an unversioned name.
versioned=$(ls "$ov_dir"/libs/libopenvino_c.so.* | head -n1)
ln -sf "$(basename "$versioned")" "$ov_dir/libs/libopenvino_c.so"
mkdir -p .openvino
ln -sfn "$ov_dir/include" .openvino/include
ln -sfn "$ov_dir/libs" .openvino/lib
echo "setup: ok (OpenVINO $OPENVINO_VERSION at $ov_dir)"
