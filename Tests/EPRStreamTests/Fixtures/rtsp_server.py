#!/usr/bin/python3
"""A real RTSP server for EPRStream's live tests (GStreamer's RTSP server through python3-gi).

  /usr/bin/python3 rtsp_server.py --port 8554 --file clip.mp4 [--loops 20] [--audio]   # a file, looped
  /usr/bin/python3 rtsp_server.py --port 8554 --pattern --size 320x240 --fps 100  # live test pattern

Serves rtsp://127.0.0.1:PORT/cam (H.264, with the file's AAC audio when --audio; TCP and UDP) on loopback only, prints "ready" once it
listens, and exits with its parent. A file is looped by remuxing it N times into a temporary
Matroska file first (stream copy, continuous timestamps), then played in real time.
"""
import argparse, ctypes, os, signal, subprocess, sys, tempfile

import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--file")
    ap.add_argument("--loops", type=int, default=20)
    ap.add_argument("--audio", action="store_true", help="also serve the file's first audio stream (AAC)")
    ap.add_argument("--pattern", action="store_true")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()

    # Die with the test process, whatever happens to it.
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass

    Gst.init(None)
    tmp = None
    if args.file:
        tmp = tempfile.NamedTemporaryFile(suffix=".mkv", delete=False)
        tmp.close()
        audio_map = ["-map", "0:a:0"] if args.audio else []
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(args.loops - 1), "-i", args.file,
                        "-map", "0:v:0", *audio_map, "-c", "copy", tmp.name], check=True)
        launch = (f"( filesrc location={tmp.name} ! matroskademux name=d d.video_0 ! queue ! h264parse ! "
                  "rtph264pay name=pay0 pt=96 config-interval=1 "
                  + ("d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 " if args.audio else "") + ")")
    elif args.pattern:
        w, h = args.size.split("x")
        launch = (f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={args.fps}/1 ! "
                  f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} ! "
                  "rtph264pay name=pay0 pt=96 config-interval=1 )")
    else:
        ap.error("give --file or --pattern")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    try:
        loop.run()
    finally:
        if tmp:
            os.unlink(tmp.name)


if __name__ == "__main__":
    main()
