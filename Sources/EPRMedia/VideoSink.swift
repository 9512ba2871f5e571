import CFFmpeg
import EPRCore
import Foundation

/// Where annotated video goes: a file or a network output (`VideoSink`), or a network output
/// that reconnects (EPRPipeline's `RepublishingOutput`). One owner at a time.
public protocol VideoOutput: AnyObject {
    /// Frames accepted by `write(_:)` so far.
    var framesWritten: Int { get }
    /// Problems that did not stop writing.
    var warnings: [String] { get }
    func write(_ frame: VideoFrame) throws(EPRError)
    func write(_ audio: AudioPacket) throws(EPRError)
    /// Completes the output (playable file, stream ended cleanly).
    func finish() throws(EPRError)
    /// Abandons the output; idempotent.
    func abort()
}

/// Encodes frames to H.264 (libx264, yuv420p) and muxes them, with the source's audio streams
/// copied untouched, into a file whose format follows the extension (mp4 when unknown).
/// The file is written under a temporary name next to the target and renamed by `finish()`, so
/// the target path never holds a half-written file. Not thread-safe: one owner at a time.
public final class VideoSink: VideoOutput, @unchecked Sendable {
    public let path: String
    /// Frames accepted by `write(_:)` so far.
    public private(set) var framesWritten = 0
    /// Problems that did not stop writing (e.g. an audio stream the container cannot hold).
    public private(set) var warnings: [String] = []

    private enum State { case open, finished, failed }
    private var state = State.open
    private let tempPath: String
    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private var encoder: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private let videoStream: UnsafeMutablePointer<AVStream>
    private let width: Int32, height: Int32
    private let encoderTimeBase: AVRational
    private let nominalDuration: Int64
    /// The source's start time (AV_TIME_BASE units), subtracted from every timestamp.
    private let startOffset: Int64
    /// Source audio stream index -> output stream.
    private var audioOutput: [Int: UnsafeMutablePointer<AVStream>] = [:]
    private var lastAudioDTS: [Int: Int64] = [:]
    private var droppedAudio = 0
    private var lastFramePTS: Int64?
    private var lastVideoDTS: Int64?
    private var pendingDurations: [Int64: Int64] = [:]
    private let isNetwork: Bool
    private let interrupt: InterruptDeadline?

    /// rtsp://, rtmp://, srt://, udp://: outputs FFmpeg publishes to rather than a file.
    public static func isNetworkURL(_ path: String) -> Bool {
        guard let scheme = path.split(separator: ":", maxSplits: 1).first, path.contains("://") else { return false }
        return ["rtsp", "rtsps", "rtmp", "srt", "udp", "rtp"].contains(scheme.lowercased())
    }

    static func formatName(forURL url: String) -> String {
        switch url.split(separator: ":", maxSplits: 1).first?.lowercased() ?? "" {
        case "rtsp", "rtsps": return "rtsp"
        case "rtmp": return "flv"
        default: return "mpegts"
        }
    }

    public init(path: String, video: VideoStreamInfo, audio: [AudioStreamInfo],
                options: SinkOptions = SinkOptions()) throws(EPRError) {
        self.path = path
        let target = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw EPRError(.output, "cannot write \(path): it is a directory")
        }
        // A network output (rtsp://...) is published as it goes; a live recording is written in
        // place (fragmented) so that a crash still leaves a playable file; otherwise temp + rename.
        isNetwork = VideoSink.isNetworkURL(path)
        let dir = target.deletingLastPathComponent().path
        tempPath = isNetwork || options.live ? path
            : dir + "/." + target.lastPathComponent + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        interrupt = options.interrupt

        guard video.width > 0, video.height > 0 else {
            throw EPRError(.output, "cannot write \(path): video size \(video.width)x\(video.height) is invalid")
        }
        startOffset = video.startTime
        // yuv420p H.264 needs even sizes: an odd last column/row is cropped off.
        width = Int32(max(2, video.width & ~1))
        height = Int32(max(2, video.height & ~1))

