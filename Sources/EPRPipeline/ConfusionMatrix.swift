import EPRCore

/// Pixel counts of (true class, predicted class), accumulated over a whole split; mIoU is
/// computed from the totals (not averaged per image), with the void label ignored.
public struct ConfusionMatrix: Sendable, Equatable, Codable {
    public let classCount: Int
    /// Row-major: counts[truth * classCount + prediction].
    public private(set) var counts: [Int]

    public init(classCount: Int) {
        self.classCount = classCount
        counts = [Int](repeating: 0, count: classCount * classCount)
    }

    /// Adds one image. Truth labels outside 0..<classCount (void) are skipped; a prediction outside
    /// the range cannot happen for an argmax over classCount channels.
    public mutating func add(truth: [UInt8], prediction: [UInt8]) {
        precondition(truth.count == prediction.count, "truth and prediction sizes differ")
        let k = classCount
        counts.withUnsafeMutableBufferPointer { m in
            for i in 0..<truth.count {
                let t = Int(truth[i]), p = Int(prediction[i])
                if t < k && p < k { m[t * k + p] += 1 }
            }
        }
    }

    public mutating func add(_ other: ConfusionMatrix) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    public subscript(truth: Int, prediction: Int) -> Int { counts[truth * classCount + prediction] }

    /// IoU per class, TP / (TP + FP + FN); nil for a class absent from both truth and prediction.
    public var classIoU: [Double?] {
        (0..<classCount).map { c in
            let tp = self[c, c]
            let fn = (0..<classCount).reduce(0) { $0 + self[c, $1] } - tp
            let fp = (0..<classCount).reduce(0) { $0 + self[$1, c] } - tp
            let union = tp + fp + fn
            return union == 0 ? nil : Double(tp) / Double(union)
        }
    }

    /// Mean IoU over the classes that occur, in percent.
    public var meanIoU: Double {
        let present = classIoU.compactMap { $0 }
        return present.isEmpty ? 0 : 100 * present.reduce(0, +) / Double(present.count)
    }

    /// Share of labelled pixels predicted right, in percent.
    public var pixelAccuracy: Double {
        let total = counts.reduce(0, +)
        let right = (0..<classCount).reduce(0) { $0 + self[$1, $1] }
        return total == 0 ? 0 : 100 * Double(right) / Double(total)
    }
}
