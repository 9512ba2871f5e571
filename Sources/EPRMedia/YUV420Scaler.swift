import CFFmpeg
import EPRCore

/// Converts frames of any pixel format and size to new yuv420p frames of one fixed size (what
/// the rest of the pipeline expects), reusing one cached swscale context.
final class YUV420Scaler {
    let width: Int
    let height: Int
    private var context: OpaquePointer?

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    deinit { sws_freeContext(context) }

    /// A new yuv420p frame holding `src` (limited range, `src`'s properties copied); `what`
    /// names the source in the error.
    func scale(_ src: UnsafeMutablePointer<AVFrame>, what: String) throws(EPRError) -> UnsafeMutablePointer<AVFrame> {
        let format = AVPixelFormat(rawValue: src.pointee.format)
        context = sws_getCachedContext(context, src.pointee.width, src.pointee.height, format,
                                       Int32(width), Int32(height), AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
        guard let sws = context else {
            let name = av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "?"
            throw EPRError(.codec, "cannot convert \(name) frames of \(what) to yuv420p \(width)x\(height)")
        }
        guard let dst = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
        dst.pointee.width = Int32(width)
        dst.pointee.height = Int32(height)
        dst.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        var ret = av_frame_get_buffer(dst, 0)
        if ret >= 0 { ret = sws_scale_frame(sws, dst, src) }
        if ret < 0 {
            var d: UnsafeMutablePointer<AVFrame>? = dst
            av_frame_free(&d)
            throw EPRError(.codec, "cannot convert frames of \(what) to yuv420p: \(ffmpegErrorString(ret))")
        }
        _ = av_frame_copy_props(dst, src)
        dst.pointee.color_range = AVCOL_RANGE_MPEG   // swscale's yuv420p output is limited range
        return dst
    }
}
