import Foundation
import Testing

/// Overlay modes, class filters and palettes through the real binary: output sizes as ffprobe sees
/// them, a palette's colours in the decoded output, and bad values as one-line errors.
@Suite(.serialized) struct OverlayModeRunTests {
    /// A small network input: the masks' quality does not matter here (and the CPU is shared).
    static let fastInput = ["--input-size", "64x112"]

    static func size(_ path: String) throws -> (width: Int, height: Int) {
        let out = try Probe.ffprobe(["-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path])
        let parts = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : (-1, -1)
    }

    @Test func sideBySideDoublesTheWidth() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("sbs.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--overlay", "side-by-side", "--max-frames", "5", "--quiet"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let size = try Self.size(output)
        #expect(size.width == 1920 && size.height == 540, "\(size)")
        #expect(try Probe.video(output).frames == 5)
        #expect(try Probe.decodeErrors(output).isEmpty)
    }

    @Test func sideBySideStacksPortraitInput() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("portrait.mp4").path
        try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=180x320:rate=10:duration=0.5",
                                    "-c:v", "libx264", "-pix_fmt", "yuv420p", input])
        let output = dir.appendingPathComponent("stacked.mp4").path
        let result = try run(Repo.binary, ["run", input, "-o", output, "--overlay", "side-by-side", "--quiet"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let size = try Self.size(output)
        #expect(size.width == 180 && size.height == 640, "\(size)")
        #expect(try Probe.video(output).frames == 5)
    }

    /// Mask mode with a palette that paints every class magenta: the whole decoded picture is
    /// magenta, so the palette reached the output and the mask covers the frame.
    @Test func maskWithAPaletteFile() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let palette = dir.appendingPathComponent("magenta.txt")
        let names = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist"]
        try Data(names.map { "\($0) 255,0,255\n" }.joined().utf8).write(to: palette)
        let output = dir.appendingPathComponent("mask.mp4").path
        let result = try run(Repo.binary, ["run", Repo.dashcam, "-o", output, "--overlay", "mask", "--palette", palette.path,
                                           "--no-legend", "--no-stats", "--max-frames", "2", "--quiet"] + Self.fastInput)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let frames = try Probe.rgbFrames(output, width: 960, height: 540)
        #expect(frames.count == 2)
        for frame in frames {
            var magenta = 0
            for i in stride(from: 0, to: frame.count, by: 3)
            where frame[i] > 220 && frame[i + 1] < 40 && frame[i + 2] > 220 { magenta += 1 }
            #expect(Double(magenta) / Double(frame.count / 3) > 0.99)
        }
    }

    func expectFailure(_ arguments: [String], status: Int32, mentions text: String, output: String) throws {
        let result = try run(Repo.binary, arguments, timeout: 60)
        #expect(result.status == status, "stderr: \(result.stderr)")
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 1 && result.stderr.contains(text), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func badOverlayValuesAreOneLineErrors() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        try expectFailure(["run", Repo.dashcam, "-o", out, "--overlay", "outline"], status: 64,
                          mentions: "error: --overlay: unknown overlay mode 'outline' (one of blend, mask, side-by-side, contours)", output: out)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--classes", "Road,Rood"], status: 64,
                          mentions: "error: unknown class 'Rood' (classes: 0 Sky, 1 Building, 2 Pole, 3 Road, 4 Pavement, 5 Tree, 6 SignSymbol, 7 Fence, 8 Car, 9 Pedestrian, 10 Bicyclist)",
                          output: out)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--classes", ","], status: 64, mentions: "error: --classes: no classes given", output: out)
        let palette = dir.appendingPathComponent("two.txt")
        try Data("Road 1,2,3\nSky 4,5,6\n".utf8).write(to: palette)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--palette", palette.path], status: 64,
                          mentions: "error: palette \(palette.path) has 2 classes but the model ", output: out)
        try expectFailure(["run", Repo.dashcam, "-o", out, "--palette", "/nonexistent/p.txt"], status: 64,
                          mentions: "error: cannot read palette /nonexistent/p.txt", output: out)
    }
}
