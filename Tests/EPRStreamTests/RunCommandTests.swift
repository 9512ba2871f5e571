import Foundation
import Testing

/// The main job end to end, through the real binary, on real media.
@Suite(.serialized) struct RunCommandTests {
    @Test func dashcamFileBecomesPlayableAnnotatedVideoWithAudio() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("annotated.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("221 frames"))

        let input = try Probe.video(Repo.dashcam)
        let video = try Probe.video(output)
        #expect(video.frames == 221)
        #expect(video.codec == "h264")
        #expect(video.pixFmt == "yuv420p")
        #expect(abs(video.duration - input.duration) <= 1.0 / 25.0)

        let sourceAudio = try #require(try Probe.audio(Repo.dashcam))
        let audio = try #require(try Probe.audio(output))
        #expect(audio.codec == "aac")
        #expect(abs(audio.duration - sourceAudio.duration) < 0.03)
        #expect(try Probe.decodeErrors(output).isEmpty)
        // +faststart: the index (moov) precedes the media data (mdat).
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: output)).readData(ofLength: 4096)
        let moov = head.range(of: Data("moov".utf8)), mdat = head.range(of: Data("mdat".utf8))
        #expect(moov != nil && (mdat == nil || moov!.lowerBound < mdat!.lowerBound))
    }

    @Test func maxFramesStopsEarlyWithAPlayableFile() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("first30.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "30", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 30)
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    @Test func browserPreviewServesTheRunWhileTheFileIsWritten() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("annotated.mp4").path
        let busy = try SilentListener()   // a free port number: taken, then given back
        let port = busy.port
        busy.close()
        let runner = try LiveRun(["run", Repo.dashcam, "-o", output, "--preview", String(port)])
        #expect(runner.waitForLine(containing: "browser preview: http://127.0.0.1:\(port)/", timeout: 60) != nil,
                "stderr: \(runner.stderrText)")
        let viewer = try LiveRun(["-v", "error", "-i", "http://127.0.0.1:\(port)/stream.mp4", "-f", "framemd5", "-"],
                                 executable: "/usr/bin/ffmpeg")
        let result = try runner.wait(timeout: 300)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("221 frames -> \(output) and http://127.0.0.1:\(port)/"), "\(result.stdout)")
        let served = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("preview: 1 viewer(s) served") },
                                  "\(result.stdout)")
        let watched = try viewer.wait(timeout: 30)
        #expect(watched.status == 0 && watched.stderr.isEmpty, "viewer: \(watched.stderr)")
        // The viewer joined while the run was going: it saw the rest of the run, decodable throughout.
        let frames = watched.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
        #expect(frames >= 20 && frames <= 221, "viewer got \(frames) frames")
        #expect(served.hasSuffix(", \(frames) frames encoded for them"), "the summary counts what the viewer got: \(served)")
        // The file is complete beside the preview.
        #expect(try Probe.video(output).frames == 221)
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    @Test func noAudioLeavesTheSoundOut() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("silent.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "10", "--no-audio",
                                           "--input-size", "128x224", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 10)
        #expect(try Probe.audio(output) == nil)
    }

    @Test func ctrlCFinishesAPlayableOutput() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = dir.appendingPathComponent("long.mkv").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-stream_loop", "5", "-i", Repo.dashcam, "-c", "copy", long])
        let output = dir.appendingPathComponent("interrupted.mp4").path
        // Ctrl-C once frames are being written (the first progress line), however loaded the machine.
        let running = try LiveRun(["run", long, "-o", output])
        #expect(running.waitForLine(containing: "progress:", timeout: 240) != nil, "no progress: \(running.stderrText)")
        running.interrupt()
        let result = try running.wait(timeout: 120)
        #expect(result.status == 128 + SIGINT, "finalised, but stopped early: stderr: \(result.stderr)")
        #expect(result.stderr.contains("interrupted"))
        let frames = try Probe.video(output).frames
        #expect(frames > 0 && frames < 221 * 6)
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    @Test func presetFileIsAppliedAndFlagsOverrideIt() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("preset.mp4").path
        let preset = Repo.root.appendingPathComponent("Pipelines/dashcam.yaml").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--pipeline", preset,
                                           "--input-size", "272x480", "--max-frames", "5", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("272x480"))
        #expect(try Probe.video(output).frames == 5)
    }

    /// The network on every 3rd frame: every frame is still written, at its own timestamp, and
    /// the summary counts ceil(40 / 3) = 14 network masks and 26 carried ones (ages 0, 1, 2).
    @Test func inferEveryWritesEveryFrameAtItsTimestamp() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("every3.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "40",
                                           "--infer-every", "3", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("40 frames"))
        #expect(result.stdout.contains("14 inferred, 26 carried by motion vectors, mask age p50 1 frames"), "\(result.stdout)")
        func times(_ path: String) throws -> [String] {
            try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
                .split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ", ")) }.filter { !$0.isEmpty }
        }
        let written = try times(output)
        #expect(written.count == 40)
        #expect(written == Array(try times(Repo.dashcam).prefix(40)))
        #expect(try Probe.decodeErrors(output).isEmpty)

        let reused = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "7",
                                           "--infer-every", "2", "--propagate", "none", "--quiet"])
        #expect(reused.status == 0, "stderr: \(reused.stderr)")
        #expect(reused.stdout.contains("4 inferred, 3 reused unchanged"), "\(reused.stdout)")
        #expect(try Probe.video(output).frames == 7)
    }

    /// `--propagate bidirectional` on a file: every frame written at its own timestamp, the frames
    /// between masked from the nearer inferred frame (so never older than 1 at every 3rd);
    /// refused, before anything is written, where it cannot wait (auto).
    @Test func bidirectionalPropagationWritesEveryFrameFromTheNearerResult() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("both.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "20", "--infer-every", "3",
                                           "--propagate", "bidirectional", "--input-size", "128x224", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("masks: network on every 3 frames") }, "\(result.stdout)")
        // Frames 0, 3, ..., 18 inferred; the 13 between carried, half of them back from the next result.
        #expect(line.contains("7 runs): 7 inferred, 13 carried by motion vectors from the nearer inferred frame, mask age p50 1 frames"), "\(line)")
        func times(_ path: String) throws -> [String] {
            try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
                .split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ", ")) }.filter { !$0.isEmpty }
        }
        #expect(try times(output) == Array(try times(Repo.dashcam).prefix(20)))

        let refused = dir.appendingPathComponent("auto.mp4").path
        let auto = try run(Repo.binary, ["run", Repo.dashcam, "-o", refused, "--max-frames", "5", "--infer-every", "auto",
                                         "--propagate", "bidirectional", "--quiet"])
        #expect(auto.status == 64, "stderr: \(auto.stderr)")
        #expect(auto.stderr.contains("--propagate bidirectional needs a file and --infer-every N"), "\(auto.stderr)")
        #expect(!FileManager.default.fileExists(atPath: refused))
    }

    /// Smoothing with the network on every frame is still named in the summary.
    @Test func smoothingAtEveryFrameIsInTheSummary() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("smooth.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "6",
                                           "--smooth", "3", "--input-size", "128x224", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("masks: network on every frame") }, "\(result.stdout)")
        #expect(line.contains("6 runs): 6 inferred, 0 carried") && line.contains("mask age p50 0 frames, smoothed over 3"), "\(line)")
        #expect(try Probe.video(output).frames == 6)
    }

    /// `--infer-every auto` on a file: how often the network runs depends on the machine, what is
    /// written does not: every frame, at its own timestamp; every mask counted once, by its age.
    @Test func inferEveryAutoWritesEveryFrameAtItsTimestamp() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("auto.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "30",
                                           "--infer-every", "auto", "--smooth", "3", "--input-size", "128x224", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("30 frames"))
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("masks: network auto") }, "\(result.stdout)")
        func number(before word: String) -> Int? {
            let parts = line.split(separator: " ")
            guard let i = parts.firstIndex(where: { $0.hasPrefix(word) }), i > 0 else { return nil }
            return Int(parts[i - 1].trimmingCharacters(in: CharacterSet(charactersIn: "(")))
        }
        let runs = try #require(number(before: "runs"), "\(line)")
        let inferred = try #require(number(before: "inferred"), "\(line)")
        let carried = try #require(number(before: "carried"), "\(line)")
        // The first frame waits for its own mask; each further result comes back for an earlier frame.
        #expect(inferred >= 1 && inferred + carried == 30, "\(line)")
        #expect(runs >= 1 && runs <= 30, "\(line)")
        #expect(line.contains("smoothed over 3"), "\(line)")
        func times(_ path: String) throws -> [String] {
            try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
                .split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ", ")) }.filter { !$0.isEmpty }
        }
        #expect(try times(output) == Array(try times(Repo.dashcam).prefix(30)))
        #expect(try Probe.decodeErrors(output).isEmpty)

        let bad = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--infer-every", "often"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--infer-every: expected auto or a whole number of at least 1, got 'often'"), "\(bad.stderr)")
    }
}
