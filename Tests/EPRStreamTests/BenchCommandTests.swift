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

    @Test func badArgumentsFailWithAClearMessage() throws {
        var result = try run(Repo.binary, ["bench", Repo.dashcam, "--frames", "0", "--model", "/nonexistent/m.xml"])
        #expect(result.status == 64, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("--frames"))
        result = try run(Repo.binary, ["bench", Repo.dashcam, "--model", "/nonexistent/m.xml"])
        #expect(result.status == 78, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("/nonexistent/m.xml"))
    }
}
