"""Baselines for `eprstream bench`: what a user would otherwise pick, on the same clip and model.

Modes (each prints one JSON line and can append it to --out):
  openvino    OpenVINO's Python API, model only (AsyncInferQueue, the same CPU settings the Swift
              runner uses: THROUGHPUT, one stream per request, f32 precision hint), frames decoded
              and resized beforehand.
  onnxruntime ONNX Runtime, model only (CPU provider, intra-op threads = cores), same frames.
  script      A typical Python script: OpenCV VideoCapture -> resize -> ONNX Runtime -> argmax ->
              colour blend -> VideoWriter (mp4v), timed end to end.
  skilled     What a skilled OpenVINO user writes: OpenCV VideoCapture -> resize -> OpenVINO int8 with
              normalisation inside the graph (PrePostProcessor: u8 BGR NHWC in) and 2 async requests
              (AsyncInferQueue, frames written in order) -> argmax -> blend -> VideoWriter, end to end.
  report      Reads the JSON lines and eprstream's --json, writes results.md and results.png.

openvino runs in .venv-ov (the project's OpenVINO venv); the others in Benchmarks/.venv
(onnxruntime, openvino, opencv-python-headless, numpy, matplotlib), which run_baselines.sh creates.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np



def machine():
    """The CPU this run saw (hosts of one kind differ: quote ratios, name the machine)."""
    model, flags = "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    isa = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{os.cpu_count()} cores {model} ({isa})"


MACHINE = machine()


def onnx_metadata(path):
    """Model metadata from ONNX metadata_props or the IR's <rt_info><eprstream> (both optional)."""
    meta = {}
    try:
        if path.endswith(".onnx"):
            import onnx  # noqa: F401  (only where installed)
            m = onnx.load(path, load_external_data=False)
            meta = {p.key: p.value for p in m.metadata_props}
        elif path.endswith(".xml"):
            import re
            text = open(path, encoding="utf-8", errors="replace").read()
            block = re.search(r"<eprstream>(.*?)</eprstream>", text, re.S)
            if block:
                meta = dict(re.findall(r'<(\w+) value="([^"]*)"', block.group(1)))
    except Exception:
        pass
    return meta


def onnx_metadata_light(path):
    """metadata_props without the onnx package (onnxruntime's own reader)."""
    try:
        import onnxruntime as ort
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return dict(s.get_modelmeta().custom_metadata_map)
    except Exception:
        return {}


def norm_params(meta):
    mean = [float(x) for x in meta.get("mean", "123.675,116.28,103.53").split(",")]
    std = [float(x) for x in meta.get("std", "58.395,57.12,57.375").split(",")]
    return np.array(mean, np.float32), np.array(std, np.float32)


def palette(meta, classes):
    pal = np.zeros((256, 3), np.uint8)
    entries = [e for e in meta.get("palette", "").split(";") if e]
    for i, e in enumerate(entries[:classes]):
        pal[i] = [int(v) for v in e.split(",")]
    if not entries:
        rng = np.random.default_rng(0)
        pal[:classes] = rng.integers(0, 255, (classes, 3))
    return pal


