import CFFmpeg
import EPRCore
import Foundation

/// Demuxes and decodes one file (or URL FFmpeg can open): the best video stream is decoded to
/// yuv420p frames in presentation order; packets of every audio stream are handed out untouched
/// for the sink to copy. Not thread-safe: one owner calls `next()` at a time.
public final class MediaSource {
    public let url: String
    public private(set) var video: VideoStreamInfo
    public let audioStreams: [AudioStreamInfo]
    /// Problems that did not stop decoding, one line each (truncation, corrupt data).
    public private(set) var warnings: [String] = []
    /// Frames handed out so far.
    public private(set) var framesDecoded = 0

    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    /// The bytes a memory source reads (outlives `formatContext`, which reads through it).
    private let memory: MemoryInput?
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    /// Any pixel format or size -> yuv420p at the stored picture's size.
    private lazy var converter = YUV420Scaler(width: storedWidth, height: storedHeight)
    private let storedWidth: Int
    private let storedHeight: Int
    /// Turns pictures upright per the display matrix; nil when they are (or `autorotate` is off).
    private let rotator: FrameRotator?
    /// The display matrix's clockwise rotation in degrees (0 without one), applied or not.
    public let displayRotation: Double
    private let videoIndex: Int32
    private let audioByIndex: [Int32: AudioStreamInfo]
    /// Audio streams read only for where they end (time base each), their packets dropped.
    private let audioEndOnly: [Int32: AVRational]
    /// One frame's duration in stream time base, from the frame rate (1 if unknown).
    private let nominalFrameDuration: Int64
    /// Expected end of the video in stream time base, and how short of it counts as truncation.
    /// Where the content should end (seconds), to tell a truncated file from a complete one; with
    /// `endIsContainerWide` it is the container's duration, which audio may set.
    private let expectedEnd: Double?
    private let endIsContainerWide: Bool
    private let truncationTolerance: Double
    private var audioEnd: Double?

    private var draining = false
    private var finished = false
    private var lastPts: Int64?
    private var lastEnd: Int64?
    private var readError: Int32?
    private let interrupt: InterruptDeadline?
    private var reading = false
    /// Why reading stopped: nil while reading, or at a clean end of input; FFmpeg's error otherwise.
    public var endError: Int32? { readError }
    /// Wall-clock time (microseconds since 1970) of the stream's pts 0 when the source knows it
    /// (RTSP: from the first RTCP sender report); 0 when unknown.
    public var startTimeRealtime: Int64 { formatContext?.pointee.start_time_realtime ?? 0 }
    private var firstDamage: (frame: Int, text: String)?
    private var damageCount = 0
    /// With motion vectors: each video packet's place in decode order, by pts, until its frame
    /// comes out (`MotionVectors.decodeOrder`; bounded: cleared past 64 unclaimed).
    private let tracksDecodeOrder: Bool
    private var decodeOrderByPts: [Int64: Int] = [:]
    private var videoPacketsSent = 0

    public convenience init(url: String, options: SourceOptions = SourceOptions()) throws(EPRError) {
        try self.init(url: url, options: options, memory: nil)
    }

    /// Demuxes `bytes` (copied) as if they were a file; `name` stands for it in messages.
    public convenience init(bytes: UnsafeRawBufferPointer, name: String, options: SourceOptions = SourceOptions()) throws(EPRError) {
        try self.init(url: name, options: options, memory: try MemoryInput(copying: bytes))
    }

    private init(url: String, options: SourceOptions, memory: MemoryInput?) throws(EPRError) {
        self.url = url
        self.memory = memory
        let isLocal = memory == nil && (!url.contains("://") || url.hasPrefix("file:"))
        let isNetwork = memory == nil && !isLocal
        if isLocal {
            let path = url.hasPrefix("file:") ? String(url.dropFirst(5)) : url
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw EPRError(.input, "input not found: \(url)")
            }
            if isDir.boolValue {
                throw EPRError(.input, "cannot read \(url): it is a directory, not a video file")
            }
        }

