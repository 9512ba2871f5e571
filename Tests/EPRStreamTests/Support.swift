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

/// Runs a program to completion (with a hard time limit so a hang fails the test instead of CI),
/// optionally sending Ctrl-C after `interruptAfter` seconds.
@discardableResult
func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 300,
         interruptAfter: TimeInterval? = nil) throws -> ProcessResult {
    let child = try LiveRun(arguments, executable: executable)
    if let after = interruptAfter {
        let deadline = Date(timeIntervalSinceNow: after)
        while child.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        child.interrupt()
    }
    let result = try child.wait(timeout: timeout)
    return ProcessResult(status: result.status, stdout: result.stdout, stderr: result.stderr, data: result.stdoutData)
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
    static func decodeErrors(_ path: String) throws -> String {
        let result = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
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

/// A program running in the background whose stderr lines are timestamped as they arrive.
final class LiveRun: @unchecked Sendable {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        /// stdout as bytes (raw video from ffmpeg is not text).
        let stdoutData: Data
        let wall: Double
    }

    private let process = Process()
    private let lock = NSCondition()
    private var lines: [(Date, String)] = []
    private let stdoutData: ReadAll
    private let errDone = DispatchSemaphore(value: 0)
    private let started = Date()

    init(_ arguments: [String], executable: String = Repo.binary) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        stdoutData = ReadAll(out.fileHandleForReading)
        let handle = err.fileHandleForReading
        Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending = Data(pending[(nl + 1)...])
                    lock.lock(); lines.append((Date(), line)); lock.broadcast(); lock.unlock()
                }
            }
            if !pending.isEmpty {
                lock.lock(); lines.append((Date(), String(decoding: pending, as: UTF8.self))); lock.unlock()
            }
            errDone.signal()
        }.start()
    }

    var isRunning: Bool { process.isRunning }

    var stderrText: String { lock.lock(); defer { lock.unlock() }; return lines.map(\.1).joined(separator: "\n") }

    /// When the first line containing `text` arrived (waiting up to `timeout` s for it).
    func waitForLine(containing text: String, timeout: Double) -> Date? {
        waitForLine(timeout: timeout) { $0.contains(text) }
    }

    /// When the first line that `matches` arrived (waiting up to `timeout` s for it).
    func waitForLine(timeout: Double, where matches: (String) -> Bool) -> Date? {
        let until = Date(timeIntervalSinceNow: timeout)
        lock.lock(); defer { lock.unlock() }
        while true {
            if let hit = lines.first(where: { matches($0.1) }) { return hit.0 }
            if !lock.wait(until: until) { return nil }
        }
    }

    /// The count of a progress line ("progress: N frames, ...") once one says more than `frames`
    /// annotated frames are written (waiting up to `timeout` s for it).
    func waitForProgress(beyond frames: Int, timeout: Double) -> Int? {
        func count(_ line: String) -> Int? {
            guard line.hasPrefix("progress: ") else { return nil }
            return Int(line.dropFirst(10).prefix { $0.isNumber })
        }
        guard waitForLine(timeout: timeout, where: { (count($0) ?? 0) > frames }) != nil else { return nil }
        lock.lock(); defer { lock.unlock() }
        return lines.lazy.compactMap { count($0.1) }.first { $0 > frames }
    }

    /// Resident memory of the process (KiB), from /proc.
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    func wait(timeout: Double) throws -> Result {
        let until = Date(timeIntervalSinceNow: timeout)
        while process.isRunning {
            if Date() > until {
                kill()
                throw TestFailure("\(process.executableURL?.lastPathComponent ?? "") did not finish within \(timeout) s; stderr: \(stderrText)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        _ = errDone.wait(timeout: .now() + 5)
        let out = stdoutData.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: stderrText, stdoutData: out, wall: Date().timeIntervalSince(started))
    }

    /// Ctrl-C.
    func interrupt() { if process.isRunning { process.interrupt() } }

    /// Any signal (SIGTERM, SIGHUP, ...).
    func send(_ signal: Int32) { if process.isRunning { Foundation.kill(process.processIdentifier, signal) } }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}

/// A TCP listener that never accepts or answers: an RTSP server that hangs.
final class SilentListener {
    let port: Int
    private let fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = fd
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, len) == 0 && listen(descriptor, 16) == 0 && getsockname(descriptor, $0, &len) == 0
            }
        }
        guard ok else { Foundation.close(fd); throw TestFailure("cannot listen on loopback") }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func close() { Foundation.close(fd) }
}
