import EPRTestSupport
import Foundation
import Testing

/// `eprstream inspect MODEL` on the shipped models and on the shipped network stripped of its
/// metadata, and `eprstream run` on that stripped network with flags and with a sidecar.
@Suite struct InspectCommandTests {
    /// The shipped fp32 ONNX without its metadata_props (ModelProto field 14), in `dir`.
    static func strippedModel(in dir: URL) throws -> String {
        let out = try strippingONNXMetadata(try Data(contentsOf: Repo.root.appendingPathComponent("Models/eprnet-camvid.onnx")))
        let path = dir.appendingPathComponent("net.onnx").path
        try out.write(to: URL(fileURLWithPath: path))
        return path
    }

    static func line(_ text: String, _ label: String) -> String {
        String(text.split(separator: "\n").first { $0.hasPrefix(label + " ") } ?? "")
    }

    @Test func shippedModelsDescribeThemselves() throws {
        for name in ["eprnet", "eprnet-light", "Models/eprnet-camvid.onnx"] {
            let r = try run(Repo.binary, ["inspect", name], timeout: 60)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            #expect(Self.line(r.stdout, "input") == "input       image: f32 [1,3,?,?], layout NCHW", "\(r.stdout)")
            #expect(Self.line(r.stdout, "output") == "output      logits: f32 [1,11,?,?]")
            #expect(Self.line(r.stdout, "classes").hasPrefix("classes     11: Sky, Building, Pole, Road"))
            #expect(Self.line(r.stdout, "classes").hasSuffix("[metadata]"))
            #expect(Self.line(r.stdout, "mean") == "mean        123.675,116.28,103.53  [metadata]")
            #expect(Self.line(r.stdout, "void label") == "void label  11  [metadata]")
            #expect(Self.line(r.stdout, "channels") == "channels    RGB  [default]")
            #expect(Self.line(r.stdout, "missing") == "missing     nothing")
            #expect(Self.line(r.stdout, "verdict") == "verdict     runs as given")
            #expect(Self.line(r.stdout, "input size").contains("trained at 360x480"))
        }
        let ir = try run(Repo.binary, ["inspect", "eprnet"], timeout: 60)
        #expect(Self.line(ir.stdout, "model").hasSuffix("Models/eprnet-camvid-int8.xml (OpenVINO IR)"))
        #expect(Self.line(ir.stdout, "metadata").contains("precision"))
    }

    @Test func metadataLessModelSaysWhatIsMissing() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.strippedModel(in: dir)
        let bare = try run(Repo.binary, ["inspect", model], timeout: 60)
        #expect(bare.status == 78)
        #expect(Self.line(bare.stdout, "metadata") == "metadata    none")
        #expect(Self.line(bare.stdout, "missing") == "missing     mean, std")
        #expect(Self.line(bare.stdout, "classes").hasPrefix("classes     11: class0, class1"))
        #expect(Self.line(bare.stdout, "palette").hasSuffix("[generated]"))
        let errors = bare.stderr.split(separator: "\n")
        #expect(errors.count == 1 && errors[0].hasPrefix("error: model \(model): no mean") && errors[0].contains("--mean R,G,B"),
                "\(bare.stderr)")

        let given = try run(Repo.binary, ["inspect", model, "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
                                          "--pixel-range", "0-1", "--bgr", "--class-names", "11"], timeout: 60)
        #expect(given.status == 0, "\(given.stderr)")
        #expect(Self.line(given.stdout, "channels") == "channels    BGR  [flag]")
        #expect(Self.line(given.stdout, "preprocess")
                == "preprocess  frame -> BGR planes, x = (pixel / 255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225] per channel, f32 NCHW")
    }

    @Test func unusableFilesFailWithOneLine() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fake = dir.appendingPathComponent("fake.onnx")
        try Data("not a model".utf8).write(to: fake)
        let r = try run(Repo.binary, ["inspect", fake.path], timeout: 60)
        #expect(r.status == 78)
        #expect(r.stderr == "error: model \(fake.path): not an ONNX model (expected ONNX protobuf or OpenVINO IR .xml)")
        let missing = try run(Repo.binary, ["inspect", dir.appendingPathComponent("none.onnx").path], timeout: 60)
        #expect(missing.status == 78 && missing.stderr.contains("file not found"))
    }

    @Test func strippedModelRunsWithFlagsAndWithASidecar() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.strippedModel(in: dir)
        let out = dir.appendingPathComponent("o.mp4").path
        let base = ["run", Repo.dashcam, "-o", out, "--max-frames", "3", "--input-size", "128x224", "--quiet", "--model", model]

        let refused = try run(Repo.binary, base, timeout: 90)
        #expect(refused.status == 78)
        #expect(refused.stderr.hasPrefix("error: model \(model): no mean in its metadata: give --mean R,G,B"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))

        let flags = try run(Repo.binary, base + ["--mean", "123.675,116.28,103.53", "--std", "58.395,57.12,57.375"], timeout: 90)
        #expect(flags.status == 0, "\(flags.stderr)")
        #expect(try Probe.video(out).frames == 3)

        let badFlag = try run(Repo.binary, base + ["--mean", "1,2", "--std", "1"], timeout: 90)
        #expect(badFlag.status == 64)
        #expect(badFlag.stderr == "error: --mean must be 3 comma-separated numbers (or 1 for all channels), got \"1,2\"")

        try FileManager.default.removeItem(atPath: out)
        let names = "Sky,Building,Pole,Road,Pavement,Tree,SignSymbol,Fence,Car,Pedestrian,Bicyclist"
        try Data("""
            mean: [123.675, 116.28, 103.53]
            std: [58.395, 57.12, 57.375]
            class_names: \(names)
            void_label: 11
            """.utf8).write(to: dir.appendingPathComponent("net.yaml"))
        let sidecar = try run(Repo.binary, base + ["--classes", "Road,Car"], timeout: 90)
        #expect(sidecar.status == 0, "\(sidecar.stderr)")
        #expect(try Probe.video(out).frames == 3)
    }
}
