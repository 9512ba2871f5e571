#!/usr/bin/env python3
"""What the browser preview costs: `eprstream run CLIP -o FILE` alone vs with `--preview` and one
viewer (ffmpeg reading /stream.mp4), interleaved (A B A B ...) so that load changes hit both alike.
Reports medians of end-to-end fps and of eprstream's own CPU seconds per frame (the viewer's CPU is
not counted), and the ratios, in Benchmarks/preview.md.

Usage: python3 Benchmarks/preview_cost.py [--rounds 3] [--clip PATH]   (release build first)
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build/release/eprstream")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(clip, out, preview):
    """Returns (fps, cpu seconds per frame) of one run; with `preview`, one viewer watches throughout."""
    args = [BINARY, "run", clip, "-o", out]
    port = None
    if preview:
        port = free_port()
        args += ["--preview", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    viewer = None
    if preview:
        deadline = time.time() + 60
        while time.time() < deadline:  # the server is up once the model has loaded
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        viewer = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i",
                                   "http://127.0.0.1:%d/stream.mp4" % port, "-f", "null", "-"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if viewer:
        viewer.wait(timeout=30)
    if proc.returncode != 0:
        sys.exit("eprstream failed: %s" % proc.stderr.read())
    frames = int(re.search(r"(\d+) frames ->", stdout).group(1))
    fps = float(re.search(r"([\d.]+) fps end to end", stdout).group(1))
    return fps, (usage.ru_utime + usage.ru_stime) / frames


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clip", default=os.path.join(ROOT, "../shared/media/solidWhiteRight.mp4"))
    args = p.parse_args()
    if not os.path.exists(BINARY):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "eprstream"], cwd=ROOT)
    load_before = os.getloadavg()[0]
    results = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for preview in (False, True):
                results[preview].append(run_once(args.clip, os.path.join(tmp, "out.mp4"), preview))
                print("round %d %s: %.2f fps, %.1f ms CPU/frame" % (
                    r + 1, "file + preview" if preview else "file", results[preview][-1][0],
                    1000 * results[preview][-1][1]), flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    lines = [
        "# The browser preview's cost\n",
        "`Benchmarks/preview_cost.py`, %s: %d interleaved rounds of `eprstream run %s -o FILE`, alone and with "
        "`--preview` plus one ffmpeg viewer, release build, shipped int8 EPRNet. Load average %.2f before, %.2f "
        "after (training jobs may share the cores: read the ratios).\n"
        % (time.strftime("%Y-%m-%d"), args.rounds, os.path.basename(args.clip), load_before, os.getloadavg()[0]),
        "| median | file | file + preview (1 viewer) | ratio |",
        "|---|---|---|---|",
        "| end-to-end fps | %.2f | %.2f | %.2fx |" % (med[False][0], med[True][0], med[True][0] / med[False][0]),
        "| eprstream CPU ms per frame | %.1f | %.1f | %.2fx |" % (
            1000 * med[False][1], 1000 * med[True][1], med[True][1] / med[False][1]),
        "",
        "Without a viewer the preview encodes nothing (it only counts frames).",
    ]
    with open(os.path.join(ROOT, "Benchmarks/preview.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
