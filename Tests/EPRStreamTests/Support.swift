import Foundation

/// Paths and process helpers for end-to-end tests that drive the real `eprstream` binary.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")
    static let dashcam = shared.appendingPathComponent("media/solidWhiteRight.mp4").path
    static let camvid = shared.appendingPathComponent("datasets/camvid")
    static let fixtures = root.appendingPathComponent("Tests/EPRStreamTests/Fixtures")

    /// The binary built alongside this test bundle (same configuration), else any build.
    static var binary: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [besideTests.appendingPathComponent("eprstream").path]
        for folder in sequence(first: besideTests, next: { $0.path == "/" ? nil : $0.deletingLastPathComponent() }) {
            candidates.append(folder.appendingPathComponent("eprstream").path)
        }
        candidates += [root.appendingPathComponent(".build/release/eprstream").path,
                       root.appendingPathComponent(".build/debug/eprstream").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eprstream-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let data: Data
}

/// Runs a program to completion (with a hard time limit so a hang fails the test instead of CI).
@discardableResult
func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 300,
         interruptAfter: TimeInterval? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outData = ReadAll(out.fileHandleForReading)
    let errData = ReadAll(err.fileHandleForReading)
    let started = Date()
    var interrupted = false
    while process.isRunning {
        Thread.sleep(forTimeInterval: 0.02)
        let elapsed = Date().timeIntervalSince(started)
        if let after = interruptAfter, !interrupted, elapsed > after {
            process.interrupt()
            interrupted = true
        }
        if elapsed > timeout {
            process.terminate()
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) timed out after \(timeout) s")
        }
    }
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: outData.wait(), as: UTF8.self),
                         stderr: String(decoding: errData.wait(), as: UTF8.self),
                         data: outData.wait())
}

/// Drains a pipe on its own thread so a chatty child never blocks on a full pipe.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    private var finished = false
    private let lock = NSLock()

    init(_ handle: FileHandle) {
        Thread { [self] in
            let all = handle.readDataToEndOfFile()
            lock.lock(); data = all; finished = true; lock.unlock()
            done.signal()
        }.start()
    }

    func wait() -> Data {
        lock.lock()
        if finished { defer { lock.unlock() }; return data }
        lock.unlock()
        done.wait()
        done.signal()
        lock.lock(); defer { lock.unlock() }
        return data
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// ffprobe/ffmpeg wrappers used to check outputs as any player would see them.
enum Probe {
    static func ffprobe(_ args: [String]) throws -> String {
        try run("/usr/bin/ffprobe", ["-v", "error"] + args).stdout
    }

    /// Decoded frame count, codec, pixel format of the first video stream.
    static func video(_ path: String) throws -> (frames: Int, codec: String, pixFmt: String, duration: Double) {
        let out = try ffprobe(["-select_streams", "v:0", "-count_frames", "-show_entries",
                               "stream=nb_read_frames,codec_name,pix_fmt,duration", "-of", "default=nw=1", path])
        let fields = Dictionary(out.split(separator: "\n").compactMap { line -> (String, String)? in
            let kv = line.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
        return (Int(fields["nb_read_frames"] ?? "") ?? -1, fields["codec_name"] ?? "", fields["pix_fmt"] ?? "",
                Double(fields["duration"] ?? "") ?? -1)
    }

    static func audio(_ path: String) throws -> (codec: String, duration: Double)? {
        let out = try ffprobe(["-select_streams", "a:0", "-show_entries", "stream=codec_name,duration",
                               "-of", "default=nw=1", path])
        guard !out.isEmpty else { return nil }
        var codec = "", duration = -1.0
        for line in out.split(separator: "\n") {
            if line.hasPrefix("codec_name=") { codec = String(line.dropFirst(11)) }
            if line.hasPrefix("duration=") { duration = Double(line.dropFirst(9)) ?? -1 }
        }
        return (codec, duration)
    }

    /// Errors ffmpeg reports while decoding the whole file (empty = plays cleanly).
    /// `keepTimestamps` decodes every frame with ffprobe instead of transcoding to a null output:
    /// the ffmpeg CLI's output side rejects frames closer than one nominal frame apart, and live
    /// outputs carry arrival times, which a loaded machine delivers in bursts.
    static func decodeErrors(_ path: String, keepTimestamps: Bool = false) throws -> String {
        let result = keepTimestamps
            ? try run("/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts",
                                           "-of", "csv=p=0", path])
            : try run("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
        return result.stderr + (result.status == 0 ? "" : "exit \(result.status)")
    }

    /// All frames of a video as packed RGB24, decoded by the ffmpeg CLI.
    static func rgbFrames(_ path: String, width: Int, height: Int) throws -> [[UInt8]] {
        let result = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let size = width * height * 3
        let bytes = [UInt8](result.data)
        return stride(from: 0, to: bytes.count - size + 1, by: size).map { Array(bytes[$0..<$0 + size]) }
    }

    /// A grey 8-bit PNG (label map) as raw bytes.
    static func grayPNG(_ path: String) throws -> [UInt8] {
        let result = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        return [UInt8](result.data)
    }
}
