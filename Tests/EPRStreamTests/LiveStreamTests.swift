import Foundation
import Testing

/// Live cameras end to end: the real binary against real RTSP servers (GStreamer's, through
/// /usr/bin/python3 + gi; `ffmpeg -rtsp_flags listen` as a receiver), loopback only, every step
/// with a time limit.
@Suite(.serialized) struct LiveStreamTests {
    /// Small network input: these tests are about the stream, not the segmentation.
    static let fastInput = ["--input-size", "128x224"]

    @Test func loopedClipGivesTheRequestedFrameCount() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "3"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("live.mp4").path

        let result = try run(Repo.binary, ["run", server.url, "-o", output, "--model", model, "--max-frames", "100"]
                             + Self.fastInput, timeout: 90)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("100 frames"), "stdout: \(result.stdout)")
        #expect(result.stderr.contains("connected: first frame"), "stderr: \(result.stderr)")
        #expect(try Probe.video(output).frames == 100)
        do { let errors = try Probe.decodeErrors(output); #expect(errors.isEmpty, "\(errors)") }
        // Frames keep the camera's own spacing (25 fps), however unevenly they arrived: never a
        // burst of frames a millisecond apart (our drops only make gaps wider).
        let times = try LiveFixtures.frameTimes(output)
        let closest = LiveFixtures.gaps(times).min() ?? 0
        #expect(closest > 0.03, "closest frames \(closest) s apart")
        // Fragmented MP4 (a crash leaves a playable file): an empty moov up front, then fragments.
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(data.range(of: Data("moof".utf8)) != nil)
        #expect(LiveFixtures.summaryNumber(result.stdout, "first annotated frame after") != nil)
        // Live input defaults to --infer-every auto; glass-to-glass is a figure or said unknown, never 0 ms.
        #expect(result.stdout.contains("masks: network auto"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("glass-to-glass"), "stdout: \(result.stdout)")
        #expect(!result.stdout.contains("glass-to-glass p50 0 ms"), "stdout: \(result.stdout)")
    }

    @Test func cameraAudioIsCarriedInSync() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "3", "--audio"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("audio.mp4").path

        let result = try run(Repo.binary, ["run", server.url, "-o", output, "--model", model, "--max-frames", "100"]
                             + Self.fastInput, timeout: 90)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let video = try Probe.video(output)
        #expect(video.frames == 100)
        let audio = try #require(try Probe.audio(output), "no audio stream in the recording")
        #expect(audio.codec == "aac")
        // 100 frames at 25 fps: the audio covers the same four seconds.
        #expect(abs(audio.duration - video.duration) < 0.3, "audio \(audio.duration) s, video \(video.duration) s")
        do { let errors = try Probe.decodeErrors(output); #expect(errors.isEmpty, "\(errors)") }
    }

    // Each step waits for the run to tell (stderr) that the one before happened, however loaded
    // the machine; the run ends with Ctrl-C once frames flow again, not after a fixed duration.
    @Test func serverKilledAndRestartedRunContinuesWithOfflineFrames() throws {
        let model = try LiveFixtures.model()
        var server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("reconnect.mp4").path

        let run = try LiveRun(["run", server.url, "-o", output, "--model", model] + Self.fastInput)
        defer { run.kill() }
        let before = run.waitForProgress(beyond: 25, timeout: 90)
        #expect(before != nil, "stderr: \(run.stderrText)")
        server.kill()
        #expect(run.waitForLine(containing: "source disconnected", timeout: 30) != nil, "stderr: \(run.stderrText)")
        // Down for three failed attempts (their backoff, 0.25 + 0.5 + 1 s: over a second of notices) before it returns.
        #expect(run.waitForLine(containing: "connection attempt 3 failed", timeout: 30) != nil, "stderr: \(run.stderrText)")
        server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"], port: server.port)
        #expect(run.waitForLine(containing: "reconnected: frames flow again", timeout: 60) != nil, "stderr: \(run.stderrText)")
        let after = run.waitForProgress(beyond: (before ?? 0) + 25, timeout: 90)
        #expect(after != nil, "stderr: \(run.stderrText)")
        run.interrupt()
        let result = try run.wait(timeout: 60)

        #expect(result.status == 128 + SIGINT, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("interrupted"), "stdout: \(result.stdout)")
        let offline = LiveFixtures.summaryNumber(result.stdout, "reconnects,", before: true)
        #expect(offline == 1, "stdout: \(result.stdout)")
        let offlineFrames = try #require(LiveFixtures.summaryNumber(result.stdout, "offline frames", before: true))
        #expect(offlineFrames >= 25, "stdout: \(result.stdout)")   // at least a second of notices at 25 fps

        // Timestamps strictly increase, without holes: the output ran on through the outage
        // (a pipeline slower than the source leaves shorter gaps between frames: its own rate).
        let times = try LiveFixtures.frameTimes(output)
        #expect(times.count >= 50 + Int(offlineFrames), "\(times.count) frames")
        #expect(LiveFixtures.gaps(times).allSatisfy { $0 > 0 })
        let biggestGap = LiveFixtures.gaps(times).max() ?? 0
        #expect(biggestGap < 1.5, "largest gap between frames \(biggestGap) s")
        let closest = LiveFixtures.gaps(times).min() ?? 0
        #expect(closest > 0.03, "closest frames \(closest) s apart")   // 25 fps, notices included
        do { let errors = try Probe.decodeErrors(output); #expect(errors.isEmpty, "\(errors)") }
        if let seconds = LiveFixtures.summaryNumber(result.stdout, "reconnected after") {
            print("measured: reconnect (disconnect -> frames again) \(seconds) s")
        }
    }

    // As above: every step waits on the run's own report of the one before; Ctrl-C ends it.
    @Test func frozenServerIsReportedAsAStallAndRecovers() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("stall.mkv").path

        let run = try LiveRun(["run", server.url, "-o", output, "--model", model, "--stall-timeout", "2"] + Self.fastInput)
        defer { run.kill() }
        let before = run.waitForProgress(beyond: 10, timeout: 90)
        #expect(before != nil, "stderr: \(run.stderrText)")
        server.pause()
        let stall = run.waitForLine(containing: "source stalled: no packets for 2 s", timeout: 60)
        #expect(stall != nil, "stderr: \(run.stderrText)")
        // Still frozen: the first reconnection attempt times out too; then the server wakes.
        #expect(run.waitForLine(containing: "connection attempt 1 failed", timeout: 60) != nil, "stderr: \(run.stderrText)")
        server.resume()
        let resumedAt = Date()
        let back = run.waitForLine(containing: "reconnected: frames flow again", timeout: 60)
        #expect(back != nil, "stderr: \(run.stderrText)")
        if let back { print("measured: frames again \(back.timeIntervalSince(resumedAt)) s after SIGCONT") }
        #expect(run.waitForProgress(beyond: (before ?? 0) + 10, timeout: 90) != nil, "stderr: \(run.stderrText)")
        run.interrupt()
        let result = try run.wait(timeout: 60)
        #expect(result.status == 128 + SIGINT, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("1 stalls"), "stdout: \(result.stdout)")
        let times = try LiveFixtures.frameTimes(output)
        #expect(LiveFixtures.gaps(times).allSatisfy { $0 > 0 })
        do { let errors = try Probe.decodeErrors(output); #expect(errors.isEmpty, "\(errors)") }
    }

    /// Ctrl-C, and SIGTERM as `docker stop` sends it: both finalise the recording.
    @Test(arguments: [SIGINT, SIGTERM])
    func signalEndsALiveRunWithAPlayableFile(signal: Int32) throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "3"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("interrupted.mp4").path
        let running = try LiveRun(["run", server.url, "-o", output, "--model", model] + Self.fastInput)
        defer { running.kill() }
        // Ctrl-C once more than 10 annotated frames are written, however loaded the machine.
        let written = running.waitForLine(timeout: 60) { line in
            line.hasPrefix("progress: ") && (Int(line.dropFirst(10).prefix { $0.isNumber }) ?? 0) > 10
        }
        #expect(written != nil, "stderr: \(running.stderrText)")
        running.send(signal)
        let result = try running.wait(timeout: 40)
        #expect(result.status == 128 + signal, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("interrupted"), "stdout: \(result.stdout)")
        #expect(try Probe.video(output).frames > 10)
        do { let errors = try Probe.decodeErrors(output); #expect(errors.isEmpty, "\(errors)") }
    }

    @Test func refusedPortFailsClearlyAfterTheConfiguredAttempts() throws {
        let model = try LiveFixtures.model()
        let port = try LiveFixtures.freePort()
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("never.mp4").path
        let started = Date()
        let result = try run(Repo.binary, ["run", "rtsp://127.0.0.1:\(port)/cam", "-o", output, "--model", model,
                                           "--max-reconnects", "2"], timeout: 30)
        #expect(result.status == 69, "stderr: \(result.stderr)")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(errors.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("Connection refused") && result.stderr.contains("3 attempts"), "stderr: \(result.stderr)")
        #expect(result.stderr.components(separatedBy: "connection attempt").count - 1 == 2, "stderr: \(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func silentServerTimesOutInsteadOfHanging() throws {
        let model = try LiveFixtures.model()
        // Listens (the kernel completes the handshake) but never says a word.
        let listener = try SilentListener()
        defer { listener.close() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let started = Date()
        let result = try run(Repo.binary, ["run", "rtsp://127.0.0.1:\(listener.port)/cam", "-o",
                                           dir.appendingPathComponent("o.mp4").path, "--model", model,
                                           "--max-reconnects", "1", "--stall-timeout", "1"], timeout: 30)
        let wall = Date().timeIntervalSince(started)
        #expect(result.status == 69, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("no answer within 1 s") && result.stderr.contains("2 attempts"), "stderr: \(result.stderr)")
        #expect(wall < 10, "took \(wall) s")
    }

    @Test func annotatedStreamIsPublishedOverRTSP() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "3"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let received = dir.appendingPathComponent("received.mkv").path
        let port = try LiveFixtures.freePort()
        let receiver = try LiveFixtures.rtspReceiver(port: port, saving: received)
        defer { receiver.kill() }
        Thread.sleep(forTimeInterval: 1.5)   // the receiver takes one connection: no probing it

        let result = try run(Repo.binary, ["run", server.url, "-o", "rtsp://127.0.0.1:\(port)/annotated",
                                           "--model", model, "--max-frames", "50"] + Self.fastInput, timeout: 60)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let got = try receiver.wait(timeout: 20)
        #expect(got.status == 0, "ffmpeg: \(got.stderr)")
        let video = try Probe.video(received)
        #expect(video.codec == "h264")
        #expect(video.frames == 50)
        do { let errors = try Probe.decodeErrors(received); #expect(errors.isEmpty, "\(errors)") }
    }

    @Test func publishingSurvivesTheReceivingServerGoingAway() throws {
        let model = try LiveFixtures.model()
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "5"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try LiveFixtures.freePort()
        func receiver(_ name: String) throws -> LiveRun {
            try LiveFixtures.rtspReceiver(port: port, saving: dir.appendingPathComponent(name).path)
        }
        let first = try receiver("first.mkv")
        defer { first.kill() }
        Thread.sleep(forTimeInterval: 1.5)

        let run = try LiveRun(["run", server.url, "-o", "rtsp://127.0.0.1:\(port)/annotated", "--model", model,
                               "--duration", "14"] + Self.fastInput)
        defer { run.kill() }
        #expect(run.waitForLine(containing: "connected: first frame", timeout: 30) != nil, "stderr: \(run.stderrText)")
        Thread.sleep(forTimeInterval: 3)
        first.kill()   // the receiving server crashes
        #expect(run.waitForLine(containing: "output lost", timeout: 10) != nil, "stderr: \(run.stderrText)")
        let second = try receiver("second.mkv")   // and comes back on the same port
        defer { second.kill() }
        let result = try run.wait(timeout: 40)

        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("output reconnected after"), "stderr: \(result.stderr)")
        #expect(result.stdout.contains("1 output reconnects"), "stdout: \(result.stdout)")
        if let line = result.stderr.split(separator: "\n").first(where: { $0.contains("output reconnected") }) {
            print("measured: \(line)")
        }
        let got = try second.wait(timeout: 20)   // our TEARDOWN ends the receiver
        #expect(got.status == 0, "ffmpeg: \(got.stderr)")
        let received = dir.appendingPathComponent("second.mkv").path
        let video = try Probe.video(received)
        #expect(video.codec == "h264")
        #expect(video.frames >= 25, "\(video.frames) frames after the reconnect")
        do { let errors = try Probe.decodeErrors(received); #expect(errors.isEmpty, "\(errors)") }
    }

    @Test func slowPipelineDropsFramesAndMemoryStaysFlat() throws {
        let model = try LiveFixtures.model()
        // A fast live source (tiny frames, 200 fps) and a network input far larger than the frame:
        // the pipeline cannot keep up, so the live queue must drop instead of growing.
        let server = try RTSPServer(args: ["--pattern", "--size", "128x96", "--fps", "200"])
        defer { server.terminate() }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("slow.mp4").path

        let run = try LiveRun(["run", server.url, "-o", output, "--model", model, "--duration", "14",
                               "--input-size", "360x480", "--quiet"])
        defer { run.kill() }
        var samples: [(Double, Int)] = []
        let started = Date()
        while run.isRunning {
            if let rss = run.residentKiB { samples.append((Date().timeIntervalSince(started), rss)) }
            Thread.sleep(forTimeInterval: 0.25)
            if Date().timeIntervalSince(started) > 50 { break }
        }
        let result = try run.wait(timeout: 30)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let receivedFrames = try #require(LiveFixtures.summaryNumber(result.stdout, "frames received", before: true))
        let dropped = try #require(LiveFixtures.summaryNumber(result.stdout, "dropped (back-pressure)", before: true))
        #expect(receivedFrames >= 2000, "stdout: \(result.stdout)")
        // However fast the machine (one that keeps up drops nothing): the queue never held more
        // than its capacity, and drops, when there are any, are told.
        #expect(dropped < receivedFrames, "stdout: \(result.stdout)")
        #expect(result.stdout.contains("frame queue depth max 2/2") || result.stdout.contains("frame queue depth max 1/2"),
                "stdout: \(result.stdout)")
        if dropped > 0 { #expect(result.stderr.contains("back-pressure"), "stderr: \(result.stderr)") }
        // Memory: after warm-up (first quarter) RSS may wobble but not climb with the frame count.
        let warm = samples.filter { $0.0 > 4 }
        let reference = try #require(warm.first).1
        let peak = warm.map(\.1).max() ?? 0
        print("measured: RSS \(reference / 1024) MiB after warm-up, peak \(peak / 1024) MiB over \(receivedFrames) frames (\(dropped) dropped)")
        #expect(peak - reference < 48 * 1024, "RSS grew from \(reference) KiB to \(peak) KiB")
    }
}

// MARK: - Fixtures

enum LiveFixtures {
    static let serverScript = Repo.fixtures.appendingPathComponent("rtsp_server.py").path

    /// The shipped model when training has exported it, else a scratch one named by
    /// EPRSTREAM_TEST_MODEL (or /tmp/eprnet.onnx).
    static func model() throws -> String {
        var candidates = ["Models/eprnet-camvid-int8.xml", "Models/eprnet-camvid.onnx"].map {
            Repo.root.appendingPathComponent($0).path
        }
        if let env = ProcessInfo.processInfo.environment["EPRSTREAM_TEST_MODEL"] { candidates.insert(env, at: 0) }
        candidates.append("/tmp/eprnet.onnx")
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw TestFailure("no model for the live tests (looked for \(candidates.joined(separator: ", ")))")
        }
        return found
    }

    /// ffmpeg as an RTSP server that takes one publisher on PORT/annotated and copies what it
    /// sends into `path`.
    static func rtspReceiver(port: Int, saving path: String) throws -> LiveRun {
        try LiveRun(["-v", "error", "-rtsp_flags", "listen", "-timeout", "30", "-i", "rtsp://127.0.0.1:\(port)/annotated",
                     "-c", "copy", "-y", path], executable: "/usr/bin/ffmpeg")
    }

    /// A TCP port nothing listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestFailure("cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Presentation times (s) of every video frame, in output order.
    static func frameTimes(_ path: String) throws -> [Double] {
        let out = try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
        return out.split(separator: "\n").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Seconds between consecutive frame times.
    static func gaps(_ times: [Double]) -> [Double] { zip(times, times.dropFirst()).map { $1 - $0 } }

    /// The number right after `marker` (or right before it, with `before`) in the summary.
    static func summaryNumber(_ text: String, _ marker: String, before: Bool = false) -> Double? {
        guard let range = text.range(of: marker) else { return nil }
        if before {
            let head = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            let token = head.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).last.map(String.init) ?? ""
            return Double(token)
        }
        let tail = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        return Double(tail.prefix { $0.isNumber || $0 == "." })
    }
}

/// GStreamer's RTSP server (Fixtures/rtsp_server.py) serving rtsp://127.0.0.1:PORT/cam.
final class RTSPServer {
    let port: Int
    private let process = Process()
    var url: String { "rtsp://127.0.0.1:\(port)/cam" }

    init(args: [String], port: Int? = nil) throws {
        self.port = try port ?? LiveFixtures.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [LiveFixtures.serverScript, "--port", String(self.port)] + args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Wait for "ready" (a file is remuxed first), at most 30 s.
        let ready = DispatchSemaphore(value: 0)
        let handle = out.fileHandleForReading
        Thread {
            var seen = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                seen += chunk
                if String(decoding: seen, as: UTF8.self).contains("ready") { ready.signal(); break }
            }
        }.start()
        if ready.wait(timeout: .now() + 30) == .timedOut {
            terminate()
            throw TestFailure("the RTSP test server did not start on port \(self.port)")
        }
    }

    func kill() { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
    func pause() { Foundation.kill(process.processIdentifier, SIGSTOP) }
    func resume() { Foundation.kill(process.processIdentifier, SIGCONT) }
    func terminate() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGCONT)
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
