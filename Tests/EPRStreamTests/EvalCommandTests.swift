import Foundation
import Testing

/// `eprstream eval` on real CamVid val frames, checked against the training toolchain.
@Suite(.serialized) struct EvalCommandTests {
    static let fp32Model = Repo.root.appendingPathComponent("Models/eprnet-camvid.onnx").path
    static let reference = Repo.fixtures.appendingPathComponent("eval/reference-confusion.json")

    /// The training toolchain's confusion matrix (ONNX Runtime, same model) on a few val frames.
    struct Reference: Decodable {
        let model: String
        let frames: [String]
        let confusion: [[Int]]
    }

    struct Output: Decodable {
        struct Result: Decodable {
            struct Matrix: Decodable { let classCount: Int; let counts: [Int] }
            let mode: String
            let images: Int
            let confusion: Matrix
            let meanIoU: Double
            let inputSize: String
        }
        let image: Result
        let video: Result?
    }

    static func writeList(_ names: [String], in dir: URL) throws -> String {
        let list = dir.appendingPathComponent("list.txt")
        try Data(names.map { "val/\($0).png valannot/\($0).png" }.joined(separator: "\n").utf8).write(to: list)
        return list.path
    }

    @Test func imagePathMatchesTheTrainingToolchainPixelForPixel() throws {
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.reference))
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("eval.json").path
        let masks = dir.appendingPathComponent("masks").path
        let result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", try Self.writeList(reference.frames, in: dir),
                                           "--model", Self.fp32Model, "--json", json, "--save-masks", masks])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("mIoU: "))
        let output = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(output.image.images == reference.frames.count)
        #expect(output.image.inputSize == "360x480")
        let k = output.image.confusion.classCount
        let expected = reference.confusion.flatMap { $0 }
        #expect(expected.count == k * k)
        let differing = zip(output.image.confusion.counts, expected).reduce(0) { $0 + abs($1.0 - $1.1) }
        let total = expected.reduce(0, +)
        // Same model, same input: only float rounding at argmax ties may move a few pixels.
        #expect(differing <= total / 10_000, "\(differing) of \(total) pixel counts differ")
        for name in reference.frames {
            #expect(FileManager.default.fileExists(atPath: masks + "/\(name).png"))
        }
    }

    @Test func videoPathIsReportedNextToImagePath() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["0016E5_07959", "0016E5_07961", "0016E5_07963", "0016E5_07965", "0016E5_07967", "0016E5_07969"]
        let json = dir.appendingPathComponent("eval.json").path
        let result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", try Self.writeList(names, in: dir),
                                           "--model", Self.fp32Model, "--through-video", "--json", json])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("video mIoU: "))
        let output = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let video = try #require(output.video)
        #expect(video.images == names.count)
        // Codec loss costs a little, a mispaired or broken video path costs a lot.
        #expect(abs(video.meanIoU - output.image.meanIoU) < 5, "image \(output.image.meanIoU), video \(video.meanIoU)")
    }

    /// Issue 14: preprocessing in the compiled graph scores as the host path did, through
    /// `eprstream eval` (full CamVid val, int8 EPRNet of epoch 142: image path identical, video
    /// path mIoU 60.41 vs 60.40; a few frames here).
    @Test func graphAndHostPreprocessingScoreAlike() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["0016E5_07959", "0016E5_07975", "0016E5_08001", "0016E5_08057", "0016E5_08101", "0016E5_08157"]
        let list = try Self.writeList(names, in: dir)
        var outputs: [String: Output] = [:]
        for mode in ["graph", "host"] {
            let json = dir.appendingPathComponent("eval-\(mode).json").path
            let result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", list, "--model", Self.fp32Model,
                                               "--through-video", "--preprocess", mode, "--json", json])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            outputs[mode] = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        }
        let graph = try #require(outputs["graph"]), host = try #require(outputs["host"])
        let differing = zip(graph.image.confusion.counts, host.image.confusion.counts).reduce(0) { $0 + abs($1.0 - $1.1) }
        #expect(differing <= graph.image.confusion.counts.reduce(0, +) / 10_000, "image path: \(differing) counts differ")
        let gv = try #require(graph.video), hv = try #require(host.video)
        #expect(gv.images == names.count && hv.images == names.count)
        // Six frames: a looser bound than the full val set's 0.05 points.
        #expect(abs(gv.meanIoU - hv.meanIoU) < 0.5, "video path mIoU: graph \(gv.meanIoU), host \(hv.meanIoU)")
        print(String(format: "eval through video, 6 frames: graph %.3f, host %.3f mIoU", gv.meanIoU, hv.meanIoU))
    }

    /// The network on every 3rd of 15 consecutive val frames: masks carried by motion vectors
    /// score at least as well as the last mask reused unchanged, and every frame is scored; with
    /// the nearer inferred frame's mask (forward or back) too.
    @Test func motionVectorsCarryMasksAtLeastAsWellAsReuse() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = (0..<15).map { String(format: "0016E5_%05d", 7959 + 2 * $0) }
        let list = try Self.writeList(names, in: dir)
        var video: [String: Double] = [:]
        for mode in ["mv", "none", "bidirectional"] {
            let json = dir.appendingPathComponent("\(mode).json").path
            let result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", list, "--model", Self.fp32Model,
                                               "--through-video", "--infer-every", "3", "--propagate", mode, "--json", json])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let output = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
            let scored = try #require(output.video)
            #expect(scored.images == names.count)
            video[mode] = scored.meanIoU
        }
        let mv = try #require(video["mv"]), reuse = try #require(video["none"])
        #expect(mv >= reuse, "mIoU with motion vectors \(mv), reused \(reuse)")
        let both = try #require(video["bidirectional"])
        #expect(both >= mv, "mIoU from the nearer inferred frame \(both), forward only \(mv)")
    }

    /// `auto` follows the machine's pace, which a file read as fast as it decodes does not have.
    @Test func inferEveryAutoIsAClearErrorForEval() throws {
        let result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", "val.txt", "--model", Self.fp32Model,
                                           "--through-video", "--infer-every", "auto"])
        #expect(result.status == 64, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("--infer-every auto needs a live or paced source"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        let bad = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", "val.txt", "--model", Self.fp32Model,
                                        "--through-video", "--propagate", "sideways"])
        #expect(bad.status == 64 && bad.stderr.contains("--propagate must be mv, bidirectional or none, got 'sideways'"), "\(bad.stderr)")
    }

    @Test func badDatasetPathsAreClearErrors() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var result = try run(Repo.binary, ["eval", "--dataset", "/nonexistent/camvid", "--list", "val.txt", "--model", Self.fp32Model])
        #expect(result.status == 65 && result.stderr.contains("dataset folder not found: /nonexistent/camvid"), "\(result.stderr)")

        result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", dir.appendingPathComponent("none.txt").path,
                                       "--model", Self.fp32Model])
        #expect(result.status == 65 && result.stderr.contains("list file not found"), "\(result.stderr)")

        let list = dir.appendingPathComponent("missing.txt")
        try Data("val/0016E5_07959.png valannot/0016E5_07959.png\nval/nope.png valannot/nope.png\n".utf8).write(to: list)
        result = try run(Repo.binary, ["eval", "--dataset", Repo.camvid.path, "--list", list.path, "--model", Self.fp32Model])
        #expect(result.status == 65 && result.stderr.contains(":2: file not found") && result.stderr.contains("nope.png"), "\(result.stderr)")
    }

    @Test func labelOfTheWrongSizeIsAClearError() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("val"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("valannot"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Repo.camvid.appendingPathComponent("val/0016E5_07959.png"),
                                         to: dir.appendingPathComponent("val/a.png"))
        try run("/usr/bin/ffmpeg", ["-v", "error", "-i", Repo.camvid.appendingPathComponent("valannot/0016E5_07959.png").path,
                                    "-vf", "scale=240:180:flags=neighbor", "-pix_fmt", "gray", dir.appendingPathComponent("valannot/a.png").path])
        try Data("val/a.png valannot/a.png\n".utf8).write(to: dir.appendingPathComponent("list.txt"))
        let result = try run(Repo.binary, ["eval", "--dataset", dir.path, "--list", "list.txt", "--model", Self.fp32Model])
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("is 240x180 but its image is 480x360"), "\(result.stderr)")
    }
}
