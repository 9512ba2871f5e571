import EPRCore
import Foundation

/// One item on its way into a muxer.
public enum Interleaved<Video: Sendable, Audio: Sendable>: Sendable {
    case video(Video)
    case audio(Audio)
}

/// The one queue into a muxer: annotated video (from the compositor) and audio (straight from the
/// source) come out in timestamp order, so that no source layout can deadlock the run.
///
/// Audio reaches this queue long before the video of the same moment (video goes through
/// inference), so audio waits here for the video to catch up; video never waits for audio (a
/// stream may simply have no more). The audio side has a bound: when it is full and no video is
/// there to compare with - audio that outlasts the video, a file that stores seconds of audio
/// before its first picture - the oldest audio goes out ahead of the video (`.block`: nothing is
/// lost, the muxer's own interleaving orders it; memory stays bounded) or is dropped and counted
/// (`.dropOldest`, live: the source never waits on the output).
public final class InterleavingQueue<Video: Sendable, Audio: Sendable>: @unchecked Sendable {
    public let videoCapacity: Int
    public let audioCapacity: Int
    public let audioPolicy: OverflowPolicy
    private let videoTime: @Sendable (Video) -> Double
    private let audioTime: @Sendable (Audio) -> Double?
    // Guarded by `condition`.
    private var video: [Video] = []
    private var audio: [Audio] = []
    private var videoEnded = false
    private var audioEnded = false
    private var cancelled = false
    private var droppedAudio = 0
    private var audioAhead = 0
    /// Audio from this time on is dropped (`cutAudio(at:)`).
    private var audioCut: Double?
    private var videoHighWater = 0
    private let condition = NSCondition()

    public init(videoCapacity: Int, audioCapacity: Int, audioPolicy: OverflowPolicy,
         videoTime: @escaping @Sendable (Video) -> Double, audioTime: @escaping @Sendable (Audio) -> Double?) {
        precondition(videoCapacity > 0 && audioCapacity > 0, "queue capacities must be positive")
        self.videoCapacity = videoCapacity
        self.audioCapacity = audioCapacity
        self.audioPolicy = audioPolicy
        self.videoTime = videoTime
        self.audioTime = audioTime
    }

    /// Adds a frame, waiting while the video side is full; false once cancelled.
    @discardableResult
    public func pushVideo(_ item: Video) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while !cancelled && !videoEnded && video.count >= videoCapacity { condition.wait() }
        guard !cancelled && !videoEnded else { return false }
        video.append(item)
        videoHighWater = max(videoHighWater, video.count)
        condition.broadcast()
        return true
    }

    /// Adds an audio packet. A full audio side is always released by the consumer (see `pop`), so a
    /// wait here is short; with `.dropOldest` there is none. False once cancelled.
    @discardableResult
    public func pushAudio(_ item: Audio) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while !cancelled && !audioEnded && audio.count >= audioCapacity {
            if audioPolicy == .dropOldest {
                audio.removeFirst()
                droppedAudio += 1
                break
            }
            condition.wait()
        }
        guard !cancelled && !audioEnded else { return false }
        if let cut = audioCut, let t = audioTime(item), t >= cut { return true }
        audio.append(item)
        condition.broadcast()
        return true
    }

    /// No more video (the compositor is done); what is queued still comes out.
    public func endVideo() { condition.lock(); videoEnded = true; condition.broadcast(); condition.unlock() }
    /// Drops audio from `seconds` on, queued or still to come: a run stopped early (--max-frames,
    /// --duration, a signal) ends its audio where its video ends. Audio waits here for the video of
    /// its time, so what lies past the last frame is still queued.
    public func cutAudio(at seconds: Double) {
        condition.lock(); defer { condition.unlock() }
        audioCut = seconds
        audio.removeAll { audioTime($0).map { $0 >= seconds } ?? false }
        condition.broadcast()
    }

    /// No more audio (the source is done).
    public func endAudio() { condition.lock(); audioEnded = true; condition.broadcast(); condition.unlock() }

    /// Drops everything and wakes every waiter (the run aborts).
    public func cancel() {
        condition.lock()
        cancelled = true
        video.removeAll()
        audio.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// The next item in timestamp order, waiting for one; nil once both sides ended and are drained.
    public func pop() -> Interleaved<Video, Audio>? {
        condition.lock(); defer { condition.unlock() }
        while true {
            if let item = takeLocked() { return item }
            if isFinishedLocked { return nil }
            condition.wait()
        }
    }

    /// As `pop()`, waiting at most `timeout` seconds.
    public func pop(timeout: Double) -> PopResult<Interleaved<Video, Audio>> {
        condition.lock(); defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: timeout)
        while true {
            if let item = takeLocked() { return .item(item) }
            if isFinishedLocked { return .closed }
            if !condition.wait(until: until) {
                if let item = takeLocked() { return .item(item) }
                return isFinishedLocked ? .closed : .timedOut
            }
        }
    }

    private var isFinishedLocked: Bool {
        cancelled || (videoEnded && audioEnded && video.isEmpty && audio.isEmpty)
    }

    /// The earliest head; audio with nothing to compare against waits for video unless the video
    /// has ended or the audio side is full.
    private func takeLocked() -> Interleaved<Video, Audio>? {
        guard !cancelled else { return nil }
        if let frame = video.first {
            if let packet = audio.first, audioTime(packet).map({ $0 < videoTime(frame) }) ?? true {
                return takeAudioLocked()
            }
            video.removeFirst()
            condition.broadcast()
            return .video(frame)
        }
        guard let packet = audio.first else { return nil }
        if videoEnded || audioTime(packet) == nil { return takeAudioLocked() }
        if audio.count >= audioCapacity {
            audioAhead += 1
            return takeAudioLocked()
        }
        return nil
    }

    private func takeAudioLocked() -> Interleaved<Video, Audio> {
        let packet = audio.removeFirst()
        condition.broadcast()
        return .audio(packet)
    }

    /// Frames queued (the progress line's "encode" depth).
    public var videoCount: Int { condition.lock(); defer { condition.unlock() }; return video.count }
    /// Audio packets dropped because the output fell behind (`.dropOldest` only).
    public var droppedAudioCount: Int { condition.lock(); defer { condition.unlock() }; return droppedAudio }
    /// For the run summary: audio lost because the output fell behind a live source.
    public var warnings: [String] {
        let dropped = droppedAudioCount
        return dropped > 0 ? ["\(dropped) audio packet(s) dropped: the output fell behind the live source"] : []
    }
    /// Audio packets sent out ahead of the video because the audio side was full.
    public var audioSentAheadCount: Int { condition.lock(); defer { condition.unlock() }; return audioAhead }
}
