import CFFmpeg
import EPRCore
import EPRMedia
import Foundation

/// How many finished recording segments to keep: the newest N, or those younger than an age.
public enum Retention: Sendable, Equatable {
    case count(Int)
    case age(seconds: Double)

    /// "24" (segments) or an age: "90s", "30m", "24h", "7d".
    public init(parsing text: String) throws(EPRError) {
        let bad = EPRError(.config, "bad retention '\(text)': expected a segment count (e.g. 24) or an age (90s, 30m, 24h, 7d)")
        if let n = Int(text) {
            guard n > 0 else { throw bad }
            self = .count(n)
            return
        }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value > 0 else { throw bad }
        self = .age(seconds: value * unit)
    }
}

/// A recording cut into files of `seconds` each: `NAME-YYYYmmdd-HHMMSS.EXT` beside the target
/// path (UTC, the run's start plus the segment's media time). Each segment is its own `VideoSink`
/// in live mode - a fresh encoder, so it starts at a keyframe and plays alone, and fragmented MP4
/// written in place, so a crash leaves it playable. Audio goes to the segment its timestamp
/// falls in. After each cut the retention deletes the oldest segments of this name.
final class SegmentedRecorder: VideoOutput {
    let seconds: Double
    let retention: Retention?
    private let directory: URL
    private let stem: String
    private let ext: String
    private let video: VideoStreamInfo
    private let audio: [AudioStreamInfo]
    private let options: SinkOptions
    private let clockStart: Date
    private var current: VideoSink
    /// Media time (seconds) where the current segment starts; nil until the first frame.
    private var segmentStart: Double?
    /// Media time of the first frame: the run's start clock.
    private var origin: Double?
    /// Audio for a later segment than the current one, waiting for the cut.
    private var heldAudio: [AudioPacket] = []
    private var written = 0
    private var notes: [String] = []
    private(set) var segmentPaths: [String] = []

    private static let maxHeldAudio = 4096

    init(path: String, seconds: Double, retention: Retention?, video: VideoStreamInfo, audio: [AudioStreamInfo],
         options: SinkOptions, clockStart: Date = Date()) throws(EPRError) {
        let target = URL(fileURLWithPath: path)
        directory = target.deletingLastPathComponent()
        stem = target.deletingPathExtension().lastPathComponent
        ext = target.pathExtension.isEmpty ? "mp4" : target.pathExtension
        self.seconds = seconds
        self.retention = retention
        self.video = video
        self.audio = audio
        var live = options
        live.live = true
        live.liveKeyframeSeconds = min(options.liveKeyframeSeconds, seconds)
        self.options = live
        self.clockStart = clockStart
        let first = Self.name(stem: stem, ext: ext, at: clockStart)
        current = try VideoSink(path: directory.appendingPathComponent(first).path, video: video, audio: audio, options: live)
        segmentPaths.append(current.path)
    }

    var framesWritten: Int { written }
    /// Each segment's sink repeats the same notes (an audio stream dropped): each is told once.
    var warnings: [String] {
        var seen = Set<String>()
        return (notes + current.warnings).filter { seen.insert($0).inserted }
    }

    func write(_ frame: VideoFrame) throws(EPRError) {
        let t = frame.seconds
        if let start = segmentStart, t >= start + seconds {
            // A jump of more than a segment (a long gap) starts the next one at the frame itself.
            try cut(at: t - start >= 2 * seconds ? t : start + seconds)
        } else if segmentStart == nil {
            segmentStart = t
            origin = t
            try flushHeldAudio()
        }
        try current.write(frame)
        written += 1
    }

    func write(_ packet: AudioPacket) throws(EPRError) {
        guard let start = segmentStart, time(of: packet) < start + seconds else {
            heldAudio.append(packet)
            if heldAudio.count > Self.maxHeldAudio { heldAudio.removeFirst() }
            return
        }
        try current.write(packet)
    }

    func finish() throws(EPRError) {
        notes += current.warnings
        try current.finish()
        applyRetention()
    }

    func abort() { current.abort() }

    /// Finishes the current segment and opens the next at media time `start`.
    private func cut(at start: Double) throws(EPRError) {
        notes += current.warnings
        try current.finish()
        let name = Self.name(stem: stem, ext: ext, at: clockStart.addingTimeInterval(start - (origin ?? start)))
        var shifted = VideoStreamInfo(width: video.width, height: video.height, timeBase: video.timeBase,
                                      frameRate: video.frameRate, estimatedFrameCount: nil, durationSeconds: nil,
                                      codecName: video.codecName, sampleAspectRatio: video.sampleAspectRatio,
                                      startTime: Int64((start * 1_000_000).rounded()))
        shifted.displayRotation = video.displayRotation
        current = try VideoSink(path: directory.appendingPathComponent(name).path, video: shifted, audio: audio, options: options)
        segmentPaths.append(current.path)
        segmentStart = start
        try flushHeldAudio()
        applyRetention()
    }

    private func flushHeldAudio() throws(EPRError) {
        guard let start = segmentStart else { return }
        let ready = heldAudio.filter { time(of: $0) < start + seconds }
        heldAudio.removeAll { time(of: $0) < start + seconds }
        for packet in ready where time(of: packet) >= start - seconds { try current.write(packet) }
    }

    private func time(of packet: AudioPacket) -> Double {
        let ts = packet.packet.pointee.pts != cff_nopts_value() ? packet.packet.pointee.pts : packet.packet.pointee.dts
        return Double(ts) * av_q2d(packet.timeBase)
    }

    /// Deletes this recording's oldest segments (this run's and earlier runs') beyond the count,
    /// or finished ones last written longer ago than the age; never the open one.
    private func applyRetention() {
        guard let retention else { return }
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: directory.path)) ?? []).filter(isSegmentName).sorted()
        let open = URL(fileURLWithPath: current.path).lastPathComponent
        var doomed: [String] = []
        switch retention {
        case .count(let keep):
            doomed = Array(names.filter { $0 != open }.dropLast(keep - 1))   // the open one counts
        case .age(let age):
            let limit = Date().addingTimeInterval(-age)
            doomed = names.filter { name in
                guard name != open else { return false }
                let modified = (try? fm.attributesOfItem(atPath: directory.appendingPathComponent(name).path))?[.modificationDate] as? Date
                return modified.map { $0 < limit } ?? false
            }
        }
        for name in doomed { try? fm.removeItem(at: directory.appendingPathComponent(name)) }
    }

    /// `stem-YYYYmmdd-HHMMSS.ext`.
    private func isSegmentName(_ name: String) -> Bool {
        let prefix = stem + "-", suffix = "." + ext
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return false }
        let stamp = name.dropFirst(prefix.count).dropLast(suffix.count)
        return stamp.count == 15 && stamp.enumerated().allSatisfy { i, c in i == 8 ? c == "-" : c.isASCII && c.isNumber }
    }

    static func name(stem: String, ext: String, at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(stem)-\(formatter.string(from: date)).\(ext)"
    }
}
