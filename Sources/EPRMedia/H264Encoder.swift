import CFFmpeg
import EPRCore
import Foundation

/// libx264 (yuv420p) for one video size: frames in, packets (in `timeBase`) out. Each frame keeps
/// its own timestamp and duration, so variable frame rate survives. Shared by the file/network
/// sink and the browser preview. Not thread-safe: one owner at a time.
final class H264Encoder {
    let width: Int32, height: Int32
    /// The time base of the packets it delivers.
    let timeBase: AVRational
    /// One frame at the nominal rate, in `timeBase`: the duration of frames that bring none.
    let nominalDuration: Int64
    /// What errors name: the output's path or URL.
    private let label: String
    /// The source's start time (AV_TIME_BASE units), subtracted from every timestamp.
    private let startOffset: Int64
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var lastFramePTS: Int64?
    /// libx264 leaves packet durations 0: each frame's is kept until its packet comes out.
    private var pendingDurations: [Int64: Int64] = [:]

    /// `lowLatency`: x264's zerolatency tune (no reordering delay, no lookahead) and a keyframe
    /// every `keyframeSeconds`, so viewers join quickly. `globalHeader`: the container wants
    /// SPS/PPS out of band (MP4, MKV).
    init(label: String, video: VideoStreamInfo, options: SinkOptions, lowLatency: Bool, keyframeSeconds: Double,
         globalHeader: Bool) throws(EPRError) {
        self.label = label
        guard video.width > 0, video.height > 0 else {
            throw EPRError(.output, "cannot write \(label): video size \(video.width)x\(video.height) is invalid")
        }
        startOffset = video.startTime
        // yuv420p H.264 needs even sizes: an odd last column/row is cropped off.
        width = Int32(max(2, video.width & ~1))
        height = Int32(max(2, video.height & ~1))
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw EPRError(.codec, "cannot write \(label): this FFmpeg build has no libx264 H.264 encoder")
        }
        guard let enc = avcodec_alloc_context3(codec), let pkt = av_packet_alloc() else {
            throw EPRError(.internalFailure, "out of memory allocating the encoder")
        }
        var tb = video.timeBase
        if !isValid(tb) { tb = isValid(video.frameRate) ? av_inv_q(video.frameRate) : AVRational(num: 1, den: 90000) }
        enc.pointee.width = width
        enc.pointee.height = height
        enc.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        enc.pointee.time_base = tb
        if isValid(video.frameRate) { enc.pointee.framerate = video.frameRate }
        if isValid(video.sampleAspectRatio) { enc.pointee.sample_aspect_ratio = video.sampleAspectRatio }
        enc.pointee.thread_count = Int32(max(0, options.encoderThreads))
        if globalHeader { enc.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER) }
        var encOptions: OpaquePointer?
        if lowLatency {
            av_dict_set(&encOptions, "tune", "zerolatency", 0)
            let fps = isValid(video.frameRate) ? av_q2d(video.frameRate) : 25
            enc.pointee.gop_size = Int32(max(1, (fps * keyframeSeconds).rounded()))
        }
        av_dict_set(&encOptions, "preset", options.preset, 0)
        av_dict_set(&encOptions, "crf", String(options.crf), 0)
        let ret = avcodec_open2(enc, codec, &encOptions)
        av_dict_free(&encOptions)
        if ret < 0 {
            var e: UnsafeMutablePointer<AVCodecContext>? = enc
            avcodec_free_context(&e)
            var p: UnsafeMutablePointer<AVPacket>? = pkt
            av_packet_free(&p)
            throw EPRError(.codec, "cannot open the H.264 encoder for \(label) (\(video.width)x\(video.height), preset \(options.preset), crf \(options.crf)): \(ffmpegErrorString(ret))")
        }
        timeBase = enc.pointee.time_base
        nominalDuration = isValid(video.frameRate) ? max(1, av_rescale_q(1, av_inv_q(video.frameRate), timeBase)) : 1
        context = enc
        packet = pkt
    }

    deinit {
        if context != nil { avcodec_free_context(&context) }
        if packet != nil { av_packet_free(&packet) }
        if let s = scaler { sws_freeContext(s) }
    }

    /// The stream parameters a muxer needs (after the encoder opened: extradata included).
    func copyParameters(to parameters: UnsafeMutablePointer<AVCodecParameters>) throws(EPRError) {
        guard let enc = context else { throw EPRError(.internalFailure, "the H.264 encoder for \(label) is closed") }
        let ret = avcodec_parameters_from_context(parameters, enc)
        if ret < 0 { throw EPRError(.output, "cannot write \(label): \(ffmpegErrorString(ret))") }
    }

    /// Encodes one frame (converted when its size or pixel format differ) and hands every packet
    /// that comes out to `deliver`; `keyframe` forces an IDR frame (a new viewer joined).
    func encode(_ frame: VideoFrame, keyframe: Bool = false,
                deliver: (UnsafeMutablePointer<AVPacket>) throws(EPRError) -> Void) throws(EPRError) {
        guard let enc = context else { throw EPRError(.internalFailure, "the H.264 encoder for \(label) is closed") }
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
            guard let sws = scaler else { throw EPRError(.codec, "cannot convert a frame to yuv420p for \(label)") }
            f.pointee.width = width
            f.pointee.height = height
            f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            ret = av_frame_get_buffer(f, 0)
            if ret >= 0 { ret = sws_scale_frame(sws, f, src) }
        }
        if ret < 0 { throw EPRError(.codec, "cannot prepare a frame for \(label): \(ffmpegErrorString(ret))") }

        var pts = av_rescale_q(frame.pts, frame.timeBase, timeBase) - av_rescale_q(startOffset, cff_time_base_q(), timeBase)
        if let last = lastFramePTS, pts <= last { pts = last + 1 }  // the encoder needs increasing pts
        lastFramePTS = pts
        var duration = frame.duration > 0 ? av_rescale_q(frame.duration, frame.timeBase, timeBase) : 0
        if duration <= 0 { duration = nominalDuration }
        pendingDurations[pts] = duration
        f.pointee.pts = pts
        cff_frame_set_duration(f, duration)
        f.pointee.pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
        cff_frame_set_key(f, keyframe ? 1 : 0)

        ret = avcodec_send_frame(enc, f)
        if ret < 0 { throw EPRError(.codec, "H.264 encoding failed for \(label): \(ffmpegErrorString(ret))") }
        try drain(deliver)
    }

    /// Flushes the frames the encoder still holds.
    func finish(deliver: (UnsafeMutablePointer<AVPacket>) throws(EPRError) -> Void) throws(EPRError) {
        guard let enc = context else { return }
        let ret = avcodec_send_frame(enc, nil)
        if ret < 0 { throw EPRError(.codec, "H.264 encoding failed for \(label): \(ffmpegErrorString(ret))") }
        try drain(deliver)
    }

    private func drain(_ deliver: (UnsafeMutablePointer<AVPacket>) throws(EPRError) -> Void) throws(EPRError) {
        guard let enc = context, let pkt = packet else { return }
        while true {
            let ret = avcodec_receive_packet(enc, pkt)
            if ret == cff_averror_eagain() || ret == cff_averror_eof() { return }
            if ret < 0 { throw EPRError(.codec, "H.264 encoding failed for \(label): \(ffmpegErrorString(ret))") }
            let d = pendingDurations.removeValue(forKey: pkt.pointee.pts)
            if pkt.pointee.duration <= 0 { pkt.pointee.duration = d ?? nominalDuration }
            defer { av_packet_unref(pkt) }
            try deliver(pkt)
        }
    }
}
