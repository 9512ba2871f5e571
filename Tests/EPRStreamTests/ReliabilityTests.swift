import Foundation
import Testing

/// Nothing a user does destroys a file: the input is never the output, streams are written in
/// place, every stop signal finalises the output, and leftovers of dead runs are cleaned up.
@Suite(.serialized) struct ReliabilityTests {
    static let small = ["--input-size", "128x224", "--quiet"]

    /// A short clip with audio, made by ffmpeg.
    static func clip(in dir: URL, name: String = "clip.mp4") throws -> String {
        let path = dir.appendingPathComponent(name).path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=2",
                                    "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-c:a", "aac",
                                    "-shortest", path])
        return path
    }

    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    // MARK: - The output is never the input

    @Test(arguments: ["same path", "symlink", "hard link", "dot-dot path"])
    func outputThatIsTheInputIsRefused(how: String) throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(in: dir)
        let original = try Data(contentsOf: URL(fileURLWithPath: input))
        var output = input
        switch how {
        case "symlink":
            output = dir.appendingPathComponent("link.mp4").path
            try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: input)
        case "hard link":
            output = dir.appendingPathComponent("hard.mp4").path
            try FileManager.default.linkItem(atPath: input, toPath: output)
        case "dot-dot path":
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: false)
            output = dir.path + "/sub/../clip.mp4"
        default: break
        }
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let result = try run(Repo.binary, ["run", input, "-o", output, "--max-frames", "5"] + Self.small, timeout: 60)
        #expect(result.status == 64, "stderr: \(result.stderr)")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(errors.count == 1 && errors[0].contains("is the input file"), "stderr: \(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == original, "the input is byte for byte intact")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == before, "nothing written beside it")
    }

    // MARK: - Streams are written in place

    @Test func devNullStaysADevice() throws {
        #expect(Self.fileType("/dev/null") == S_IFCHR)
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(in: dir)
        let result = try run(Repo.binary, ["run", input, "-o", "/dev/null", "--max-frames", "5"] + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("5 frames -> /dev/null"), "stdout: \(result.stdout)")
        #expect(Self.fileType("/dev/null") == S_IFCHR, "/dev/null is still a character device")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "/dev").filter { $0.hasPrefix(".null.partial-") }
        #expect(leftovers.isEmpty)
    }

    @Test func fifoReaderGetsAPlayableStream() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(in: dir)
        let fifo = dir.appendingPathComponent("stream.mp4").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // The reader copies the stream to a file as it arrives; ffprobe checks that afterwards.
        let copy = dir.appendingPathComponent("received.mp4").path
        let reader = try LiveRun(["-v", "error", "-i", fifo, "-c", "copy", copy], executable: "/usr/bin/ffmpeg")
        defer { reader.kill() }
        let result = try run(Repo.binary, ["run", input, "-o", fifo, "--max-frames", "10"] + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let got = try reader.wait(timeout: 60)
        #expect(got.status == 0 && got.stderr.isEmpty, "reader: \(got.stderr)")
        #expect(try Probe.video(copy).frames == 10)
        #expect(try Probe.decodeErrors(copy).isEmpty)
        #expect(Self.fileType(fifo) == S_IFIFO, "the FIFO is still a FIFO")
    }

    @Test func stdoutCarriesAPlayableStream() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(in: dir)
        let result = try run(Repo.binary, ["run", input, "-o", "-", "--max-frames", "10"] + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("done: 10 frames -> -"), "the summary goes to stderr: \(result.stderr)")
        // What came out of stdout, fed to ffprobe through a pipe as `eprstream run ... -o - | ffprobe -` would.
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        probe.arguments = ["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                           "stream=nb_read_frames,codec_name", "-of", "default=nw=1", "-"]
        let stdin = Pipe(), stdout = Pipe()
        probe.standardInput = stdin
        probe.standardOutput = stdout
        try probe.run()
        let answer = ReadAll(stdout.fileHandleForReading)
        stdin.fileHandleForWriting.write(result.data)
        try stdin.fileHandleForWriting.close()
        probe.waitUntilExit()
        let fields = String(decoding: answer.wait(), as: UTF8.self)
        #expect(probe.terminationStatus == 0)
        #expect(fields.contains("codec_name=h264") && fields.contains("nb_read_frames=10"), "ffprobe: \(fields)")
    }

    // MARK: - Every signal finalises the output

    @Test(arguments: [SIGTERM, SIGHUP])
    func signalFinishesAPlayableOutput(signal: Int32) throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = dir.appendingPathComponent("long.mkv").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-stream_loop", "5", "-i", Repo.dashcam, "-c", "copy", long])
        let output = dir.appendingPathComponent("stopped.mp4").path
        // Signalled once frames are being written (the first progress line), however loaded the machine.
        let running = try LiveRun(["run", long, "-o", output, "--input-size", "128x224"])
        defer { running.kill() }
        #expect(running.waitForLine(containing: "progress:", timeout: 240) != nil, "no progress: \(running.stderrText)")
        running.send(signal)
        let result = try running.wait(timeout: 120)
        #expect(result.status == 128 + signal, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("finishing the output"), "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("interrupted"), "stdout: \(result.stdout)")
        let video = try Probe.video(output)
        #expect(video.frames > 0 && video.frames < 221 * 6)
        #expect(try Probe.decodeErrors(output).isEmpty)
        let audio = try #require(try Probe.audio(output))
        #expect(audio.duration <= video.duration + 0.05, "audio \(audio.duration) s, video \(video.duration) s")
        let partials = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".partial-") }
        #expect(partials.isEmpty, "left behind: \(partials)")
    }

    /// The dashcam clip's demuxer reads audio about a second ahead of the video: it is cut where
    /// the last frame ends (was: video 0.40 s, audio 1.37 s).
    @Test func audioStopsWhereMaxFramesStopsTheVideo() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("first10.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "10"] + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let video = try Probe.video(output)
        let audio = try #require(try Probe.audio(output))
        #expect(video.frames == 10)
        #expect(audio.duration <= video.duration + 0.05 && audio.duration >= video.duration - 0.05,
                "audio \(audio.duration) s, video \(video.duration) s")
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    // MARK: - Rotated (phone) video

    /// "width=W height=H [rotation=R]" of the video stream (rotation only with a display matrix).
    static func geometry(_ path: String) throws -> String {
        try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "stream=width,height:stream_side_data=rotation",
                           "-of", "default=nw=1", path]).split(separator: "\n").joined(separator: " ")
    }

    @Test(arguments: [false, true])
    func rotatedVideoIsWrittenUprightUnlessNoAutorotate(keepRaw: Bool) throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let stored = try Self.clip(in: dir)
        let input = dir.appendingPathComponent("phone.mp4").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-i", stored, "-c", "copy", "-metadata:s:v", "rotate=90", input])
        #expect(try Self.geometry(input) == "width=320 height=180 rotation=90")
        let output = dir.appendingPathComponent("out.mp4").path
        let result = try run(Repo.binary, ["run", input, "-o", output, "--max-frames", "5"]
                             + (keepRaw ? ["--no-autorotate"] : []) + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // Upright: 180x320 and no matrix left for players to apply twice; raw: as stored, matrix kept.
        #expect(try Self.geometry(output) == (keepRaw ? "width=320 height=180 rotation=90" : "width=180 height=320"))
        #expect(try Probe.video(output).frames == 5)
    }

    // MARK: - Leftovers of dead runs

    @Test func partialsOfDeadRunsAreRemovedAndLiveOnesKept() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(in: dir)
        // A pid that was running a moment ago and is gone now (as after SIGKILL), and this process's own.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = dir.appendingPathComponent(".out.mp4.partial-\(gone.processIdentifier)-12345").path
        let alive = dir.appendingPathComponent(".out.mp4.partial-\(getpid())-67890").path
        let other = dir.appendingPathComponent(".other.mp4.partial-\(gone.processIdentifier)-1").path
        for path in [dead, alive, other] { #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8))) }
        let output = dir.appendingPathComponent("out.mp4").path
        let result = try run(Repo.binary, ["run", input, "-o", output, "--max-frames", "3"] + Self.small, timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 3)
        #expect(!FileManager.default.fileExists(atPath: dead), "a dead run's partial is removed")
        #expect(FileManager.default.fileExists(atPath: alive), "a running process's partial stays")
        #expect(FileManager.default.fileExists(atPath: other), "another output's partial is not touched")
    }
}
