import CFFmpeg
import EPRCore

/// Turns a copy of the last good frame into a notice card ("source offline - reconnecting"):
/// the whole picture dimmed towards black, with the text centred on a dark box. Used while a
/// live source is down so that recordings and viewers keep running. Calls are serialised.
public final class NoticeRenderer: @unchecked Sendable {
    private let glyphs: GlyphCache
    private let text: TextRenderer
    /// How much of the picture survives the dimming (0 = black).
    public let keep: Float

    public init(fontPath: String? = nil, keep: Float = 0.35) throws(EPRError) {
        glyphs = try GlyphCache(fontPath: fontPath ?? CompositorOptions.defaultFontPath)
        text = TextRenderer(glyphs: glyphs)
        self.keep = keep
    }

    /// A new yuv420p frame: `source` dimmed, with `message` centred. `source` is not changed.
    public func card(from source: VideoFrame, message: String, sequence: Int, pts: Int64,
                     duration: Int64) throws(EPRError) -> VideoFrame {
        guard let copy = av_frame_clone(source.avFrame) else {
            throw EPRError(.internalFailure, "out of memory copying a frame")
        }
        let frame = VideoFrame(taking: copy, sequence: sequence, pts: pts, timeBase: source.timeBase, duration: duration)
        let status = av_frame_make_writable(copy)
        guard status >= 0, let planes = YUVPlanes(frame: copy) else {
            throw EPRError(.internalFailure, "cannot draw the offline notice: \(ffmpegErrorString(status))")
        }
        copy.pointee.pts = pts
        draw(message, into: planes)
        return frame
    }

    func draw(_ message: String, into planes: YUVPlanes) {
        PixelOps.blendRect(planes, OverlayRect(x: 0, y: 0, width: planes.width, height: planes.height),
                           color: .black, alpha: 1 - keep)
        let size = max(16, planes.height / 18)
        let metrics = text.metrics(size: size)
        let padding = max(4, size / 2)
        let textWidth = text.width(of: message, size: size)
        let box = OverlayRect(x: (planes.width - textWidth) / 2 - padding, y: (planes.height - metrics.height) / 2 - padding,
                              width: textWidth + 2 * padding, height: metrics.height + 2 * padding)
        PixelOps.blendRect(planes, box, color: .black, alpha: 0.7)
        text.draw(message, size: size, x: box.x + padding, baseline: box.y + padding + metrics.ascender,
                  luma: YUVColor.white.y, clip: box, into: planes)
    }
}
