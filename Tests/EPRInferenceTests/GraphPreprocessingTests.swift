import CFFmpeg
import EPRCore
import EPRInference
import Foundation
import Testing

/// Issue 14's equivalence checks: with colour conversion, resize and normalisation inside the
/// compiled graph, label maps agree with the host path (swscale + Swift normalisation) on CamVid
/// val frames delivered as a decoder would (yuv420p), on RGB images, and on the dashcam clip.
@Suite("Preprocessing in the graph", .enabled(if: TestSupport.modelPath != nil, "no model"))
struct GraphPreprocessingTests {
    static func runner(_ path: String, _ preprocessing: Preprocessing, width: Int, height: Int,
                       inputSize: (Int, Int)? = nil, resizeInGraph: Bool = false) throws -> SegmentationRunner {
        var options = RunnerOptions()
        options.preprocessing = preprocessing
        options.resizeInGraph = resizeInGraph
        options.inFlight = 1
        if let inputSize { options.inputHeight = inputSize.0; options.inputWidth = inputSize.1 }
        return try SegmentationRunner(modelPath: path, frameWidth: width, frameHeight: height, options: options)
    }

    static var models: [String] { [TestSupport.modelPath, TestSupport.irModelPath].compactMap { $0 } }

    /// Every 4th CamVid val frame (26 of 101) as yuv420p: the video path's input.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TestSupport.camvidVal.path), "no CamVid val"),
          arguments: models)
    func camvidFramesAgreeWithTheHostPath(model: String) throws {
        let images = try FileManager.default.contentsOfDirectory(atPath: TestSupport.camvidVal.path)
            .filter { $0.hasSuffix(".png") }.sorted()
        let graph = try Self.runner(model, .graph, width: 480, height: 360)
        let host = try Self.runner(model, .host, width: 480, height: 360)
        var same = 0, total = 0, worst = 1.0
        for name in images.enumerated().filter({ $0.offset % 4 == 0 }).map(\.element) {
            let frame = try #require(TestSupport.loadYUVFrame(TestSupport.camvidVal.appendingPathComponent(name).path))
            #expect(graph.takesPlanes(frame))
            let a = try graph.segment(frame), b = try host.segment(frame)
            let agreement = TestSupport.agreement(a, b)
            worst = min(worst, agreement)
            same += Int((agreement * Double(a.labels.count)).rounded())
            total += a.labels.count
        }
        let overall = Double(same) / Double(total)
        print(String(format: "graph vs host, CamVid val yuv420p, %@: %.3f%% of pixels agree (worst frame %.3f%%)",
                     (model as NSString).lastPathComponent, overall * 100, worst * 100))
        #expect(total == 26 * 480 * 360)
        // The graph upsamples chroma nearest-neighbour, the host path bilinearly, so colours differ
        // by a level or two; only near-ties move. fp32: 99.58% agree (the 99.5% bar). The int8
        // model re-quantises its input, which turns those small differences into whole steps:
        // the EPRNet refreshed at epoch 142 agrees on 99.26% (the epoch-30 one on 99.57%), while
        // its full-val video-path mIoU is the same either way (graph 60.41, host 60.40).
        let bar = model.hasSuffix("-int8.xml") ? 0.990 : 0.995
        #expect(overall >= bar)
    }

    /// The eval image path: u8 RGB into the graph, normalised there.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TestSupport.camvidVal.path), "no CamVid val"))
    func rgbImagesAgreeWithTheHostPath() throws {
        let model = try #require(TestSupport.modelPath)
        let graph = try Self.runner(model, .graph, width: 480, height: 360)
        let host = try Self.runner(model, .host, width: 480, height: 360)
        for name in ["0016E5_07959.png", "0016E5_08057.png", "0016E5_08157.png"] {
            let rgb = try #require(TestSupport.loadRGB(TestSupport.camvidVal.appendingPathComponent(name).path))
            let a = try graph.segment(rgb: rgb.pixels, width: rgb.width, height: rgb.height)
            let b = try host.segment(rgb: rgb.pixels, width: rgb.width, height: rgb.height)
            // Same u8 input, same arithmetic up to float rounding: only near-ties may move.
            #expect(TestSupport.agreement(a, b) >= 0.9999, "\(name)")
        }
    }

    /// The dashcam clip's 960x540 frames at 360x640: swscale resizes the planes (the default,
    /// ~99.4% agree), or the graph resizes the converted RGB (linear, two taps, against swscale's
    /// bilinear widened for downscaling: ~99.0%). On CamVid val at 240x320 (the same 1.5x
    /// downscale), int8 video path: host 58.32 mIoU, planes resized by swscale 58.21 (99.40% of
    /// pixels agree), resized in the graph 58.65 (98.81%).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TestSupport.dashcamClip), "no dashcam clip"),
          arguments: [false, true])
    func dashcamFramesAgreeWithTheHostPath(resizeInGraph: Bool) throws {
        let model = try #require(TestSupport.irModelPath ?? TestSupport.modelPath)
        let frames = try TestSupport.decodeVideo(TestSupport.dashcamClip, every: 20, count: 6)
        #expect(frames.count == 6)
        let graph = try Self.runner(model, .graph, width: 960, height: 540, resizeInGraph: resizeInGraph)
        let host = try Self.runner(model, .host, width: 960, height: 540)
        #expect(graph.inputHeight == 360 && graph.inputWidth == 640)
        var sum = 0.0
        for frame in frames {
            #expect(graph.takesPlanes(frame))
            sum += TestSupport.agreement(try graph.segment(frame), try host.segment(frame))
        }
        let mean = sum / Double(frames.count)
        print(String(format: "graph vs host, dashcam 960x540 -> 360x640, resize %@: %.3f%% of pixels agree",
                     resizeInGraph ? "in the graph" : "by swscale", mean * 100))
        #expect(mean >= 0.98)
    }

    /// Frames the I420 graph would convert differently (BT.709, full range) go through swscale to
    /// RGB and the RGB graph: the same colours as the host path. Another size keeps the planes.
    @Test func framesTheGraphCannotTakeAsTheyAreFallBackToSwscale() throws {
        let path = try TinyONNX.write(TinyONNX.identity(), name: "fallback")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = try Self.runner(path, .graph, width: 320, height: 240, inputSize: (240, 320))
        let host = try Self.runner(path, .host, width: 320, height: 240, inputSize: (240, 320))
        let plain = TestSupport.makeFrame(width: 320, height: 240, sequence: 3)
        #expect(graph.takesPlanes(plain))

        let bt709 = TestSupport.makeFrame(width: 320, height: 240, sequence: 4)
        bt709.avFrame.pointee.colorspace = AVCOL_SPC_BT709
        let fullRange = TestSupport.makeFrame(width: 320, height: 240, sequence: 5)
        fullRange.avFrame.pointee.color_range = AVCOL_RANGE_JPEG
        let larger = TestSupport.makeFrame(width: 640, height: 480, sequence: 6)
        #expect(graph.takesPlanes(larger))
        for frame in [bt709, fullRange, larger] {
            #expect(graph.takesPlanes(frame) == (frame === larger))
            let a = try graph.segment(frame), b = try host.segment(frame)
            // The same RGB24 from swscale; the tiny model's channels tie exactly on many u8 values,
            // and float rounding in the graph's normalisation may break such ties the other way.
            #expect(TestSupport.agreement(a, b) >= 0.99, "frame \(frame.sequence)")
        }
        // A BT.709 frame's colours differ from BT.601's: the fallback did not ignore the tag.
        let as601 = TestSupport.makeFrame(width: 320, height: 240, sequence: 4)
        #expect(try graph.segment(as601) != (try graph.segment(bt709)))
    }

    /// The graph converts BT.601 limited-range YUV to the colours swscale gives (tiny identity
    /// model: labels are the argmax of the normalised RGB channels, so they follow the colours).
    @Test func colourConversionMatchesSwscale() throws {
        let path = try TinyONNX.write(TinyONNX.identity(), name: "colours")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = try Self.runner(path, .graph, width: 256, height: 64, inputSize: (64, 256))
        let host = try Self.runner(path, .host, width: 256, height: 64, inputSize: (64, 256))
        // Every luma level across; chroma steps every 16 pixels down (U) and across (V), so the
        // graph's nearest chroma and swscale's interpolated chroma differ only at the steps.
        let f = TestSupport.allocateYUV420(width: 256, height: 64)
        for y in 0..<64 {
            let row = f.pointee.data.0! + y * Int(f.pointee.linesize.0)
            for x in 0..<256 { row[x] = UInt8(x) }
        }
        for y in 0..<32 {
            let u = f.pointee.data.1! + y * Int(f.pointee.linesize.1), v = f.pointee.data.2! + y * Int(f.pointee.linesize.2)
            for x in 0..<128 { u[x] = UInt8(16 + (y / 8) * 56); v[x] = UInt8(16 + (x / 8) * 14) }
        }
        let frame = VideoFrame(taking: f, sequence: 0, pts: 0, timeBase: AVRational(num: 1, den: 25), duration: 1)
        let agreement = TestSupport.agreement(try graph.segment(frame), try host.segment(frame))
        print(String(format: "graph vs host, synthetic colours: %.3f%%", agreement * 100))
        // ~99.1%: the rest are exact ties of the tiny model's channels and chroma steps.
        #expect(agreement >= 0.98)
    }
}
