import CFFmpeg
import EPRCore
import Foundation

/// How a live source connects and how hard it tries to stay connected.
public struct LiveSourceOptions: Sendable {
    /// RTSP lower transport: "tcp" (default: no loss, works through NAT) or "udp".
    public var transport = "tcp"
    /// No blocking call (connect, probe, read) may take longer than this, in seconds; a source
    /// that sends nothing for this long is declared stalled and reconnected.
    public var stallTimeout = 5.0
    /// Failed attempts in a row before giving up (on the first connection and on each outage);
    /// nil = keep trying forever.
    public var maxReconnects: Int? = nil
    /// Backoff between attempts: `initialBackoff` doubling up to `maxBackoff` seconds. Capped
    /// low: an attempt costs one refused connect, and a camera back from a reboot should stream
    /// again within 2 s. The worst wait after its return is the cap plus the RTSP handshake, probe
    /// and first frame (measured about 1.1 s idle against GStreamer's server, which prepares its
    /// pipeline on the first request): a 1 s cap measured 2.05 s, 0.5 s leaves the margin.
    /// Starting at 0.25 s catches a server that only blinked.
    public var initialBackoff = 0.25
    public var maxBackoff = 0.5
    public var decoderThreads = 0
    /// Decode with the codec's motion vectors attached to each frame (`VideoFrame.motion`).
    public var exportMotionVectors = false
    /// Carry the camera's first audio stream (copied untouched, on the same clock as the video).
    public var audio = true
    public init() {}

    /// The wait before retry number `attempt` (1-based).
    public func backoff(attempt: Int) -> Double {
        min(maxBackoff, initialBackoff * pow(2, Double(max(0, attempt - 1))))
    }

    /// The error that ends the retrying (`kind`: input or output) after `failures` failed
    /// attempts in a row ended with `error`, or nil while `maxReconnects` allows more.
    public func giveUp(after failures: Int, _ error: EPRError, as kind: EPRError.Kind) -> EPRError? {
        guard let max = maxReconnects, failures > max else { return nil }
        let tries = failures == 1 ? "1 attempt" : "\(failures) attempts"
        return EPRError(kind, "\(error.message) (gave up after \(tries); --max-reconnects \(max))")
    }
}

/// What happened to the connection, for logs and counters.
public enum LiveSourceEvent: Sendable {
    /// The stream went away: `stalled` when it merely stopped sending (no packets within the
    /// stall timeout), otherwise it ended or failed (`reason`).
    case disconnected(reason: String, stalled: Bool)
    /// Attempt `attempt` failed; the next one follows after `retryIn` seconds.
    case attemptFailed(attempt: Int, reason: String, retryIn: Double)
    /// Frames flow again after `downSeconds` offline (0 for the first connection).
    case resumed(attempt: Int, downSeconds: Double)
}

/// A network video source (RTSP, RTMP, SRT, UDP) that survives the network: every blocking call
/// is bounded by the stall timeout, and on end of stream, error or stall it reconnects with capped
/// exponential backoff, handing out frames from the new connection as if nothing had happened.
///
/// Frames carry timestamps in `LiveSource.timeBase` on one clock since `init`: each connection
/// keeps its own (RTP) timestamp spacing, anchored where its first frame arrived; sequence numbers
/// never restart; pictures keep the first connection's size. The first audio stream, when there
/// is one, comes along as packets stamped on the same clock (from a reconnection only when its
/// format is unchanged).
/// One thread calls `next()`; `stop()` may be called from any thread.
public final class LiveSource: @unchecked Sendable {
    public static let timeBase = AVRational(num: 1, den: 90_000)
    /// One millisecond in `timeBase`: the least distance between two frames' timestamps.
    public static let minimumSpacing: Int64 = 90

    public let url: String
    public let options: LiveSourceOptions
    /// The stream as the pipeline sees it: the first connection's size and rate, `timeBase`,
    /// start 0. Valid once `open()` has returned.
    public var video: VideoStreamInfo {
        guard let info = openedVideo else { preconditionFailure("LiveSource.video read before open()") }
        return info
    }
    private var openedVideo: VideoStreamInfo?
    /// The first connection's first audio stream (stamped in `timeBase`), if any; valid after `open()`.
    public private(set) var audioStreams: [AudioStreamInfo] = []
    /// The current connection's stream index of that audio stream, nil when it has none (or another format).
    private var audioIndex: Int?
    private var lastAudioTicks: Int64 = -1

