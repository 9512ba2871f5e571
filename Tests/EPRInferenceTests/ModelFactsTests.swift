import EPRCore
import EPRInference
import EPRTestSupport
import Foundation
import Testing

/// Models without (or with partial) metadata: their facts from flags (RunnerOptions.modelFacts)
/// and sidecar files, checked on real OpenVINO runs of hand-written ONNX files and of the shipped
/// network with its metadata stripped.
@Suite("Models without metadata")
struct ModelFactsTests {
    static let dims: [Int?] = [1, 3, nil, nil]

    /// An Identity network (3 channels in, the same 3 out) that carries `metadata`.
    static func identity(metadata: [(String, String)] = [], dims: [Int?] = dims) -> Data {
        TinyONNX.model(nodes: [TinyONNX.node("Identity", inputs: ["image"], output: "logits")],
                       inputs: [TinyONNX.valueInfo("image", dims)], outputs: [TinyONNX.valueInfo("logits", dims)],
                       metadata: metadata)
    }

    /// A fresh folder holding `model.onnx` (and, if given, a sidecar `model.EXT`).
    static func folder(_ data: Data, sidecar: (ext: String, text: String)? = nil) throws -> (dir: URL, model: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eprfacts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let model = dir.appendingPathComponent("model.onnx")
        try data.write(to: model)
        if let sidecar { try Data(sidecar.text.utf8).write(to: dir.appendingPathComponent("model.\(sidecar.ext)")) }
        return (dir, model.path)
    }

    static func facts(_ values: [String: String]) throws -> ModelFacts {
        try ModelFacts(values, kind: .config) { "--" + $0.replacingOccurrences(of: "_", with: "-") }
    }

    static func options(_ values: [String: String], preprocessing: Preprocessing = .graph) throws -> RunnerOptions {
        var o = RunnerOptions()
        o.inFlight = 1
        o.inputHeight = 48   // the test image's size: no resampling
        o.inputWidth = 64
        o.preprocessing = preprocessing
        o.modelFacts = try facts(values)
        return o
    }

