import CFFmpeg
import EPRCore
import EPRMedia
import EPRTestSupport
import Foundation

let dashcamClip = dashcamClipPath

struct ToolResult { var status: Int32; var stdout: String; var stderr: String }
struct ToolFailed: Error, CustomStringConvertible { var description: String }

/// Runs a command-line tool (curl, ffprobe, promtool) and captures its output.
@discardableResult
func tool(_ name: String, _ arguments: [String], stdin: Data? = nil) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin); try input.fileHandleForWriting.close() }
    let errData = Locked(Data())
    let errReader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    errReader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errReader.isFinished { usleep(1_000) }
    return ToolResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.get(), as: UTF8.self))
}

/// A value shared between threads. Thread-safe: guarded by `lock`.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func set(_ v: T) { lock.withLock { value = v } }
    func get() -> T { lock.withLock { value } }
}

/// A process started now and read to the end later (a viewer that watches while frames are written).
final class BackgroundTool: @unchecked Sendable {
    private let process = Process()
    private let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("preview-\(UUID().uuidString).out")

    init(_ name: String, _ arguments: [String]) throws {
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// What it has written so far (it is still running).
    var outputSoFar: String { String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self) }

    /// Waits for the exit; returns the status and stdout.
    func finish() throws -> (status: Int32, output: Data) {
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: outURL) }
        return (process.terminationStatus, try Data(contentsOf: outURL))
    }
}

/// A raw TCP connection to 127.0.0.1, for clients no HTTP library would be (slow, rude, malformed).
final class RawClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { Glibc.close(fd); throw ToolFailed(description: "connect: \(errno)") }
    }

    deinit { Glibc.close(fd) }

    /// False once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// The response head (up to the blank line), or what came before the server closed.
    func readHead(timeout: Double = 30) -> String {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) == 1 {
            data.append(byte)
            if data.count >= 4 && data.suffix(4) == [13, 10, 13, 10] { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Everything until the server closes (or `timeout` seconds without data).
    func readAll(timeout: Double = 30) -> String {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The connections a server on `port` holds open: its sockets (local port `port`) that are
/// ESTABLISHED or CLOSE_WAIT, from the kernel's tables. Each is a descriptor the server has not
/// closed; unlike a count of this process's descriptors, tests running beside it do not move it.
func connectionsHeld(port: Int) -> Int {
    let established = "01", closeWait = "08"
    var held = 0
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // Read to the end: procfs reports size 0, and a one-shot read may stop at the first page.
        guard let file = FileHandle(forReadingAtPath: table), let data = try? file.readToEnd() else { continue }
        try? file.close()
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, let portHex = fields[1].split(separator: ":").last,
                  Int(portHex, radix: 16) == port else { continue }
            if fields[3] == established || fields[3] == closeWait { held += 1 }
        }
    }
    return held
}
