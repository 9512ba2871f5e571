import CFFmpeg
import EPRCore
import Foundation

/// Annotated video for web browsers, without the HTTP: the page (`page`) plays the live H.264
/// as fragmented MP4 (one fragment per frame, so it shows as it arrives) through Media Source
/// Extensions, kept at the live edge (a plain `<video src>` buffers seconds ahead; without MSE it
/// falls back to `src`). An HTTP server (EPRServer) serves the page and streams each viewer's
/// chunks (`join`, then `PreviewViewer.nextChunk`) as a response body. Frames are encoded only
/// while someone watches, and a new viewer gets a keyframe at once; a viewer that cannot keep up
/// skips ahead to the next keyframe (counted) and never holds up the pipeline.
/// Video only: browsers autoplay muted video anyway.
/// Thread-safe: the viewer list and counters are guarded by `lock`; the encoder is used only by
/// the one thread that writes frames.
public final class BrowserPreview: VideoOutput, @unchecked Sendable {
    public private(set) var framesWritten = 0
    public var warnings: [String] {
        let skipped = lock.withLock { skippedPackets }
        return skipped > 0 ? ["browser preview: \(skipped) frame(s) skipped for viewers that fell behind"] : []
    }

    /// Most viewers at once; more are refused (the server answers 503).
    public static let maxViewers = 16
    /// Encoded frames a viewer may have waiting before it skips to the next keyframe.
    static let viewerQueueCapacity = 50

    private let encoder: H264Encoder
    private let parameters: UnsafeMutablePointer<AVCodecParameters>
    /// RFC 6381 name of the stream's H.264 profile and level, e.g. "avc1.42C01E", for MSE.
    public let codecString: String
    private let lock = NSLock()
    private var viewers: [PreviewViewer] = []
    private var keyframeWanted = false
    private var skippedPackets = 0
    private var viewersServed = 0
    private var framesSent = 0
    private var finished = false
    private let idle = NSCondition()

