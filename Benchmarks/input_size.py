"""Model-only int8 fps against network input size, EPRNet and EPRNet-Light, in one run.

Each size is compiled as the Swift runner compiles it (THROUGHPUT, one stream per request, 2
requests, f32 precision hint) with the yuv420p graph input at the network size (issue 14), and
the sizes are measured round-robin (every size once per round) so load drift hits all alike.
Writes Benchmarks/input_size.md (table) and Benchmarks/input_size.svg (the curve; no plotting
library needed).

  .venv-ov/bin/python Benchmarks/input_size.py [--rounds 3] [--frames 30] [--heights 288,320,...]

Not yet measured on an idle machine (issue 14 leaves the curve and the choice of defaults open).
"""
import argparse
import datetime
import os
import statistics
import time

import numpy as np
import openvino as ov

from baselines import norm_params, onnx_metadata
from graph_argmax import build, machine

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {"EPRNet": "Models/eprnet-camvid-int8.xml", "EPRNet-Light": "Models/eprnet-light-camvid-int8.xml"}


def width_for(h, aspect=16 / 9):
    return int(round(h * aspect / 8)) * 8


def svg(curves, path):
    """fps against megapixels, one polyline per model."""
    W, H, L, B = 640, 400, 60, 50
    xs = [x for c in curves.values() for x, _ in c]
    ys = [y for c in curves.values() for _, y in c]
    x0, x1 = 0, max(xs) * 1.05
    y0, y1 = 0, max(ys) * 1.1
    px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - 20)
    py = lambda y: H - B - (y - y0) / (y1 - y0) * (H - B - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - 20}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="20" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(W + L) / 2}" y="{H - 12}" text-anchor="middle">network input, megapixels</text>',
           f'<text x="16" y="{(H - B) / 2}" transform="rotate(-90 16 {(H - B) / 2})" text-anchor="middle">fps (model only, int8)</text>']
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{px(x)}" y="{H - B + 16}" text-anchor="middle">{x:.2f}</text>')
        y = y0 + (y1 - y0) * i / 5
        out.append(f'<text x="{L - 6}" y="{py(y) + 4}" text-anchor="end">{y:.0f}</text>')
        out.append(f'<line x1="{L}" y1="{py(y)}" x2="{W - 20}" y2="{py(y)}" stroke="#ddd"/>')
    for (name, c), colour in zip(curves.items(), ["#1f77b4", "#d62728"]):
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in c)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in c]
        lx, ly = c[0]
        out.append(f'<text x="{px(lx) + 8}" y="{py(ly) - 8}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heights", default="288,320,352,360,384,416,448")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [(h, width_for(h)) for h in map(int, args.heights.split(","))]
    core = ov.Core()
    built = {}
    for name, path in MODELS.items():
        mean, std = norm_params(onnx_metadata(path))
        for h, w in sizes:
            built[(name, h, w)] = build(core, path, h, w, h, w, True, False, mean, std)
    fps = {k: [] for k in built}
    started = datetime.datetime.now(datetime.timezone.utc)
    for _ in range(args.rounds):
        for key, (queue, inputs) in built.items():
            t0 = time.perf_counter()
            for _ in range(args.frames):
                queue.start_async(inputs)
            queue.wait_all()
            fps[key].append(args.frames / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in fps.items()}
    lines = ["# Model-only fps against network input size\n",
             f"`Benchmarks/input_size.py`, {started:%Y-%m-%d %H:%M} UTC, OpenVINO {ov.__version__.split('-')[0]}, int8 IRs "
             f"with the yuv420p graph input at the network size, 2 requests, median of {args.rounds} interleaved rounds of "
             f"{args.frames} frames. Machine as seen: {machine()}; load average {os.getloadavg()[0]:.2f} at the end.\n",
             "| input | megapixels | EPRNet fps | EPRNet-Light fps | EPRNet ms per 0.1 MP | Light ms per 0.1 MP |",
             "|---|---:|---:|---:|---:|---:|"]
    for h, w in sizes:
        mp = h * w / 1e6
        e, l = med[("EPRNet", h, w)], med[("EPRNet-Light", h, w)]
        lines.append(f"| {h}x{w} | {mp:.3f} | {e:.2f} | {l:.2f} | {1000 / e / (mp * 10):.2f} | {1000 / l / (mp * 10):.2f} |")
    lines.append("\n![fps against input size](input_size.svg)")
    open(os.path.join(HERE, "input_size.md"), "w").write("\n".join(lines) + "\n")
    svg({name: [(h * w / 1e6, med[(name, h, w)]) for h, w in sizes] for name in MODELS}, os.path.join(HERE, "input_size.svg"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
