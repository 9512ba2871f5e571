import Foundation
import Testing

/// What a run tells the outside, through the real binary: per-frame metadata (JSON lines) and
/// the HTTP server's /metrics, /healthz and /readyz, read by real clients (curl, promtool).
@Suite(.serialized) struct ObservabilityTests {
    static let fastInput = ["--input-size", "128x224", "--quiet"]

    func parseLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    func expectSharesSumToOne(_ shares: Any?, _ what: String) {
        guard let shares = shares as? [String: Double] else { Issue.record("\(what): no shares"); return }
        #expect(abs(shares.values.reduce(0, +) - 1) < 1e-4, "\(what): \(shares)")
    }

    @Test func metadataHasOneLinePerWrittenFrame() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4").path
        let metadata = dir.appendingPathComponent("meta.jsonl").path
        let preset = dir.appendingPathComponent("zones.yaml").path
        try """
            metadata:
              zones:
                - name: lane
                  polygon: [[0.3, 1], [0.45, 0.6], [0.55, 0.6], [0.7, 1]]
            """.write(toFile: preset, atomically: true, encoding: .utf8)
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "8", "--pipeline", preset,
                                           "--metadata", metadata, "--stream-id", "dash-1"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = try parseLines(try String(contentsOfFile: metadata, encoding: .utf8))
        #expect(lines.count == 8)
        #expect(try Probe.video(output).frames == lines.count, "one line per output frame")
        var lastPTS = -1.0
        for (i, line) in lines.enumerated() {
            #expect(line["stream"] as? String == "dash-1")
            #expect(line["frame"] as? Int == i)
            let pts = try #require(line["pts"] as? Double)
            #expect(pts > lastPTS)
            lastPTS = pts
            #expect((line["latency"] as? Double ?? -1) >= 0)
            #expect(line["mask_age"] as? Int == 0, "the network ran on every frame")
            #expect((line["wall"] as? Double ?? 0) > 1.7e9)
            expectSharesSumToOne(line["classes"], "frame \(i)")
            let zones = try #require(line["zones"] as? [String: Any])
            expectSharesSumToOne(zones["lane"], "frame \(i) lane")
        }
        #expect((lines[0]["classes"] as? [String: Double])?["Road"] ?? 0 > 0, "a dashcam frame has road")
    }

    @Test func metadataToStdoutMovesTheSummaryToStderr() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--max-frames", "5", "--metadata", "-",
                                           "--infer-every", "2"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = try parseLines(result.stdout)
        #expect(lines.count == 5, "stdout holds the metadata alone: \(result.stdout)")
        #expect(lines.map { $0["mask_age"] as? Int } == [0, 1, 0, 1, 0])
        #expect(result.stderr.contains("5 frames -> \(output)"))
        try expectFailure(["run", Repo.dashcam, "-o", "-", "--metadata", "-"], status: 64,
                          mentions: "--metadata - and -o - would both write to stdout")
        try expectFailure(["run", Repo.dashcam, "-o", output, "--stream-id", "../x"], status: 64,
                          mentions: "--stream-id '../x': use 1-64 letters, digits")
    }

    func expectFailure(_ arguments: [String], status: Int32, mentions text: String) throws {
        let result = try run(Repo.binary, arguments)
        #expect(result.status == status, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(text), "stderr: \(result.stderr)")
    }

    func curl(_ url: String) throws -> (code: String, body: String) {
        let r = try run("/usr/bin/curl", ["-s", "--max-time", "10", "-w", "\n%{http_code}", url], timeout: 30)
        let parts = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(parts.last ?? ""), parts.dropLast().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }

    @Test func metricsAreScrapedWhileTheRunGoes() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try LiveFixtures.freePort()
        let runner = try LiveRun(["run", Repo.dashcam, "-o", dir.appendingPathComponent("out.mp4").path,
                                  "--preview", String(port), "--input-size", "128x224"])
        defer { runner.kill() }
        #expect(runner.waitForLine(containing: "browser preview: http://127.0.0.1:\(port)/", timeout: 120) != nil,
                "stderr: \(runner.stderrText)")
        let base = "http://127.0.0.1:\(port)/"
        #expect(try curl(base + "healthz") == ("200", "ok"))
        // Ready once frames flow; then the frame counters rise between scrapes.
        var scrapes: [String] = []
        var framesOut: [Double] = []
        for _ in 0..<600 where framesOut.count < 2 && runner.isRunning {
            let (code, body) = try curl(base + "metrics")
            #expect(code == "200")
            let out = sample(body, "eprstream_frames_out_total{stream=\"main\"}") ?? 0
            if out > (framesOut.last ?? 0) { framesOut.append(out); scrapes.append(body) }
            else { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(framesOut.count == 2, "frames_out over the scrapes: \(framesOut)")
        #expect(try curl(base + "readyz") == ("200", "ready"))
        for body in scrapes {
            let check = try run("/bin/sh", ["-c", "printf '%s\\n' \"$0\" | promtool check metrics", body], timeout: 60)
            #expect(check.status == 0, "promtool: \(check.stdout) \(check.stderr)")
            #expect((sample(body, "eprstream_frames_in_total{stream=\"main\"}") ?? 0) > 0)
            #expect((sample(body, "eprstream_stage_seconds_count{stream=\"main\",stage=\"infer\"}") ?? 0) > 0)
            #expect((sample(body, "process_resident_memory_bytes") ?? 0) > 0)
        }
        runner.interrupt()
        let result = try runner.wait(timeout: 120)
        #expect(result.status == 130, "stderr: \(result.stderr)")
    }
}
