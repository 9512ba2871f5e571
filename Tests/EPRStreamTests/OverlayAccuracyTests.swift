import Foundation
import Testing

/// Checks through the whole video path that each output frame carries its own frame's mask:
/// with alpha 1 every pixel shows its class colour, so the decoded output can be read back as a
/// label map and compared with the PyTorch label maps committed under Fixtures/labels.
@Suite(.serialized) struct OverlayAccuracyTests {
    /// CamVid class colours (dataset README), ids 0...10.
    static let palette: [(Int, Int, Int)] = [
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ]
    static let width = 480, height = 360
    static let fp32Model = Repo.root.appendingPathComponent("Models/eprnet-camvid.onnx").path

    static func nearestClass(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        var best = 0, bestDistance = Int.max
        for (id, c) in palette.enumerated() {
            let d = (Int(r) - c.0) * (Int(r) - c.0) + (Int(g) - c.1) * (Int(g) - c.1) + (Int(b) - c.2) * (Int(b) - c.2)
            if d < bestDistance { bestDistance = d; best = id }
        }
        return UInt8(best)
    }

    static func agreement(_ rgb: [UInt8], _ labels: [UInt8]) -> Double {
        var same = 0
        for i in 0..<labels.count where nearestClass(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) == labels[i] { same += 1 }
        return Double(same) / Double(labels.count)
    }

    /// Fixture frames (names without extension) that have a committed label map.
    static func fixtureNames() -> [String] {
        let dir = Repo.fixtures.appendingPathComponent("labels")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".png") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// Encodes CamVid val frames, in the given order, into a near-lossless 15 fps H.264 clip.
    static func makeClip(_ names: [String], in dir: URL) throws -> String {
        for (i, name) in names.enumerated() {
            let source = Repo.camvid.appendingPathComponent("val/\(name).png")
            try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent(String(format: "f%03d.png", i)))
        }
        let clip = dir.appendingPathComponent("clip.mkv").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-framerate", "15", "-i", dir.appendingPathComponent("f%03d.png").path,
                                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", clip])
        return clip
    }

    static func annotate(_ clip: String, in dir: URL) throws -> [[UInt8]] {
        let output = dir.appendingPathComponent("annotated.mp4").path
        let result = try run(Repo.binary, ["run", clip, "-o", output, "--model", fp32Model, "--alpha", "1",
                                           "--no-legend", "--no-stats", "--input-size", "360x480", "--quiet"])
        guard result.status == 0 else { throw TestFailure("eprstream failed: \(result.stderr)") }
        return try Probe.rgbFrames(output, width: width, height: height)
    }

    @Test func overlayColoursAreWhereTheModelSaysOnCamVidFrames() throws {
        let names = Self.fixtureNames()
        try #require(names.count >= 2, "label fixtures missing under \(Repo.fixtures.path)/labels")
        try #require(FileManager.default.fileExists(atPath: Self.fp32Model))
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = try Self.annotate(try Self.makeClip(names, in: dir), in: dir)
        #expect(frames.count == names.count)
        for (frame, name) in zip(frames, names) {
            let labels = try Probe.grayPNG(Repo.fixtures.appendingPathComponent("labels/\(name).png").path)
            let score = Self.agreement(frame, labels)
            // Codec loss and 4:2:0 chroma at class borders cost a few percent; a wrong mask costs far more.
            #expect(score >= 0.95, "\(name): only \(score) of pixels show the model's class colour")
        }
    }

    @Test func eachOutputFrameIsBlendedWithItsOwnMask() throws {
        let names = Self.fixtureNames()
        try #require(names.count >= 2, "label fixtures missing")
        let a = names.first!, b = names.last!
        let order = (0..<10).map { $0 % 2 == 0 ? a : b }
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = try Self.annotate(try Self.makeClip(order, in: dir), in: dir)
        #expect(frames.count == order.count)
        let labelsA = try Probe.grayPNG(Repo.fixtures.appendingPathComponent("labels/\(a).png").path)
        let labelsB = try Probe.grayPNG(Repo.fixtures.appendingPathComponent("labels/\(b).png").path)
        for (i, frame) in frames.enumerated() {
            let own = Self.agreement(frame, i % 2 == 0 ? labelsA : labelsB)
            let other = Self.agreement(frame, i % 2 == 0 ? labelsB : labelsA)
            #expect(own >= 0.95 && own > other + 0.1, "frame \(i): own mask \(own), neighbour's mask \(other)")
        }
    }
}
