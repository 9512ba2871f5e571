import CFFmpeg
import EPRCore
import Foundation

/// Annotated video in a web browser: `http://HOST:PORT/` serves a page whose `<video>` plays
/// `/stream.mp4`, the live H.264 as fragmented MP4 (one fragment per frame, so it shows as it
/// arrives). The page feeds the stream to Media Source Extensions and keeps playback at the live
/// edge (a plain `<video src>` buffers seconds ahead); without MSE it falls back to `src`. The HTTP server is FFmpeg's own (listen=2, one thread per connection). Frames are
/// encoded only while someone watches, and a new viewer gets a keyframe at once; a viewer that
/// cannot keep up skips ahead to the next keyframe (counted) and never holds up the pipeline.
/// Video only: browsers autoplay muted video anyway.
public final class BrowserPreview: VideoOutput, @unchecked Sendable {
    /// "HOST:PORT" as served.
    public let address: String
    public var pageURL: String { "http://\(address)/" }
    public private(set) var framesWritten = 0
    public var warnings: [String] {
        let skipped = lock.withLock { skippedPackets }
        return skipped > 0 ? ["browser preview: \(skipped) frame(s) skipped for viewers that fell behind"] : []
    }

    /// Most connections at once; more are answered 500.
    public static let maxConnections = 16
    /// Encoded frames a viewer may have waiting before it skips to the next keyframe.
    static let viewerQueueCapacity = 50

    private let encoder: H264Encoder
    private let parameters: UnsafeMutablePointer<AVCodecParameters>
    /// RFC 6381 name of the stream's H.264 profile and level, e.g. "avc1.42C01E", for MSE.
    let codecString: String
    private let server: UnsafeMutablePointer<AVIOContext>
    private let interrupt = InterruptDeadline(timeout: 0)
    private let lock = NSLock()
    private var viewers: [PreviewViewer] = []
    private var connections = 0
    private var keyframeWanted = false
    private var skippedPackets = 0
    private var viewersServed = 0
    private var framesSent = 0
    private var finished = false
    private let idle = NSCondition()
    private let acceptDone = DispatchSemaphore(value: 0)

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

    /// Starts serving at once (the port is bound here: a port in use is an error now, not later).
    public init(address text: String, video: VideoStreamInfo, options: SinkOptions = SinkOptions()) throws(EPRError) {
        let (host, port) = try BrowserPreview.parseAddress(text)
        address = "\(host):\(port)"
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
        var listenOptions: OpaquePointer?
        av_dict_set(&listenOptions, "listen", "2", 0)   // many clients, each accepted by avio_accept
        var cb = interrupt.callback
        var ctx: UnsafeMutablePointer<AVIOContext>?
        let ret = avio_open2(&ctx, "http://\(address)", AVIO_FLAG_WRITE, &cb, &listenOptions)
        av_dict_free(&listenOptions)
        guard ret >= 0, let ctx else {
            var p: UnsafeMutablePointer<AVCodecParameters>? = par
            avcodec_parameters_free(&p)
            throw EPRError(.output, "cannot serve the browser preview on \(address): \(ffmpegErrorString(ret))")
        }
        server = ctx
        let thread = Thread { [self] in acceptLoop(); acceptDone.signal() }
        thread.name = "preview-accept"
        thread.start()
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = parameters
        avcodec_parameters_free(&p)
    }

    /// Viewers of /stream.mp4 so far, and frames encoded for them.
    public var served: (viewers: Int, frames: Int) { lock.withLock { (viewersServed, framesSent) } }

    /// Viewers of /stream.mp4 right now.
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

    /// Ends every viewer's stream cleanly (the MP4 trailer, then the connection closes) and stops
    /// serving. A viewer that does not take its last data within a second is cut off.
    public func finish() throws(EPRError) { shutDown(graceful: true) }

    public func abort() { shutDown(graceful: false) }

    private func shutDown(graceful: Bool) {
        let current: [PreviewViewer]? = lock.withLock {
            if finished { return nil }
            finished = true
            return viewers
        }
        guard let current else { return }   // already shut down (finish, then abort)
        for viewer in current { viewer.end() }
        if graceful {
            let deadline = Date().addingTimeInterval(1)
            while lock.withLock({ connections > 0 }) && Date() < deadline { usleep(10_000) }
        }
        interrupt.abort()   // accept, handshakes and stuck writes return now
        acceptDone.wait()
        while lock.withLock({ connections > 0 }) { usleep(5_000) }
        var s: UnsafeMutablePointer<AVIOContext>? = server
        avio_closep(&s)
    }

