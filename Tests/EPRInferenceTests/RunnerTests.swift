import EPRCore
import EPRInference
import Foundation
import Testing

@Suite("Input size")
struct InputSizeTests {
    @Test func defaultSizeKeepsAspectWithShortSide360() {
        #expect(SegmentationRunner.defaultInputSize(frameWidth: 960, frameHeight: 540) == (360, 640))
        #expect(SegmentationRunner.defaultInputSize(frameWidth: 480, frameHeight: 360) == (360, 480))
        #expect(SegmentationRunner.defaultInputSize(frameWidth: 1280, frameHeight: 720) == (360, 640))
        #expect(SegmentationRunner.defaultInputSize(frameWidth: 1920, frameHeight: 1080) == (360, 640))
        #expect(SegmentationRunner.defaultInputSize(frameWidth: 540, frameHeight: 960) == (640, 360))
        let odd = SegmentationRunner.defaultInputSize(frameWidth: 1000, frameHeight: 700)
        #expect(odd.height == 360 && odd.width % 8 == 0 && abs(odd.width - 514) <= 4)
    }
}

@Suite("Model errors")
struct ModelErrorTests {
    @Test func missingFileNamesThePath() {
        let path = "/nonexistent/dir/model.onnx"
        do {
            _ = try SegmentationRunner(modelPath: path, frameWidth: 480, frameHeight: 360)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .model)
            #expect(error.message.contains(path))
            #expect(error.message.contains("not found"))
            #expect(!error.message.contains("\n"))
        }
    }

    @Test(arguments: ["onnx", "xml"])
    func nonModelFileIsAClearError(ext: String) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-model-\(getpid()).\(ext)")
        try Data("this is not a model\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try SegmentationRunner(modelPath: url.path, frameWidth: 480, frameHeight: 360)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .model)
            #expect(error.message.contains(url.path))
            #expect(!error.message.contains("\n"))
            print("error for a non-model .\(ext): \(error.message)")
        }
    }

    @Test func directoryIsNotAModel() {
        do {
            _ = try SegmentationRunner(modelPath: NSTemporaryDirectory(), frameWidth: 480, frameHeight: 360)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .model)
        }
    }
}

@Suite("Runner", .enabled(if: TestSupport.modelPath != nil, "no model: Models/eprnet-camvid.onnx or EPR_TEST_MODEL"))
struct RunnerTests {
    let path = TestSupport.modelPath ?? ""

