import Foundation
import Testing

/// `--segment` / `--retain` through the real binary: how many files, each one playable on its own
/// from a keyframe with its audio, its length, fragmented while written, and the oldest deleted.
@Suite(.serialized) struct SegmentRecordingTests {
    /// A small network input: these tests are about the files, not the masks (and share the CPU).
    static let fastInput = ["--input-size", "64x112"]

    /// `stem-YYYYmmdd-HHMMSS.mp4` files in `dir`, oldest first.
    static func segments(in dir: URL, stem: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.range(of: "^\(stem)-[0-9]{8}-[0-9]{6}\\.mp4$", options: .regularExpression) != nil
        }.sorted()
    }

    static func firstFrameIsKey(_ path: String) throws -> Bool {
        let out = try Probe.ffprobe(["-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "frame=key_frame",
                                     "-of", "default=nw=1", path])
        return out.split(separator: "\n").first == "key_frame=1"
    }

    static func expectPlayableSegment(_ path: String, frames: Int, seconds: Double) throws {
        let video = try Probe.video(path)
        #expect(video.frames == frames, "\(path)")
        #expect(abs(video.duration - seconds) <= 1.0, "\(path): \(video.duration) s, keyframes every second")
        #expect(try firstFrameIsKey(path), "\(path)")
        #expect(try Probe.decodeErrors(path).isEmpty, "\(path)")
        let audio = try #require(try Probe.audio(path), "\(path) has no audio")
        #expect(audio.codec == "aac" && abs(audio.duration - seconds) <= 1.0, "\(path): audio \(audio.duration) s")
        // Fragmented MP4: a crash mid-segment still leaves the fragments written so far playable.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).range(of: Data("moof".utf8)) != nil, "\(path)")
    }

    /// 6 s of the clip in 2 s segments: 3 made, `--retain 2` keeps the newest two (an older
    /// segment from an earlier run goes first); files of other names are left alone.
    @Test func countRetentionKeepsTheNewestSegments() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("an earlier run".utf8).write(to: dir.appendingPathComponent("rec-20000101-000000.mp4"))
        try Data("keep me".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", dir.appendingPathComponent("rec.mp4").path,
                                           "--segment", "2", "--retain", "2", "--max-frames", "150", "--quiet"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let names = try Self.segments(in: dir, stem: "rec")
        #expect(names.count == 2, "\(names)")
        #expect(!names.contains("rec-20000101-000000.mp4"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("notes.txt").path))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("rec.mp4").path))
        for name in names { try Self.expectPlayableSegment(dir.appendingPathComponent(name).path, frames: 50, seconds: 2) }
    }

    /// 3 s in 1 s segments, all kept by `--retain 24h`; a segment last written two days ago goes.
    @Test func ageRetentionDeletesOnlyOldSegments() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent("cam-20000101-000000.mp4")
        try Data("two days old".utf8).write(to: old)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-2 * 86400)], ofItemAtPath: old.path)
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", dir.appendingPathComponent("cam.mp4").path,
                                           "--segment", "1", "--retain", "24h", "--max-frames", "75", "--quiet"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let names = try Self.segments(in: dir, stem: "cam")
        #expect(names.count == 3, "\(names)")
        #expect(!FileManager.default.fileExists(atPath: old.path))
        for name in names { try Self.expectPlayableSegment(dir.appendingPathComponent(name).path, frames: 25, seconds: 1) }
    }

    /// Killed (SIGKILL) while writing a segment: the fragments already on disk still play.
    @Test func aSegmentInProgressSurvivesACrash() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = try LiveRun(["run", Repo.dashcam, "-o", dir.appendingPathComponent("crash.mp4").path, "--segment", "60", "--quiet"] + Self.fastInput)
        defer { runner.kill() }
        // Wait (bounded) until three fragments have started: the first two are complete on disk.
        let until = Date(timeIntervalSinceNow: 120)
        var path: String?
        while Date() < until, runner.isRunning {
            if let name = try Self.segments(in: dir, stem: "crash").first {
                let data = try Data(contentsOf: dir.appendingPathComponent(name))
                var moofs = 0, from = data.startIndex
                while let hit = data.range(of: Data("moof".utf8), in: from..<data.endIndex) { moofs += 1; from = hit.upperBound }
                if moofs >= 3 { path = dir.appendingPathComponent(name).path; break }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let segment = try #require(path, "no segment with three fragments; stderr: \(runner.stderrText)")
        runner.kill()
        #expect(try Probe.video(segment).frames >= 25)
        #expect(try Self.firstFrameIsKey(segment))
    }

    func expectFailure(_ arguments: [String], mentions text: String) throws {
        let result = try run(Repo.binary, arguments, timeout: 60)
        #expect(result.status == 64, "stderr: \(result.stderr)")
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 1 && result.stderr.contains(text), "stderr: \(result.stderr)")
    }

    @Test func badSegmentSettingsAreOneLineErrors() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("rec.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--segment", "0.5"], mentions: "error: --segment must be at least 1 second, got 0.5")
        try expectFailure(["run", Repo.dashcam, "-o", out, "--retain", "5"], mentions: "error: --retain needs --segment SECONDS")
        try expectFailure(["run", Repo.dashcam, "-o", out, "--segment", "2", "--retain", "3x"],
                          mentions: "error: --retain: bad retention '3x': expected a segment count (e.g. 24) or an age (90s, 30m, 24h, 7d)")
        try expectFailure(["run", Repo.dashcam, "--preview", "18099", "--segment", "2"], mentions: "error: --segment needs a file output (-o NAME.mp4)")
        try expectFailure(["run", Repo.dashcam, "-o", "rtsp://127.0.0.1:9/x", "--segment", "2"],
                          mentions: "error: segmented recording needs a file output, not rtsp://127.0.0.1:9/x")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
