import EPRCore
import EPRMedia

/// The same annotated video to several outputs (a file or stream plus the browser preview).
/// Frames are counted by the first output; warnings come from all.
final class TeeOutput: VideoOutput {
    private let outputs: [any VideoOutput]

    init(_ outputs: [any VideoOutput]) {
        precondition(!outputs.isEmpty, "a tee needs an output")
        self.outputs = outputs
    }

    var framesWritten: Int { outputs[0].framesWritten }
    var warnings: [String] { outputs.flatMap(\.warnings) }

    func write(_ frame: VideoFrame) throws(EPRError) {
        for output in outputs { try output.write(frame) }
    }

    func write(_ audio: AudioPacket) throws(EPRError) {
        for output in outputs { try output.write(audio) }
    }

    /// Finishes every output, even after one failed; the first failure is thrown.
    func finish() throws(EPRError) {
        var first: EPRError?
        for output in outputs {
            do throws(EPRError) { try output.finish() } catch { if first == nil { first = error } }
        }
        if let first { throw first }
    }

    func abort() {
        for output in outputs { output.abort() }
    }
}
