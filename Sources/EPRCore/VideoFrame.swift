import CFFmpeg

/// A decoded picture travelling through the pipeline. It owns its `AVFrame` and carries the
/// sequence number and source timestamp from the demuxer to the muxer unchanged, so every later
/// stage can tell exactly which frame it holds.
public final class VideoFrame: @unchecked Sendable {
    /// The decoded picture (normally yuv420p). Owned: freed when this object goes away.
    public let avFrame: UnsafeMutablePointer<AVFrame>
    /// 0-based position in decode order of the source, counted without gaps.
    public let sequence: Int
    /// Presentation timestamp in `timeBase` units, as the source gave it.
    public let pts: Int64
    /// Time base of `pts` (the source stream's).
    public let timeBase: AVRational
    /// Duration in `timeBase` units, 0 when unknown.
    public let duration: Int64
    /// The decoder's motion vectors (sources opened with `exportMotionVectors`); nil for a frame
    /// without any (intra frames, codecs that have none).
    public let motion: MotionVectors?

    /// Takes ownership of `avFrame`.
    public init(taking avFrame: UnsafeMutablePointer<AVFrame>, sequence: Int, pts: Int64,
                timeBase: AVRational, duration: Int64, motion: MotionVectors? = nil) {
        self.avFrame = avFrame
        self.sequence = sequence
        self.pts = pts
        self.timeBase = timeBase
        self.duration = duration
        self.motion = motion
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = avFrame
        av_frame_free(&frame)
    }

    public var width: Int { Int(avFrame.pointee.width) }
    public var height: Int { Int(avFrame.pointee.height) }
    public var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: avFrame.pointee.format) }

    /// Presentation time in seconds.
    public var seconds: Double { Double(pts) * av_q2d(timeBase) }
}