        // Container from the target's extension; mp4 when it names none FFmpeg knows.
        var oformat = isNetwork ? av_guess_format(VideoSink.formatName(forURL: path), nil, nil) : av_guess_format(nil, path, nil)
        if isNetwork && oformat == nil {
            throw EPRError(.output, "cannot write \(path): this FFmpeg build cannot publish to that URL")
        }
        if oformat == nil || oformat!.pointee.video_codec == AV_CODEC_ID_NONE {
            if target.pathExtension.isEmpty || oformat == nil {
                oformat = av_guess_format("mp4", nil, nil)
            } else {
                throw EPRError(.output, "cannot write \(path): the .\(target.pathExtension) format cannot hold video")
            }
        }
        var ctx: UnsafeMutablePointer<AVFormatContext>?
        var ret = avformat_alloc_output_context2(&ctx, oformat, nil, tempPath)
        guard ret >= 0, let fmt = ctx else {
            throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")
        }
        options.interrupt?.install(on: fmt)
        // Live: when one stream pauses (no audio while the source is down) the others wait at
        // most a second in the interleaving queue instead of FFmpeg's default ten.
        if options.live || isNetwork { fmt.pointee.max_interleave_delta = 1_000_000 }
        var ok = false
        var tempCreated = false
        var encLocal: UnsafeMutablePointer<AVCodecContext>?
        let temp = tempPath
        defer {
            if !ok {
                if tempCreated { avio_closep(&fmt.pointee.pb) }
                avformat_free_context(fmt)
                if encLocal != nil { avcodec_free_context(&encLocal) }
                if tempCreated { unlink(temp) }
            }
        }
        var notes: [String] = []
        var audioMap: [Int: UnsafeMutablePointer<AVStream>] = [:]

