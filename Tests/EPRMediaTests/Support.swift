import CFFmpeg
import EPRCore
import EPRMedia
import Foundation

/// ../shared/media next to the repository (exists on every machine that runs the tests).
let sharedMedia: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()   // EPRMediaTests
    .deletingLastPathComponent()   // Tests
    .deletingLastPathComponent()   // repository root
    .deletingLastPathComponent()   // its parent
    .appendingPathComponent("shared/media")

let dashcamClip = sharedMedia.appendingPathComponent("solidWhiteRight.mp4").path

/// A fresh directory, removed when the closure ends.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("eprmedia-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

struct ToolResult { var status: Int32; var stdout: String; var stderr: String }

/// Runs an FFmpeg command-line tool (ffmpeg, ffprobe) and captures its output.
@discardableResult
func tool(_ name: String, _ arguments: [String]) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let out = Pipe()
    // stderr goes to a file, so a chatty tool can never block on a full pipe while we read stdout.
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("eprmedia-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    let errHandle = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try? errHandle.close()
    let errData = (try? Data(contentsOf: errURL)) ?? Data()
    return ToolResult(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
}

struct ToolFailed: Error, CustomStringConvertible { var description: String }

/// `ffmpeg -v error -y ARGS`, throwing on failure.
func ffmpeg(_ arguments: [String]) throws {
    let r = try tool("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-y"] + arguments)
    if r.status != 0 { throw ToolFailed(description: "ffmpeg \(arguments.joined(separator: " ")): \(r.stderr)") }
}

/// ffprobe's `key=value` output for one stream selector, e.g. "v:0".
func probeStream(_ path: String, _ selector: String, _ entries: String) throws -> [String: String] {
    let r = try tool("ffprobe", ["-v", "error", "-select_streams", selector, "-count_frames",
                                 "-show_entries", "stream=\(entries)", "-of", "default=nw=1", path])
    var result: [String: String] = [:]
    for line in r.stdout.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1)
        if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
    }
    return result
}

/// Presentation times (seconds) of every decoded video frame, as ffprobe sees them.
func probeFrameTimes(_ path: String) throws -> [Double] {
    let r = try tool("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                 "frame=best_effort_timestamp_time", "-of", "csv=p=0", path])
    return r.stdout.split(separator: "\n").compactMap { Double($0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: ","))) }
}

struct Transcoded {
    var frames: [VideoFrame] = []
    var audioPackets = 0
    var sourceWarnings: [String] = []
    var sinkWarnings: [String] = []
    var video: VideoStreamInfo
}

/// Source -> sink, the way the pipeline does it (without the segmentation in between).
func transcode(_ input: String, to output: String, keepFrames: Bool = false) throws -> Transcoded {
    FFmpegLog.setLevel(AV_LOG_FATAL)
    let source = try MediaSource(url: input)
    let sink = try VideoSink(path: output, video: source.video, audio: source.audioStreams)
    var result = Transcoded(video: source.video)
    var sequences: [Int] = []
    while let item = try source.next() {
        switch item {
        case .video(let frame):
            sequences.append(frame.sequence)
            try sink.write(frame)
            if keepFrames { result.frames.append(frame) }
        case .audio(let packet):
            result.audioPackets += 1
            try sink.write(packet)
        }
    }
    try sink.finish()
    precondition(sequences == Array(0..<sequences.count), "sequence numbers must be 0, 1, 2, ...")
    result.sourceWarnings = source.warnings
    result.sinkWarnings = sink.warnings
    return result
}

/// Decodes every frame of `input`, returning the frames and the source's warnings.
func decodeAll(_ input: String) throws -> (frames: [VideoFrame], source: MediaSource) {
    FFmpegLog.setLevel(AV_LOG_FATAL)
    let source = try MediaSource(url: input)
    var frames: [VideoFrame] = []
    while let item = try source.next() {
        if case .video(let f) = item { frames.append(f) }
    }
    return (frames, source)
}

/// Top-level MP4 box types in file order.
func mp4TopLevelBoxes(_ path: String) throws -> [String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var boxes: [String] = []
    var offset = 0
    while offset + 8 <= data.count {
        let size = data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        boxes.append(String(decoding: data[offset + 4..<offset + 8], as: UTF8.self))
        if size < 8 { break }
        offset += size
    }
    return boxes
}
