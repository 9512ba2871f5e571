import EPRCore
@testable import EPRPipeline
import Foundation
import Testing

@Suite struct FrameMetadataTests {
    /// 100 x 50: class 1 on the left half, class 2 on the right; the bottom 10 rows class 0.
    func synthetic() -> LabelMap {
        var map = LabelMap(width: 100, height: 50)
        for y in 0..<50 {
            for x in 0..<100 { map[x, y] = y >= 40 ? 0 : (x < 50 ? 1 : 2) }
        }
        return map
    }

    func zone(_ name: String, _ points: [(Double, Double)]) throws -> Zone {
        try Zone(name: name, polygon: points.map { Zone.Point(x: $0.0, y: $0.1) })
    }

    @Test func sharesOfTheFrameAndOfEachZone() throws {
        let zones = [
            try zone("left", [(0, 0), (0.5, 0), (0.5, 0.8), (0, 0.8)]),              // all class 1
            try zone("middle", [(0.25, 0), (0.75, 0), (0.75, 0.8), (0.25, 0.8)]),    // half 1, half 2
            try zone("bottom", [(0, 0.8), (1, 0.8), (1, 1), (0, 1)]),                // all class 0
            try zone("triangle", [(0.5, 0), (1, 0.8), (0, 0.8)]),                    // symmetric about x = 0.5
        ]
        let counter = ClassShareCounter(classCount: 3, zones: zones, maskWidth: 100, maskHeight: 50)
        let shares = counter.shares(synthetic())
        #expect(shares.frame == [0.2, 0.4, 0.4])
        #expect(shares.zones[0] == [0, 1, 0])
        #expect(shares.zones[1] == [0, 0.5, 0.5])
        #expect(shares.zones[2] == [1, 0, 0])
        #expect(abs(shares.zones[3][1] - shares.zones[3][2]) < 0.02, "\(shares.zones[3])")
        #expect(shares.zones[3][0] == 0)
        for values in [shares.frame] + shares.zones { #expect(abs(values.reduce(0, +) - 1) < 1e-9) }
        // A mask at another size is sampled to the counter's.
        let half = counter.shares(synthetic().resized(width: 50, height: 25))
        #expect(half.frame == [0.2, 0.4, 0.4])
    }

    @Test func badZonesAreErrors() {
        #expect(throws: EPRError(.config, "zone 'x': a polygon needs at least 3 points, got 2")) {
            try zone("x", [(0, 0), (1, 1)])
        }
        #expect(throws: EPRError(.config, "zone 'x': point (1.5, 0.0) is outside 0...1 (coordinates are normalised)")) {
            try zone("x", [(0, 0), (1.5, 0), (1, 1)])
        }
    }

    @Test func zonesFromAPreset() throws {
        var settings = PipelineSettings()
        try PresetLoader.apply(yaml: """
            metadata:
              zones:
                - name: lane
                  polygon: [[0.4, 1], [0.45, 0.6], [0.55, 0.6], [0.6, 1]]
            """, source: "p.yaml", to: &settings)
        #expect(settings.zones.map(\.name) == ["lane"])
        #expect(settings.zones.first?.polygon.count == 4)
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "metadata:\n  zones:\n    - name: a\n      shape: [[0, 0]]\n", source: "p.yaml", to: &settings)
        }
    }

    @Test func oneJSONLinePerFrame() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("meta-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try MetadataWriter(path: path, stream: "cam", classNames: ["Sky", "Road", "Car"],
                                        zones: [try zone("left", [(0, 0), (0.5, 0), (0.5, 0.8), (0, 0.8)])])
        let counter = ClassShareCounter(classCount: 3, zones: [try zone("left", [(0, 0), (0.5, 0), (0.5, 0.8), (0, 0.8)])],
                                        maskWidth: 100, maskHeight: 50)
        for i in 0..<3 { try writer.write(pts: Double(i) / 25, latency: 0.1, maskAge: i, shares: counter.shares(synthetic())) }
        writer.finish()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any])
        #expect(last["stream"] as? String == "cam")
        #expect(last["frame"] as? Int == 2)
        #expect(last["pts"] as? Double == 0.08)
        #expect(last["mask_age"] as? Int == 2)
        #expect(last["classes"] as? [String: Double] == ["Sky": 0.2, "Road": 0.4, "Car": 0.4])
        #expect((last["zones"] as? [String: [String: Double]])?["left"] == ["Sky": 0, "Road": 1, "Car": 0])
    }

    @Test func aMetadataPathThatCannotBeWrittenIsAnError() {
        let error = #expect(throws: EPRError.self) {
            try MetadataWriter(path: "/proc/nope/meta.jsonl", stream: "main", classNames: [], zones: [])
        }
        #expect(error?.kind == .output)
        #expect(error?.message.hasPrefix("cannot write the metadata to /proc/nope/meta.jsonl") == true)
    }
}