        // Video encoder.
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw EPRError(.codec, "cannot write \(path): this FFmpeg build has no libx264 H.264 encoder")
        }
        guard let enc = avcodec_alloc_context3(codec) else {
            throw EPRError(.internalFailure, "out of memory allocating the encoder")
        }
        encLocal = enc
        var tb = video.timeBase
        if !isValid(tb) { tb = isValid(video.frameRate) ? av_inv_q(video.frameRate) : AVRational(num: 1, den: 90000) }
        enc.pointee.width = width
        enc.pointee.height = height
        enc.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        enc.pointee.time_base = tb
        if isValid(video.frameRate) { enc.pointee.framerate = video.frameRate }
        if isValid(video.sampleAspectRatio) { enc.pointee.sample_aspect_ratio = video.sampleAspectRatio }
        enc.pointee.thread_count = Int32(max(0, options.encoderThreads))
        if fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            enc.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        var encOptions: OpaquePointer?
        if options.live || isNetwork {
            // No frame reordering delay or lookahead; a keyframe every second or so lets a viewer
            // join quickly and bounds what a crash loses from a fragmented file.
            av_dict_set(&encOptions, "tune", "zerolatency", 0)
            let fps = isValid(video.frameRate) ? av_q2d(video.frameRate) : 25
            enc.pointee.gop_size = Int32(max(1, (fps * options.liveKeyframeSeconds).rounded()))
        }
        av_dict_set(&encOptions, "preset", options.preset, 0)
        av_dict_set(&encOptions, "crf", String(options.crf), 0)
        ret = avcodec_open2(enc, codec, &encOptions)
        av_dict_free(&encOptions)
        if ret < 0 {
            throw EPRError(.codec, "cannot open the H.264 encoder for \(path) (\(video.width)x\(video.height), preset \(options.preset), crf \(options.crf)): \(ffmpegErrorString(ret))")
        }
        encoderTimeBase = enc.pointee.time_base
        nominalDuration = isValid(video.frameRate) ? max(1, av_rescale_q(1, av_inv_q(video.frameRate), encoderTimeBase)) : 1

        guard let vst = avformat_new_stream(fmt, nil) else {
            throw EPRError(.internalFailure, "out of memory adding the video stream")
        }
        ret = avcodec_parameters_from_context(vst.pointee.codecpar, enc)
        if ret < 0 { throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))") }
        vst.pointee.time_base = encoderTimeBase
        if isValid(video.frameRate) { vst.pointee.avg_frame_rate = video.frameRate }
        if isValid(video.sampleAspectRatio) { vst.pointee.sample_aspect_ratio = video.sampleAspectRatio }
        videoStream = vst

        // Audio: copied as is.
        for info in audio {
            let par = info.codecParameters
            if avformat_query_codec(fmt.pointee.oformat, par.pointee.codec_id, FF_COMPLIANCE_NORMAL) == 0 {
                notes.append("audio stream \(info.index) (\(info.codecName)) cannot be stored in \(path); dropped (a .mkv or .mov output keeps it)")
                continue
            }
            guard let ast = avformat_new_stream(fmt, nil) else {
                throw EPRError(.internalFailure, "out of memory adding an audio stream")
            }
            ret = avcodec_parameters_copy(ast.pointee.codecpar, par)
            if ret < 0 { throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))") }
            ast.pointee.codecpar.pointee.codec_tag = 0
            ast.pointee.time_base = info.timeBase
            audioMap[info.index] = ast
        }

        // File and header.
        if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            ret = avio_open(&fmt.pointee.pb, tempPath, AVIO_FLAG_WRITE)
            if ret < 0 { throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))") }
            tempCreated = !isNetwork
        }
        var muxOptions: OpaquePointer?
        let formatName = String(cString: fmt.pointee.oformat.pointee.name)
        let isMOV = formatName == "mp4" || formatName == "mov" || formatName == "ipod"
        if options.live && isMOV {
            av_dict_set(&muxOptions, "movflags", "+frag_keyframe+empty_moov+default_base_moof", 0)
        } else if options.faststart && !isNetwork {
            av_dict_set(&muxOptions, "movflags", "+faststart", 0)
        }
        if formatName == "rtsp" { av_dict_set(&muxOptions, "rtsp_transport", "tcp", 0) }
        options.interrupt?.arm()
        ret = avformat_write_header(fmt, &muxOptions)
        av_dict_free(&muxOptions)
        if ret < 0 {
            if let deadline = options.interrupt, deadline.fired {
                throw EPRError(.output, "cannot write \(path): no answer within \(String(format: "%g", deadline.timeout)) s")
            }
            throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")
        }
        // The muxer may have changed each stream's time_base: always read it back from the stream.

        guard let pkt = av_packet_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a packet") }
        packet = pkt
        formatContext = fmt
        encoder = enc
        warnings = notes
        audioOutput = audioMap
        ok = true
    }

    deinit {
        if state == .open { discard() }
    }

    /// Encodes one frame at its own timestamp (rescaled to the encoder's time base), so variable
    /// frame rate survives. Frames of another size or pixel format are converted.
    public func write(_ frame: VideoFrame) throws(EPRError) {
        guard state == .open, let enc = encoder else { throw closedError() }
        guard let f = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
        var owned: UnsafeMutablePointer<AVFrame>? = f
        defer { av_frame_free(&owned) }
        let src = frame.avFrame
        var ret: Int32
        let extraX = src.pointee.width - width, extraY = src.pointee.height - height
        if src.pointee.format == AV_PIX_FMT_YUV420P.rawValue && (0...1).contains(extraX) && (0...1).contains(extraY) {
            ret = av_frame_ref(f, src)
            if ret >= 0 && (extraX > 0 || extraY > 0) {
                f.pointee.crop_left = 0
                f.pointee.crop_top = 0
                f.pointee.crop_right = Int(extraX)
                f.pointee.crop_bottom = Int(extraY)
                ret = av_frame_apply_cropping(f, Int32(AV_FRAME_CROP_UNALIGNED))
            }
        } else {
            scaler = sws_getCachedContext(scaler, src.pointee.width, src.pointee.height,
                                          AVPixelFormat(rawValue: src.pointee.format), width, height,
                                          AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
            guard let sws = scaler else { throw fail(EPRError(.codec, "cannot convert a frame to yuv420p for \(path)")) }
            f.pointee.width = width
            f.pointee.height = height
            f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            ret = av_frame_get_buffer(f, 0)
            if ret >= 0 { ret = sws_scale_frame(sws, f, src) }
        }
        if ret < 0 { throw fail(EPRError(.codec, "cannot prepare a frame for \(path): \(ffmpegErrorString(ret))")) }

        var pts = av_rescale_q(frame.pts, frame.timeBase, encoderTimeBase)
            - av_rescale_q(startOffset, cff_time_base_q(), encoderTimeBase)
        if let last = lastFramePTS, pts <= last { pts = last + 1 }  // the encoder needs increasing pts
        lastFramePTS = pts
        var duration = frame.duration > 0 ? av_rescale_q(frame.duration, frame.timeBase, encoderTimeBase) : 0
        if duration <= 0 { duration = nominalDuration }
        pendingDurations[pts] = duration
        f.pointee.pts = pts
        f.pointee.pkt_duration = duration
        f.pointee.pict_type = AV_PICTURE_TYPE_NONE
        f.pointee.key_frame = 0

        ret = avcodec_send_frame(enc, f)
        if ret < 0 { throw fail(EPRError(.codec, "H.264 encoding failed for \(path): \(ffmpegErrorString(ret))")) }
        framesWritten += 1
        try drainEncoder()
    }

    /// Copies one source audio packet, rescaled to its output stream. Packets of streams the
    /// sink does not carry are ignored.
    public func write(_ audio: AudioPacket) throws(EPRError) {
        guard state == .open, let fmt = formatContext else { throw closedError() }
        guard let st = audioOutput[audio.sourceStreamIndex] else { return }
        guard let p = av_packet_clone(audio.packet) else { throw EPRError(.internalFailure, "out of memory copying a packet") }
        var owned: UnsafeMutablePointer<AVPacket>? = p
        defer { av_packet_free(&owned) }
        av_packet_rescale_ts(p, audio.timeBase, st.pointee.time_base)
        let shift = av_rescale_q(startOffset, cff_time_base_q(), st.pointee.time_base)
        if shift != 0 {
            if p.pointee.pts != noPTS { p.pointee.pts -= shift }
            if p.pointee.dts != noPTS { p.pointee.dts -= shift }
        }
        p.pointee.stream_index = st.pointee.index
        p.pointee.pos = -1
        if p.pointee.dts != noPTS {
            if let last = lastAudioDTS[audio.sourceStreamIndex], p.pointee.dts <= last {
                droppedAudio += 1   // the muxer rejects non-increasing DTS; such a packet is broken anyway
                return
            }
            lastAudioDTS[audio.sourceStreamIndex] = p.pointee.dts
        }
        let ret = av_interleaved_write_frame(fmt, p)
        if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
    }

    /// Flushes the encoder, writes the trailer (with faststart, the index moves to the front) and
    /// renames the file to its target path. Afterwards the file is complete and playable.
    public func finish() throws(EPRError) {
        guard state == .open, let enc = encoder, let fmt = formatContext else { throw closedError() }
        var ret = avcodec_send_frame(enc, nil)
        if ret < 0 { throw fail(EPRError(.codec, "H.264 encoding failed for \(path): \(ffmpegErrorString(ret))")) }
        try drainEncoder()
        if droppedAudio > 0 { warnings.append("\(droppedAudio) audio packet(s) with out-of-order timestamps dropped") }
        interrupt?.arm()
        ret = av_write_trailer(fmt)
        if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
        if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            ret = avio_closep(&fmt.pointee.pb)
            if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
        }
        if tempPath != path, rename(tempPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            throw fail(EPRError(.output, "cannot write \(path): \(reason)"))
        }
        releaseContexts()
        state = .finished
    }

    /// Abandons the output: nothing is left at the target path or under the temporary name.
    /// Idempotent; does nothing after `finish()`.
    public func abort() {
        if state == .open { discard() }
    }

    /// Same as `abort()`.
    public func cancel() { abort() }

    // MARK: - Internals

    private func drainEncoder() throws(EPRError) {
        guard let enc = encoder, let fmt = formatContext, let pkt = packet else { return }
        while true {
            var ret = avcodec_receive_packet(enc, pkt)
            if ret == cff_averror_eagain() || ret == cff_averror_eof() { return }
            if ret < 0 { throw fail(EPRError(.codec, "H.264 encoding failed for \(path): \(ffmpegErrorString(ret))")) }
            // libx264 leaves durations 0: use the frame's own.
            let d = pendingDurations.removeValue(forKey: pkt.pointee.pts)
            if pkt.pointee.duration <= 0 { pkt.pointee.duration = d ?? nominalDuration }
            av_packet_rescale_ts(pkt, encoderTimeBase, videoStream.pointee.time_base)
            if pkt.pointee.dts != noPTS {
                if let last = lastVideoDTS, pkt.pointee.dts <= last { pkt.pointee.dts = last + 1 }
                if pkt.pointee.pts != noPTS && pkt.pointee.pts < pkt.pointee.dts { pkt.pointee.pts = pkt.pointee.dts }
                lastVideoDTS = pkt.pointee.dts
            }
            pkt.pointee.stream_index = videoStream.pointee.index
            interrupt?.arm()
            ret = av_interleaved_write_frame(fmt, pkt)
            av_packet_unref(pkt)
            if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
        }
    }

    private func closedError() -> EPRError {
        EPRError(.output, state == .finished ? "cannot write \(path): the output is already finished"
                                            : "cannot write \(path): the output was abandoned after an error")
    }

    /// Records the failure, removes the partial file and returns the error to throw.
    private func fail(_ error: EPRError) -> EPRError {
        if state == .open { discard() }
        return error
    }

    private func discard() {
        // A live recording written in place keeps what it has (fragments already on disk play).
        let keep = tempPath == path && !isNetwork && framesWritten > 0
        if let fmt = formatContext {
            // A network muxer closes its connections in the trailer (RTSP: TEARDOWN), best effort.
            if keep || isNetwork { interrupt?.arm(); _ = av_write_trailer(fmt) }
            if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&fmt.pointee.pb) }
        }
        releaseContexts()
        if !keep && !isNetwork { unlink(tempPath) }
        state = .failed
    }

    private func releaseContexts() {
        if let fmt = formatContext { avformat_free_context(fmt); formatContext = nil }
        if encoder != nil { avcodec_free_context(&encoder) }
        if packet != nil { av_packet_free(&packet) }
        if let s = scaler { sws_freeContext(s); scaler = nil }
    }
}
