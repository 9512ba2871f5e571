import CFFmpeg
import EPRCore
import EPRMedia
import Foundation
import Testing

/// MediaSource over bytes in memory (the fuzz target's way in) demuxes as the file does, and every
/// input the fuzzer once crashed on now ends cleanly.
@Suite struct MemoryInputTests {
    static let regressions = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()   // Tests
        .appendingPathComponent("Fuzz/regressions")

    /// A source over `bytes` (copied at once, so the closure's buffer may go).
    static func source(_ bytes: [UInt8], name: String) throws(EPRError) -> MediaSource {
        var result: Result<MediaSource, EPRError> = .failure(EPRError(.internalFailure, "unset"))
        bytes.withUnsafeBytes { raw in
            do throws(EPRError) { result = .success(try MediaSource(bytes: raw, name: name)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Frame timestamps and the first frame's luma row sums, from a file or its bytes.
    static func summary(_ source: MediaSource) throws -> (pts: [Int64], audio: Int, rows: [Int]) {
        var pts: [Int64] = [], audio = 0, rows: [Int] = []
        while let item = try source.next() {
            switch item {
            case .video(let f):
                pts.append(f.pts)
                if rows.isEmpty {
                    let p = f.avFrame.pointee
                    rows = (0..<f.height).map { y in (0..<f.width).reduce(0) { $0 + Int(p.data.0![y * Int(p.linesize.0) + $1]) } }
                }
            case .audio: audio += 1
            }
        }
        return (pts, audio, rows)
    }

    // The index at the end (mp4 without faststart) makes the demuxer seek; TS and MKV stream.
    @Test(arguments: ["mp4", "ts", "mkv"])
    func bytesDemuxLikeTheFile(ext: String) throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("clip.\(ext)").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
                        "-c:v", "libx264", "-bf", "2", "-c:a", ext == "mkv" ? "libopus" : "aac", path])
            FFmpegLog.setLevel(AV_LOG_FATAL)
            let fromFile = try Self.summary(try MediaSource(url: path))
            let source = try Self.source([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), name: "clip")
            #expect(source.video.width == 96 && source.video.height == 64)
            let fromMemory = try Self.summary(source)
            #expect(fromMemory.pts.count == 10 && fromMemory.pts == fromFile.pts)
            #expect(fromMemory.audio == fromFile.audio && fromMemory.audio > 0)
            #expect(fromMemory.rows == fromFile.rows)
        }
    }

    @Test func emptyAndGarbageBytesEndInOneLineErrors() throws {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        var generator = SystemRandomNumberGenerator()
        let inputs: [[UInt8]] = [[], Array("not a video\n".utf8), (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) },
                                 [0, 0, 0, 0x20] + Array("ftypisom".utf8) + [UInt8](repeating: 0, count: 20)]
        for input in inputs {
            #expect(throws: EPRError.self) {
                _ = try Self.source(input, name: "junk")
            }
        }
        do throws(EPRError) {
            _ = try Self.source([], name: "junk")
        } catch {
            #expect(error.message.hasPrefix("cannot read junk:") && !error.message.contains("\n"), "\(error.message)")
        }
    }

    /// Inputs the fuzzer crashed on: each must now decode or fail with an EPRError.
    @Test func fuzzRegressionInputsEndCleanly() throws {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.regressions.path).filter { $0 != "README.md" }
        for name in files.sorted() {
            let data = [UInt8](try Data(contentsOf: Self.regressions.appendingPathComponent(name)))
            do throws(EPRError) {
                let source = try Self.source(data, name: name)
                var frames = 0
                while frames < 8, let item = try source.next() {
                    if case .video(let f) = item {
                        frames += 1
                        #expect(f.width == source.video.width && f.height == source.video.height, "\(name)")
                    }
                }
            } catch {
                #expect(!error.message.isEmpty, "\(name)")
            }
        }
    }
}