def decoded_frames(clip, n, h, w):
    """n RGB frames resized to h x w by the ffmpeg CLI (no OpenCV needed in .venv-ov)."""
    cmd = ["ffmpeg", "-v", "error", "-i", clip, "-frames:v", str(n), "-vf", f"scale={w}:{h}:flags=bilinear",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    return frames


def tensors(frames, mean, std):
    x = (frames.astype(np.float32) - mean) / std
    return [np.ascontiguousarray(f.transpose(2, 0, 1)[None]) for f in x]


def bench_openvino(args, h, w):
    import openvino as ov
    meta = onnx_metadata(args.model)
    mean, std = norm_params(meta)
    inputs = tensors(decoded_frames(args.clip, args.frames, h, w), mean, std)
    core = ov.Core()
    model = core.read_model(args.model)
    model.reshape([1, 3, h, w])
    reqs = 2
    cfg = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(reqs), "PERFORMANCE_HINT_NUM_REQUESTS": str(reqs),
           "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(model, "CPU", cfg)
    queue = ov.AsyncInferQueue(compiled, reqs)
    for x in inputs[:8]:
        queue.start_async({0: x})
    queue.wait_all()
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for x in inputs:
            queue.start_async({0: x})
        queue.wait_all()
        runs.append(len(inputs) / (time.perf_counter() - t0))
    return {"name": "openvino_python", "label": f"OpenVINO {ov.__version__.split('-')[0]} Python API, model only",
            "model": os.path.basename(args.model), "fps": statistics.median(runs), "runs": runs,
            "frames": len(inputs), "input_size": [h, w]}


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def bench_onnxruntime(args, h, w):
    import onnxruntime as ort
    meta = onnx_metadata_light(args.model)
    mean, std = norm_params(meta)
    inputs = tensors(decoded_frames(args.clip, args.frames, h, w), mean, std)
    sess = ort_session(args.model, os.cpu_count() or 1)
    name = sess.get_inputs()[0].name
    for x in inputs[:4]:
        sess.run(None, {name: x})
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for x in inputs:
            sess.run(None, {name: x})
        runs.append(len(inputs) / (time.perf_counter() - t0))
    return {"name": "onnxruntime", "label": f"ONNX Runtime {ort.__version__}, model only",
            "model": os.path.basename(args.model), "fps": statistics.median(runs), "runs": runs,
            "frames": len(inputs), "input_size": [h, w]}


def typical_script(clip, model, out, max_frames, h, w, alpha=0.5):
    """What a user typically writes. Kept plain on purpose: this is the baseline."""
    import cv2
    meta = onnx_metadata_light(model)
    mean, std = norm_params(meta)
    sess = ort_session(model, os.cpu_count() or 1)
    name = sess.get_inputs()[0].name
    classes = int(meta.get("num_classes", sess.get_outputs()[0].shape[1] or 12))
    pal = palette(meta, classes)[:, ::-1].copy()  # BGR for OpenCV
    void = int(meta.get("void_label", -1))
    cap = cv2.VideoCapture(clip)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    fw, fh = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (fw, fh))
    n = 0
    t0 = time.perf_counter()
    while n < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        x = ((rgb.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
        scores = sess.run(None, {name: np.ascontiguousarray(x)})[0]
        labels = scores[0].argmax(axis=0).astype(np.uint8)
        labels = cv2.resize(labels, (fw, fh), interpolation=cv2.INTER_NEAREST)
        colour = pal[labels]
        blended = cv2.addWeighted(frame, 1 - alpha, colour, alpha, 0)
        if void >= 0:
            keep = labels == void
            blended[keep] = frame[keep]
        writer.write(blended)
        n += 1
    elapsed = time.perf_counter() - t0
    cap.release()
    writer.release()
    return n, elapsed


def time_script(script, args, h, w, name, label):
    """fps of an end-to-end script over args.repeats runs, each writing its own file."""
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.repeats):
            n, elapsed = script(args.clip, args.model, os.path.join(d, f"out{r}.mp4"), args.frames, h, w)
            runs.append(n / elapsed)
    return {"name": name, "label": label, "model": os.path.basename(args.model), "fps": statistics.median(runs),
            "runs": runs, "frames": n, "input_size": [h, w]}


def bench_script(args, h, w):
    import cv2
    import onnxruntime as ort
    return time_script(typical_script, args, h, w, "python_script",
                       f"Python script: OpenCV {cv2.__version__} + ONNX Runtime {ort.__version__}")


def skilled_script(clip, model_path, out, max_frames, h, w, alpha=0.5, requests=2):
    """OpenCV + OpenVINO as someone who knows OpenVINO writes it: preprocessing in the graph,
    two requests in flight, results written in frame order."""
    import cv2
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor
    meta = onnx_metadata(model_path)
    mean, std = norm_params(meta)
    classes = int(meta.get("num_classes", 12))
    pal = palette(meta, classes)[:, ::-1].copy()  # BGR for OpenCV
    void = int(meta.get("void_label", -1))
    core = ov.Core()
    model = core.read_model(model_path)
    model.reshape([1, 3, h, w])
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB) \
        .mean(mean.tolist()).scale(std.tolist())
    model = ppp.build()
    cfg = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(requests),
           "PERFORMANCE_HINT_NUM_REQUESTS": str(requests), "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(model, "CPU", cfg)
    cap = cv2.VideoCapture(clip)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    fw, fh = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (fw, fh))
    done = {}

    def finished(request, userdata):
        index, frame = userdata
        labels = request.get_output_tensor(0).data[0].argmax(axis=0).astype(np.uint8)
        done[index] = (frame, labels)

    queue = ov.AsyncInferQueue(compiled, requests)
    queue.set_callback(finished)
    written = 0

    def write_ready():
        nonlocal written
        while written in done:
            frame, labels = done.pop(written)
            labels = cv2.resize(labels, (fw, fh), interpolation=cv2.INTER_NEAREST)
            blended = cv2.addWeighted(frame, 1 - alpha, pal[labels], alpha, 0)
            if void >= 0:
                keep = labels == void
                blended[keep] = frame[keep]
            writer.write(blended)
            written += 1

    n = 0
    t0 = time.perf_counter()
    while n < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        queue.start_async({0: small[None]}, (n, frame))  # blocks while both requests are busy
        n += 1
        write_ready()
    queue.wait_all()
    write_ready()
    elapsed = time.perf_counter() - t0
    cap.release()
    writer.release()
    return written, elapsed


