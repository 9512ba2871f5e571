import EPRCore
import Foundation
import Logging

/// swift-log's output for the command line, on stderr: events (notice) keep the CLI's own
/// `live [t s]: message` lines, warnings `warning: message`; debug and trace lines (the HTTP
/// server's among them) name their logger and metadata, e.g. `debug [1.20 s] eprstream.http: ...`.
/// Each stream's logger carries its id as metadata (`stream`).
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// `serve`: event lines start with the stream's id, `[front] connected: ...`.
    var tagsStreams = false

    init(label: String, logLevel: Logger.Level, tagsStreams: Bool = false) {
        self.label = label
        self.logLevel = logLevel
        self.tagsStreams = tagsStreams
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let tag = tagsStreams ? metadata["stream"].map { "[\($0)] " } ?? "" : ""
        switch event.level {
        case .notice, .info: Terminal.note(tag + event.message.description)
        case .warning: Terminal.warn(tag + event.message.description)
        case .error, .critical: FileHandle.standardError.write(Data("error: \(tag)\(event.message)\n".utf8))
        case .debug, .trace:
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let tags = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            let stamp = String(format: "%.2f", Date().timeIntervalSince(Terminal.startTime))
            FileHandle.standardError.write(Data("\(event.level) [\(stamp) s] \(label)\(tags): \(event.message)\n".utf8))
        }
    }

    /// Parses --log-level.
    static func level(_ text: String) throws(EPRError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw EPRError(.config, "--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(text)'")
        }
        return level
    }
}
