import EPRCore
import EPROverlay
import Foundation
import Testing

/// Reports how long a full compose takes (blend + legend + stats) at the two frame sizes that
/// matter; no threshold (timings depend on the machine), see the printed line. Release builds
/// only (`make test`): unoptimised SIMD code is two orders of magnitude slower.
@Suite struct TimingTests {
    #if DEBUG
    static let optimised = false
    #else
    static let optimised = true
    #endif

    @Test(.enabled(if: optimised, "timing needs a release build"), arguments: [(960, 540), (1920, 1080)])
    func composeTiming(size: (Int, Int)) throws {
        let (width, height) = size
        let frame = makeFrame(width: width, height: height)
        let labels = labelMap(width: 480, height: 360) { x, y in UInt8(((x / 37) + (y / 23)) % 12) }
        let stats = OverlayStats(fps: 24.8, latencyMs: 86, frameIndex: 1)
        var report: [String] = []
        for (name, o) in [("blend", options(alpha: 0.5)), ("overlays", options(alpha: 0, legend: true, stats: true)),
                          ("all", options(alpha: 0.5, legend: true, stats: true))] {
            let compositor = try Compositor(model: camVid, options: o)
            try compositor.compose(frame, labels: labels, stats: stats)  // warm the caches
            let rounds = 10
            let start = ContinuousClock.now
            for _ in 0..<rounds { try compositor.compose(frame, labels: labels, stats: stats) }
            let elapsed = (ContinuousClock.now - start).components
            let ms = (Double(elapsed.seconds) * 1e3 + Double(elapsed.attoseconds) / 1e15) / Double(rounds)
            report.append("\(name) \(String(format: "%.2f", ms)) ms")
        }
        print("compose \(width)x\(height): " + report.joined(separator: ", "))
    }
}