    private let deadline: InterruptDeadline
    private let onEvent: @Sendable (LiveSourceEvent) -> Void
    private let origin = DispatchTime.now().uptimeNanoseconds
    private var current: MediaSource?
    /// Where the current connection's timestamps sit on `clock`: source time `source` is at
    /// `clock`; `lastSource` is the last frame's source time (to see the source clock jump).
    private var anchor: (clock: Double, source: Double, lastSource: Double)?
    /// The first connection's frame interval, for frames that do not say their duration.
    private var frameInterval = 1.0 / 25
    private var lastTicks: Int64 = -1
    private var sequence = 0
    /// A reconnection that brought another picture size is scaled to the first one's.
    private lazy var rescaler = YUV420Scaler(width: video.width, height: video.height)
    private var downSince: Double?
    private var attemptsThisOutage = 0

    private let lock = NSCondition()
    private var stopped = false
    private var online = false
    private var reconnectCount = 0
    private var stallCount = 0
    private var lastFrameClock = 0.0

    /// Connects nothing yet (see `open()`), so that `stop()` can reach a first connection that hangs.
    public init(url: String, options: LiveSourceOptions = LiveSourceOptions(),
                onEvent: @escaping @Sendable (LiveSourceEvent) -> Void = { _ in }) {
        self.url = url
        self.options = options
        self.onEvent = onEvent
        deadline = InterruptDeadline(timeout: options.stallTimeout)
    }

    /// Makes the first connection, retrying as `options` allow (`onEvent` hears of each failed
    /// attempt); throws when it gives up or `stop()` was called meanwhile.
    public func open() throws(EPRError) {
        let first = try LiveSource.connect(url: url, options: options, deadline: deadline, onEvent: onEvent,
                                           attemptsSoFar: 0, shouldStop: { [unowned self] in isStopped },
                                           sleep: { [unowned self] in _ = wait($0) })
        guard let source = first else { throw EPRError(.stream, "cannot read \(url): stopped before it connected") }
        current = source
        let v = source.video
        openedVideo = VideoStreamInfo(width: v.width, height: v.height, timeBase: LiveSource.timeBase,
                                      frameRate: v.frameRate, estimatedFrameCount: nil, durationSeconds: nil,
                                      codecName: v.codecName, sampleAspectRatio: v.sampleAspectRatio, startTime: 0)
        if let fps = openedVideo?.framesPerSecond, fps > 0 { frameInterval = 1 / min(120, fps) }
        if let a = source.audioStreams.first {
            audioStreams = [try AudioStreamInfo(index: 0, timeBase: LiveSource.timeBase, copying: a.codecParameters,
                                                durationSeconds: nil)]
        }
        audioIndex = matchingAudio(in: source)
        downSince = 0
    }

    deinit { close() }

    public func close() {
        current?.close()
        current = nil
    }

    /// Ends the run: a blocked connect or read returns at once and `next()` returns nil.
    public func stop() {
        lock.lock(); stopped = true; lock.broadcast(); lock.unlock()
        deadline.abort()
    }

    public var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    /// True while frames arrive from a connection (false while reconnecting).
    public var isOnline: Bool { lock.lock(); defer { lock.unlock() }; return online }
    public var reconnects: Int { lock.lock(); defer { lock.unlock() }; return reconnectCount }
    public var stalls: Int { lock.lock(); defer { lock.unlock() }; return stallCount }
    /// Capture -> arrival of the frame `next()` returned last, when the source tells capture
    /// times (same-host or NTP-synchronised clocks); read it on the thread that calls `next()`.
    public private(set) var lastCaptureLag: Double?
    /// Seconds (on `clock`) when the last frame arrived.
    public var lastFrameAt: Double { lock.lock(); defer { lock.unlock() }; return lastFrameClock }

    /// Seconds since this source was created: the clock of every frame's timestamp.
    public var clock: Double { Double(DispatchTime.now().uptimeNanoseconds - origin) / 1e9 }

    /// `clock` in `timeBase` ticks.
    public func ticks(atClock seconds: Double) -> Int64 { Int64((seconds * 90_000).rounded()) }

