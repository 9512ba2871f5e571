import Foundation
import Testing

/// Shipped models by name: `--model eprnet-light` (or `model: eprnet-light` in a preset) runs
/// Models/eprnet-light-camvid-int8.xml, and no model given means EPRNet.
@Suite struct ModelChoiceTests {
    func modelInSummary(_ extra: [String]) throws -> String {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", out, "--max-frames", "2", "--input-size", "128x224"] + extra,
                             timeout: 90)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(try Probe.video(out).frames == 2)
        let line = result.stdout.split(separator: "\n").first { $0.contains(" model ") } ?? ""
        return String(line)
    }

    @Test func noModelMeansShippedEPRNetInInt8() throws {
        #expect(try modelInSummary([]).contains("model eprnet-camvid-int8.xml"))
    }

    @Test func shippedModelsByName() throws {
        #expect(try modelInSummary(["--model", "eprnet"]).contains("model eprnet-camvid-int8.xml"))
        #expect(try modelInSummary(["--model", "eprnet-light"]).contains("model eprnet-light-camvid-int8.xml"))
    }

    @Test func presetNamesAShippedModel() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = dir.appendingPathComponent("light.yaml")
        try Data("model: eprnet-light\nalpha: 0.4\n".utf8).write(to: preset)
        #expect(try modelInSummary(["--pipeline", preset.path]).contains("model eprnet-light-camvid-int8.xml"))
    }
}
