import CFFmpeg
import EPRCore
import Foundation

/// Paths and FFmpeg helpers shared by the inference tests.
enum TestSupport {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The model the tests run: the shipped fp32 ONNX, or EPR_TEST_MODEL (e.g. a scratch export).
    static var modelPath: String? {
        if let env = ProcessInfo.processInfo.environment["EPR_TEST_MODEL"], FileManager.default.fileExists(atPath: env) {
            return env
        }
        let shipped = repoRoot.appendingPathComponent("Models/eprnet-camvid.onnx").path
        return FileManager.default.fileExists(atPath: shipped) ? shipped : nil
    }

    /// An OpenVINO IR model (the shipped int8, or EPR_TEST_MODEL_IR).
    static var irModelPath: String? {
        if let env = ProcessInfo.processInfo.environment["EPR_TEST_MODEL_IR"], FileManager.default.fileExists(atPath: env) {
            return env
        }
        let shipped = repoRoot.appendingPathComponent("Models/eprnet-camvid-int8.xml").path
        return FileManager.default.fileExists(atPath: shipped) ? shipped : nil
    }

    /// Label maps of CamVid val frames made by the training toolchain from the model at `modelPath`
    /// (EPR_TEST_FIXTURES overrides the committed Tests/EPRStreamTests/Fixtures/labels).
    static var fixtureDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["EPR_TEST_FIXTURES"] { return URL(fileURLWithPath: env) }
        return repoRoot.appendingPathComponent("Tests/EPRStreamTests/Fixtures/labels")
    }

    static var fixtureLabels: [URL] {
        let files = (try? FileManager.default.contentsOfDirectory(at: fixtureDirectory, includingPropertiesForKeys: nil)) ?? []
        return files.filter { $0.pathExtension == "png" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// CamVid val images: ../shared/datasets/camvid/val next to the checkout, else EPR_CAMVID/val,
    /// else /work/shared/datasets/camvid/val (the training default).
    static var camvidVal: URL {
        var candidates = [repoRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets/camvid")]
        if let env = ProcessInfo.processInfo.environment["EPR_CAMVID"] { candidates.insert(URL(fileURLWithPath: env), at: 0) }
        candidates.append(URL(fileURLWithPath: "/work/shared/datasets/camvid"))
        let root = candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("val").path) }
        return (root ?? candidates[0]).appendingPathComponent("val")
    }

    /// The dashcam clip: ../shared/media/solidWhiteRight.mp4 next to the checkout, else /work/shared/media.
    static var dashcamClip: String {
        let near = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/media/solidWhiteRight.mp4").path
        return FileManager.default.fileExists(atPath: near) ? near : "/work/shared/media/solidWhiteRight.mp4"
    }

    /// Every `every`-th decoded video frame of a file (as decoded, normally yuv420p), `count` at most.
    static func decodeVideo(_ path: String, every: Int, count: Int) throws -> [VideoFrame] {
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_open_input(&fmt, path, nil, nil) >= 0 else { return [] }
        defer { avformat_close_input(&fmt) }
        guard avformat_find_stream_info(fmt, nil) >= 0 else { return [] }
        let index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let par = fmt!.pointee.streams[Int(index)]!.pointee.codecpar,
              let codec = avcodec_find_decoder(par.pointee.codec_id) else { return [] }
        var ctx = avcodec_alloc_context3(codec)
        defer { avcodec_free_context(&ctx) }
        avcodec_parameters_to_context(ctx, par)
        guard avcodec_open2(ctx, codec, nil) >= 0 else { return [] }
        var pkt = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        var frames: [VideoFrame] = []
        var seen = 0
        func receive() {
            while frames.count < count {
                let f = av_frame_alloc()!
                guard avcodec_receive_frame(ctx, f) >= 0 else { var p: UnsafeMutablePointer<AVFrame>? = f; av_frame_free(&p); return }
                if seen % every == 0 {
                    frames.append(VideoFrame(taking: f, sequence: seen, pts: Int64(seen), timeBase: AVRational(num: 1, den: 25), duration: 1))
                } else {
                    var p: UnsafeMutablePointer<AVFrame>? = f; av_frame_free(&p)
                }
                seen += 1
            }
        }
        while frames.count < count && av_read_frame(fmt, pkt) >= 0 {
            if pkt!.pointee.stream_index == index { avcodec_send_packet(ctx, pkt) }
            av_packet_unref(pkt)
            receive()
        }
        avcodec_send_packet(ctx, nil)
        receive()
        return frames
    }

    /// An empty yuv420p frame with its buffers.
    static func allocateYUV420(width: Int, height: Int) -> UnsafeMutablePointer<AVFrame> {
        let f = av_frame_alloc()!
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        precondition(av_frame_get_buffer(f, 0) >= 0)
        return f
    }

    /// A yuv420p test frame whose luma pattern depends on `sequence`.
    static func makeFrame(width: Int, height: Int, sequence: Int) -> VideoFrame {
        let f = allocateYUV420(width: width, height: height)
        let ls = f.pointee.linesize
        for y in 0..<height {
            let row = f.pointee.data.0! + y * Int(ls.0)
            for x in 0..<width { row[x] = UInt8(truncatingIfNeeded: 64 + (x + y + sequence * 37) % 128) }
        }
        for y in 0..<(height + 1) / 2 {
            memset(f.pointee.data.1! + y * Int(ls.1), Int32(100 + sequence % 50), (width + 1) / 2)
            memset(f.pointee.data.2! + y * Int(ls.2), 128, (width + 1) / 2)
        }
        return VideoFrame(taking: f, sequence: sequence, pts: Int64(sequence * 40),
                          timeBase: AVRational(num: 1, den: 1000), duration: 40)
    }

    /// A yuv420p frame of one colour.
    static func makeUniformFrame(width: Int, height: Int, sequence: Int, y: UInt8, u: UInt8, v: UInt8) -> VideoFrame {
        let f = allocateYUV420(width: width, height: height)
        let ls = f.pointee.linesize
        for row in 0..<height { memset(f.pointee.data.0! + row * Int(ls.0), Int32(y), width) }
        for row in 0..<(height + 1) / 2 {
            memset(f.pointee.data.1! + row * Int(ls.1), Int32(u), (width + 1) / 2)
            memset(f.pointee.data.2! + row * Int(ls.2), Int32(v), (width + 1) / 2)
        }
        return VideoFrame(taking: f, sequence: sequence, pts: Int64(sequence),
                          timeBase: AVRational(num: 1, den: 25), duration: 1)
    }

    /// Decodes an image file with FFmpeg and converts it to `format` at its own size.
    static func decodeImage(_ path: String, to format: AVPixelFormat) -> UnsafeMutablePointer<AVFrame>? {
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_open_input(&fmt, path, nil, nil) >= 0 else { return nil }
        defer { avformat_close_input(&fmt) }
        guard avformat_find_stream_info(fmt, nil) >= 0, let par = fmt!.pointee.streams[0]!.pointee.codecpar,
              let codec = avcodec_find_decoder(par.pointee.codec_id) else { return nil }
        var ctx = avcodec_alloc_context3(codec)
        defer { avcodec_free_context(&ctx) }
        avcodec_parameters_to_context(ctx, par)
        guard avcodec_open2(ctx, codec, nil) >= 0 else { return nil }
        var pkt = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        var decoded = av_frame_alloc()
        defer { av_frame_free(&decoded) }
        var got = false
        while !got && av_read_frame(fmt, pkt) >= 0 {
            avcodec_send_packet(ctx, pkt)
            av_packet_unref(pkt)
            got = avcodec_receive_frame(ctx, decoded) >= 0
        }
        if !got {
            avcodec_send_packet(ctx, nil)
            got = avcodec_receive_frame(ctx, decoded) >= 0
        }
        guard got, let src = decoded else { return nil }
        let out = av_frame_alloc()!
        out.pointee.width = src.pointee.width
        out.pointee.height = src.pointee.height
        out.pointee.format = format.rawValue
        guard av_frame_get_buffer(out, 0) >= 0 else { return nil }
        let sws = sws_getContext(src.pointee.width, src.pointee.height, AVPixelFormat(rawValue: src.pointee.format),
                                 out.pointee.width, out.pointee.height, format,
                                 SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nil, nil, nil)
        defer { sws_freeContext(sws) }
        guard sws_scale_frame(sws, out, src) >= 0 else { return nil }
        return out
    }

    /// A decoded image as a packed RGB24 array.
    static func loadRGB(_ path: String) -> (pixels: [UInt8], width: Int, height: Int)? {
        guard let f = decodeImage(path, to: AV_PIX_FMT_RGB24) else { return nil }
        defer { var p: UnsafeMutablePointer<AVFrame>? = f; av_frame_free(&p) }
        let w = Int(f.pointee.width), h = Int(f.pointee.height)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let row = f.pointee.data.0! + y * Int(f.pointee.linesize.0)
            for i in 0..<(w * 3) { pixels[y * w * 3 + i] = row[i] }
        }
        return (pixels, w, h)
    }

    /// An 8-bit greyscale PNG (pixel = class id) as a LabelMap.
    static func loadLabels(_ path: String) -> LabelMap? {
        guard let f = decodeImage(path, to: AV_PIX_FMT_GRAY8) else { return nil }
        defer { var p: UnsafeMutablePointer<AVFrame>? = f; av_frame_free(&p) }
        let w = Int(f.pointee.width), h = Int(f.pointee.height)
        var labels = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            let row = f.pointee.data.0! + y * Int(f.pointee.linesize.0)
            for x in 0..<w { labels[y * w + x] = row[x] }
        }
        return LabelMap(width: w, height: h, labels: labels)
    }

    /// An image decoded and converted to a yuv420p VideoFrame (as a video decoder would deliver it).
    static func loadYUVFrame(_ path: String, sequence: Int = 0) -> VideoFrame? {
        guard let f = decodeImage(path, to: AV_PIX_FMT_YUV420P) else { return nil }
        return VideoFrame(taking: f, sequence: sequence, pts: Int64(sequence),
                          timeBase: AVRational(num: 1, den: 25), duration: 1)
    }

    static func agreement(_ a: LabelMap, _ b: LabelMap) -> Double {
        precondition(a.width == b.width && a.height == b.height)
        var same = 0
        for i in 0..<a.labels.count where a.labels[i] == b.labels[i] { same += 1 }
        return Double(same) / Double(a.labels.count)
    }
}
