import EPRCore
import EPRInference
import Foundation
import Testing

/// Runner mechanics on a hand-written Identity model (no trained model needed): metadata,
/// normalisation, argmax, order of results, and the model errors.
@Suite("Runner on a tiny model")
struct TinyModelTests {
    /// Expected label for an RGB pixel under the tiny model's mean/std.
    static func expected(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let v = [r, g, b].enumerated().map { (Float($0.element) - TinyONNX.mean[$0.offset]) / TinyONNX.std[$0.offset] }
        var best = 0
        for c in 1..<3 where v[c] > v[best] { best = c }
        return UInt8(best)
    }

    @Test func readsMetadataAndSegmentsRGBExactly() throws {
        let path = try TinyONNX.write(TinyONNX.identity(), name: "identity")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = RunnerOptions()
        options.inFlight = 1
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48, options: options)
        #expect(runner.model.name == "tiny-identity")
        #expect(runner.model.classNames == ["Red", "Green", "Blue"])
        #expect(runner.model.palette == [RGB(0, 255, 7), RGB(50, 205, 7), RGB(100, 155, 7)])
        #expect(runner.model.mean == TinyONNX.mean && runner.model.std == TinyONNX.std)
        #expect(runner.model.inputHeight == 48 && runner.model.inputWidth == 64)
        #expect(runner.model.voidLabel == 3)
        // Dynamic H, W: the default size follows the frame.
        #expect(runner.inputHeight == 360 && runner.inputWidth == 480)

        // A 480x360 RGB image with varied pixels: each label is the argmax of the normalised channels.
        let w = 480, h = 360
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            rgb[3 * i] = UInt8(truncatingIfNeeded: i &* 7)
            rgb[3 * i + 1] = UInt8(truncatingIfNeeded: i &* 13 &+ 5)
            rgb[3 * i + 2] = UInt8(truncatingIfNeeded: i &* 3 &+ 90)
        }
        let labels = try runner.segment(rgb: rgb, width: w, height: h)
        #expect(labels.width == w && labels.height == h)
        var wrong = 0
        for i in 0..<(w * h) where labels.labels[i] != Self.expected(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) {
            wrong += 1
        }
        #expect(wrong == 0)
    }

    @Test func yuvFramesGiveTheirColoursLabels() throws {
        let path = try TinyONNX.write(TinyONNX.identity(), name: "identity")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 320, frameHeight: 240)
        // Uniform frames of strongly red, green and blue (BT.601 limited range YUV).
        let colours: [(y: UInt8, u: UInt8, v: UInt8, label: UInt8)] = [(81, 90, 240, 0), (145, 54, 34, 1), (41, 240, 110, 2)]
        var results: [Segmentation] = []
        for (i, c) in colours.enumerated() {
            results += try runner.submit(TestSupport.makeUniformFrame(width: 320, height: 240, sequence: i, y: c.y, u: c.u, v: c.v))
        }
        results += try runner.drain()
        #expect(results.map(\.frame.sequence) == [0, 1, 2])
        for (r, c) in zip(results, colours) {
            #expect(r.labels.width == 480 && r.labels.height == 360)
            #expect(r.labels.labels.allSatisfy { $0 == c.label }, "frame \(r.frame.sequence)")
        }
    }

    @Test func manyFramesInOrderWithTheirOwnMasks() throws {
        let path = try TinyONNX.write(TinyONNX.identity(), name: "identity")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = RunnerOptions()
        options.inFlight = 3
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 64, frameHeight: 48, options: options)
        let colours: [(UInt8, UInt8, UInt8, UInt8)] = [(81, 90, 240, 0), (145, 54, 34, 1), (41, 240, 110, 2)]
        var results: [Segmentation] = []
        for i in 0..<12 {
            let c = colours[(i * 5 + i / 3) % 3]
            results += try runner.submit(TestSupport.makeUniformFrame(width: 64, height: 48, sequence: i, y: c.0, u: c.1, v: c.2))
        }
        results += try runner.drain()
        #expect(results.map(\.frame.sequence) == Array(0..<12))
        for r in results {
            let c = colours[(r.frame.sequence * 5 + r.frame.sequence / 3) % 3]
            #expect(r.labels.labels.allSatisfy { $0 == c.3 }, "frame \(r.frame.sequence)")
        }
    }

    @Test func staticModelKeepsItsOwnSize() throws {
        let path = try TinyONNX.write(TinyONNX.identity(dims: [1, 3, 40, 56]), name: "static")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 960, frameHeight: 540)
        #expect(runner.inputHeight == 40 && runner.inputWidth == 56)
        let labels = try runner.segment(TestSupport.makeFrame(width: 960, height: 540, sequence: 0))
        #expect(labels.width == 56 && labels.height == 40)
    }

    static func expectModelError(_ data: Data, name: String, mentioning words: [String]) throws {
        let path = try TinyONNX.write(data, name: name)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try SegmentationRunner(modelPath: path, frameWidth: 480, frameHeight: 360)
            Issue.record("expected an error for \(name)")
        } catch {
            #expect(error.kind == .model)
            #expect(error.message.contains(path), "\(error.message)")
            #expect(!error.message.contains("\n"))
            for w in words { #expect(error.message.contains(w), "\(error.message)") }
            print("error for \(name): \(error.message)")
        }
    }

    @Test func classNamesMustMatchOutputChannels() throws {
        try Self.expectModelError(TinyONNX.identity(classes: ["A", "B", "C", "D", "E"]), name: "names",
                                  mentioning: ["3 channels", "5 classes"])
    }

    @Test func oneImageInputRequired() throws {
        try Self.expectModelError(TinyONNX.twoInputs(), name: "two-inputs", mentioning: ["1 input"])
    }

    @Test func threeChannelInputRequired() throws {
        try Self.expectModelError(TinyONNX.identity(classes: ["A"], dims: [1, 1, nil, nil]), name: "gray",
                                  mentioning: ["[1,3,H,W]"])
    }

    @Test func truncatedModelIsAClearError() throws {
        let whole = TinyONNX.identity()
        try Self.expectModelError(whole.prefix(whole.count / 2), name: "truncated", mentioning: ["not an ONNX model"])
    }

    @Test func missingNormalisationMetadataIsNamed() throws {
        let dims: [Int?] = [1, 3, nil, nil]
        let data = TinyONNX.model(nodes: [TinyONNX.node("Identity", inputs: ["image"], output: "logits")],
                                  inputs: [TinyONNX.valueInfo("image", dims)], outputs: [TinyONNX.valueInfo("logits", dims)],
                                  metadata: [("class_names", "A,B,C")])
        try Self.expectModelError(data, name: "no-mean", mentioning: ["mean"])
    }
}
