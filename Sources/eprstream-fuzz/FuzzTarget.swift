import CLibFuzzer
import EPRCore
import EPRMedia
import Foundation

/// The fuzz target: arbitrary bytes go the way a user's file goes up to inference, through
/// `MediaSource` over memory (demux, decode with motion vectors, convert, autorotate), for the
/// first frames. Any outcome but a crash, a hang or a leak is acceptable: bad input ends as an
/// EPRError. Built with libFuzzer by scripts/fuzz.sh (-sanitize=fuzzer,address -DFUZZING);
/// without it the same binary replays files named on the command line (regression inputs).
enum FuzzHarness {
    static let maxFrames = 8
    static let maxItems = 64

    /// Decodes up to `maxFrames` frames of `data`; the outcome, for replays.
    @discardableResult
    static func exercise(_ data: UnsafeRawBufferPointer) -> String {
        var options = SourceOptions()
        options.decoderThreads = 1   // deterministic: one input, one path
        options.exportMotionVectors = true
        do throws(EPRError) {
            let source = try MediaSource(bytes: data, name: "fuzz-input", options: options)
            var frames = 0, items = 0
            while frames < maxFrames, items < maxItems, let item = try source.next() {
                items += 1
                guard case .video(let frame) = item else { continue }
                frames += 1
                // What every later stage relies on: frames at the size the source announced.
                precondition(frame.width == source.video.width && frame.height == source.video.height,
                             "frame \(frame.width)x\(frame.height) from a \(source.video.width)x\(source.video.height) stream")
            }
            return "\(frames) frames"
        } catch {
            return "error: \(error.message)"
        }
    }
}

/// One input, as libFuzzer hands it over.
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FFmpegLog.quiet()
    FuzzHarness.exercise(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@main struct FuzzMain {
    static func main() {
        FFmpegLog.quiet()
        #if FUZZING
        // libFuzzer's own flags and corpus directories (scripts/fuzz.sh).
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
        #else
        // Without libFuzzer: each file named on the command line through the harness, one line each.
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                exit(66)
            }
            let outcome = data.withUnsafeBytes { FuzzHarness.exercise($0) }
            print("\(path): \(outcome)")
        }
        #endif
    }
}
