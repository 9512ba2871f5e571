import EPRCore

/// Temporal smoothing of the masks (`--smooth K`): each pixel takes the label most of the last K
/// network results give it, each moved to the current frame by the motion vectors since its own
/// frame (a tie goes to the newest), so a label that flickers for a frame or two does not show
/// while moving things stay where they are now. The current frame's mask (the network's own, or
/// carried to it) is the newest voter.
public struct MaskSmoother: Sendable {
    public let window: Int
    private let frameWidth: Int
    private let frameHeight: Int
    /// Earlier network results carried to the latest frame, oldest first (at most window - 1).
    private var held: [MaskPropagator] = []

    /// Vectors are measured in a `frameWidth` x `frameHeight` picture.
    public init(window: Int, frameWidth: Int, frameHeight: Int) {
        self.window = max(1, window)
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
    }

    /// The next frame's mask smoothed with the earlier results. `motion`: the frame's vectors (nil:
    /// none, or masks not moved); `fresh`: `labels` holds a network result that came back with
    /// this frame (carried to it when it was for an earlier one).
    public mutating func smooth(_ labels: LabelMap, motion: MotionVectors?, fresh: Bool) -> LabelMap {
        guard window > 1 else { return labels }
        for i in held.indices { held[i].advance(by: motion) }
        let older = held.compactMap(\.mask).filter { $0.width == labels.width && $0.height == labels.height }
        if fresh {
            var p = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
            p.reset(to: labels, motion: motion)
            held.append(p)
            if held.count > window - 1 { held.removeFirst(held.count - (window - 1)) }
        }
        guard older.count >= 2 else { return labels }   // two voters: the newest wins every tie
        let maps = older + [labels]   // oldest first
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
