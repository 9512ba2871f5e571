import CFFmpeg
import EPRCore
import Foundation

/// Still images of frames, rendered with the project's own code (README screenshots, tests):
/// the frame converted to RGB24 by swscale and encoded by libavcodec's PNG encoder.
public enum FrameSnapshot {
    /// Writes `frame` as an RGB PNG file at `path`.
    public static func writePNG(_ frame: VideoFrame, to path: String) throws(EPRError) {
        let data = try pngData(frame)
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw EPRError(.output, "cannot write '\(path)': \(error.localizedDescription)")
        }
    }

    /// The PNG encoding of `frame`.
    public static func pngData(_ frame: VideoFrame) throws(EPRError) -> Data {
        guard let rgb = av_frame_alloc() else { throw EPRError(.internalFailure, "snapshot: out of memory") }
        defer {
            var f: UnsafeMutablePointer<AVFrame>? = rgb
            av_frame_free(&f)
        }
        rgb.pointee.width = frame.avFrame.pointee.width
        rgb.pointee.height = frame.avFrame.pointee.height
        rgb.pointee.format = AV_PIX_FMT_RGB24.rawValue
        var status = av_frame_get_buffer(rgb, 0)
        guard status >= 0 else { throw failure("allocating the RGB frame", status) }
        guard let sws = sws_getContext(frame.avFrame.pointee.width, frame.avFrame.pointee.height,
                                       frame.pixelFormat, rgb.pointee.width, rgb.pointee.height,
                                       AV_PIX_FMT_RGB24, Int32(SWS_BILINEAR), nil, nil, nil)
        else { throw EPRError(.internalFailure, "snapshot: no swscale conversion to RGB") }
        defer { sws_freeContext(sws) }
        status = sws_scale_frame(sws, rgb, frame.avFrame)
        guard status >= 0 else { throw failure("converting to RGB", status) }
        return try encodePNG(rgb)
    }

    private static func encodePNG(_ rgb: UnsafeMutablePointer<AVFrame>) throws(EPRError) -> Data {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw EPRError(.codec, "snapshot: FFmpeg has no PNG encoder")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw EPRError(.internalFailure, "snapshot: out of memory")
        }
        defer {
            var c: UnsafeMutablePointer<AVCodecContext>? = context
            avcodec_free_context(&c)
        }
        context.pointee.width = rgb.pointee.width
        context.pointee.height = rgb.pointee.height
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        var status = avcodec_open2(context, codec, nil)
        guard status >= 0 else { throw failure("opening the PNG encoder", status) }
        status = avcodec_send_frame(context, rgb)
        guard status >= 0 else { throw failure("encoding PNG", status) }
        status = avcodec_send_frame(context, nil)
        guard status >= 0 else { throw failure("flushing the PNG encoder", status) }
        guard let packet = av_packet_alloc() else { throw EPRError(.internalFailure, "snapshot: out of memory") }
        defer {
            var p: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&p)
        }
        status = avcodec_receive_packet(context, packet)
        guard status >= 0, let bytes = packet.pointee.data else { throw failure("encoding PNG", status) }
        return Data(bytes: bytes, count: Int(packet.pointee.size))
    }

    private static func failure(_ what: String, _ status: Int32) -> EPRError {
        EPRError(.internalFailure, "snapshot: \(what) failed: \(ffmpegErrorString(status))")
    }
}
