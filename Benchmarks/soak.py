#!/usr/bin/python3
"""Soak and resource checks of the release binary, each writing its section of Benchmarks/soak.md.

  soak.py parallel [--runs 4] [--frames 10000]   # N runs at once: RSS over time
  soak.py restarts [--restarts 30] [--down 3]    # RTSP server killed and restarted: fds, threads, reconnect time
  soak.py freeze [--seconds 10]                  # RTSP server frozen (SIGSTOP), then SIGCONT: recovers?

Real parts only: eprstream (shipped int8 EPRNet at 128x224 to keep the machine usable), ffmpeg-made
inputs, GStreamer's RTSP test server (Tests/EPRStreamTests/Fixtures/rtsp_server.py). Reconnect
times are from the server's "ready" (listening again) to eprstream's "reconnected" line.
"""
import argparse, os, re, signal, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/eprstream")
SERVER = os.path.join(ROOT, "Tests/EPRStreamTests/Fixtures/rtsp_server.py")
REPORT = os.path.join(ROOT, "Benchmarks/soak.md")
SMALL = ["--input-size", "128x224", "--quiet"]


def machine():
    model = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                  if l.startswith("Model name")), "?")
    return f"{model}, {os.cpu_count()} cores, load average {' '.join(open('/proc/loadavg').read().split()[0:3])}"


def sample(pid):
    """(RSS MB, threads, open fds) of a live process, or None once it is gone."""
    try:
        status = open(f"/proc/{pid}/status").read()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        return rss, threads, len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, AttributeError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def append(section):
    with open(REPORT, "a") as f:
        f.write(section + "\n")
    print(section)


