import Foundation
import Testing

/// Bad input of every kind: one clear line, a distinct non-zero exit, no crash, no output left behind.
@Suite(.serialized) struct ErrorTests {
    func expectFailure(_ arguments: [String], status: Int32, mentions text: String,
                       output: String? = nil) throws {
        let result = try run(Repo.binary, arguments, timeout: 60)
        #expect(result.status == status, "stderr: \(result.stderr)")
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(text), "stderr: \(result.stderr)")
        if let output { #expect(!FileManager.default.fileExists(atPath: output)) }
    }

    @Test func missingInput() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", "/nonexistent/clip.mp4", "-o", out], status: 66, mentions: "/nonexistent/clip.mp4", output: out)
    }

    @Test func noOutputAtAll() throws {
        try expectFailure(["run", Repo.dashcam], status: 64, mentions: "no output: give -o FILE|URL, --preview PORT, or both")
    }

    @Test func badPreviewAddress() throws {
        try expectFailure(["run", Repo.dashcam, "--preview", "localhost"], status: 64,
                          mentions: "bad preview address 'localhost'")
    }

    @Test func previewPortInUse() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let taken = try SilentListener()
        defer { taken.close() }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--preview", String(taken.port)], status: 73,
                          mentions: "cannot serve the browser preview on 127.0.0.1:\(taken.port): ", output: out)
    }

    @Test func inputThatIsNotAVideo() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.mp4")
        try Data("this is not a video\n".utf8).write(to: text)
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", text.path, "-o", out], timeout: 60)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error:") && result.stderr.contains(text.path), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func unknownCodec() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // An AVI whose video fourcc no decoder knows: an MPEG-4 file with its tag overwritten.
        let good = dir.appendingPathComponent("good.avi").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
                                    "-c:v", "mpeg4", good])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        while let range = bytes.range(of: Data("FMP4".utf8)) { bytes.replaceSubrange(range, with: Data("QQQQ".utf8)) }
        let avi = dir.appendingPathComponent("odd.avi").path
        try bytes.write(to: URL(fileURLWithPath: avi))
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", avi, "-o", out], timeout: 60)
        #expect(result.status == 65, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("unsupported video codec") && result.stderr.contains("QQQQ"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func truncatedFileIsProcessedUpToTheDamage() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mkv = dir.appendingPathComponent("full.mkv")
        try run("/usr/bin/ffmpeg", ["-v", "error", "-i", Repo.dashcam, "-c", "copy", mkv.path])
        let bytes = try Data(contentsOf: mkv)
        let cut = dir.appendingPathComponent("cut.mkv")
        try bytes.prefix(bytes.count / 2).write(to: cut)
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", cut.path, "-o", out, "--quiet"], timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("warning:"), "stderr: \(result.stderr)")
        let frames = try Probe.video(out).frames
        #expect(frames > 50 && frames < 221)
        #expect(try Probe.decodeErrors(out).isEmpty)
    }

    /// The dashcam's first 60 frames stream-copied to `dir`/full.mp4 (MP4 without faststart:
    /// moov last) and its first two thirds of bytes as dashcam-0001.mp4, a recording cut off
    /// before its index was written.
    func cutRecording(in dir: URL) throws -> (full: URL, cut: URL, bytes: Data) {
        let full = dir.appendingPathComponent("full.mp4")
        try run("/usr/bin/ffmpeg", ["-v", "error", "-i", Repo.dashcam, "-frames:v", "60", "-c", "copy", full.path])
        let bytes = try Data(contentsOf: full)
        let cut = dir.appendingPathComponent("dashcam-0001.mp4")
        try bytes.prefix(bytes.count * 2 / 3).write(to: cut)
        return (full, cut, bytes)
    }

    @Test func interruptedMP4RecordingSaysItsIndexIsMissing() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, cut, bytes) = try cutRecording(in: dir)
        let moov = try #require(bytes.range(of: Data("moov".utf8)))
        #expect(moov.lowerBound > bytes.count / 2, "the index is at the end")
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", cut.path, "-o", out], status: 66,
                          mentions: "its index (moov box) is missing: the recording was interrupted", output: out)
        let result = try run(Repo.binary, ["run", cut.path, "-o", out], timeout: 60)
        #expect(result.stderr.contains("recover its H.264 frames with --reference GOOD.mp4") && !result.stderr.contains("not a video file"),
                "stderr: \(result.stderr)")
    }

    /// The way out that message names: the same cut recording with a complete one as reference
    /// is segmented, and the output holds the frames the kept bytes have, at the source's rate.
    @Test func interruptedMP4RecordingRunsWithAReference() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (full, cut, _) = try cutRecording(in: dir)
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", cut.path, "--reference", full.path, "-o", out], timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let video = try Probe.video(out)
        // Two thirds of the bytes, audio interleaved: most of the 60 frames, not all.
        #expect(video.frames >= 30 && video.frames < 60, "\(video.frames) frames")
        #expect(abs(video.duration - Double(video.frames) / 25) < 0.1, "at 25 fps: \(video.duration) s for \(video.frames) frames")
        #expect(try Probe.decodeErrors(out).isEmpty)
        // A reference that does not exist is named.
        try expectFailure(["run", cut.path, "--reference", dir.appendingPathComponent("none.mp4").path, "-o", out],
                          status: 66, mentions: "none.mp4", output: nil)
    }

    @Test func unknownHostSaysItCannotBeResolved() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        // .invalid never resolves (RFC 6761).
        try expectFailure(["run", "rtsp://no-such-camera.invalid/cam", "-o", out, "--max-reconnects", "0"], status: 69,
                          mentions: "host 'no-such-camera.invalid' could not be resolved", output: out)
        let result = try run(Repo.binary, ["run", "rtsp://no-such-camera.invalid/cam", "-o", out, "--max-reconnects", "0"], timeout: 60)
        #expect(!result.stderr.contains("Input/output error"), "stderr: \(result.stderr)")
    }

    /// Matroska gives only the container's duration; audio that runs past the video sets it, and
    /// with --no-audio that audio is still not a sign of truncation.
    @Test(arguments: [false, true])
    func videoEndingBeforeTheAudioIsNotCalledTruncated(noAudio: Bool) throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("late.mkv").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-itsoffset", "1.5", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=0.5",
                                    "-f", "lavfi", "-i", "sine=duration=4", "-c:v", "libx264", "-c:a", "aac", input])
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", input, "-o", out, "--input-size", "128x224", "--quiet"]
                             + (noAudio ? ["--no-audio"] : []), timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("warning:"), "stderr: \(result.stderr)")
        #expect(try Probe.video(out).frames == 5)
        #expect(try Probe.audio(out) == nil || !noAudio)
    }

    @Test func unwritableOutput() throws {
        try expectFailure(["run", Repo.dashcam, "-o", "/proc/no-such-dir/out.mp4"], status: 73, mentions: "/proc/no-such-dir/out.mp4")
    }

    @Test func modelThatIsNotAModel() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("fake.onnx")
        try Data("not a network".utf8).write(to: model)
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--model", model.path], status: 78, mentions: "fake.onnx", output: out)
    }

    @Test func missingModel() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--model", "/nonexistent/m.xml"], status: 78, mentions: "/nonexistent/m.xml", output: out)
    }

    @Test func unknownModelName() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--model", "eprnet-huge"], status: 78,
                          mentions: "unknown model \"eprnet-huge\": not a file, and not a shipped model (eprnet, eprnet-light)",
                          output: out)
    }

    @Test func badPresetKey() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = dir.appendingPathComponent("p.yaml")
        try Data("alpha: 0.4\nencoder:\n  speed: fast\n".utf8).write(to: preset)
        try expectFailure(["run", Repo.dashcam, "-o", dir.appendingPathComponent("o.mp4").path, "--pipeline", preset.path],
                          status: 64, mentions: "encoder.speed")
    }

    @Test func badFlagValues() throws {
        try expectFailure(["run", Repo.dashcam, "-o", "/tmp/x.mp4", "--alpha", "3"], status: 64, mentions: "--alpha")
        try expectFailure(["run", Repo.dashcam, "-o", "/tmp/x.mp4", "--input-size", "100x100"], status: 64, mentions: "100x100")
    }

    /// A negative number is the flag's value, checked like any other (not "Missing value").
    @Test func negativeFlagValues() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--alpha", "-0.5"], status: 64,
                          mentions: "--alpha must be between 0 and 1, got -0.5", output: out)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--max-frames", "-5"], status: 64,
                          mentions: "--max-frames must be positive, got -5", output: out)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--duration", "-1"], status: 64,
                          mentions: "--duration must be positive", output: out)
    }

    @Test func modelThatIsADirectory() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--model", dir.path], status: 78,
                          mentions: "--model \(dir.path) is a directory", output: out)
    }

    /// A --json report in a missing directory fails before the evaluation or benchmark runs (it
    /// used to fail after it, having spent minutes): one line naming the directory, nothing on stdout.
    @Test func reportInAMissingDirectoryFailsFirst() throws {
        let report = "/nonexistent-eprstream-dir/report.json"
        let commands: [[String]] = [
            ["eval", "--dataset", Repo.camvid.path, "--list", "val.txt", "--json", report],
            ["bench", Repo.dashcam, "--frames", "10", "--json", report],
        ]
        for arguments in commands {
            let result = try run(Repo.binary, arguments, timeout: 60)
            #expect(result.status == 73, "\(arguments[0]) stderr: \(result.stderr)")
            #expect(result.stderr.contains("error: cannot write \(report): there is no directory /nonexistent-eprstream-dir"),
                    "\(arguments[0]) stderr: \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments[0]) ran before failing: \(result.stdout)")
        }
    }
}