        interrupt = options.interrupt
        var ctx: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        guard let allocated = ctx else { throw EPRError(.internalFailure, "out of memory allocating a demuxer") }
        options.interrupt?.install(on: allocated)
        if let memory { allocated.pointee.pb = memory.context }   // custom I/O: the demuxer never frees it
        var openOptions: OpaquePointer?
        for (key, value) in options.formatOptions { av_dict_set(&openOptions, key, value, 0) }
        options.interrupt?.arm()
        let forced = options.inputFormat.flatMap { av_find_input_format($0) }
        var ret = avformat_open_input(&ctx, url, forced, &openOptions)   // frees ctx on failure
        av_dict_free(&openOptions)
        if ret < 0, let deadline = options.interrupt, deadline.fired, !deadline.isAborted {
            throw EPRError(.stream, "cannot read \(url): no answer within \(String(format: "%g", deadline.timeout)) s")
        }
        guard ret >= 0, let fmt = ctx else {
            if isLocal, let why = MP4IndexCheck.missingIndex(path: url.hasPrefix("file:") ? String(url.dropFirst(5)) : url) {
                throw EPRError(.input, "cannot read \(url): \(why)")
            }
            if isNetwork, let why = HostCheck.unresolvable(url: url) {
                throw EPRError(.input, "cannot read \(url): \(why)")
            }
            if ret == averrorInvalidData {
                throw EPRError(.input, "cannot read \(url): not a video file (\(ffmpegErrorString(ret)))")
            }
            throw EPRError(.input, "cannot read \(url): \(ffmpegErrorString(ret))")
        }
        var ownedFormat: UnsafeMutablePointer<AVFormatContext>? = fmt
        var ok = false
        defer { if !ok { avformat_close_input(&ownedFormat) } }

        options.interrupt?.arm()
        ret = avformat_find_stream_info(fmt, nil)
        if ret < 0, let deadline = options.interrupt, deadline.fired || deadline.isAborted {
            throw EPRError(.stream, "cannot read \(url): no stream information within \(String(format: "%g", deadline.timeout)) s")
        }
        if ret < 0 {
            throw EPRError(.input, "cannot read \(url): not a video file (\(ffmpegErrorString(ret)))")
        }

