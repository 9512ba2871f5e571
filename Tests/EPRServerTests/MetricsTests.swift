@testable import EPRServer
import Foundation
import Testing

/// In the preview tests' suite: serialized with them (each blocks a thread on real clients).
extension PreviewServerTests {
    /// `promtool check metrics` (Debian's prometheus package) on an exposition: its problems, "" when none.
    func promtoolProblems(_ text: String) throws -> String {
        let r = try tool("promtool", ["check", "metrics"], stdin: Data(text.utf8))
        return r.status == 0 ? "" : r.stdout + r.stderr
    }

    func scrape(_ url: String) throws -> String {
        let r = try tool("curl", ["-sS", "--max-time", "10", url])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    /// The value of the sample line `name{labels}`.
    func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func metricsHealthAndReadiness() throws {
        let registry = MetricsRegistry()
        let stream = registry.stream("cam-1")
        let ready = Locked(false)
        let server = try HTTPServer(host: "127.0.0.1", port: 0)
        defer { server.shutdown() }
        server.routes.registerOperations(metrics: registry, ready: { ready.get() })

        #expect(try scrape(server.baseURL + "healthz") == "ok\n")
        #expect(try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", server.baseURL + "readyz"]).stdout == "503")
        ready.set(true)
        #expect(try scrape(server.baseURL + "readyz") == "ready\n")

        for _ in 0..<3 { stream.frameIn(); stream.frameOut() }
        stream.latency("infer", seconds: 0.03)
        stream.latency("end-to-end", seconds: 0.2)
        stream.observe(dropped: 2, reconnects: 1, stalls: 0, queueDepths: [("frames", 1), ("encode", 0)])
        let first = try scrape(server.baseURL + "metrics")
        #expect(try promtoolProblems(first) == "", "\(first)")
        #expect(sample(first, "eprstream_frames_in_total{stream=\"cam-1\"}") == 3)
        #expect(sample(first, "eprstream_frames_dropped_total{stream=\"cam-1\"}") == 2)
        #expect(sample(first, "eprstream_reconnects_total{stream=\"cam-1\"}") == 1)
        #expect(sample(first, "eprstream_queue_depth{stream=\"cam-1\",queue=\"frames\"}") == 1)
        #expect(sample(first, "eprstream_stage_seconds_count{stream=\"cam-1\",stage=\"infer\"}") == 1)
        #expect((sample(first, "process_resident_memory_bytes") ?? 0) > 0)

        for _ in 0..<4 { stream.frameIn(); stream.frameOut() }
        stream.observe(dropped: 5, reconnects: 1, stalls: 1, queueDepths: [("frames", 2)])
        let second = try scrape(server.baseURL + "metrics")
        #expect(try promtoolProblems(second) == "")
        #expect(sample(second, "eprstream_frames_in_total{stream=\"cam-1\"}") == 7)
        #expect(sample(second, "eprstream_frames_out_total{stream=\"cam-1\"}") == 7)
        #expect(sample(second, "eprstream_frames_dropped_total{stream=\"cam-1\"}") == 5, "totals become increments")
        #expect(sample(second, "eprstream_stalls_total{stream=\"cam-1\"}") == 1)
        #expect(sample(second, "eprstream_queue_depth{stream=\"cam-1\",queue=\"frames\"}") == 2)
        let cpu = try #require(sample(second, "process_cpu_seconds_total"))
        #expect(cpu >= (sample(first, "process_cpu_seconds_total") ?? .infinity))
    }
}
