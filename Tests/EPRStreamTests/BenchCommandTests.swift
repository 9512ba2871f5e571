import Foundation
import Testing

/// `eprstream bench` as a command: it measures and reports; no timing is asserted here.
@Suite(.serialized) struct BenchCommandTests {
    static let shippedModel = ["Models/eprnet-camvid-int8.xml", "Models/eprnet-camvid.onnx"]
        .map { Repo.root.appendingPathComponent($0).path }
        .first { FileManager.default.fileExists(atPath: $0) }

    @Test(.enabled(if: shippedModel != nil, "needs a model in Models/"))
    func jsonHasTheKeysWithPositiveNumbers() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("bench.json").path
        // A small network input keeps the test quick.
        let result = try run(Repo.binary, ["bench", Repo.dashcam, "--model", Self.shippedModel!, "--frames", "20", "--repeats", "1",
                                           "--input-size", "64x112", "--json", json, "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("full / runner"))
        #expect(result.stdout.contains("encode"))

        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
                                  as? [String: Any])
        for key in ["runner_fps", "decode_encode_fps", "pipeline_fps", "ratio"] {
            let value = try #require(object[key] as? Double, "missing \(key)")
            #expect(value > 0, "\(key) = \(value)")
        }
        #expect((object["model"] as? String)?.isEmpty == false)
        #expect(object["input_size"] as? [Int] == [64, 112])
        #expect(object["frames"] as? Int == 20)
        #expect(object["repeats"] as? Int == 1)
        #expect((object["machine"] as? String)?.isEmpty == false)
        #expect((object["date"] as? String)?.isEmpty == false)
        let stages = try #require(object["stage_ms_per_frame"] as? [String: Double])
        for stage in ["decode", "preprocess", "infer", "compose", "encode"] {
            #expect((stages[stage] ?? 0) > 0, "stage \(stage)")
        }
    }

    @Test(.enabled(if: shippedModel != nil, "needs a model in Models/"))
    func sweepPrintsTheTableItChoseFrom() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("sweep.json").path
        let result = try run(Repo.binary, ["bench", Repo.dashcam, "--model", Self.shippedModel!, "--sweep", "--frames", "6",
                                           "--repeats", "1", "--input-size", "64x112", "--json", json, "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("latency, 1 request") && result.stdout.contains("throughput, 2 requests, 2 streams"))
        #expect(result.stdout.components(separatedBy: "<- chosen").count == 2)
        #expect(result.stdout.contains("inference:\n  hint: "))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
                                  as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.count >= 7)
        let fps = rows.compactMap { $0["fps"] as? Double }
        #expect(fps.count == rows.count && fps.allSatisfy { $0 > 0 })
        // The chosen row is the fastest.
        let chosen = try #require(object["chosen"] as? String)
        let best = try #require(rows.max { ($0["fps"] as? Double ?? 0) < ($1["fps"] as? Double ?? 0) })
        #expect(chosen.hasPrefix((best["hint"] as? String ?? "?").lowercased()))
        #expect((object["machine"] as? String)?.isEmpty == false)
    }

    @Test func badArgumentsFailWithAClearMessage() throws {
        var result = try run(Repo.binary, ["bench", Repo.dashcam, "--frames", "0", "--model", "/nonexistent/m.xml"])
        #expect(result.status == 64, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("--frames"))
        result = try run(Repo.binary, ["bench", Repo.dashcam, "--model", "/nonexistent/m.xml"])
        #expect(result.status == 78, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("/nonexistent/m.xml"))
        result = try run(Repo.binary, ["bench", Repo.dashcam, "--preprocess", "gpu"])
        #expect(result.status == 64 && result.stderr.contains("--preprocess: expected graph or host"), "stderr: \(result.stderr)")
    }
}
