import EPRCore
import Foundation

/// Class names and colours from a file, for models whose metadata has no palette or to override
/// it. Two formats: text, one `name r,g,b` line per class in class-id order (`#` starts a
/// comment), or JSON, an array of `{"name": "Road", "color": [128, 64, 128]}` in class-id order.
public struct Palette: Sendable, Equatable {
    public let names: [String]
    public let colors: [RGB]
    /// Where it came from, for error messages.
    public let source: String

    /// Reads and parses `path`; an unreadable or malformed file is `.config` naming it.
    public init(contentsOfFile path: String) throws(EPRError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw EPRError(.config, "cannot read palette \(path)")
        }
        try self.init(parsing: text, source: path)
    }

    public init(parsing text: String, source: String) throws(EPRError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let entries = trimmed.hasPrefix("[") || trimmed.hasPrefix("{")
            ? try Self.parseJSON(trimmed, source: source) : try Self.parseLines(text, source: source)
        guard !entries.isEmpty else { throw EPRError(.config, "palette \(source) lists no classes") }
        names = entries.map(\.0)
        colors = entries.map(\.1)
        self.source = source
    }

    /// `model` with this palette's names and colours; a different class count is `.config`
    /// naming both counts.
    public func applied(to model: ModelDescription) throws(EPRError) -> ModelDescription {
        guard colors.count == model.classCount else {
            throw EPRError(.config, "palette \(source) has \(colors.count) classes but the model \(model.name) has \(model.classCount)")
        }
        var described = model
        described.classNames = names
        described.palette = colors
        return described
    }

    private static func parseLines(_ text: String, source: String) throws(EPRError) -> [(String, RGB)] {
        var entries: [(String, RGB)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            let bad = EPRError(.config, "palette \(source) line \(index + 1): expected 'name r,g,b' (0-255 each), got '\(line)'")
            guard let split = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else { throw bad }
            let name = line[..<split].trimmingCharacters(in: .whitespaces)
            let parts = line[line.index(after: split)...].split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { UInt8($0) }
            guard !name.isEmpty, parts.count == 3, values.count == 3 else { throw bad }
            entries.append((name, RGB(values[0], values[1], values[2])))
        }
        return entries
    }

    private static func parseJSON(_ text: String, source: String) throws(EPRError) -> [(String, RGB)] {
        let shape = "an array of {\"name\": ..., \"color\": [r, g, b]}"
        guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            throw EPRError(.config, "palette \(source) is not valid JSON")
        }
        guard let array = json as? [Any] else { throw EPRError(.config, "palette \(source): expected \(shape)") }
        var entries: [(String, RGB)] = []
        for (index, item) in array.enumerated() {
            guard let object = item as? [String: Any], let name = object["name"] as? String, !name.isEmpty,
                  let color = object["color"] as? [Any], color.count == 3 else {
                throw EPRError(.config, "palette \(source) entry \(index): expected {\"name\": ..., \"color\": [r, g, b]}")
            }
            let values = color.compactMap { ($0 as? NSNumber).flatMap { n in UInt8(exactly: n.doubleValue) } }
            guard values.count == 3 else {
                throw EPRError(.config, "palette \(source) entry \(index) (\(name)): colour values must be integers 0-255")
            }
            entries.append((name, RGB(values[0], values[1], values[2])))
        }
        return entries
    }
}