    /// Varied RGB pixels and the label the Identity network gives each under mean/std (network
    /// channel order `bgr` or not): the argmax of the normalised channels, lower index on ties.
    static func image(width w: Int, height h: Int) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            rgb[3 * i] = UInt8(truncatingIfNeeded: i &* 7)
            rgb[3 * i + 1] = UInt8(truncatingIfNeeded: i &* 13 &+ 5)
            rgb[3 * i + 2] = UInt8(truncatingIfNeeded: i &* 3 &+ 90)
        }
        return rgb
    }

    static func expected(_ p: ArraySlice<UInt8>, mean: [Float], std: [Float], bgr: Bool) -> UInt8 {
        let px = Array(p)
        let ordered = bgr ? [px[2], px[1], px[0]] : px
        let v = (0..<3).map { (Float(ordered[$0]) - mean[$0]) / std[$0] }
        var best = 0
        for c in 1..<3 where v[c] > v[best] { best = c }
        return UInt8(best)
    }

    static func wrongLabels(_ runner: SegmentationRunner, mean: [Float], std: [Float], bgr: Bool) throws -> Int {
        let w = 64, h = 48
        let rgb = image(width: w, height: h)
        let labels = try runner.segment(rgb: rgb, width: w, height: h)
        var wrong = 0
        for i in 0..<(w * h) where labels.labels[i] != expected(rgb[(3 * i)..<(3 * i + 3)], mean: mean, std: std, bgr: bgr) {
            wrong += 1
        }
        return wrong
    }

    @Test(arguments: [Preprocessing.graph, .host])
    func flagsGiveTheNormalisationExactly(_ preprocessing: Preprocessing) throws {
        let (dir, path) = try Self.folder(Self.identity())
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try Self.options(["mean": "100,110,120", "std": "50,40,60", "class_names": "R,G,B"], preprocessing: preprocessing)
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48, options: o)
        #expect(runner.model.name == "model")
        #expect(runner.model.classNames == ["R", "G", "B"])
        #expect(runner.model.mean == [100, 110, 120] && runner.model.std == [50, 40, 60])
        #expect(runner.model.channelOrder == .rgb)
        #expect(runner.model.palette.count == 3 && Set(runner.model.palette).count == 3)
        #expect(try Self.wrongLabels(runner, mean: [100, 110, 120], std: [50, 40, 60], bgr: false) == 0)
    }

    @Test(arguments: [Preprocessing.graph, .host])
    func bgrNetworksGetBlueFirst(_ preprocessing: Preprocessing) throws {
        let (dir, path) = try Self.folder(Self.identity())
        defer { try? FileManager.default.removeItem(at: dir) }
        let mean: [Float] = [90, 110, 130], std: [Float] = [40, 50, 60]
        let o = try Self.options(["mean": "90,110,130", "std": "40,50,60", "channel_order": "BGR"], preprocessing: preprocessing)
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 320, frameHeight: 240, options: o)
        #expect(runner.model.channelOrder == .bgr)
        #expect(try Self.wrongLabels(runner, mean: mean, std: std, bgr: true) == 0)
        // A strongly red yuv420p frame (BT.601 limited): red is network channel 2, so label 2.
        let red = TestSupport.makeUniformFrame(width: 320, height: 240, sequence: 0, y: 81, u: 90, v: 240)
        #expect(try runner.segment(red).labels.allSatisfy { $0 == 2 })
        let blue = TestSupport.makeUniformFrame(width: 320, height: 240, sequence: 1, y: 41, u: 240, v: 110)
        #expect(try runner.segment(blue).labels.allSatisfy { $0 == 0 })
    }

    @Test func unitPixelRangeScalesMeanAndStd() throws {
        let (dir, path) = try Self.folder(Self.identity())
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try Self.options(["mean": "0.4,0.5,0.6", "std": "0.25", "pixel_range": "0-1"])
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48, options: o)
        let scaled: [Float] = [Float(0.4) * 255, Float(0.5) * 255, Float(0.6) * 255]
        #expect(runner.model.mean == scaled)
        #expect(runner.model.std == [63.75, 63.75, 63.75])
        #expect(try Self.wrongLabels(runner, mean: runner.model.mean, std: runner.model.std, bgr: false) == 0)
    }

    @Test func jsonSidecarDescribesTheModelAndSetsTheInputSize() throws {
        let json = """
        {"model_name": "foreign-net", "mean": [100, 110, 120], "std": "50,40,60", "class_names": ["Road", "Car", "Sky"],
         "palette": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "void_label": 255, "input_size": "40x56", "channel_order": "rgb"}
        """
        let (dir, path) = try Self.folder(Self.identity(), sidecar: ("json", json))
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = RunnerOptions()
        o.inFlight = 1
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 960, frameHeight: 540, options: o)
        #expect(runner.model.name == "foreign-net")
        #expect(runner.model.classNames == ["Road", "Car", "Sky"])
        #expect(runner.model.palette == [RGB(1, 2, 3), RGB(4, 5, 6), RGB(7, 8, 9)])
        #expect(runner.model.voidLabel == 255)
        #expect(runner.inputHeight == 40 && runner.inputWidth == 56)
        let labels = try runner.segment(TestSupport.makeFrame(width: 960, height: 540, sequence: 0))
        #expect(labels.width == 56 && labels.height == 40)
    }

    @Test func yamlSidecarUnderFlags() throws {
        let yaml = """
        # beside model.onnx
        mean: 100,110,120
        std: [50, 40, 60]
        class_names: 3
        """
        let (dir, path) = try Self.folder(Self.identity(), sidecar: ("yaml", yaml))
        defer { try? FileManager.default.removeItem(at: dir) }
        let sources = try ModelSources(modelPath: path, flags: try Self.facts(["mean": "1,2,3", "class_names": "X,Y,Z"]))
        #expect(sources.sidecarPath == dir.appendingPathComponent("model.yaml").path)
        #expect(sources.origin("mean") == "flag")
        #expect(sources.origin("std") == "model.yaml")
        #expect(sources.origin("void_label") == nil)
        let model = try sources.describe(classCount: 3, fallbackSize: (360, 480))
        #expect(model.mean == [1, 2, 3] && model.std == [50, 40, 60])
        #expect(model.classNames == ["X", "Y", "Z"])
        // Without the flags the sidecar's count names the classes.
        let plain = try ModelSources(modelPath: path, flags: ModelFacts()).describe(classCount: 3, fallbackSize: (360, 480))
        #expect(plain.classNames == ["class0", "class1", "class2"])
    }

    @Test func sidecarFillsOnlyWhatMetadataLacks() throws {
        let (dir, path) = try Self.folder(Self.identity(metadata: [("mean", "100,110,120"), ("class_names", "A,B,C")]),
                                          sidecar: ("yml", "std: 50,40,60\n"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let sources = try ModelSources(modelPath: path, flags: ModelFacts())
        #expect(sources.origin("mean") == "metadata" && sources.origin("std") == "model.yml")
        let model = try sources.describe(classCount: 3, fallbackSize: (360, 480))
        #expect(model.classNames == ["A", "B", "C"] && model.std == [50, 40, 60])
    }

    // MARK: - One clear line per missing or wrong fact

    static func runnerError(_ data: Data, sidecar: (ext: String, text: String)? = nil,
                            flags: [String: String] = [:]) throws -> EPRError? {
        let (dir, path) = try folder(data, sidecar: sidecar)
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try options(flags)
        do throws(EPRError) {
            _ = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48, options: o)
            return nil
        } catch {
            #expect(!error.message.contains("\n"))
            return error
        }
    }

    @Test func missingMeanNamesTheFlagAndTheSidecar() throws {
        let e = try #require(try Self.runnerError(Self.identity()))
        #expect(e.kind == .model)
        #expect(e.message.contains("no mean") && e.message.contains("--mean R,G,B") && e.message.contains("model.json"), "\(e.message)")
    }

    @Test func missingStdNamesItsFlag() throws {
        let e = try #require(try Self.runnerError(Self.identity(), flags: ["mean": "1,2,3"]))
        #expect(e.kind == .model)
        #expect(e.message.contains("no std") && e.message.contains("--std R,G,B"), "\(e.message)")
        // With a sidecar that lacks it, the message says it looked there too.
        let s = try #require(try Self.runnerError(Self.identity(), sidecar: ("json", "{\"mean\": 1}"), flags: [:]))
        #expect(s.message.contains("no std in its metadata or model.json"), "\(s.message)")
    }

    @Test func badFlagValuesNameTheFlag() throws {
        let cases: [([String: String], String)] = [
            (["mean": "1,2"], "--mean must be 3 comma-separated numbers"),
            (["std": "1,0,1"], "--std must be positive"),
            (["pixel_range": "0-100"], "--pixel-range must be 0-255 or 0-1"),
            (["channel_order": "grb"], "--channel-order must be rgb or bgr"),
            (["class_names": "A,,B"], "--class-names must be comma-separated names"),
            (["class_names": "0"], "--class-names must be names or a positive count"),
        ]
        for (values, words) in cases {
            do throws(EPRError) {
                _ = try ModelFacts(values, kind: .config) { "--" + $0.replacingOccurrences(of: "_", with: "-") }
                Issue.record("expected an error for \(values)")
            } catch {
                #expect(error.kind == .config)
                #expect(error.message.contains(words), "\(error.message)")
            }
        }
    }

    @Test func classCountMustMatchTheOutput() throws {
        let e = try #require(try Self.runnerError(Self.identity(), flags: ["mean": "1", "std": "1", "class_names": "5"]))
        #expect(e.message.contains("3 channels") && e.message.contains("--class-names gives 5 classes"), "\(e.message)")
    }

    @Test func sidecarErrorsNameTheFileAndKey() throws {
        let cases: [((String, String), String)] = [
            (("json", "{\"mean\": [1, 2, 3], \"std\": 1, \"colour\": 3}"), "unknown key 'colour'"),
            (("json", "{\"mean\": [1, 2, 3], \"std\": 1, \"palette\": [[1, 2, 3]]}"), "model.json `palette` has 1 colours for 3 classes"),
            (("yaml", "mean: [1, 2, x]\nstd: 1\n"), "model.yaml: `mean` must be 3 comma-separated numbers"),
            (("json", "{\"mean\": [1, 2, 3], "), "model.json is not valid JSON or YAML"),
            (("yaml", "- 1\n- 2\n"), "expected a mapping of keys"),
        ]
        for (sidecar, words) in cases {
            let e = try #require(try Self.runnerError(Self.identity(), sidecar: sidecar), "\(sidecar)")
            #expect(e.kind == .model)
            #expect(e.message.contains(words), "\(e.message)")
        }
    }

    @Test func twoSidecarsAreRefused() throws {
        let (dir, path) = try Self.folder(Self.identity(), sidecar: ("json", "{\"mean\": 1, \"std\": 1}"))
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("mean: 1\nstd: 1\n".utf8).write(to: dir.appendingPathComponent("model.yaml"))
        do {
            _ = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48)
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("more than one sidecar file (model.json, model.yaml)"), "\(error.message)")
        }
    }

    @Test func channelsLastInputIsNamed() throws {
        let e = try #require(try Self.runnerError(Self.identity(dims: [1, 48, 64, 3]), flags: ["mean": "1", "std": "1"]))
        #expect(e.message.contains("channels-last (NHWC)"), "\(e.message)")
    }

    // MARK: - The shipped network without its metadata

    @Test func shippedNetworkStrippedRunsWithFlagsAsWithItsMetadata() throws {
        // The shipped fp32 ONNX and a CamVid val frame (both present in this checkout's setup).
        let shipped = try #require(TestSupport.modelPath)
        try #require(shipped.hasSuffix(".onnx"))
        let picture = try #require(TestSupport.loadRGB(TestSupport.camvidVal.appendingPathComponent("0016E5_07959.png").path))
        let stripped = try strippingONNXMetadata(try Data(contentsOf: URL(fileURLWithPath: shipped)))
        let (dir, path) = try Self.folder(stripped)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try ModelSources(modelPath: path, flags: ModelFacts()).rawMetadata.isEmpty)
        var plain = RunnerOptions()
        plain.inFlight = 1
        let reference = try SegmentationRunner(modelPath: shipped, frameWidth: picture.width, frameHeight: picture.height, options: plain)
        let flags = ["mean": "123.675,116.28,103.53", "std": "58.395,57.12,57.375", "class_names": reference.model.classNames.joined(separator: ",")]
        var given = plain
        given.modelFacts = try Self.facts(flags)
        let runner = try SegmentationRunner(modelPath: path, frameWidth: picture.width, frameHeight: picture.height,
                                            options: given)
        #expect(runner.model.classNames == reference.model.classNames)
        #expect(runner.model.mean == reference.model.mean && runner.model.std == reference.model.std)
        let a = try reference.segment(rgb: picture.pixels, width: picture.width, height: picture.height)
        let b = try runner.segment(rgb: picture.pixels, width: picture.width, height: picture.height)
        #expect(a.labels == b.labels)

        // The same through a sidecar, in 0-1 units and listed as YAML.
        try Data("mean: [0.485, 0.456, 0.406]\nstd: [0.229, 0.224, 0.225]\npixel_range: 0-1\n".utf8)
            .write(to: dir.appendingPathComponent("model.yaml"))
        let viaSidecar = try SegmentationRunner(modelPath: path, frameWidth: picture.width, frameHeight: picture.height, options: plain)
        let c = try viaSidecar.segment(rgb: picture.pixels, width: picture.width, height: picture.height)
        let agreement = TestSupport.agreement(a, c)
        print("stripped shipped model, ImageNet 0-1 sidecar vs metadata: \(agreement * 100)% of pixels agree")
        #expect(agreement > 0.999)   // 0.485 * 255 is 123.675 to within float32 rounding
    }

    // MARK: - A Cityscapes-shaped model

    /// What Training/ writes for `--dataset cityscapes` (constants.metadata with CITYSCAPES).
    static let cityscapesNames = ["Road", "Sidewalk", "Building", "Wall", "Fence", "Pole", "TrafficLight", "TrafficSign",
                                  "Vegetation", "Terrain", "Sky", "Person", "Rider", "Car", "Truck", "Bus", "Train",
                                  "Motorcycle", "Bicycle"]

    @Test func nineteenClassModelWithCityscapesMetadataRuns() throws {
        let palette = (0..<19).map { "\($0 * 13),\(255 - $0 * 13),\($0)" }.joined(separator: ";")
        let meta = [("model_name", "eprnet-cityscapes"), ("mean", "123.675,116.28,103.53"), ("std", "58.395,57.12,57.375"),
                    ("class_names", Self.cityscapesNames.joined(separator: ",")), ("palette", palette),
                    ("input_size", "512x1024"), ("void_label", "255"), ("num_classes", "19"), ("dataset", "cityscapes")]
        let (dir, path) = try Self.folder(TinyONNX.nineteenClasses(metadata: meta))
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 320, frameHeight: 240)
        #expect(runner.model.classCount == 19 && runner.model.classNames == Self.cityscapesNames)
        #expect(runner.model.voidLabel == 255)
        #expect(runner.model.palette[18] == RGB(234, 21, 18))
        #expect(runner.model.inputHeight == 512 && runner.model.inputWidth == 1024)
        // Red, green, blue frames: classes 0, 1, 2 (Road, Sidewalk, Building) of the 19.
        let colours: [(y: UInt8, u: UInt8, v: UInt8)] = [(81, 90, 240), (145, 54, 34), (41, 240, 110)]
        for (i, c) in colours.enumerated() {
            let labels = try runner.segment(TestSupport.makeUniformFrame(width: 320, height: 240, sequence: i, y: c.y, u: c.u, v: c.v))
            #expect(labels.labels.allSatisfy { Int($0) == i }, "colour \(i)")
        }
    }

    // MARK: - Inspection

    @Test func inspectionListsPortsSourcesAndProblems() throws {
        let (dir, path) = try Self.folder(Self.identity(dims: [1, 3, 40, 56]))
        defer { try? FileManager.default.removeItem(at: dir) }
        let bare = try ModelInspection(path: path)
        #expect(bare.inputs == [ModelPort(name: "image", shape: "[1,3,40,56]", elementType: "f32")])
        #expect(bare.outputs == [ModelPort(name: "logits", shape: "[1,3,40,56]", elementType: "f32")])
        #expect(bare.staticInputHeight == 40 && bare.staticInputWidth == 56)
        #expect(bare.sources.missing.map(\.key) == ["mean", "std"])
        #expect(bare.problems.count == 2 && bare.preprocessing == nil)
        #expect(bare.model?.classNames == ["class0", "class1", "class2"])

        let given = try ModelInspection(path: path, flags: try Self.facts(["mean": "0.5", "std": "0.25", "pixel_range": "0-1", "channel_order": "bgr"]))
        #expect(given.problems.isEmpty)
        #expect(given.preprocessing == "frame -> BGR planes, x = (pixel / 255 - [0.5,0.5,0.5]) / [0.25,0.25,0.25] per channel, f32 NCHW")

        let gray = try Self.folder(Self.identity(dims: [1, 1, 8, 8]))
        defer { try? FileManager.default.removeItem(at: gray.dir) }
        let unusable = try ModelInspection(path: gray.model, flags: try Self.facts(["mean": "1", "std": "1"]))
        #expect(unusable.problems.count == 1 && unusable.problems[0].contains("[1,3,H,W]"), "\(unusable.problems)")
    }
}
