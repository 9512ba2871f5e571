import CFFmpeg
import EPRCore
import Foundation

/// A decoded still picture (PNG, JPEG, ...) as packed bytes: RGB24 (3 per pixel) or 8-bit grey
/// (1 per pixel: label maps, where the value is the class id and must not be colour-converted).
public struct StillImage: Sendable {
    public enum Layout: Sendable { case rgb24, gray8 }

    public let width: Int
    public let height: Int
    public let layout: Layout
    public var bytes: [UInt8]

    public init(width: Int, height: Int, layout: Layout, bytes: [UInt8]) {
        self.width = width
        self.height = height
        self.layout = layout
        self.bytes = bytes
    }

    /// Decodes the first picture of `path` with FFmpeg into `layout`.
    public static func read(_ path: String, as layout: Layout) throws(EPRError) -> StillImage {
        guard FileManager.default.fileExists(atPath: path) else { throw EPRError(.input, "image not found: \(path)") }
        let frame = try decodeFirstPicture(path)
        let format = layout == .rgb24 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_GRAY8
        let channels = layout == .rgb24 ? 3 : 1
        let width = frame.width, height = frame.height
        // A grey PNG label map must keep its exact values: take the plane as is when it already is grey.
        if frame.pixelFormat == format {
            var bytes = [UInt8](repeating: 0, count: width * height * channels)
            let stride = Int(frame.avFrame.pointee.linesize.0)
            let plane = frame.avFrame.pointee.data.0!
            bytes.withUnsafeMutableBufferPointer { out in
                for y in 0..<height {
                    memcpy(out.baseAddress! + y * width * channels, plane + y * stride, width * channels)
                }
            }
            return StillImage(width: width, height: height, layout: layout, bytes: bytes)
        }
        if layout == .gray8 {
            throw EPRError(.input, "label image \(path) is not 8-bit greyscale (class id per pixel)")
        }
        guard let converted = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory") }
        var owned: UnsafeMutablePointer<AVFrame>? = converted
        defer { av_frame_free(&owned) }
        converted.pointee.width = Int32(width)
        converted.pointee.height = Int32(height)
        converted.pointee.format = format.rawValue
        guard let scaler = sws_getContext(Int32(width), Int32(height), frame.pixelFormat, Int32(width), Int32(height),
                                          format, SWS_BILINEAR, nil, nil, nil) else {
            throw EPRError(.input, "cannot convert \(path) to RGB")
        }
        defer { sws_freeContext(scaler) }
        let ret = sws_scale_frame(scaler, converted, frame.avFrame)
        guard ret >= 0 else { throw EPRError(.input, "cannot convert \(path) to RGB: \(ffmpegErrorString(ret))") }
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        let stride = Int(converted.pointee.linesize.0)
        bytes.withUnsafeMutableBufferPointer { out in
            for y in 0..<height { memcpy(out.baseAddress! + y * width * 3, converted.pointee.data.0! + y * stride, width * 3) }
        }
        return StillImage(width: width, height: height, layout: .rgb24, bytes: bytes)
    }

    /// The first picture of an image file, in the decoder's own pixel format.
    private static func decodeFirstPicture(_ path: String) throws(EPRError) -> VideoFrame {
        var format: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_open_input(&format, path, nil, nil) >= 0, let fmt = format else {
            throw EPRError(.input, "cannot read \(path): not an image")
        }
        defer { avformat_close_input(&format) }
        let index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = fmt.pointee.streams[Int(index)],
              let codec = avcodec_find_decoder(stream.pointee.codecpar.pointee.codec_id),
              let context = avcodec_alloc_context3(codec) else {
            throw EPRError(.input, "cannot read \(path): not an image")
        }
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        defer { avcodec_free_context(&ctx) }
        guard avcodec_parameters_to_context(context, stream.pointee.codecpar) >= 0,
              avcodec_open2(context, codec, nil) >= 0,
              let packet = av_packet_alloc(), let frame = av_frame_alloc() else {
            throw EPRError(.input, "cannot read \(path): cannot open its decoder")
        }
        var p: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&p) }
        let picture = VideoFrame(taking: frame, sequence: 0, pts: 0, timeBase: AVRational(num: 1, den: 1), duration: 0)
        while av_read_frame(fmt, packet) >= 0 {
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == index else { continue }
            if avcodec_send_packet(context, packet) >= 0, avcodec_receive_frame(context, frame) >= 0 { return picture }
        }
        avcodec_send_packet(context, nil)
        if avcodec_receive_frame(context, frame) >= 0 { return picture }
        throw EPRError(.input, "cannot read \(path): no picture in it")
    }

    /// Writes an RGB24 image as PNG with libavcodec's encoder.
    public func writePNG(to path: String) throws(EPRError) {
        precondition(layout == .rgb24, "PNG writing takes RGB24")
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG), let context = avcodec_alloc_context3(codec) else {
            throw EPRError(.output, "cannot write \(path): no PNG encoder")
        }
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        defer { avcodec_free_context(&ctx) }
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        guard avcodec_open2(context, codec, nil) >= 0, let packet = av_packet_alloc() else {
            throw EPRError(.output, "cannot write \(path): PNG encoder failed to open")
        }
        var p: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&p) }
        let frame = try rgbFrame()
        var f: UnsafeMutablePointer<AVFrame>? = frame
        defer { av_frame_free(&f) }
        guard avcodec_send_frame(context, frame) >= 0, avcodec_receive_packet(context, packet) >= 0 else {
            throw EPRError(.output, "cannot write \(path): PNG encoding failed")
        }
        let data = Data(bytes: packet.pointee.data, count: Int(packet.pointee.size))
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw EPRError(.output, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// A yuv420p frame holding this RGB image (for encoding stills into a video).
    public func videoFrame(sequence: Int, pts: Int64, timeBase: AVRational) throws(EPRError) -> VideoFrame {
        var rgb: UnsafeMutablePointer<AVFrame>? = try rgbFrame()
        defer { av_frame_free(&rgb) }
        let yuv = try YUV420Scaler(width: width, height: height).scale(rgb!, what: "an RGB image")
        return VideoFrame(taking: yuv, sequence: sequence, pts: pts, timeBase: timeBase, duration: 1)
    }

    /// A new RGB24 AVFrame holding a copy of `bytes` (the caller frees it).
    private func rgbFrame() throws(EPRError) -> UnsafeMutablePointer<AVFrame> {
        precondition(layout == .rgb24, "an RGB24 frame is made from RGB24 bytes")
        guard let frame = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        guard av_frame_get_buffer(frame, 0) >= 0 else {
            var f: UnsafeMutablePointer<AVFrame>? = frame
            av_frame_free(&f)
            throw EPRError(.internalFailure, "out of memory allocating a \(width)x\(height) frame")
        }
        let stride = Int(frame.pointee.linesize.0)
        bytes.withUnsafeBufferPointer { src in
            for y in 0..<height { memcpy(frame.pointee.data.0! + y * stride, src.baseAddress! + y * width * 3, width * 3) }
        }
        return frame
    }
}
