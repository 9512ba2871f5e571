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
/// A regular file is written under a temporary name next to the target and renamed by `finish()`,
/// so the target path never holds a half-written file; `-` (stdout), a FIFO or a device is written
/// in place as a fragmented stream and never renamed over. Not thread-safe: one owner at a time.
public final class VideoSink: VideoOutput {
    public let path: String
    /// Frames accepted by `write(_:)` so far.
    public private(set) var framesWritten = 0
    /// Problems that did not stop writing (e.g. an audio stream the container cannot hold).
    public private(set) var warnings: [String] = []

    private enum State { case open, finished, failed }
    private var state = State.open
    private let tempPath: String
    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private var encoder: H264Encoder?
    private let videoStream: UnsafeMutablePointer<AVStream>
    /// The source's start time (AV_TIME_BASE units), subtracted from audio timestamps (the
    /// encoder does the same for video).
    private let startOffset: Int64
    /// Source audio stream index -> output stream.
    private var audioOutput: [Int: UnsafeMutablePointer<AVStream>] = [:]
    private var lastAudioDTS: [Int: Int64] = [:]
    private var droppedAudio = 0
    private var lastVideoDTS: Int64?
    private let isNetwork: Bool
    /// stdout, a FIFO or a device: written in place, never unlinked or renamed.
    private let isStream: Bool
    /// Written at the target itself (network, stream, live recording) rather than temp + rename.
    private let inPlace: Bool
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
        isStream = !isNetwork && OutputTarget.isStream(path)
        inPlace = isNetwork || isStream || options.live
        tempPath = inPlace ? OutputTarget.ioName(path) : OutputTarget.partialName(for: target)
        if !inPlace { OutputTarget.removeStalePartials(of: target) }
        interrupt = options.interrupt

        guard video.width > 0, video.height > 0 else {
            throw EPRError(.output, "cannot write \(path): video size \(video.width)x\(video.height) is invalid")
        }
        startOffset = video.startTime

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
        let temp = tempPath
        defer {
            if !ok {
                if tempCreated { avio_closep(&fmt.pointee.pb) }
                avformat_free_context(fmt)
                if tempCreated { unlink(temp) }
            }
        }
        var notes: [String] = []
        var audioMap: [Int: UnsafeMutablePointer<AVStream>] = [:]

        // Video encoder. Live and network outputs: no reordering delay or lookahead, and a keyframe
        // every second or so lets a viewer join quickly and bounds what a crash loses from a
        // fragmented file.
        let enc = try H264Encoder(label: path, video: video, options: options, lowLatency: options.live || isNetwork,
                                  keyframeSeconds: options.liveKeyframeSeconds,
                                  globalHeader: fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0)

        guard let vst = avformat_new_stream(fmt, nil) else {
            throw EPRError(.internalFailure, "out of memory adding the video stream")
        }
        try enc.copyParameters(to: vst.pointee.codecpar)
        vst.pointee.time_base = enc.timeBase
        if isValid(video.frameRate) { vst.pointee.avg_frame_rate = video.frameRate }
        if isValid(video.sampleAspectRatio) { vst.pointee.sample_aspect_ratio = video.sampleAspectRatio }
        if video.displayRotation != 0,
           let matrix = av_stream_new_side_data(vst, AV_PKT_DATA_DISPLAYMATRIX, 9 * MemoryLayout<Int32>.size) {
            // av_display_rotation_set takes clockwise degrees (av_display_rotation_get answers counter-clockwise).
            matrix.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_set($0, video.displayRotation) }
        }
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
            tempCreated = !isNetwork && !isStream
        }
        var muxOptions: OpaquePointer?
        let formatName = String(cString: fmt.pointee.oformat.pointee.name)
        let isMOV = formatName == "mp4" || formatName == "mov" || formatName == "ipod"
        if (options.live || isStream) && isMOV {
            av_dict_set(&muxOptions, "movflags", "+frag_keyframe+empty_moov+default_base_moof", 0)
        } else if options.faststart && !isNetwork && !isStream {
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
        do throws(EPRError) {
            try enc.encode(frame) { (pkt) throws(EPRError) in try mux(pkt) }
        } catch {
            throw fail(error)
        }
        framesWritten += 1
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
        do throws(EPRError) {
            try enc.finish { (pkt) throws(EPRError) in try mux(pkt) }
        } catch {
            throw fail(error)
        }
        var ret: Int32
        if droppedAudio > 0 { warnings.append("\(droppedAudio) audio packet(s) with out-of-order timestamps dropped") }
        interrupt?.arm()
        ret = av_write_trailer(fmt)
        if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
        if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            ret = avio_closep(&fmt.pointee.pb)
            if ret < 0 { throw fail(EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))")) }
        }
        if !inPlace, rename(tempPath, path) != 0 {
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

    /// Writes one encoded packet: rescaled to the stream, DTS strictly increasing.
    private func mux(_ pkt: UnsafeMutablePointer<AVPacket>) throws(EPRError) {
        guard let enc = encoder, let fmt = formatContext else { return }
        av_packet_rescale_ts(pkt, enc.timeBase, videoStream.pointee.time_base)
        if pkt.pointee.dts != noPTS {
            if let last = lastVideoDTS, pkt.pointee.dts <= last { pkt.pointee.dts = last + 1 }
            if pkt.pointee.pts != noPTS && pkt.pointee.pts < pkt.pointee.dts { pkt.pointee.pts = pkt.pointee.dts }
            lastVideoDTS = pkt.pointee.dts
        }
        pkt.pointee.stream_index = videoStream.pointee.index
        interrupt?.arm()
        let ret = av_interleaved_write_frame(fmt, pkt)
        if ret < 0 { throw EPRError(.output, "cannot write \(path): \(ffmpegErrorString(ret))") }
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
        // A stream (stdout, FIFO, device) is never unlinked: it is not ours.
        let keep = inPlace && !isNetwork && framesWritten > 0
        if let fmt = formatContext {
            // A network muxer closes its connections in the trailer (RTSP: TEARDOWN), best effort.
            if keep || isNetwork || isStream { interrupt?.arm(); _ = av_write_trailer(fmt) }
            if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&fmt.pointee.pb) }
        }
        releaseContexts()
        if !keep && !isNetwork && !isStream { unlink(tempPath) }
        state = .failed
    }

    private func releaseContexts() {
        if let fmt = formatContext { avformat_free_context(fmt); formatContext = nil }
        encoder = nil
    }
}
