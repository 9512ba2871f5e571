"""Model-only OpenVINO fps with and without the work issue 14 moves into the graph, interleaved.

Variants (each compiled like the Swift runner: THROUGHPUT, one stream per request, 2 requests,
f32 precision hint):
  float        the network alone, f32 NCHW input at the network size (what the host path feeds)
  i420         u8 I420 planes at the network size in (the runner's default: swscale resizes the
               planes); colour conversion and normalisation in the graph (PrePostProcessor)
  i420+resize  u8 I420 planes of the frame size in; the graph also resizes (linear)
  argmax       the network with a TopK(k=1) over classes appended, u8 labels out
  i420+argmax  i420 with the TopK

Prints median fps per variant and the ratios to `float`. The Swift runner keeps the argmax on the
host when `argmax` is slower than `float` (the SIMD argmax costs ~1.5 ms a frame), and resizes on
the host when `i420+resize` is slower than `i420` by more than swscale's plane resize (~1 ms).

Run with the project's OpenVINO venv:
  .venv-ov/bin/python Benchmarks/graph_argmax.py [--model Models/eprnet-camvid-int8.xml]
      [--input-size 360x640] [--frame-size 960x540] [--frames 60] [--rounds 5]
"""
import argparse
import statistics
import time

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from baselines import norm_params, onnx_metadata


def machine():
    """e.g. '2 cores, Intel(R) Xeon(R) Processor, avx512_vnni amx_tile' (as seen now, not nominal)."""
    import os
    model, flags = "", set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and not model:
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{os.cpu_count()} cores, {model}, {' '.join(isa)}"


def build(core, path, h, w, fh, fw, i420, argmax, mean, std):
    model = core.read_model(path)
    model.reshape([1, 3, h, w])
    if i420:
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_color_format(ColorFormat.I420_THREE_PLANES) \
            .set_spatial_static_shape(fh, fw)
        steps = ppp.input().preprocess().convert_color(ColorFormat.RGB).convert_element_type(ov.Type.f32)
        if (fh, fw) != (h, w):
            steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
        steps.mean(list(map(float, mean))).scale(list(map(float, std)))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        model = ppp.build()
    if argmax:
        result = model.get_results()[0]
        scores = result.input_value(0)
        top = ops.topk(scores, ops.constant(np.int64(1)), axis=1, mode="max", sort="none", index_element_type="i32")
        result.input(0).replace_source_output(ops.convert(top.output(1), "u8").output(0))
        model.validate_nodes_and_infer_types()
    cfg = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": "2", "PERFORMANCE_HINT_NUM_REQUESTS": "2",
           "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(model, "CPU", cfg)
    rng = np.random.default_rng(0)
    inputs = []
    for port in compiled.inputs:
        shape = tuple(port.shape)
        if port.get_element_type() == ov.Type.u8:
            inputs.append(rng.integers(16, 236, shape, dtype=np.uint8))
        else:
            inputs.append(rng.standard_normal(shape).astype(np.float32))
    queue = ov.AsyncInferQueue(compiled, 2)
    for _ in range(6):
        queue.start_async(inputs)
    queue.wait_all()
    return queue, inputs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="Models/eprnet-camvid-int8.xml")
    ap.add_argument("--input-size", default="360x640")
    ap.add_argument("--frame-size", default="960x540", help="WxH of the frames i420+resize takes")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    h, w = map(int, args.input_size.split("x"))
    fw, fh = map(int, args.frame_size.split("x"))
    mean, std = norm_params(onnx_metadata(args.model))
    core = ov.Core()
    variants = {"float": (False, False, h, w), "i420": (True, False, h, w), "i420+resize": (True, False, fh, fw),
                "argmax": (False, True, h, w), "i420+argmax": (True, True, h, w)}
    built = {name: build(core, args.model, h, w, ph, pw, i420, argmax, mean, std)
             for name, (i420, argmax, ph, pw) in variants.items()}
    fps = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved, so load drift hits every variant alike
        for name, (queue, inputs) in built.items():
            t0 = time.perf_counter()
            for _ in range(args.frames):
                queue.start_async(inputs)
            queue.wait_all()
            fps[name].append(args.frames / (time.perf_counter() - t0))
    print(f"OpenVINO {ov.__version__.split('-')[0]}, {args.model}, network {h}x{w}, frames {fw}x{fh}, "
          f"{args.rounds} interleaved rounds of {args.frames} requests; {machine()}")
    base = statistics.median(fps["float"])
    for name, runs in fps.items():
        m = statistics.median(runs)
        print(f"{name:12s} {m:7.2f} fps  {m / base:5.2f}x float   runs: " + " ".join(f"{r:.2f}" for r in runs))


if __name__ == "__main__":
    main()