    /// The next frame or audio packet; reconnects as needed (blocking meanwhile). Nil once stopped;
    /// throws when the source is gone for good (`maxReconnects` failed attempts in a row).
    public func next() throws(EPRError) -> SourceItem? {
        precondition(openedVideo != nil, "LiveSource.next() before open()")
        while !isStopped {
            if current == nil {
                let source = try LiveSource.connect(url: url, options: options, deadline: deadline, onEvent: onEvent,
                                                    attemptsSoFar: attemptsThisOutage, shouldStop: { [unowned self] in isStopped },
                                                    sleep: { [unowned self] in _ = wait($0) })
                guard let source else { return nil }
                current = source
                anchor = nil
                audioIndex = matchingAudio(in: source)
                lock.lock(); reconnectCount += 1; lock.unlock()
            }
            guard let source = current else { continue }
            var reason = "the stream ended"
            do throws(EPRError) {
                switch try source.next() {
                case .video(let frame): return .video(try restamp(frame))
                case .audio(let packet):
                    if let stamped = restamp(packet) { return .audio(stamped) }
                    continue
                case nil: break
                }
                if let code = source.endError, !deadline.fired { reason = ffmpegErrorString(code) }
            } catch {
                reason = error.message
            }
            if deadline.isAborted { return nil }
            let stalled = deadline.fired || source.endError == cff_averror_timedout()
            if stalled { reason = String(format: "no packets for %g s", options.stallTimeout) }
            source.close()
            current = nil
            attemptsThisOutage = 0
            let t = clock
            lock.lock()
            online = false
            if stalled { stallCount += 1 }
            lock.unlock()
            downSince = t
            onEvent(.disconnected(reason: reason, stalled: stalled))
            // The first retry waits the initial backoff too: a server that just closed needs a moment.
            if !wait(options.backoff(attempt: 1)) { return nil }
        }
        return nil
    }

    // MARK: - Internals

