import CFFmpeg
import EPRCore
import EPRMedia
import EPROverlay
import Foundation

/// The sink side of a live run: remembers the last good frame, and while the source is down (as
/// its events, in band with the frames, tell) or silent for more than a second, writes notice
/// frames - the last frame dimmed, "source offline - reconnecting" - at the stream's frame rate, so
/// recordings and viewers never stall. Also tells back-pressure (our pipeline dropping frames)
/// apart from a stalled source.
struct LiveOutput: Sendable {
    static let offlineMessage = "source offline - reconnecting"

    let source: LiveSource
    let frameInterval: Double
    private let notice: NoticeRenderer
    private let log: (@Sendable (String) -> Void)?
    private let frameTicks: Int64
    private var lastGood: VideoFrame?
    /// The notice made from `lastGood`, rendered once per outage.
    private var card: VideoFrame?
    /// Arrival -> written, of the last frame: how far behind the clock the output runs.
    private var latency = 0.0
    private var lastPTS: Int64 = -1
    private(set) var offlineFrames = 0
    /// Notices were written and no new frame has reached the output since.
    private var awaitingResume = false
    /// Frames that arrived after the notice frames covering their time had been written.
    private(set) var lateFrames = 0
    private var noticeSequence = 0
    private var lastDrops = 0
    private var seenDrops = 0
    private var lastDropReport = -10.0
    private var recentDrop = -10.0
    /// From the source's events: frames flow (between online/reconnected and offline/stalled).
    private var online = false
    private var reconnects = 0
    private var stalls = 0

    init(source: LiveSource, log: (@Sendable (String) -> Void)?) throws(EPRError) {
        self.source = source
        self.log = log
        let fps = source.video.framesPerSecond.map { min(120, max(1, $0)) } ?? 25
        frameInterval = 1 / fps
        frameTicks = max(1, source.ticks(atClock: frameInterval))
        notice = try NoticeRenderer()
    }

    /// The source is down, or has sent nothing for a second (and three frame times: the time of
    /// its last frame is a clock reading, not an event, since a silent source sends none).
    var sourceIsQuiet: Bool {
        !online || source.clock - source.lastFrameAt > max(1.0, 3 * frameInterval)
    }

    /// Takes in a source event, in its place among the frames.
    mutating func follow(_ event: SourceEvent) {
        switch event {
        case .online: online = true
        case .reconnected: online = true; reconnects += 1
        case .offline: online = false
        case .stalled: online = false; stalls += 1
        }
    }

    /// False for a frame that the output has already covered (a frame held in the network buffers
    /// that surfaced after notice frames for its time were written, or one within the last notice
    /// frame's interval): it is dropped and counted.
    mutating func accepts(_ frame: VideoFrame) -> Bool {
        let least = awaitingResume ? frameTicks : LiveSource.minimumSpacing
        if frame.pts >= lastPTS + least { return true }
        lateFrames += 1
        return false
    }

    /// Called after each annotated frame is written, `latency` seconds after it arrived.
    mutating func wrote(_ frame: VideoFrame, latency: Double, droppedSoFar: Int) {
        lastGood = frame
        card = nil
        awaitingResume = false
        lastPTS = max(lastPTS, frame.pts)
        self.latency = max(0, latency)
        if droppedSoFar > seenDrops {
            seenDrops = droppedSoFar
            let t = source.clock
            recentDrop = t
            if t - lastDropReport >= 5 {
                log?("back-pressure: the pipeline is slower than the source; dropped \(droppedSoFar - lastDrops) oldest frame(s) (\(droppedSoFar) in all)")
                lastDropReport = t
                lastDrops = droppedSoFar
            }
        }
    }

    /// While the source is quiet, writes notice frames at the stream's rate up to "now" as the
    /// pipeline sees it (now minus its latency), so that the frames that come after a reconnect
    /// still follow in time order.
    mutating func fillIfOffline(sink: any VideoOutput) throws(EPRError) {
        // After a reconnect the notices go on until the first new frame reaches the output (it left
        // the source a pipeline latency ago), so the output has no hole where the pipeline refills.
        guard sourceIsQuiet || awaitingResume, !source.isStopped, let last = lastGood else { return }
        let horizon = source.ticks(atClock: source.clock - latency)
        var written = 0
        while lastPTS + frameTicks <= horizon && written < 50 {
            let pts = lastPTS + frameTicks
            if card == nil {
                card = try notice.card(from: last, message: Self.offlineMessage, sequence: 0, pts: pts, duration: frameTicks)
            }
            guard let template = card, let copy = av_frame_clone(template.avFrame) else {
                throw EPRError(.internalFailure, "out of memory copying a frame")
            }
            copy.pointee.pts = pts
            try sink.write(VideoFrame(taking: copy, sequence: noticeSequence, pts: pts, timeBase: template.timeBase,
                                      duration: frameTicks))
            noticeSequence += 1
            offlineFrames += 1
            awaitingResume = true
            written += 1
            lastPTS = pts
        }
    }

    func status(dropped: Int) -> LiveStatus {
        let state: LiveStatus.State
        if !online { state = .offline }
        else if sourceIsQuiet { state = .stalled }
        else if source.clock - recentDrop < 2 { state = .backPressure }
        else { state = .live }
        return LiveStatus(state: state, reconnects: reconnects, stalls: stalls, offlineFrames: offlineFrames)
    }
}
