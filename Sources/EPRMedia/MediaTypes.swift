import CFFmpeg
import EPRCore

/// What the source knows about its video stream before decoding starts.
public struct VideoStreamInfo: Sendable {
    public let width: Int
    public let height: Int
    /// Time base of the source stream: the unit of every `VideoFrame.pts` the source hands out.
    public let timeBase: AVRational
    /// Average (or real base) frame rate; 0/1 when unknown.
    public let frameRate: AVRational
    /// Frame count from the container, or duration x frame rate; nil when neither is known.
    public let estimatedFrameCount: Int?
    public let durationSeconds: Double?
    /// FFmpeg's short codec name of the source, e.g. "h264", "hevc", "vp9".
    public let codecName: String
    /// Sample (pixel) aspect ratio; 0/1 when unknown.
    public let sampleAspectRatio: AVRational
    /// The container's start time in microseconds (AV_TIME_BASE units), 0 when unknown. MPEG-TS
    /// files typically start at 1.4 s. Frames keep their source pts; the sink subtracts this from
    /// every stream (as the ffmpeg CLI does), so the output starts at 0 with audio still in sync.
    public let startTime: Int64
    /// Clockwise degrees a player should still turn the pictures (a display matrix the source
    /// left in place: `--no-autorotate`); the sink writes it on. 0 for upright frames.
    public var displayRotation: Double = 0

    public init(width: Int, height: Int, timeBase: AVRational, frameRate: AVRational,
                estimatedFrameCount: Int?, durationSeconds: Double?, codecName: String,
                sampleAspectRatio: AVRational = AVRational(num: 0, den: 1), startTime: Int64 = 0) {
        self.width = width
        self.height = height
        self.timeBase = timeBase
        self.frameRate = frameRate
        self.estimatedFrameCount = estimatedFrameCount
        self.durationSeconds = durationSeconds
        self.codecName = codecName
        self.sampleAspectRatio = sampleAspectRatio
        self.startTime = startTime
    }

    /// The same stream with frames of another size (what an overlay that changes the size writes).
    public func resized(width: Int, height: Int) -> VideoStreamInfo {
        var info = VideoStreamInfo(width: width, height: height, timeBase: timeBase, frameRate: frameRate,
                                   estimatedFrameCount: estimatedFrameCount, durationSeconds: durationSeconds,
                                   codecName: codecName, sampleAspectRatio: sampleAspectRatio, startTime: startTime)
        info.displayRotation = displayRotation
        return info
    }

    /// Frames per second as a Double, nil when unknown.
    public var framesPerSecond: Double? {
        frameRate.num > 0 && frameRate.den > 0 ? av_q2d(frameRate) : nil
    }
}

/// An audio stream of the source, described well enough for a sink to copy it untouched.
/// Owns a copy of the stream's codec parameters.
public final class AudioStreamInfo: @unchecked Sendable {
    /// Index of the stream in the source file (`AudioPacket.sourceStreamIndex` refers to it).
    public let index: Int
    public let timeBase: AVRational
    /// Owned copy of the stream's codec parameters (freed in deinit). Do not mutate.
    public let codecParameters: UnsafeMutablePointer<AVCodecParameters>
    public let codecName: String
    public let durationSeconds: Double?

    /// Copies `parameters`.
    public init(index: Int, timeBase: AVRational, copying parameters: UnsafePointer<AVCodecParameters>,
                durationSeconds: Double?) throws(EPRError) {
        guard let copy = avcodec_parameters_alloc() else {
            throw EPRError(.internalFailure, "out of memory copying audio stream parameters")
        }
        let ret = avcodec_parameters_copy(copy, parameters)
        if ret < 0 {
            var p: UnsafeMutablePointer<AVCodecParameters>? = copy
            avcodec_parameters_free(&p)
            throw EPRError(.internalFailure, "cannot copy audio stream parameters: \(ffmpegErrorString(ret))")
        }
        self.index = index
        self.timeBase = timeBase
        self.codecParameters = copy
        self.codecName = String(cString: avcodec_get_name(copy.pointee.codec_id))
        self.durationSeconds = durationSeconds
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = codecParameters
        avcodec_parameters_free(&p)
    }
}

