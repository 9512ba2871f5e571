import EPRCore

/// Temporal smoothing of the masks (`--smooth K`): each pixel takes the label most of the last K
/// masks give it (a tie goes to the most recent of the tied labels), so a label that flickers for a
/// frame or two does not show. Masks of another size than the ones before start the window over.
public struct MaskSmoother: Sendable {
    public let window: Int
    private var recent: [LabelMap] = []   // oldest first
    private var next = 0                  // ring position of the oldest once full

    public init(window: Int) { self.window = max(1, window) }

    /// `labels` smoothed with the masks before it.
    public mutating func smooth(_ labels: LabelMap) -> LabelMap {
        guard window > 1 else { return labels }
        if let first = recent.first, first.width != labels.width || first.height != labels.height {
            recent.removeAll(); next = 0
        }
        if recent.count < window { recent.append(labels) } else { recent[next] = labels; next = (next + 1) % window }
        let maps = (0..<recent.count).map { recent[(next + $0) % recent.count] }   // oldest first
        guard maps.count > 2 else { return labels }   // two masks: the newest wins every tie
        var out = labels
        let k = maps.count, count = labels.width * labels.height
        var column = [UInt8](repeating: 0, count: k)
        out.labels.withUnsafeMutableBufferPointer { dst in
            for i in 0..<count {
                for j in 0..<k { column[j] = maps[j].labels[i] }
                // Newest first, the first label with the most votes.
                var best = column[k - 1], bestVotes = 0
                for j in stride(from: k - 1, through: 0, by: -1) {
                    let label = column[j]
                    var votes = 0
                    for m in 0..<k where column[m] == label { votes += 1 }
                    if votes > bestVotes { best = label; bestVotes = votes }
                }
                dst[i] = best
            }
        }
        return out
    }
}

/// The flicker figure: the share of pixels whose label changes from one frame's mask to the next.
public struct FlickerMeter: Sendable {
    private var previous: [UInt8]?
    private var changed = 0
    private var compared = 0

    public init() {}

    public mutating func add(_ labels: [UInt8]) {
        if let previous, previous.count == labels.count {
            for i in 0..<labels.count where previous[i] != labels[i] { changed += 1 }
            compared += labels.count
        }
        previous = labels
    }

    /// Changed pixels over compared pixels, nil before two masks.
    public var share: Double? { compared > 0 ? Double(changed) / Double(compared) : nil }
}