class Lines:
    """A process's stderr lines with their arrival times, read on a thread."""
    def __init__(self, proc):
        self.lines, self.cond = [], threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for raw in proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))
                self.cond.notify_all()

    def wait_for(self, text, after=0.0, timeout=60):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if t >= after and text in line:
                        return t, line
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class Server:
    def __init__(self, port):
        self.proc = subprocess.Popen(["/usr/bin/python3", SERVER, "--port", str(port), "--pattern", "--size", "320x240", "--fps", "25"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in self.proc.stdout:
            if b"ready" in line:
                self.ready = time.monotonic()
                return
        raise RuntimeError("the RTSP server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()


def parallel(args):
    tmp = tempfile.mkdtemp()
    clip = os.path.join(tmp, "long.mp4")
    seconds = args.frames / 25 + 1
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=320x180:rate=25:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", clip], check=True)
    procs = [subprocess.Popen([BIN, "run", clip, "-o", os.path.join(tmp, f"out{i}.mp4"), "--max-frames", str(args.frames)] + SMALL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(args.runs)]
    series = [[] for _ in procs]
    start = time.monotonic()
    while any(p.poll() is None for p in procs):
        for i, p in enumerate(procs):
            s = sample(p.pid) if p.poll() is None else None
            if s:
                series[i].append((time.monotonic() - start, s[0]))
        time.sleep(1)
    wall = time.monotonic() - start
    rows = []
    for i, (p, s) in enumerate(zip(procs, series)):
        out = p.stdout.read().decode()
        frames = re.search(r"(\d+) frames ->", out)
        rss = [r for _, r in s]
        q = lambda f: rss[min(len(rss) - 1, int(f * len(rss)))]
        rows.append(f"| {i + 1} | {frames.group(1) if frames else '?'} | {p.returncode} | {q(0.1):.0f} | {q(0.25):.0f} | {q(0.5):.0f} | "
                    f"{q(0.9):.0f} | {rss[-1]:.0f} | {max(rss):.0f} | {rss[-1] - q(0.25):+.1f} |")
    append(f"""## {args.runs} runs at once x {args.frames} frames ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)

Machine: {machine()} (at the end). Input: testsrc 320x180 at 25 fps (H.264), `--input-size 128x224`,
shipped int8 EPRNet; all {args.runs} started together, RSS sampled every second ({wall:.0f} s in all).

| run | frames | exit | RSS MB at 10% | 25% | 50% | 90% | end | max | end - 25% |
|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n")


def live_run():
    """A test-pattern RTSP server and an eprstream run on it, 2 s past its first frame."""
    port = free_port()
    server = Server(port)
    out = os.path.join(tempfile.mkdtemp(), "live.mp4")
    run = subprocess.Popen([BIN, "run", f"rtsp://127.0.0.1:{port}/cam", "-o", out] + SMALL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(run)
    if not lines.wait_for("connected: first frame", timeout=60):
        raise RuntimeError("no first frame")
    time.sleep(2)
    return port, server, run, lines


def restarts(args):
    port, server, run, lines = live_run()
    first = sample(run.pid)
    rows, delays = [], []
    for i in range(args.restarts):
        server.kill()
        time.sleep(args.down)
        server = Server(port)
        got = lines.wait_for(f"(reconnect ", after=server.ready, timeout=30)
        delay = got[0] - server.ready if got else None
        delays.append(delay)
        time.sleep(1.5)   # frames flowing again before the sample
        s = sample(run.pid)
        rows.append(f"| {i + 1} | {'%.2f' % delay if delay is not None else 'none in 30 s'} | {s[1]} | {s[2]} | {s[0]:.0f} |")
    last = sample(run.pid)
    server.kill()
    run.send_signal(signal.SIGINT)
    run.wait(timeout=60)
    ok = [d for d in delays if d is not None]
    append(f"""## RTSP server restarted {args.restarts} times ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)

Machine: {machine()} (at the end). GStreamer test pattern 320x240 at 25 fps over TCP, server killed
(SIGKILL) and restarted after {args.down} s each time; eprstream with the default reconnect policy
(backoff 0.25 s doubling to 0.5 s). Reconnect = server listening again -> eprstream's `reconnected` line.

- reconnects seen: {len(ok)} of {args.restarts}; after the server's return: median {statistics.median(ok) if ok else float('nan'):.2f} s, max {max(ok) if ok else float('nan'):.2f} s; within 2 s: {sum(d <= 2 for d in ok)}
- before the first restart: {first[1]} threads, {first[2]} fds, {first[0]:.0f} MB RSS; after the last: {last[1]} threads, {last[2]} fds, {last[0]:.0f} MB RSS
- exit after Ctrl-C: {run.returncode}

| restart | reconnect s | threads | fds | RSS MB |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n")


def freeze(args):
    port, server, run, lines = live_run()
    before = sample(run.pid)
    server.proc.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    stall = lines.wait_for("stalled", after=stopped, timeout=args.seconds + 5)
    time.sleep(max(0, args.seconds - (time.monotonic() - stopped)))
    server.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    back = lines.wait_for("(reconnect ", after=stopped, timeout=60)
    time.sleep(1.5)
    after = sample(run.pid)
    server.kill()
    run.send_signal(signal.SIGINT)
    run.wait(timeout=60)
    events = [l for t, l in lines.lines if t >= stopped and "live [" in l][:8]
    append(f"""## RTSP server frozen {args.seconds} s (SIGSTOP, then SIGCONT) ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)

Machine: {machine()} (at the end). GStreamer test pattern 320x240 at 25 fps over TCP, default
settings (`--stall-timeout` 5 s, backoff 0.25 s doubling to 0.5 s).

- stall noticed {stall[0] - stopped:.2f} s after SIGSTOP
- frames flow again: {('%.2f s after SIGCONT' % (back[0] - resumed)) if back else 'NOT within 60 s'}
- before: {before[1]} threads, {before[2]} fds; after: {after[1]} threads, {after[2]} fds; exit after Ctrl-C: {run.returncode}

```
""" + "\n".join(events) + "\n```\n") if stall else append("## freeze: no stall line seen\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("parallel"); p.add_argument("--runs", type=int, default=4); p.add_argument("--frames", type=int, default=10000)
    r = sub.add_parser("restarts"); r.add_argument("--restarts", type=int, default=30); r.add_argument("--down", type=float, default=3)
    f = sub.add_parser("freeze"); f.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    {"parallel": parallel, "restarts": restarts, "freeze": freeze}[args.what](args)


if __name__ == "__main__":
    main()
