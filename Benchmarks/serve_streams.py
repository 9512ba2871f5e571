#!/usr/bin/env python3
"""What sharing one serve process costs: 1, 2 and 4 streams of the dashcam clip in one
`eprstream serve` (one compiled model), total annotated fps against one stream alone, and the peak
RSS each added stream costs.

  with-training-paused python3 Benchmarks/serve_streams.py [--frames 120] [--rounds 2] [--out Benchmarks/serve.md]

Each stream is the clip (a file: no frame dropped, the network on every frame) with max_frames.
Time per run: from the first stream's `started` line to the last one's `finished` line, as serve
stamps them on stderr (compile and start-up left out). Rounds are interleaved (1, 2, 4, 1, 2, 4)
so that a change in the machine's load hits every count alike; the ratios are per round.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "release", "eprstream")
CLIP = os.path.join(os.path.dirname(ROOT), "shared", "media", "solidWhiteRight.mp4")
if not os.path.exists(CLIP):
    CLIP = "/work/shared/media/solidWhiteRight.mp4"
STAMP = re.compile(r"^live \[([0-9.]+) s\]: \[([^\]]+)\] (started|finished)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(streams, frames, work):
    port = free_port()
    preset = os.path.join(work, "short.yaml")
    with open(preset, "w") as f:
        f.write(f"max_frames: {frames}\naudio: false\n")
    config = os.path.join(work, "serve.yaml")
    with open(config, "w") as f:
        f.write(f"http: {{port: {port}}}\nstreams:\n")
        for i in range(streams):
            f.write(f"  - {{id: s{i}, input: \"{CLIP}\", output: s{i}.mp4, pipeline: short.yaml}}\n")
    err = open(os.path.join(work, "stderr.txt"), "w+")
    proc = subprocess.Popen([BINARY, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 600
        status = []
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/streams", timeout=10) as r:
                    status = json.load(r)
            except OSError:
                continue
            if len(status) == streams and all(s["state"] in ("finished", "failed") for s in status):
                break
        else:
            raise SystemExit(f"{streams} streams did not finish")
        if any(s["state"] == "failed" for s in status):
            raise SystemExit(f"a stream failed: {status}")
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = int(next(l for l in f if l.startswith("VmHWM:")).split()[1])  # KiB
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    err.seek(0)
    started, finished = [], []
    for line in err:
        m = STAMP.match(line)
        if m:
            (started if m.group(3) == "started" else finished).append(float(m.group(1)))
    total = sum(s["frames_out"] for s in status)
    wall = max(finished) - min(started)
    return total / wall, hwm / 1024, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--counts", default="1,2,4")
    ap.add_argument("--out", default=os.path.join(ROOT, "Benchmarks", "serve.md"))
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    load_before = os.getloadavg()
    results = {c: [] for c in counts}
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            for c in counts:
                fps, rss, total = one_run(c, args.frames, work)
                results[c].append((fps, rss))
                print(f"round {r + 1}: {c} stream(s): {total} frames, {fps:.2f} fps total, peak RSS {rss:.0f} MiB", flush=True)
    load_after = os.getloadavg()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    vnni = "yes" if "avx512_vnni" in cpu else "no"
    cores = os.cpu_count()

    lines = ["# One serve process, several streams: what sharing costs", "",
             f"`python3 Benchmarks/serve_streams.py --frames {args.frames} --rounds {args.rounds}` under `with-training-paused`: "
             f"N streams of the dashcam clip (960x540, a file: every frame through the network, none dropped; EPRNet int8 "
             f"at 360x640, one compiled model, each stream its own runner with 2 requests), {args.frames} frames each. Fps is "
             "the total annotated frames over the time from the first stream's start to the last one's end; ratios are "
             "against one stream in the same round.", "",
             f"Machine: {model}, {cores} cores, avx512_vnni: {vnni}; load average {load_before[0]:.1f} before, "
             f"{load_after[0]:.1f} after (other engineers' builds may run beside it).", "",
             "| streams | " + " | ".join(f"round {r + 1} total fps (x one stream)" for r in range(args.rounds)) + " | peak RSS MiB (round 1) |",
             "|---|" + "---|" * args.rounds + "---|"]
    for c in counts:
        cells = []
        for r in range(args.rounds):
            fps = results[c][r][0]
            cells.append(f"{fps:.2f} ({fps / results[counts[0]][r][0]:.2f}x)")
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {results[c][0][1]:.0f} |")
    base = results[counts[0]][0][1]
    per = [(results[c][0][1] - base) / (c - counts[0]) for c in counts[1:]]
    lines += ["", "RSS per added stream (peak, round 1): " + ", ".join(
        f"{(results[c][0][1] - base) / (c - counts[0]):.0f} MiB at {c}" for c in counts[1:]) + "." if per else ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