    // MARK: - Serving

    private func acceptLoop() {
        while !interrupt.isAborted {
            var client: UnsafeMutablePointer<AVIOContext>?
            let ret = avio_accept(server, &client)
            guard ret >= 0, let client else {
                if !interrupt.isAborted { usleep(50_000) }   // e.g. a connection reset before accept
                continue
            }
            let admitted = lock.withLock { () -> Bool in
                guard !finished, connections < BrowserPreview.maxConnections else { return false }
                connections += 1
                return true
            }
            let connection = PreviewConnection(client: client)
            let thread = Thread { [self] in
                if admitted {
                    serve(connection)
                    lock.withLock { connections -= 1 }
                } else {
                    connection.refuse()
                }
            }
            thread.name = "preview-client"
            thread.start()
        }
    }

    private func serve(_ connection: PreviewConnection) {
        guard let resource = connection.readRequest() else { return connection.close() }
        switch resource {
        case "/", "/index.html":
            connection.reply(contentType: "text/html; charset=utf-8", body: Data(page.utf8))
        case "/stream.mp4":
            guard connection.startReply(contentType: "video/mp4") else { return connection.close() }
            let viewer = PreviewViewer(connection: connection, capacity: BrowserPreview.viewerQueueCapacity)
            let joined = lock.withLock { () -> Bool in
                guard !finished else { return false }
                viewers.append(viewer)
                viewersServed += 1
                keyframeWanted = true
                return true
            }
            idle.lock(); idle.broadcast(); idle.unlock()
            if joined { viewer.run(parameters: parameters, timeBase: encoder.timeBase) }
            lock.withLock { viewers.removeAll { $0 === viewer } }
            connection.close()
        default:
            connection.notFound()
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

    private var page: String {
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
            const reader = (await fetch("/stream.mp4")).body.getReader();
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              pending.push(value);
              feed();
            }
          });
        } else {
          video.src = "/stream.mp4";
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

/// One accepted HTTP connection, through FFmpeg's HTTP server: request, reply headers, body.
final class PreviewConnection: @unchecked Sendable {
    let client: UnsafeMutablePointer<AVIOContext>
    private var closed = false

    init(client: UnsafeMutablePointer<AVIOContext>) { self.client = client }

    /// Reads the request line and headers; returns the path asked for (query dropped).
    func readRequest() -> String? {
        var resource: String?
        while avio_handshake(client) > 0 {
            var value: UnsafeMutablePointer<UInt8>?
            av_opt_get(UnsafeMutableRawPointer(client), "resource", AV_OPT_SEARCH_CHILDREN, &value)
            if let value {
                let text = String(cString: value)
                av_free(value)
                if !text.isEmpty { resource = text; break }
            }
        }
        return resource.map { String($0.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }
    }

    /// Sends the status line and headers of a 200 reply (the body follows, chunked).
    func startReply(contentType: String) -> Bool {
        av_opt_set_int(UnsafeMutableRawPointer(client), "reply_code", 200, AV_OPT_SEARCH_CHILDREN)
        av_opt_set(UnsafeMutableRawPointer(client), "content_type", contentType, AV_OPT_SEARCH_CHILDREN)
        // Other pages (a dashboard) may embed or fetch the stream; nothing in it is private to this origin.
        av_opt_set(UnsafeMutableRawPointer(client), "headers", "Access-Control-Allow-Origin: *\r\nCache-Control: no-store\r\n",
                   AV_OPT_SEARCH_CHILDREN)
        return completeHandshake()
    }

    /// Lets FFmpeg's server write the status line and headers set above; true when it did.
    private func completeHandshake() -> Bool {
        var ret: Int32
        repeat { ret = avio_handshake(client) } while ret > 0
        return ret == 0
    }

    func reply(contentType: String, body: Data) {
        if startReply(contentType: contentType) {
            body.withUnsafeBytes { avio_write(client, $0.bindMemory(to: UInt8.self).baseAddress, Int32(body.count)) }
            avio_flush(client)
        }
        close()
    }

    func notFound() { finishHandshake(code: 404) }

    /// Too many connections: 500 (FFmpeg 5.1's server replies only 200, 400, 403, 404 and 500).
    func refuse() {
        _ = readRequest()
        finishHandshake(code: 500)
    }

    private func finishHandshake(code: Int64) {
        av_opt_set_int(UnsafeMutableRawPointer(client), "reply_code", code, AV_OPT_SEARCH_CHILDREN)
        _ = completeHandshake()
        close()
    }

    func close() {
        guard !closed else { return }
        closed = true
        avio_flush(client)
        var c: UnsafeMutablePointer<AVIOContext>? = client
        avio_closep(&c)
    }
}

/// The packets waiting for one viewer: bounded, never blocking the producer. When it is full the
/// viewer has fallen behind: everything queued goes, and since P-frames without their reference
/// cannot be decoded, nothing is queued again until the next keyframe.
final class KeyframeGatedQueue: @unchecked Sendable {
    private let queue: BoundedQueue<PreviewPacket>
    private let lock = NSLock()
    private var waitingForKeyframe = true

    init(capacity: Int) { queue = BoundedQueue(capacity: capacity, policy: .block) }

    /// Queues a packet without blocking; false when it was skipped.
    func offer(_ packet: PreviewPacket) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if queue.count >= queue.capacity {
            while queue.tryPop() != nil {}
            waitingForKeyframe = true
        }
        if waitingForKeyframe {
            guard packet.isKeyframe else { return false }
            waitingForKeyframe = false
        }
        return queue.push(packet)
    }

    /// The next packet; nil once ended and drained, or cancelled.
    func next() -> PreviewPacket? { queue.pop() }
    func end() { queue.close() }
    func cancel() { queue.cancel() }
    var count: Int { queue.count }
}

/// One browser watching /stream.mp4: its own fragmented-MP4 muxer on its connection, fed from a
/// keyframe-gated queue. Its timeline starts at 0 when it joins and stays continuous when it skips.
final class PreviewViewer: @unchecked Sendable {
    private let connection: PreviewConnection
    private let queue: KeyframeGatedQueue

    init(connection: PreviewConnection, capacity: Int) {
        self.connection = connection
        queue = KeyframeGatedQueue(capacity: capacity)
    }

    /// Queues a packet without blocking; false when it was skipped (the viewer fell behind).
    func offer(_ packet: PreviewPacket) -> Bool { queue.offer(packet) }

    /// No more packets: the viewer writes the trailer and hangs up.
    func end() { queue.end() }

    /// Muxes until the stream ends or the browser goes away.
    func run(parameters: UnsafePointer<AVCodecParameters>, timeBase: AVRational) {
        defer { queue.cancel() }
        var ctx: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_alloc_output_context2(&ctx, nil, "mp4", nil) >= 0, let fmt = ctx else { return }
        defer { avformat_free_context(fmt) }
        fmt.pointee.pb = connection.client
        fmt.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        guard let st = avformat_new_stream(fmt, nil), avcodec_parameters_copy(st.pointee.codecpar, parameters) >= 0 else { return }
        st.pointee.time_base = timeBase
        var options: OpaquePointer?
        // A fragment whenever we flush (after every frame), the header without samples up front.
        av_dict_set(&options, "movflags", "+frag_custom+empty_moov+default_base_moof", 0)
        let ret = avformat_write_header(fmt, &options)
        av_dict_free(&options)
        guard ret >= 0 else { return }
        avio_flush(fmt.pointee.pb)
        var offset: Int64?
        var nextDTS: Int64 = 0
        while let packet = queue.next() {
            guard let p = av_packet_clone(packet.packet) else { return }
            var owned: UnsafeMutablePointer<AVPacket>? = p
            defer { av_packet_free(&owned) }
            // Rebase: the first packet, and the first after a skip, continue the viewer's timeline.
            let dts = p.pointee.dts != noPTS ? p.pointee.dts : p.pointee.pts
            if offset == nil || (packet.isKeyframe && dts - offset! > nextDTS + 4 * max(1, p.pointee.duration)) {
                offset = dts - nextDTS
            }
            if p.pointee.pts != noPTS { p.pointee.pts -= offset! }
            if p.pointee.dts != noPTS { p.pointee.dts -= offset! }
            nextDTS = dts - offset! + max(1, p.pointee.duration)
            p.pointee.stream_index = 0
            av_packet_rescale_ts(p, timeBase, st.pointee.time_base)
            guard av_write_frame(fmt, p) >= 0, av_write_frame(fmt, nil) >= 0 else { return }
            avio_flush(fmt.pointee.pb)
            if fmt.pointee.pb.pointee.error < 0 { return }   // the browser went away
        }
        _ = av_write_trailer(fmt)
        avio_flush(fmt.pointee.pb)
    }
}