/// One compressed audio packet straight from the demuxer, for the sink to copy. Owns its `AVPacket`.
public final class AudioPacket: @unchecked Sendable {
    public let packet: UnsafeMutablePointer<AVPacket>
    public let sourceStreamIndex: Int
    public let timeBase: AVRational

    /// Takes ownership of `packet` (freed in deinit).
    public init(taking packet: UnsafeMutablePointer<AVPacket>, sourceStreamIndex: Int, timeBase: AVRational) {
        self.packet = packet
        self.sourceStreamIndex = sourceStreamIndex
        self.timeBase = timeBase
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&p)
    }

    /// Presentation time in seconds (nil when the packet has none).
    public var seconds: Double? {
        packet.pointee.pts == cff_nopts_value() ? nil : Double(packet.pointee.pts) * av_q2d(timeBase)
    }
}

/// What `MediaSource.next()` hands out, in file order.
public enum SourceItem: Sendable {
    case video(VideoFrame)
    case audio(AudioPacket)
}

public struct SourceOptions: Sendable {
    /// Decoder threads; 0 lets FFmpeg pick (one per core).
    public var decoderThreads: Int = 0
    /// Demuxer/protocol options passed to `avformat_open_input` (e.g. rtsp_transport, timeout).
    public var formatOptions: [String: String] = [:]
    /// Bounds every blocking open/probe/read call: armed before each one (see `InterruptDeadline`).
    public var interrupt: InterruptDeadline? = nil
    /// Only the video stream: audio streams are discarded (live sources).
    public var videoOnly = false
    /// Decode with `flags2 +export_mvs` and hand each frame its motion vectors (`VideoFrame.motion`).
    public var exportMotionVectors = false
    /// Turn pictures upright as the stream's display matrix asks (phone videos), as ffmpeg does.
    public var autorotate = true
    /// Demuxer to use instead of probing (FFmpeg's short name, e.g. "h264"); nil = probe.
    public var inputFormat: String? = nil
    /// Fail a packet on the first bitstream error instead of concealing it (err_detect explode).
    public var strictDecoding = false
    public init() {}
}

public struct SinkOptions: Sendable {
    public var crf: Int = 23
    public var preset: String = "veryfast"
    /// Encoder threads; 0 lets libx264 pick.
    public var encoderThreads: Int = 0
    /// MP4/MOV: move the index to the front so playback starts before the download ends.
    public var faststart = true
    /// Live output: write straight to the target (no temporary name), MP4/MOV fragmented
    /// (frag_keyframe+empty_moov+default_base_moof) so a crash leaves a playable file, x264 tuned
    /// for zero latency with a keyframe every `liveKeyframeSeconds`.
    public var live = false
    public var liveKeyframeSeconds = 1.0
    /// Bounds blocking writes to a network output (RTSP); nil = unbounded.
    public var interrupt: InterruptDeadline? = nil
    public init() {}
}

/// FFmpeg logs to stderr at "info" level by default; a CLI wants only its own one-line errors.
public enum FFmpegLog {
    /// Sets libav*'s global log level, e.g. `AV_LOG_ERROR`, `AV_LOG_QUIET`.
    public static func setLevel(_ level: Int32) { av_log_set_level(level) }
    /// Silences FFmpeg's own messages (problems still surface as `EPRError`s and warnings).
    public static func quiet() { av_log_set_level(AV_LOG_QUIET) }
}

// AVERROR_INVALIDDATA = FFERRTAG('I','N','D','A'), a macro Swift cannot import.
let averrorInvalidData: Int32 = -(Int32(0x49) | Int32(0x4E) << 8 | Int32(0x44) << 16 | Int32(0x41) << 24)

let noPTS: Int64 = cff_nopts_value()

func isValid(_ r: AVRational) -> Bool { r.num > 0 && r.den > 0 }