    /// Waits `seconds` unless stopped first; false when stopped.
    private func wait(_ seconds: Double) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let until = Date(timeIntervalSinceNow: seconds)
        while !stopped && lock.wait(until: until) {}
        return !stopped
    }

    /// Opens `url`, retrying with backoff; nil when stopped meanwhile.
    private static func connect(url: String, options: LiveSourceOptions, deadline: InterruptDeadline,
                                onEvent: @Sendable (LiveSourceEvent) -> Void, attemptsSoFar: Int,
                                shouldStop: () -> Bool, sleep: (Double) -> Void) throws(EPRError) -> MediaSource? {
        var attempt = attemptsSoFar
        while !shouldStop() {
            attempt += 1
            do throws(EPRError) {
                return try MediaSource(url: url, options: sourceOptions(url: url, options: options, deadline: deadline))
            } catch {
                if deadline.isAborted { return nil }
                if let final = options.giveUp(after: attempt, error, as: .stream) { throw final }
                let delay = options.backoff(attempt: attempt)
                onEvent(.attemptFailed(attempt: attempt, reason: error.message, retryIn: delay))
                sleep(delay)
            }
        }
        return nil
    }

    /// Demuxer options for a low-latency, bounded network read.
    static func sourceOptions(url: String, options: LiveSourceOptions, deadline: InterruptDeadline) -> SourceOptions {
        var o = SourceOptions()
        o.decoderThreads = options.decoderThreads
        o.exportMotionVectors = options.exportMotionVectors
        o.interrupt = deadline
        o.videoOnly = !options.audio
        o.formatOptions = [
            "fflags": "nobuffer",
            "probesize": "65536",
            "analyzeduration": "500000",
        ]
        // The socket timeout is a backstop a second behind the interrupt deadline, which does the
        // real bounding: a socket timeout makes the RTSP demuxer flush its queued packet as if it had
        // just arrived, which would hide a stall for another period.
        let socketTimeout = Int64((options.stallTimeout + 1) * 1_000_000)
        let scheme = url.split(separator: ":", maxSplits: 1).first?.lowercased() ?? ""
        if scheme == "rtsp" || scheme == "rtsps" {
            o.formatOptions["rtsp_transport"] = options.transport
            o.formatOptions["timeout"] = String(socketTimeout)   // microseconds
        } else {
            o.formatOptions["rw_timeout"] = String(socketTimeout)
        }
        return o
    }

    /// Re-stamps a decoded frame onto the run's clock and sequence (and the first connection's size).
    private func restamp(_ frame: VideoFrame) throws(EPRError) -> VideoFrame {
        let now = clock
        let sourceSeconds = frame.seconds
        lastCaptureLag = captureLag(sourceSeconds: sourceSeconds)
        // Within a connection frames keep the source's own spacing (RTP timestamps), however
        // unevenly they arrive: a burst after a slow start stays evenly spaced. A connection
        // starts at the arrival of its first frame, never before the last frame written.
        let nominal = frame.duration > 0 ? Double(frame.duration) * av_q2d(frame.timeBase) : frameInterval
        let last = lastTicks >= 0 ? Double(lastTicks) / 90_000 : -Double.infinity
        if let a = anchor {
            let step = sourceSeconds - a.lastSource
            // A clock that steps back or leaps further than a stall allows (camera restart,
            // timestamp wrap) goes on one frame after the last timestamp instead.
            if step <= 0 || step > options.stallTimeout + 1 {
                anchor = (last + nominal, sourceSeconds, sourceSeconds)
            } else {
                anchor?.lastSource = sourceSeconds
            }
        } else {
            anchor = (max(now, last + nominal), sourceSeconds, sourceSeconds)
        }
        let t = anchor!.clock + (sourceSeconds - anchor!.source)
        // At least a millisecond apart, so that no container's time base merges two frames.
        var pts = ticks(atClock: t)
        if pts < lastTicks + LiveSource.minimumSpacing { pts = lastTicks + LiveSource.minimumSpacing }
        lastTicks = pts
        let duration = frame.duration > 0 ? av_rescale_q(frame.duration, frame.timeBase, LiveSource.timeBase) : 0

        let out: UnsafeMutablePointer<AVFrame>
        if frame.width == video.width && frame.height == video.height {
            guard let moved = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
            av_frame_move_ref(moved, frame.avFrame)
            out = moved
        } else {
            out = try rescaler.scale(frame.avFrame, what: url)
        }
        out.pointee.pts = pts
        let item = VideoFrame(taking: out, sequence: sequence, pts: pts, timeBase: LiveSource.timeBase, duration: duration)
        sequence += 1

        var resumed: Double?
        lock.lock()
        if !online {
            online = true
            resumed = downSince.map { now - $0 }
        }
        lastFrameClock = now
        lock.unlock()
        if let down = resumed {
            onEvent(.resumed(attempt: reconnects, downSeconds: down))
            downSince = nil
        }
        return item
    }

    /// The index of `source`'s audio stream that matches the first connection's (same codec, rate
    /// and channels), so that one output stream can carry both.
    private func matchingAudio(in source: MediaSource) -> Int? {
        guard let want = audioStreams.first?.codecParameters.pointee, let have = source.audioStreams.first else { return nil }
        let p = have.codecParameters.pointee
        guard p.codec_id == want.codec_id, p.sample_rate == want.sample_rate,
              p.ch_layout.nb_channels == want.ch_layout.nb_channels else { return nil }
        return have.index
    }

    /// An audio packet on the run's clock (the current connection's video anchor), or nil when it
    /// cannot be placed yet (no video frame on this connection) or would go back in time.
    private func restamp(_ audio: AudioPacket) -> AudioPacket? {
        guard audio.sourceStreamIndex == audioIndex, let a = anchor, let seconds = audio.seconds else { return nil }
        let pts = ticks(atClock: a.clock + (seconds - a.source))
        guard pts > lastAudioTicks else { return nil }
        lastAudioTicks = pts
        let p = audio.packet
        let duration = p.pointee.duration > 0 ? av_rescale_q(p.pointee.duration, audio.timeBase, LiveSource.timeBase) : 0
        guard let copy = av_packet_clone(p) else { return nil }
        copy.pointee.pts = pts
        copy.pointee.dts = pts
        copy.pointee.duration = duration
        return AudioPacket(taking: copy, sourceStreamIndex: 0, timeBase: LiveSource.timeBase)
    }

    /// Seconds from capture to arrival when the stream maps its timestamps to wall-clock time
    /// (RTSP: RTCP sender reports give the NTP time of pts 0), else nil.
    private func captureLag(sourceSeconds: Double) -> Double? {
        guard let origin = current?.startTimeRealtime, origin > 0, origin != cff_nopts_value() else { return nil }
        var tv = timeval()
        gettimeofday(&tv, nil)
        let wall = Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
        let lag = wall - (Double(origin) / 1e6 + sourceSeconds)
        // A capture after its arrival (a sender report that maps timestamps to the server's send
        // time, or a clock ahead of ours) tells nothing: glass-to-glass is then unknown, not 0 ms.
        return lag >= 0 && lag < 60 ? lag : nil
    }

}

/// Whether `input` names a live network stream rather than a file.
public func isLiveURL(_ input: String) -> Bool {
    guard input.contains("://"), let scheme = input.split(separator: ":", maxSplits: 1).first else { return false }
    return ["rtsp", "rtsps", "rtmp", "srt", "udp", "rtp"].contains(scheme.lowercased())
}
