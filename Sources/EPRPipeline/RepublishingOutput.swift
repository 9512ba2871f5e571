import EPRCore
import EPRMedia
import Foundation

/// A network output (rtsp://...) of a live run that outlives its server: when a write fails, the
/// connection is dropped and reopened with the same capped backoff as the input, while frames
/// go unsent (counted) instead of holding up the pipeline. Each connection gets a fresh encoder,
/// so a receiver starts at a keyframe. Only opening the very first connection, or running out of
/// attempts (the input's `maxReconnects`), is an error.
final class RepublishingOutput: VideoOutput {
    private let open: () throws(EPRError) -> VideoSink
    /// The input's retry policy (backoff, maxReconnects), applied to the output too.
    private let retry: LiveSourceOptions
    private let log: (String) -> Void
    private var sink: VideoSink?
    /// Frames written by sinks that are gone.
    private var writtenBefore = 0
    private var failedAttempts = 0
    private var nextAttemptAt = 0.0
    private var downSince = 0.0
    private(set) var reconnects = 0
    /// Frames that arrived while the output was down.
    private(set) var framesNotSent = 0
    private(set) var warnings: [String] = []

    /// Opens the first connection (an error here ends the run, as for any output).
    init(retry: LiveSourceOptions, log: @escaping (String) -> Void,
         open: @escaping () throws(EPRError) -> VideoSink) throws(EPRError) {
        self.open = open
        self.retry = retry
        self.log = log
        sink = try open()
    }

    var framesWritten: Int { writtenBefore + (sink?.framesWritten ?? 0) }

    func write(_ frame: VideoFrame) throws(EPRError) {
        guard let current = try connected() else { framesNotSent += 1; return }
        do throws(EPRError) { try current.write(frame) } catch { lost(current, error) }
    }

    func write(_ audio: AudioPacket) throws(EPRError) {
        guard let current = sink else { return }
        do throws(EPRError) { try current.write(audio) } catch { lost(current, error) }
    }

    func finish() throws(EPRError) {
        guard let current = sink else { return }   // down at the end: nothing left to close
        try current.finish()
        writtenBefore += current.framesWritten
        warnings += current.warnings
        sink = nil
    }

    func abort() {
        sink?.abort()
        sink = nil
    }

    // MARK: - Internals

    private func lost(_ current: VideoSink, _ error: EPRError) {
        current.abort()
        writtenBefore += current.framesWritten
        warnings += current.warnings
        sink = nil
        failedAttempts = 0
        downSince = now()
        nextAttemptAt = downSince + retry.backoff(attempt: 1)
        log("output lost: \(error.message); reconnecting")
    }

    /// The open sink, reopening it when an attempt is due; nil while the output is down.
    private func connected() throws(EPRError) -> VideoSink? {
        if let sink { return sink }
        let t = now()
        guard t >= nextAttemptAt else { return nil }
        do throws(EPRError) {
            let fresh = try open()
            sink = fresh
            reconnects += 1
            log(String(format: "output reconnected after %.2f s (%d frames not sent)", now() - downSince, framesNotSent))
            return fresh
        } catch {
            failedAttempts += 1
            if let final = retry.giveUp(after: failedAttempts, error, as: .output) { throw final }
            let delay = retry.backoff(attempt: failedAttempts + 1)
            nextAttemptAt = now() + delay
            log(String(format: "output attempt %d failed: %@; retrying in %.1f s", failedAttempts, error.message, delay))
            return nil
        }
    }
}