        let best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0, let stream = fmt.pointee.streams[Int(best)] else {
            throw EPRError(.input, "no video stream in \(url)")
        }
        let par = stream.pointee.codecpar!
        let codecName = MediaSource.describeCodec(par)
        guard par.pointee.codec_id != AV_CODEC_ID_NONE, let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            throw EPRError(.codec, "unsupported video codec '\(codecName)' in \(url): this FFmpeg build cannot decode it")
        }
        guard par.pointee.width > 0, par.pointee.height > 0 else {
            throw EPRError(.input, "cannot read \(url): video stream (\(codecName)) has no picture size")
        }

        guard let dec = avcodec_alloc_context3(codec) else {
            throw EPRError(.internalFailure, "out of memory allocating a decoder")
        }
        var ownedDecoder: UnsafeMutablePointer<AVCodecContext>? = dec
        defer { if !ok { avcodec_free_context(&ownedDecoder) } }
        ret = avcodec_parameters_to_context(dec, par)
        if ret < 0 {
            throw EPRError(.codec, "cannot set up the \(codecName) decoder for \(url): \(ffmpegErrorString(ret))")
        }
        dec.pointee.pkt_timebase = stream.pointee.time_base
        dec.pointee.thread_count = Int32(max(0, options.decoderThreads))
        if options.exportMotionVectors {
            dec.pointee.flags2 |= AV_CODEC_FLAG2_EXPORT_MVS
            // Frame threads export a frame's vectors while another thread may still be decoding
            // it: under load some frames came out with none. Slice threads finish each frame first.
            dec.pointee.thread_type = FF_THREAD_SLICE
        }
        tracksDecodeOrder = options.exportMotionVectors
        if options.strictDecoding { dec.pointee.err_recognition |= AV_EF_EXPLODE }
        ret = avcodec_open2(dec, codec, nil)
        if ret < 0 {
            throw EPRError(.codec, "cannot open the \(codecName) decoder for \(url): \(ffmpegErrorString(ret))")
        }

        // Streams: the chosen video and every audio stream; everything else is skipped by the demuxer.
        // Audio left out (videoOnly) is still read where only the container's duration is known
        // (Matroska), because its end may set that duration: without it a longer audio track
        // would make the video look truncated.
        let endIsContainers = !(stream.pointee.duration > 0 && stream.pointee.duration != noPTS)
            && fmt.pointee.duration > 0 && fmt.pointee.duration != noPTS
        var audio: [AudioStreamInfo] = []
        var endOnly: [Int32: AVRational] = [:]
        for i in 0..<Int(fmt.pointee.nb_streams) {
            guard let st = fmt.pointee.streams[i] else { continue }
            if i == Int(best) { continue }
            if !options.videoOnly, st.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO,
               st.pointee.codecpar.pointee.codec_id != AV_CODEC_ID_NONE {
                let info = try AudioStreamInfo(index: i, timeBase: st.pointee.time_base,
                                               copying: st.pointee.codecpar,
                                               durationSeconds: MediaSource.durationSeconds(st, fmt))
                audio.append(info)
            } else if options.videoOnly, endIsContainers, st.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO {
                endOnly[Int32(i)] = st.pointee.time_base
            } else {
                st.pointee.discard = AVDISCARD_ALL
            }
        }

        // Stream facts.
        let tb = stream.pointee.time_base
        storedWidth = Int(par.pointee.width)
        storedHeight = Int(par.pointee.height)
        displayRotation = FrameRotator.displayRotation(of: stream)
        rotator = options.autorotate
            ? FrameRotator(degrees: displayRotation, storedWidth: storedWidth, storedHeight: storedHeight) : nil
        var aspect = av_guess_sample_aspect_ratio(fmt, stream, nil)
        if let rotator, rotator.swapsSides, isValid(aspect) { aspect = av_inv_q(aspect) }
        var rate = stream.pointee.avg_frame_rate
        if !isValid(rate) { rate = stream.pointee.r_frame_rate }
        if !isValid(rate) { rate = AVRational(num: 0, den: 1) }
        let duration = MediaSource.durationSeconds(stream, fmt)
        var count: Int? = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
        if count == nil, let d = duration, isValid(rate) { count = Int((d * av_q2d(rate)).rounded()) }
        video = VideoStreamInfo(width: rotator?.width ?? storedWidth, height: rotator?.height ?? storedHeight,
                                timeBase: tb, frameRate: rate, estimatedFrameCount: count,
                                durationSeconds: duration, codecName: codecName,
                                sampleAspectRatio: aspect,
                                startTime: fmt.pointee.start_time != noPTS ? fmt.pointee.start_time : 0)
        if rotator == nil { video.displayRotation = displayRotation }
        audioStreams = audio
        audioByIndex = Dictionary(uniqueKeysWithValues: audio.map { (Int32($0.index), $0) })
        audioEndOnly = endOnly
        videoIndex = best

        let frameDur = isValid(rate) ? av_rescale_q(1, av_inv_q(rate), tb) : 0
        nominalFrameDuration = max(1, frameDur)
        // Where the content should end, to tell a truncated file from a complete one.
        let frameSeconds = isValid(rate) ? 1 / av_q2d(rate) : 0
        let start = stream.pointee.start_time != noPTS ? stream.pointee.start_time : 0
        if stream.pointee.duration > 0 && stream.pointee.duration != noPTS {
            // In Double: a hostile file's start and duration can overflow Int64 when added (found by fuzzing).
            expectedEnd = (Double(start) + Double(stream.pointee.duration)) * av_q2d(tb)
            endIsContainerWide = false
            truncationTolerance = 2 * frameSeconds + 0.1
        } else if fmt.pointee.duration > 0 && fmt.pointee.duration != noPTS {
            // Matroska and others give only the container's duration, which covers every stream:
            // compared with whichever of video and audio ends last, leniently.
            let fmtStart = fmt.pointee.start_time != noPTS ? fmt.pointee.start_time : 0
            expectedEnd = (Double(fmtStart) + Double(fmt.pointee.duration)) / Double(AV_TIME_BASE)
            endIsContainerWide = true
            truncationTolerance = 2 * frameSeconds + 1.0
        } else {
            expectedEnd = nil
            endIsContainerWide = false
            truncationTolerance = 0
        }

        guard let pkt = av_packet_alloc(), let frm = av_frame_alloc() else {
            throw EPRError(.internalFailure, "out of memory allocating packet/frame")
        }
        packet = pkt
        frame = frm
        formatContext = fmt
        decoder = dec
        ok = true
        if options.autorotate && displayRotation != 0 && rotator == nil {
            warnings.append(String(format: "the display matrix asks for a %g degree rotation: only quarter turns are applied; frames kept as stored", displayRotation))
        }
    }

    deinit { close() }

    /// Releases the file and decoder. Idempotent; `next()` returns nil afterwards.
    public func close() {
        if formatContext != nil { avformat_close_input(&formatContext) }
        if decoder != nil { avcodec_free_context(&decoder) }
        if packet != nil { av_packet_free(&packet) }
        if frame != nil { av_frame_free(&frame) }
        finished = true
    }

    /// The next video frame (presentation order, sequence 0, 1, 2, ...) or audio packet (file order);
    /// nil at the end. A file damaged mid-stream ends early with a warning, not an error.
    public func next() throws(EPRError) -> SourceItem? {
        guard !finished, let fmt = formatContext, let dec = decoder, let pkt = packet, let frm = frame else {
            return nil
        }
        var consecutiveErrors = 0
        while true {
            // 1. A decoded frame waiting?
            let r = avcodec_receive_frame(dec, frm)
            if r >= 0 {
                return .video(try makeFrame(frm))
            }
            if r == cff_averror_eof() {
                endOfStream()
                return nil
            }
            if r != cff_averror_eagain() {
                noteDamage(r)
                consecutiveErrors += 1
                if consecutiveErrors > 100 { endOfStream(); return nil }
                if draining { continue }
            }
            if draining {
                // EAGAIN while draining should not happen; end rather than spin.
                endOfStream()
                return nil
            }

            // 2. Feed the decoder, or hand out audio. A network source's deadline runs from the
            // last packet that arrived (or the first read): silence longer than the timeout ends it.
            if !reading { interrupt?.arm(); reading = true }
            let rr = av_read_frame(fmt, pkt)
            // (A packet the demuxer releases *because* the deadline cut its wait short - RTSP
            // flushes its queue - does not restart the clock: the next read ends at once.)
            if rr >= 0, let deadline = interrupt, !deadline.fired { deadline.arm() }
            if rr == cff_averror_eagain() {
                usleep(1000)
                continue
            }
            if rr < 0 {
                if rr != cff_averror_eof() { readError = rr }
                if let pb = fmt.pointee.pb, pb.pointee.error < 0, readError == nil { readError = pb.pointee.error }
                _ = avcodec_send_packet(dec, nil)
                draining = true
                continue
            }
            let index = pkt.pointee.stream_index
            if index == videoIndex {
                if pkt.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                    noteDamage(text: "corrupt packet")
                }
                if tracksDecodeOrder, pkt.pointee.pts != noPTS {
                    if decodeOrderByPts.count >= 64 { decodeOrderByPts.removeAll(keepingCapacity: true) }
                    decodeOrderByPts[pkt.pointee.pts] = videoPacketsSent
                }
                videoPacketsSent += 1
                let s = avcodec_send_packet(dec, pkt)
                av_packet_unref(pkt)
                if s < 0 && s != cff_averror_eagain() {
                    noteDamage(s)
                    consecutiveErrors += 1
                    if consecutiveErrors > 100 { endOfStream(); return nil }
                }
                continue
            }
            if let info = audioByIndex[index] {
                guard let fresh = av_packet_alloc() else {
                    throw EPRError(.internalFailure, "out of memory allocating a packet")
                }
                packet = fresh
                if pkt.pointee.pts != noPTS {
                    let end = (Double(pkt.pointee.pts) + Double(max(0, pkt.pointee.duration))) * av_q2d(info.timeBase)
                    audioEnd = max(audioEnd ?? end, end)
                }
                return .audio(AudioPacket(taking: pkt, sourceStreamIndex: Int(index), timeBase: info.timeBase))
            }
            if let tb = audioEndOnly[index], pkt.pointee.pts != noPTS {
                let end = (Double(pkt.pointee.pts) + Double(max(0, pkt.pointee.duration))) * av_q2d(tb)
                audioEnd = max(audioEnd ?? end, end)
            }
            av_packet_unref(pkt)
        }
    }

    // MARK: - Internals

    private func makeFrame(_ frm: UnsafeMutablePointer<AVFrame>) throws(EPRError) -> VideoFrame {
        let tb = video.timeBase
        var pts = frm.pointee.best_effort_timestamp
        if pts == noPTS { pts = frm.pointee.pts }
        if pts == noPTS {
            pts = lastEnd ?? 0
        }
        var duration = cff_frame_duration(frm)
        if duration <= 0 { duration = isValid(video.frameRate) ? nominalFrameDuration : 0 }
        lastPts = pts
        lastEnd = pts &+ max(duration, isValid(video.frameRate) ? 0 : 1)  // wrapping: hostile timestamps must not trap
        var motion = MediaSource.motionVectors(of: frm)
        if frm.pointee.pts != noPTS, let order = decodeOrderByPts.removeValue(forKey: frm.pointee.pts) {
            motion?.decodeOrder = order
        }

        var out: UnsafeMutablePointer<AVFrame>
        if frm.pointee.format == AV_PIX_FMT_YUV420P.rawValue
            && Int(frm.pointee.width) == storedWidth && Int(frm.pointee.height) == storedHeight {
            guard let moved = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
            av_frame_move_ref(moved, frm)
            out = moved
        } else {
            out = try converter.scale(frm, what: url)
            av_frame_unref(frm)
        }
        if let rotator {
            var stored: UnsafeMutablePointer<AVFrame>? = out
            defer { av_frame_free(&stored) }
            out = try rotator.rotate(out)
            motion = motion.map(rotator.rotate)
        }
        out.pointee.pts = pts
        let item = VideoFrame(taking: out, sequence: framesDecoded, pts: pts, timeBase: tb, duration: duration, motion: motion)
        framesDecoded += 1
        return item
    }

    /// The frame's exported motion vectors as displacements to its past reference; nil without
    /// any. A block predicted from a future frame is assumed to keep moving as it does there (its
    /// vector negated); blocks predicted from the past come last, so they win where both exist.
    /// (Which frame a past vector refers to is not exported: the latest anchor is assumed.)
    static func motionVectors(of frame: UnsafeMutablePointer<AVFrame>) -> MotionVectors? {
        guard let side = av_frame_get_side_data(frame, AV_FRAME_DATA_MOTION_VECTORS), let data = side.pointee.data else {
            return nil
        }
        let count = Int(side.pointee.size) / MemoryLayout<AVMotionVector>.stride
        guard count > 0 else { return nil }
        var future: [MotionVectors.Block] = [], past: [MotionVectors.Block] = []
        past.reserveCapacity(count)
        UnsafeRawPointer(data).withMemoryRebound(to: AVMotionVector.self, capacity: count) { vectors in
            for v in UnsafeBufferPointer(start: vectors, count: count) where v.source != 0 && v.motion_scale > 0 {
                let scale = Float(v.motion_scale)
                let sign: Float = v.source < 0 ? 1 : -1
                // dst_x/dst_y name the block's centre; src = dst + motion / scale.
                let block = MotionVectors.Block(x: Int(v.dst_x) - Int(v.w) / 2, y: Int(v.dst_y) - Int(v.h) / 2,
                                                width: Int(v.w), height: Int(v.h),
                                                dx: sign * Float(v.motion_x) / scale, dy: sign * Float(v.motion_y) / scale)
                if v.source < 0 { past.append(block) } else { future.append(block) }
            }
        }
        return MotionVectors(blocks: future + past, isBidirectional: frame.pointee.pict_type == AV_PICTURE_TYPE_B)
    }

    private func noteDamage(_ code: Int32) { noteDamage(text: ffmpegErrorString(code)) }

    private func noteDamage(text: String) {
        damageCount += 1
        if firstDamage == nil { firstDamage = (framesDecoded, text) }
    }

    /// Decides, once, whether the stream ended early or carried damage, and records the warning.
    private func endOfStream() {
        guard !finished else { return }
        finished = true
        var reason: String?
        if let e = readError {
            reason = ffmpegErrorString(e)
        } else if let end = expectedEnd, let last = lastEnd {
            let videoEnd = Double(last) * av_q2d(video.timeBase)
            let contentEnd = endIsContainerWide ? max(videoEnd, audioEnd ?? videoEnd) : videoEnd
            if end - contentEnd > truncationTolerance {
                let what = String(format: "the video stops at %.2f s of %.2f s", videoEnd, end)
                reason = firstDamage.map { "\($0.text); \(what)" } ?? what
            }
        } else if framesDecoded == 0, let d = firstDamage {
            reason = d.text
        }
        if let reason {
            warnings.append("input is truncated or corrupt after frame \(framesDecoded): \(reason); processed up to the damage")
        } else if let d = firstDamage {
            warnings.append("input has corrupt data at frame \(d.frame): \(d.text); \(damageCount) damaged packet(s) skipped")
        }
    }

    static func durationSeconds(_ st: UnsafeMutablePointer<AVStream>, _ fmt: UnsafeMutablePointer<AVFormatContext>) -> Double? {
        if st.pointee.duration > 0 && st.pointee.duration != noPTS {
            return Double(st.pointee.duration) * av_q2d(st.pointee.time_base)
        }
        if fmt.pointee.duration > 0 && fmt.pointee.duration != noPTS {
            return Double(fmt.pointee.duration) / Double(AV_TIME_BASE)
        }
        return nil
    }

    /// "h264", or the container's fourcc when FFmpeg does not know the codec.
    static func describeCodec(_ par: UnsafeMutablePointer<AVCodecParameters>) -> String {
        if par.pointee.codec_id != AV_CODEC_ID_NONE {
            return String(cString: avcodec_get_name(par.pointee.codec_id))
        }
        let tag = par.pointee.codec_tag
        if tag == 0 { return "unknown" }
        let bytes = (0..<4).map { UInt8((tag >> (8 * UInt32($0))) & 0xFF) }
        let printable = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        return printable ? "unknown (fourcc \(String(decoding: bytes, as: UTF8.self)))" : String(format: "unknown (tag 0x%08x)", tag)
    }
}
