import Foundation
import Testing

/// Inputs and failures that used to hang `eprstream run` forever (issue 12). Each must end within a
/// bounded time with a correct output or a clear error; the time limits are far above what a
/// loaded machine needs and far below "forever".
@Suite(.serialized) struct HangRegressionTests {
    static let fastInput = ["--input-size", "128x160", "--quiet"]

    /// 2 s of video, 600 s of audio: the source read the audio tail while the decoder still held the
    /// last pictures, the audio queue filled and nothing drained it.
    @Test func audioThatOutlastsTheVideoIsCopiedWhole() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("long-audio.mp4").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                                    "-f", "lavfi", "-i", "sine=frequency=440:duration=600", "-c:v", "libx264",
                                    "-c:a", "aac", input])
        let output = dir.appendingPathComponent("out.mp4").path
        let result = try run(Repo.binary, ["run", input, "-o", output] + Self.fastInput, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 50)
        let audio = try #require(try Probe.audio(output))
        #expect(abs(audio.duration - 600) < 0.1, "audio \(audio.duration) s")
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    /// A Matroska file that stores 30 s of audio (1290 packets) before its first picture.
    @Test func audioStoredLongBeforeTheVideoIsInterleaved() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("late-video.mkv").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=40",
                                    "-itsoffset", "30", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                                    "-c:v", "libx264", "-c:a", "aac", input])
        let firstVideo = try Probe.ffprobe(["-show_packets", "-show_entries", "packet=codec_type", "-of", "csv", input])
            .split(separator: "\n").firstIndex { $0.contains("video") } ?? 0
        #expect(firstVideo > 1000, "the fixture should store its audio first (first picture at packet \(firstVideo))")
        let output = dir.appendingPathComponent("out.mkv").path
        let result = try run(Repo.binary, ["run", input, "-o", output] + Self.fastInput, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 50)
        let lastAudio = try Probe.ffprobe(["-select_streams", "a:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", output])
            .split(separator: "\n").last.flatMap { Double($0) } ?? 0
        #expect(abs(lastAudio - 40) < 0.1, "last audio packet at \(lastAudio) s")
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    /// The published output fails for good while the camera is frozen: the run must end with the
    /// output's error at once, not after the source's own reconnect attempts (or never: without
    /// --max-reconnects the source retried forever and the join waited on it).
    @Test func outputFailureWhileTheSourceIsOfflineEndsTheRun() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "5"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try LiveFixtures.freePort()
        let receiver = try LiveFixtures.rtspReceiver(port: port, saving: dir.appendingPathComponent("received.mkv").path)
        defer { receiver.kill() }
        Thread.sleep(forTimeInterval: 1.5)   // the receiver takes one connection: no probing it

        // The source: stalled 8 s after the camera freezes, then 3 attempts of 8 s each on the frozen
        // server (about 26 s before it gives up). The output: refused at once, it gives up after 3
        // attempts 0.5 + 1 + 2 s apart.
        let run = try LiveRun(["run", server.url, "-o", "rtsp://127.0.0.1:\(port)/annotated", "--model", model,
                               "--max-reconnects", "2", "--stall-timeout", "8", "--input-size", "128x224"])
        defer { run.kill() }
        // Annotated frames are going out (so that the notice frames follow while the camera is down).
        let writing = run.waitForLine(timeout: 60) { $0.hasPrefix("progress:") && !$0.hasPrefix("progress: 0 frames") }
        #expect(writing != nil, "stderr: \(run.stderrText)")
        server.pause()
        #expect(run.waitForLine(containing: "source stalled", timeout: 20) != nil, "stderr: \(run.stderrText)")
        receiver.kill()   // now, with the source reconnecting, the output fails for good
        let failedAt = Date()
        let result = try run.wait(timeout: 60)
        let after = Date().timeIntervalSince(failedAt)
        #expect(result.status == 73, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("cannot write rtsp://") && result.stderr.contains("gave up after 3 attempts"),
                "stderr: \(result.stderr)")
        #expect(after < 15, "the run ended \(after) s after the output went away; stderr: \(result.stderr)")
    }
}
