import Foundation
import Testing

/// `run --preview`'s Server-Sent Events of per-frame metadata, read by curl from a real run of
/// the dashcam clip, beside clients that read slowly or hang up.
@Suite(.serialized) struct MetadataEventsRunTests {
    /// The events of an SSE body: (id, data) in order; comments left out.
    func events(_ body: String) -> [(id: Int, data: String)] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var id: Int?, data: String?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            guard let id, let data else { return nil }
            return (id, data)
        }
    }

    @Test func eachWrittenFrameIsOneEventAndSlowClientsStallNothing() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4").path
        let metadata = dir.appendingPathComponent("meta.jsonl").path
        let port = try LiveFixtures.freePort()
        let runner = try LiveRun(["run", Repo.dashcam, "-o", output, "--preview", String(port), "--metadata", metadata,
                                  "--stream-id", "cam-7", "--input-size", "128x224"])
        defer { runner.kill() }
        #expect(runner.waitForLine(containing: "browser preview: http://127.0.0.1:\(port)/", timeout: 120) != nil,
                "stderr: \(runner.stderrText)")
        let url = "http://127.0.0.1:\(port)/api/streams/cam-7/events"
        let fast = try LiveRun(["-sS", "-N", "--max-time", "300", url], executable: "/usr/bin/curl")
        defer { fast.kill() }
        // One that reads a byte a second, and one that hangs up after a second.
        let slow = try LiveRun(["-sS", "-N", "--limit-rate", "1", "--max-time", "300", "-o", "/dev/null", url], executable: "/usr/bin/curl")
        defer { slow.kill() }
        let gone = try LiveRun(["-sS", "-N", "--max-time", "1", "-o", "/dev/null", url], executable: "/usr/bin/curl")
        defer { gone.kill() }
        let unknown = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                               "http://127.0.0.1:\(port)/api/streams/main/events"], timeout: 30)
        #expect(unknown.stdout == "404", "the run's stream is cam-7, not main")

        let result = try runner.wait(timeout: 600)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("221 frames -> \(output) and http://127.0.0.1:\(port)/"), "\(result.stdout)")
        let read = try fast.wait(timeout: 60)
        #expect(read.status == 0, "the event stream ends with the run: \(read.stderr)")

        // The file has every frame; the reader got each one from when it subscribed, the same lines, in order.
        let lines = try String(contentsOfFile: metadata, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 221)
        let got = events(read.stdout)
        let first = try #require(got.first, "no events: \(read.stdout.prefix(300))")
        #expect(got.map(\.id) == Array(first.id..<221), "consecutive frame numbers up to the last frame")
        #expect(got.map(\.data) == Array(lines[first.id...]), "each event is that frame's metadata line")
        for event in got {
            let line = try #require(try JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any])
            #expect(line["frame"] as? Int == event.id)
            #expect(line["stream"] as? String == "cam-7")
            let shares = try #require(line["classes"] as? [String: Double])
            #expect(abs(shares.values.reduce(0, +) - 1) < 1e-4, "frame \(event.id): \(shares)")
        }
        #expect(read.stdout.hasPrefix(": stream cam-7\n\n"))
    }
}
