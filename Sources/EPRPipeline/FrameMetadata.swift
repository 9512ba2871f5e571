import EPRCore
import EPRServer
import Foundation

/// A region of the picture to report class shares for, e.g. the lane ahead: a polygon in
/// normalised coordinates (x from 0 at the left to 1 at the right, y from 0 at the top to 1 at
/// the bottom), so it fits any input size.
public struct Zone: Sendable, Equatable {
    public let name: String
    public let polygon: [Point]

    public struct Point: Sendable, Equatable {
        public let x: Double
        public let y: Double
        public init(x: Double, y: Double) { self.x = x; self.y = y }
    }

    public init(name: String, polygon: [Point]) throws(EPRError) {
        guard !name.isEmpty else { throw EPRError(.config, "a zone needs a name") }
        guard polygon.count >= 3 else { throw EPRError(.config, "zone '\(name)': a polygon needs at least 3 points, got \(polygon.count)") }
        for p in polygon where !(0...1).contains(p.x) || !(0...1).contains(p.y) {
            throw EPRError(.config, "zone '\(name)': point (\(p.x), \(p.y)) is outside 0...1 (coordinates are normalised)")
        }
        self.name = name
        self.polygon = polygon
    }

    /// Whether (x, y) lies inside (even-odd rule).
    func contains(x: Double, y: Double) -> Bool {
        var inside = false
        var j = polygon.count - 1
        for i in 0..<polygon.count {
            let a = polygon[i], b = polygon[j]
            if (a.y > y) != (b.y > y), x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
            j = i
        }
        return inside
    }
}

/// The share of a mask covered by each class, over the whole frame and inside each zone. Zone
/// membership is fixed per mask size (label pixel centres inside the polygon), computed once.
public struct ClassShareCounter: Sendable {
    public let classCount: Int
    public let zones: [Zone]
    private let width: Int
    private let height: Int
    /// Per zone, the label pixel indices inside it.
    private let zonePixels: [[Int32]]

    public init(classCount: Int, zones: [Zone], maskWidth: Int, maskHeight: Int) {
        self.classCount = classCount
        self.zones = zones
        width = maskWidth
        height = maskHeight
        zonePixels = zones.map { zone in
            var inside: [Int32] = []
            for y in 0..<maskHeight {
                for x in 0..<maskWidth where zone.contains(x: (Double(x) + 0.5) / Double(maskWidth),
                                                           y: (Double(y) + 0.5) / Double(maskHeight)) {
                    inside.append(Int32(y * maskWidth + x))
                }
            }
            return inside
        }
    }

    /// Shares per class id (summing to 1), then per zone (each summing to 1; all 0 for a zone
    /// that covers no pixel of the mask).
    public func shares(_ labels: LabelMap) -> FrameShares {
        let mask = labels.width == width && labels.height == height ? labels : labels.resized(width: width, height: height)
        var counts = [Int](repeating: 0, count: classCount + 1)   // the last: ids the model does not name
        for label in mask.labels { counts[min(Int(label), classCount)] += 1 }
        let total = Double(mask.labels.count)
        let frame = counts.prefix(classCount).map { total > 0 ? Double($0) / total : 0 }
        var perZone: [[Double]] = []
        for pixels in zonePixels {
            var zoneCounts = [Int](repeating: 0, count: classCount + 1)
            mask.labels.withUnsafeBufferPointer { buffer in
                for i in pixels { zoneCounts[min(Int(buffer[Int(i)]), classCount)] += 1 }
            }
            let n = Double(pixels.count)
            perZone.append(zoneCounts.prefix(classCount).map { n > 0 ? Double($0) / n : 0 })
        }
        return FrameShares(frame: frame, zones: perZone)
    }
}

/// One frame's class shares (by class id), whole frame and per zone.
public struct FrameShares: Sendable, Equatable {
    public let frame: [Double]
    public let zones: [[Double]]
}

/// Per-frame metadata as JSON lines, one line per written frame, in output order: to a file or
/// stdout (`run --metadata FILE|-`) and to the stream's event subscribers (the HTTP server's
/// `/api/streams/ID/events`). The schema is in the README. Not thread-safe: the sink's thread alone writes.
final class MetadataWriter {
    private let handle: FileHandle?
    private let toStdout: Bool
    private let broadcaster: MetadataBroadcaster?
    private let stream: String
    private let classNames: [String]
    private let zoneNames: [String]
    private let encoder: JSONEncoder
    private var frames = 0

    /// `path` "-" writes to stdout, nil to no file; a file is created (or truncated) now, so a
    /// bad path fails before the run.
    init(path: String?, broadcaster: MetadataBroadcaster? = nil, stream: String, classNames: [String], zones: [Zone]) throws(EPRError) {
        self.stream = stream
        self.classNames = classNames
        self.broadcaster = broadcaster
        zoneNames = zones.map(\.name)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch path {
        case nil:
            handle = nil
            toStdout = false
        case "-":
            handle = FileHandle.standardOutput
            toStdout = true
        case let path?:
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let opened = FileHandle(forWritingAtPath: path) else {
                throw EPRError(.output, "cannot write the metadata to \(path): \(String(cString: strerror(errno)))")
            }
            handle = opened
            toStdout = false
        }
    }

    /// What one line holds (keys sorted in the output).
    struct Line: Encodable {
        let stream: String
        let frame: Int
        let pts: Double
        let wall: Double
        let latency: Double
        let mask_age: Int
        let classes: [String: Double]
        let zones: [String: [String: Double]]?
    }

    func write(pts: Double, latency: Double, maskAge: Int, shares: FrameShares) throws(EPRError) {
        func named(_ values: [Double]) -> [String: Double] {
            var result: [String: Double] = [:]
            for (id, value) in values.enumerated() {
                result[id < classNames.count ? classNames[id] : String(id)] = (value * 1e6).rounded() / 1e6
            }
            return result
        }
        var zones: [String: [String: Double]]?
        if !zoneNames.isEmpty {
            zones = [:]
            for (name, values) in zip(zoneNames, shares.zones) { zones?[name] = named(values) }
        }
        let frame = frames
        let line = Line(stream: stream, frame: frame, pts: (pts * 1e6).rounded() / 1e6,
                        wall: (Date().timeIntervalSince1970 * 1e3).rounded() / 1e3,
                        latency: (latency * 1e6).rounded() / 1e6, mask_age: maskAge,
                        classes: named(shares.frame), zones: zones)
        frames += 1
        do {
            var data = try encoder.encode(line)
            broadcaster?.publish(frame: frame, json: String(decoding: data, as: UTF8.self))
            data.append(0x0A)
            try handle?.write(contentsOf: data)
        } catch {
            throw EPRError(.output, "cannot write the metadata: \(error.localizedDescription)")
        }
    }

    /// Closes the file and ends the subscribers' event streams.
    func finish() {
        if !toStdout { try? handle?.close() }
        broadcaster?.finish()
    }
}