    @Test func metadataDescribesCamVid() throws {
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 480, frameHeight: 360)
        checkCamVid(runner.model)
    }

    @Test(.enabled(if: TestSupport.irModelPath != nil, "no IR model"))
    func irMetadataDescribesCamVid() throws {
        let runner = try SegmentationRunner(modelPath: TestSupport.irModelPath!, frameWidth: 960, frameHeight: 540)
        checkCamVid(runner.model)
        let labels = try runner.segment(TestSupport.makeFrame(width: 960, height: 540, sequence: 0))
        #expect(labels.labels.allSatisfy { $0 < 11 })
    }

    func checkCamVid(_ m: ModelDescription) {
        #expect(m.classCount == 11)
        #expect(m.classNames.first == "Sky" && m.classNames.last == "Bicyclist")
        #expect(m.classNames.contains("Road") && m.classNames.contains("Car"))
        #expect(m.palette.count == 11)
        #expect(m.palette[0] == RGB(128, 128, 128))
        #expect(m.palette[3] == RGB(128, 64, 128))
        #expect(m.palette[10] == RGB(0, 128, 192))
        #expect(m.mean.count == 3 && m.std.count == 3)
        #expect(abs(m.mean[0] - 123.675) < 1e-3 && abs(m.mean[1] - 116.28) < 1e-3 && abs(m.mean[2] - 103.53) < 1e-3)
        #expect(abs(m.std[0] - 58.395) < 1e-3 && abs(m.std[1] - 57.12) < 1e-3 && abs(m.std[2] - 57.375) < 1e-3)
        #expect(m.inputHeight == 360 && m.inputWidth == 480)
        #expect(m.voidLabel == 11)
        #expect(!m.name.isEmpty)
    }

    @Test func defaultInputSizeFollowsTheFrame() throws {
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 960, frameHeight: 540)
        #expect(runner.inputHeight == 360 && runner.inputWidth == 640)
        let labels = try runner.segment(TestSupport.makeFrame(width: 960, height: 540, sequence: 0))
        #expect(labels.width == 640 && labels.height == 360)
        #expect(labels.labels.allSatisfy { $0 < 11 })
    }

    @Test func explicitInputSize() throws {
        var options = RunnerOptions()
        options.inputHeight = 240
        options.inputWidth = 320
        options.inFlight = 1
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 960, frameHeight: 540, options: options)
        #expect(runner.inputHeight == 240 && runner.inputWidth == 320)
        let labels = try runner.segment(TestSupport.makeFrame(width: 960, height: 540, sequence: 1))
        #expect(labels.width == 320 && labels.height == 240)
    }

    @Test func resultsComeBackInSubmissionOrderWithTheirOwnFrames() throws {
        var options = RunnerOptions()
        options.inFlight = 2
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 320, frameHeight: 180, options: options)
        #expect(runner.inFlight == 2)
        let frames = (0..<10).map { TestSupport.makeFrame(width: 320, height: 180, sequence: $0) }
        var results: [Segmentation] = []
        for (i, frame) in frames.enumerated() {
            let out = try runner.submit(frame)
            // With two requests the first two submissions return nothing; then one result each.
            #expect(out.count == (i < 2 ? 0 : 1))
            results += out
        }
        results += try runner.drain()
        #expect(results.count == 10)
        #expect(results.map(\.frame.sequence) == Array(0..<10))
        for (r, f) in zip(results, frames) {
            #expect(r.frame === f)
            #expect(r.labels.width == runner.inputWidth && r.labels.height == runner.inputHeight)
            #expect(r.preprocessSeconds >= 0 && r.inferSeconds > 0 && r.postprocessSeconds >= 0)
        }
        // Each result is that frame's own mask: the same frame segmented synchronously agrees.
        for i in [0, 5, 9] {
            let alone = try runner.segment(frames[i])
            #expect(alone == results[i].labels)
        }
        #expect(try runner.drain().isEmpty)
    }

    @Test func segmentBetweenSubmissionsKeepsOrder() throws {
        let runner = try SegmentationRunner(modelPath: path, frameWidth: 320, frameHeight: 180)
        let frames = (0..<4).map { TestSupport.makeFrame(width: 320, height: 180, sequence: $0) }
        var results = try runner.submit(frames[0])
        _ = try runner.segment(frames[3])
        results += try runner.submit(frames[1])
        results += try runner.submit(frames[2])
        results += try runner.drain()
        #expect(results.map(\.frame.sequence) == [0, 1, 2])
    }
}

/// The acceptance check of issue 3: the Swift runner's label maps agree with the training
/// toolchain's on CamVid val frames. The RGB path (no YUV round trip; what eval uses) must agree on
/// >= 99.5% of pixels; the YUV 4:2:0 path (what video gets; ~99.6% with an early checkpoint) is
/// reported and held to a looser 98%, since 4:2:0 chroma subsampling changes the input itself.
@Suite("Agreement with the training toolchain",
       .enabled(if: TestSupport.modelPath != nil && !TestSupport.fixtureLabels.isEmpty, "no model or no label fixtures"))
struct AgreementTests {
    @Test func runnerMatchesReferenceLabelMaps() throws {
        let runner = try SegmentationRunner(modelPath: TestSupport.modelPath!, frameWidth: 480, frameHeight: 360)
        #expect(runner.inputHeight == 360 && runner.inputWidth == 480)
        var checked = 0
        for label in TestSupport.fixtureLabels.prefix(3) {
            let image = TestSupport.camvidVal.appendingPathComponent(label.lastPathComponent).path
            let reference = try #require(TestSupport.loadLabels(label.path), "cannot read \(label.path)")
            let rgb = try #require(TestSupport.loadRGB(image), "cannot read \(image)")
            #expect(rgb.width == reference.width && rgb.height == reference.height)

            let viaRGB = try runner.segment(rgb: rgb.pixels, width: rgb.width, height: rgb.height)
            let rgbAgreement = TestSupport.agreement(viaRGB, reference)
            #expect(rgbAgreement >= 0.995, "\(label.lastPathComponent): RGB path agrees on \(rgbAgreement * 100)%")

            let frame = try #require(TestSupport.loadYUVFrame(image))
            let viaYUV = try runner.segment(frame)
            let yuvAgreement = TestSupport.agreement(viaYUV, reference)
            #expect(yuvAgreement >= 0.98, "\(label.lastPathComponent): YUV path agrees on \(yuvAgreement * 100)%")
            print("agreement \(label.lastPathComponent): rgb \(String(format: "%.3f", rgbAgreement * 100))%, "
                  + "yuv420p \(String(format: "%.3f", yuvAgreement * 100))%")
            checked += 1
        }
        #expect(checked >= 2)
    }
}
