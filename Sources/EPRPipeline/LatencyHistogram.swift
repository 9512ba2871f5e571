import Foundation

/// Percentiles of durations in fixed memory: log-spaced buckets from 10 µs to ~100 s
/// (about 2% resolution), so a 10-hour run costs the same as a 10-second one.
public struct LatencyHistogram: Sendable {
    private static let bucketsPerDecade = 120.0
    private static let minimum = 1e-5
    private var buckets = [UInt64](repeating: 0, count: 840)
    public private(set) var count: UInt64 = 0
    public private(set) var total: Double = 0
    public private(set) var maximum: Double = 0

    public init() {}

    public mutating func record(_ seconds: Double) {
        count += 1
        total += seconds
        maximum = max(maximum, seconds)
        let position = log10(max(seconds, Self.minimum) / Self.minimum) * Self.bucketsPerDecade
        buckets[min(buckets.count - 1, max(0, Int(position)))] += 1
    }

    /// The duration below which `fraction` of the recorded values fall (bucket midpoint).
    public func percentile(_ fraction: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, n) in buckets.enumerated() where n > 0 {
            seen += n
            if seen >= max(target, 1) {
                let value = Self.minimum * pow(10, (Double(index) + 0.5) / Self.bucketsPerDecade)
                return min(value, maximum)
            }
        }
        return maximum
    }

    public var mean: Double { count == 0 ? 0 : total / Double(count) }
}