def bench_skilled(args, h, w):
    import cv2
    import openvino as ov
    return time_script(skilled_script, args, h, w, "skilled_script",
                       f"skilled Python script: OpenCV {cv2.__version__} + OpenVINO {ov.__version__.split('-')[0]} int8, 2 async requests")


def report(args):
    with open(args.eprstream) as f:
        ep = json.load(f)
    base = [json.loads(line) for line in open(args.results) if line.strip()]
    by = {b["name"]: b for b in base}
    h, w = ep["input_size"]
    date = ep.get("date", datetime.datetime.now().isoformat(timespec="seconds"))
    rows = [
        ("eprstream full pipeline (decode, int8 OpenVINO, blend, x264)", ep["pipeline_fps"], os.path.basename(ep["model"]), "end to end"),
        ("eprstream runner alone (preprocess, inference, argmax)", ep["runner_fps"], os.path.basename(ep["model"]), "model only"),
        ("eprstream decode + encode, no network", ep["decode_encode_fps"], "-", "no network"),
    ]
    for key in ("openvino_python", "onnxruntime", "skilled_script", "python_script"):
        if key in by:
            b = by[key]
            rows.append((b["label"], b["fps"], b["model"], "end to end" if key.endswith("_script") else "model only"))
    script = by.get("python_script", {}).get("fps")
    skilled = by.get("skilled_script", {}).get("fps")
    model_only = by.get("openvino_python", {}).get("fps")
    lines = [
        "# EPRStream benchmark results",
        "",
        f"- Date: {date}",
        f"- Machine: {MACHINE} (nominal); as seen during this run: {ep.get('machine', '')}",
        f"- Clip: `{os.path.basename(ep['input'])}` ({ep['frame_size'][0]}x{ep['frame_size'][1]}), "
        f"{ep['frames']} frames, network input {h}x{w}, batch 1, median of {ep['repeats']} repeats",
        f"- Load average (1 min) when eprstream's bench started / ended: {ep.get('load_before', '?')} / {ep.get('load_after', '?')}"
        " (absolute fps drift on these virtual machines, even idle: ratios within this run are the figures to quote)",
        f"- eprstream settings: {', '.join(f'{k[9:]}={v}' for k, v in sorted(ep.get('engine', {}).items()) if k.startswith('compiled.'))}; "
        f"encoder {ep.get('encoder', '')}",
        "",
        "| what | model | scope | fps |",
        "|---|---|---|---:|",
    ]
    for label, fps, model, scope in rows:
        lines.append(f"| {label} | {model} | {scope} | {fps:.1f} |")
    lines += [
        "",
        f"- Full pipeline / runner alone: **{ep['ratio']:.2f}**",
    ]
    if args.note:
        lines.insert(lines.index("| what | model | scope | fps |") - 1, f"- Note: {args.note}")
    if model_only:
        lines.append(f"- Full pipeline / OpenVINO's own Python API, model only (same model and size): **{ep['pipeline_fps'] / model_only:.2f}x** (target >= 1.0x)")
    if skilled:
        lines.append(f"- Full pipeline / skilled OpenCV + OpenVINO script: **{ep['pipeline_fps'] / skilled:.2f}x** (target >= 1.5x)")
    if script:
        lines.append(f"- Full pipeline / typical Python script: **{ep['pipeline_fps'] / script:.1f}x** (target >= 3x)")
    stages = ep.get("stage_ms_per_frame", {})
    if stages:
        lines += ["", "Pipeline stage busy time per frame (ms; infer counts from start to observed completion, "
                  "so it includes waiting behind the other request):", "",
                  "| " + " | ".join(stages) + " |", "|" + "---:|" * len(stages),
                  "| " + " | ".join(f"{v:.1f}" for v in stages.values()) + " |"]
    cpu = [("runner alone", ep.get("runner_cpu_ms_per_frame")), ("decode + encode", ep.get("decode_encode_cpu_ms_per_frame")),
           ("full pipeline", ep.get("pipeline_cpu_ms_per_frame"))]
    if all(v is not None for _, v in cpu):
        lines += ["", "Process CPU time per frame (ms, all threads): " + ", ".join(f"{k} {v:.1f}" for k, v in cpu) + "."]
    lines += ["", "Produced by `Benchmarks/run_baselines.sh` (eprstream `bench --json` plus `Benchmarks/baselines.py`).",
              "Profile and memory over a 10,000-frame run: [profile-and-memory.md](profile-and-memory.md).",
              "![results](results.png)", ""]
    with open(os.path.join(args.outdir, "results.md"), "w") as f:
        f.write("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = [r[0].replace(" (", "\n(").replace(": ", ":\n") for r in rows]
    values = [r[1] for r in rows]
    colours = ["#1f77b4", "#6baed6", "#9ecae1", "#ff7f0e", "#ffbb78", "#2ca02c", "#d62728"][: len(rows)]
    fig, ax = plt.subplots(figsize=(10, 0.9 * len(rows) + 1.5))
    y = range(len(rows))[::-1]
    ax.barh(list(y), values, color=colours)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.1f}", va="center")
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(25, color="grey", ls="--", lw=1)
    ax.set_xlabel("frames per second (higher is better; dashed: 25 fps)")
    ax.set_title(f"EPRNet {h}x{w} on {ep['frame_size'][0]}x{ep['frame_size'][1]} video, {MACHINE}\n{date[:10]}, shared machine (noisy)",
                 fontsize=9)
    ax.set_xlim(0, max(values) * 1.15)
    fig.tight_layout()
    fig.savefig(os.path.join(args.outdir, "results.png"), dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["openvino", "onnxruntime", "skilled", "script", "report"])
    p.add_argument("--clip")
    p.add_argument("--model")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--input-size", default="360x640", help="HxW")
    p.add_argument("--out", help="append the JSON line to this file")
    p.add_argument("--eprstream", help="report: eprstream bench --json file")
    p.add_argument("--results", help="report: the JSON lines file")
    p.add_argument("--note", default=os.environ.get("NOTE", ""), help="report: a line for results.md")
    p.add_argument("--outdir", default=os.path.dirname(os.path.abspath(__file__)))
    args = p.parse_args()
    if args.mode == "report":
        report(args)
        return
    h, w = (int(v) for v in args.input_size.lower().split("x"))
    result = {"openvino": bench_openvino, "onnxruntime": bench_onnxruntime, "skilled": bench_skilled,
              "script": bench_script}[args.mode](args, h, w)
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