    /// Parses "PORT", ":PORT" or "HOST:PORT" (host defaults to 127.0.0.1: the preview is local
    /// unless asked otherwise, e.g. 0.0.0.0:8080).
    public static func parseAddress(_ text: String) throws(EPRError) -> (host: String, port: Int) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let host = parts.count == 2 && !parts[0].isEmpty ? String(parts[0]) : "127.0.0.1"
        guard parts.count <= 2, let port = Int(parts.last ?? ""), (1...65535).contains(port) else {
            throw EPRError(.config, "bad preview address '\(text)': expected PORT or HOST:PORT, e.g. 8080 or 0.0.0.0:8080")
        }
        return (host, port)
    }

    public init(video: VideoStreamInfo, options: SinkOptions = SinkOptions()) throws(EPRError) {
        encoder = try H264Encoder(label: "the browser preview", video: video, options: options, lowLatency: true,
                                  keyframeSeconds: 2, globalHeader: true)
        guard let par = avcodec_parameters_alloc() else { throw EPRError(.internalFailure, "out of memory") }
        do throws(EPRError) { try encoder.copyParameters(to: par) } catch {
            var p: UnsafeMutablePointer<AVCodecParameters>? = par
            avcodec_parameters_free(&p)
            throw error
        }
        parameters = par
        codecString = BrowserPreview.codecString(sps: par)
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = parameters
        avcodec_parameters_free(&p)
    }

    /// Viewers of the stream so far, and frames encoded for them.
    public var served: (viewers: Int, frames: Int) { lock.withLock { (viewersServed, framesSent) } }

    /// Viewers of the stream right now.
    public var viewerCount: Int { lock.withLock { viewers.count } }

    /// Waits until at least `count` viewers watch or `timeout` seconds pass; true if they do.
    public func waitForViewers(_ count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        idle.lock(); defer { idle.unlock() }
        while viewerCount < count {
            if !idle.wait(until: deadline) { return viewerCount >= count }
        }
        return true
    }

    /// A new viewer with its own muxer, or nil when `maxViewers` watch already or the preview has
    /// finished. The caller streams its chunks and calls `leave` when the browser goes away.
    public func join() -> PreviewViewer? {
        let viewer = lock.withLock { () -> PreviewViewer? in
            guard !finished, viewers.count < BrowserPreview.maxViewers,
                  let viewer = PreviewViewer(parameters: parameters, timeBase: encoder.timeBase,
                                             capacity: BrowserPreview.viewerQueueCapacity) else { return nil }
            viewers.append(viewer)
            viewersServed += 1
            keyframeWanted = true
            return viewer
        }
        if viewer != nil { idle.lock(); idle.broadcast(); idle.unlock() }
        return viewer
    }

    /// The viewer is gone (its connection closed or its stream ended): no more frames for it.
    public func leave(_ viewer: PreviewViewer) {
        viewer.cancel()
        lock.withLock { viewers.removeAll { $0 === viewer } }
        idle.lock(); idle.broadcast(); idle.unlock()
    }

    public func write(_ frame: VideoFrame) throws(EPRError) {
        framesWritten += 1
        let (watching, keyframe) = lock.withLock { () -> (Bool, Bool) in
            defer { keyframeWanted = false }
            return (!viewers.isEmpty, keyframeWanted)
        }
        guard watching else { return }   // nobody watches: no encoding
        try encoder.encode(frame, keyframe: keyframe) { (pkt) throws(EPRError) in
            guard let copy = av_packet_clone(pkt) else { throw EPRError(.internalFailure, "out of memory copying a packet") }
            let packet = PreviewPacket(taking: copy)
            lock.withLock {
                framesSent += 1
                for viewer in viewers where !viewer.offer(packet) {
                    skippedPackets += 1
                    keyframeWanted = true   // it waits for a keyframe: make one soon
                }
            }
        }
    }

    /// Audio is not previewed.
    public func write(_ audio: AudioPacket) throws(EPRError) {}

    /// Ends every viewer's stream cleanly: each gets what is queued, then the MP4 trailer.
    public func finish() throws(EPRError) { shutDown(graceful: true) }

    /// Ends every viewer's stream at once.
    public func abort() { shutDown(graceful: false) }

    private func shutDown(graceful: Bool) {
        let current = lock.withLock { () -> [PreviewViewer] in
            finished = true
            return viewers
        }
        for viewer in current {
            if graceful { viewer.end() } else { viewer.cancel() }
        }
    }

    /// "avc1.PPCCLL" from the SPS in the encoder's extradata (Annex B with global headers, or avcC).
    static func codecString(sps parameters: UnsafePointer<AVCodecParameters>) -> String {
        let size = Int(parameters.pointee.extradata_size)
        guard let bytes = parameters.pointee.extradata, size >= 4 else { return "avc1.42E01E" }
        let data = UnsafeBufferPointer(start: bytes, count: size)
        var fields: (UInt8, UInt8, UInt8)?
        if data[0] == 1 {
            fields = (data[1], data[2], data[3])   // avcC: profile, constraints, level
        } else {
            var i = 0
            while i + 6 < size {
                if data[i] == 0, data[i + 1] == 0, data[i + 2] == 1, data[i + 3] & 0x1F == 7 {  // start code + SPS
                    fields = (data[i + 4], data[i + 5], data[i + 6])
                    break
                }
                i += 1
            }
        }
        guard let (profile, constraints, level) = fields else { return "avc1.42E01E" }
        return String(format: "avc1.%02X%02X%02X", profile, constraints, level)
    }

    /// The page at `/`: plays `stream.mp4` beside it.
    public var page: String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>EPRStream preview</title>
        <style>body{margin:0;background:#111;color:#ccc;font:14px sans-serif;text-align:center}
        video{max-width:100vw;max-height:92vh;background:#000}</style></head>
        <body><video autoplay muted playsinline controls></video>
        <p>EPRStream live preview</p>
        <script>
        const video = document.querySelector("video");
        const mime = 'video/mp4; codecs="\(codecString)"';
        if (window.MediaSource && MediaSource.isTypeSupported(mime)) {
          const source = new MediaSource();
          video.src = URL.createObjectURL(source);
          source.addEventListener("sourceopen", async () => {
            const buffer = source.addSourceBuffer(mime);
            const pending = [];
            const feed = () => { if (!buffer.updating && pending.length) buffer.appendBuffer(pending.shift()); };
            buffer.addEventListener("updateend", () => {
              const b = buffer.buffered;
              if (b.length) {
                const end = b.end(b.length - 1);
                if (end - video.currentTime > 1) video.currentTime = end - 0.1;   // stay at the live edge
                if (video.currentTime - b.start(0) > 30) { buffer.remove(b.start(0), video.currentTime - 10); return; }
              }
              feed();
            });
            const reader = (await fetch("stream.mp4")).body.getReader();
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              pending.push(value);
              feed();
            }
          });
        } else {
          video.src = "stream.mp4";
        }
        </script></body></html>

        """
    }
}

/// One encoded video packet shared by every viewer (each muxes its own copy).
final class PreviewPacket: @unchecked Sendable {
    let packet: UnsafeMutablePointer<AVPacket>
    var isKeyframe: Bool { packet.pointee.flags & AV_PKT_FLAG_KEY != 0 }
    init(taking packet: UnsafeMutablePointer<AVPacket>) { self.packet = packet }
    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&p)
    }
}

/// The packets waiting for one viewer: bounded, never blocking the producer. When it is full the
/// viewer has fallen behind: everything queued goes, and since P-frames without their reference
/// cannot be decoded, nothing is queued again until the next keyframe. The consumer awaits
/// (`next`), so a viewer waiting for frames holds no thread.
/// Thread-safe: every field is guarded by `lock`.
final class KeyframeGatedQueue: @unchecked Sendable {
    let capacity: Int
    private let lock = NSLock()
    private var packets: [PreviewPacket] = []
    private var waiter: CheckedContinuation<PreviewPacket?, Never>?
    private var waitingForKeyframe = true
    private var ended = false
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// Queues a packet without blocking; false when it was skipped.
    func offer(_ packet: PreviewPacket) -> Bool {
        lock.lock()
        if ended || cancelled { lock.unlock(); return true }   // gone: nothing to skip
        if packets.count >= capacity {
            packets.removeAll(keepingCapacity: true)
            waitingForKeyframe = true
        }
        if waitingForKeyframe {
            guard packet.isKeyframe else { lock.unlock(); return false }
            waitingForKeyframe = false
        }
        if let waiter {   // the consumer waits: the queue is empty, hand it over
            self.waiter = nil
            lock.unlock()
            waiter.resume(returning: packet)
            return true
        }
        packets.append(packet)
        lock.unlock()
        return true
    }

    /// The next packet; nil once ended and drained, or cancelled (also by the awaiting task's cancellation).
    func next() async -> PreviewPacket? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<PreviewPacket?, Never>) in
                lock.lock()
                if cancelled || (ended && packets.isEmpty) {
                    lock.unlock()
                    continuation.resume(returning: nil)
                } else if !packets.isEmpty {
                    let packet = packets.removeFirst()
                    lock.unlock()
                    continuation.resume(returning: packet)
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: { cancel() }
    }

    /// No more packets: what is queued is still delivered.
    func end() { finish(cancel: false) }
    /// No more packets, and what is queued goes.
    func cancel() { finish(cancel: true) }

    private func finish(cancel: Bool) {
        lock.lock()
        ended = true
        if cancel { cancelled = true; packets.removeAll() }
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        waiter?.resume(returning: nil)
    }

    var count: Int { lock.withLock { packets.count } }
}

/// One browser watching the stream: its own fragmented-MP4 muxer writing into memory (a custom
/// AVIOContext), fed from a keyframe-gated queue; `nextChunk` hands out the bytes for the HTTP
/// response body. Its timeline starts at 0 when it joins and stays continuous when it skips.
/// The queue is thread-safe; the muxer is used only by `nextChunk`, which one task calls at a time.
public final class PreviewViewer: @unchecked Sendable {
    private let queue: KeyframeGatedQueue
    private let muxer: FragmentMuxer
    private var headerSent = false
    private var trailerSent = false
    private var offset: Int64?
    private var nextDTS: Int64 = 0

    init?(parameters: UnsafePointer<AVCodecParameters>, timeBase: AVRational, capacity: Int) {
        guard let muxer = FragmentMuxer(parameters: parameters, timeBase: timeBase) else { return nil }
        self.muxer = muxer
        queue = KeyframeGatedQueue(capacity: capacity)
    }

    /// Queues a packet without blocking; false when it was skipped (the viewer fell behind).
    func offer(_ packet: PreviewPacket) -> Bool { queue.offer(packet) }

    /// No more packets: the viewer gets the trailer after what is queued.
    func end() { queue.end() }
    func cancel() { queue.cancel() }

    /// The next bytes of this viewer's MP4 (the header first, then a fragment per frame, the
    /// trailer last); nil when the stream is over.
    public func nextChunk() async -> [UInt8]? {
        if !headerSent {
            headerSent = true
            if let header = muxer.header() { return header }
            return nil
        }
        guard !trailerSent else { return nil }
        guard let packet = await queue.next() else {
            trailerSent = true
            return muxer.trailer()
        }
        // Rebase: the first packet, and the first after a skip, continue the viewer's timeline.
        let p = packet.packet.pointee
        let dts = p.dts != noPTS ? p.dts : p.pts
        let duration = max(1, p.duration)
        if offset == nil || (packet.isKeyframe && dts - offset! > nextDTS + 4 * duration) {
            offset = dts - nextDTS
        }
        nextDTS = dts - offset! + duration
        return muxer.fragment(packet.packet, shift: offset!)
    }
}

/// An MP4 muxer (`frag_custom`: one fragment per flush) whose output lands in a byte buffer.
/// Not thread-safe: one owner at a time.
final class FragmentMuxer {
    private let format: UnsafeMutablePointer<AVFormatContext>
    private let stream: UnsafeMutablePointer<AVStream>
    private let timeBase: AVRational
    private let sink = ByteCollector()
    private var parameters: UnsafeMutablePointer<AVCodecParameters>?

    init?(parameters source: UnsafePointer<AVCodecParameters>, timeBase: AVRational) {
        var ctx: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_alloc_output_context2(&ctx, nil, "mp4", nil) >= 0, let fmt = ctx else { return nil }
        let size: Int32 = 64 * 1024
        guard let buffer = av_malloc(Int(size)),
              let pb = avio_alloc_context(buffer.assumingMemoryBound(to: UInt8.self), size, 1,
                                          Unmanaged.passUnretained(sink).toOpaque(), nil,
                                          { opaque, bytes, count in
                                              guard let opaque, let bytes, count > 0 else { return 0 }
                                              Unmanaged<ByteCollector>.fromOpaque(opaque).takeUnretainedValue()
                                                  .append(UnsafeBufferPointer(start: bytes, count: Int(count)))
                                              return count
                                          }, nil) else {
            avformat_free_context(fmt)
            return nil
        }
        fmt.pointee.pb = pb
        fmt.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        guard let st = avformat_new_stream(fmt, nil), avcodec_parameters_copy(st.pointee.codecpar, source) >= 0 else {
            FragmentMuxer.free(fmt)
            return nil
        }
        st.pointee.time_base = timeBase
        format = fmt
        stream = st
        self.timeBase = timeBase
    }

    deinit { FragmentMuxer.free(format) }

    private static func free(_ fmt: UnsafeMutablePointer<AVFormatContext>) {
        if fmt.pointee.pb != nil {
            av_freep(&fmt.pointee.pb.pointee.buffer)
            avio_context_free(&fmt.pointee.pb)
        }
        avformat_free_context(fmt)
    }

    /// The MP4 header without samples (`empty_moov`); nil when the muxer refuses the stream.
    func header() -> [UInt8]? {
        var options: OpaquePointer?
        // A fragment whenever we flush (after every frame), the header without samples up front.
        av_dict_set(&options, "movflags", "+frag_custom+empty_moov+default_base_moof", 0)
        let ret = avformat_write_header(format, &options)
        av_dict_free(&options)
        guard ret >= 0 else { return nil }
        avio_flush(format.pointee.pb)
        return sink.take()
    }

    /// One frame's fragment, its timestamps moved back by `shift`; nil when muxing failed.
    func fragment(_ packet: UnsafePointer<AVPacket>, shift: Int64) -> [UInt8]? {
        guard let p = av_packet_clone(packet) else { return nil }
        var owned: UnsafeMutablePointer<AVPacket>? = p
        defer { av_packet_free(&owned) }
        if p.pointee.pts != noPTS { p.pointee.pts -= shift }
        if p.pointee.dts != noPTS { p.pointee.dts -= shift }
        p.pointee.stream_index = 0
        av_packet_rescale_ts(p, timeBase, stream.pointee.time_base)
        guard av_write_frame(format, p) >= 0, av_write_frame(format, nil) >= 0 else { return nil }
        avio_flush(format.pointee.pb)
        return sink.take()
    }

    func trailer() -> [UInt8]? {
        guard av_write_trailer(format) >= 0 else { return nil }
        avio_flush(format.pointee.pb)
        let bytes = sink.take()
        return bytes.isEmpty ? nil : bytes
    }
}

/// Where a FragmentMuxer's AVIOContext writes (its write callback's target).
final class ByteCollector {
    private var bytes: [UInt8] = []
    func append(_ chunk: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: chunk) }
    func take() -> [UInt8] { defer { bytes = [] }; return bytes }
}
