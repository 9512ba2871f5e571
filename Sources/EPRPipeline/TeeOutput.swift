import EPRCore
import EPRMedia

/// The same annotated video to several outputs (a file or stream plus the browser preview), as
/// the sink stage sees them: the first output is written in place, on the sink's thread (files
/// keep their back-pressure: nothing is lost); each further output gets its frames through its
/// own bounded queue, on its own thread (`OutputStage`), dropping the oldest when it falls behind.
/// Frames are counted by the first output; warnings come from all.
public final class TeeOutput: VideoOutput {
    /// Frames a further output may fall behind before its oldest is dropped.
    public static let branchCapacity = 8

    private let outputs: [any VideoOutput]
    /// One queue per output after the first.
    public let branches: [BoundedQueue<OutputItem>]

    public init(_ outputs: [any VideoOutput]) {
        precondition(!outputs.isEmpty, "a tee needs an output")
        self.outputs = outputs
        branches = outputs.dropFirst().map { _ in BoundedQueue(capacity: Self.branchCapacity, policy: .dropOldest) }
    }

    /// The thread of each output after the first.
    public func branchStages() -> [OutputStage] {
        zip(outputs.dropFirst(), branches).enumerated().map { index, pair in
            OutputStage(name: "output \(index + 2)", output: pair.0, queue: pair.1)
        }
    }

    public var framesWritten: Int { outputs[0].framesWritten }
    public var warnings: [String] {
        let skipped = branches.map(\.droppedCount).reduce(0, +)
        return outputs.flatMap(\.warnings)
            + (skipped > 0 ? ["\(skipped) frame(s) skipped by a further output that fell behind (browser preview)"] : [])
    }

    public func write(_ frame: VideoFrame) throws(EPRError) {
        try outputs[0].write(frame)
        for branch in branches { branch.push(.video(frame)) }
    }

    public func write(_ audio: AudioPacket) throws(EPRError) {
        try outputs[0].write(audio)
        for branch in branches { branch.push(.audio(audio)) }
    }

    /// No more frames: each further output drains its queue, then its thread ends.
    public func endBranches() { branches.forEach { $0.close() } }

    /// Finishes every output, even after one failed; the first failure is thrown. Call once the
    /// stage threads have been joined.
    public func finish() throws(EPRError) {
        var first: EPRError?
        for output in outputs {
            do throws(EPRError) { try output.finish() } catch { if first == nil { first = error } }
        }
        if let first { throw first }
    }

    public func abort() {
        for output in outputs { output.abort() }
    }
}
