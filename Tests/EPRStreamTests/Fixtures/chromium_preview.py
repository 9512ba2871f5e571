#!/usr/bin/env python3
"""Loads a preview page in headless Chromium and reports how its video plays.

Talks the DevTools protocol over --remote-debugging-pipe (fds 3 and 4, NUL-separated JSON), so
the standard library is enough (no websocket client). Polls the page until the video has played
(currentTime > 0 and at least MIN_FRAMES decoded) or the deadline passes, then prints one JSON object:
{"mse": bool, "supported": bool, "currentTime": s, "decodedFrames": n, "error": code|null,
 "readyState": n} and exits 0 if it played, 1 if not, 2 if Chromium could not be driven.

usage: chromium_preview.py URL [DEADLINE_SECONDS [MIN_FRAMES]]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

STATE = """(() => {
  const v = document.querySelector("video");
  if (!v) return null;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  return {mse: v.src.startsWith("blob:"),
          supported: typeof mime === "string" && !!window.MediaSource && MediaSource.isTypeSupported(mime),
          currentTime: v.currentTime, decodedFrames: q ? q.totalVideoFrames : 0,
          error: v.error ? v.error.code : null, readyState: v.readyState};
})()"""


class DevTools:
    def __init__(self, to_browser, from_browser):
        self.to_browser, self.from_browser = to_browser, from_browser
        self.pending = b""
        self.next_id = 0

    def call(self, method, params=None, session=None, deadline=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                if deadline and time.monotonic() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self.from_browser, 65536)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.pending += chunk
            raw, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})


def main():
    url = sys.argv[1]
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 120)
    min_frames = int(sys.argv[3]) if len(sys.argv) > 3 else 25

    def played(state):
        return bool(state and state["currentTime"] > 0 and state["decodedFrames"] >= min_frames)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print(json.dumps({"problem": "no chromium on PATH"}))
        return 2
    profile = tempfile.mkdtemp(prefix="eprstream-chromium-")
    to_r, to_w = os.pipe()      # we write commands; chromium reads fd 3
    from_r, from_w = os.pipe()  # chromium writes replies on fd 4

    def wire():  # in the child: the pipe ends to fds 3 and 4 (via copies, in case they are 3 or 4 already)
        read_end, write_end = os.dup(to_r), os.dup(from_w)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
            "--autoplay-policy=no-user-gesture-required", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "about:blank"]
    # close_fds would close 3 and 4 after wire() ran; it is killed when done.
    proc = subprocess.Popen(args, preexec_fn=wire, close_fds=False,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_r)
    os.close(from_w)
    state = None
    try:
        tools = DevTools(to_w, from_r)
        target = tools.call("Target.createTarget", {"url": url}, deadline=deadline)["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline=deadline)["sessionId"]
        while time.monotonic() < deadline:
            result = tools.call("Runtime.evaluate", {"expression": STATE, "returnByValue": True},
                                session=session, deadline=deadline)
            state = result.get("result", {}).get("value")
            if played(state):
                break
            time.sleep(0.2)  # polling interval, not a wait for a guess: the deadline bounds it
    except (TimeoutError, EOFError, RuntimeError, KeyError) as e:
        print(json.dumps({"problem": f"{type(e).__name__}: {e}", "state": state}))
        return 2
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(state))
    return 0 if played(state) else 1


if __name__ == "__main__":
    sys.exit(main())
