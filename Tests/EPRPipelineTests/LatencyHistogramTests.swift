import EPRPipeline
import Testing

@Suite struct LatencyHistogramTests {
    @Test func percentilesAreWithinBucketResolution() {
        var h = LatencyHistogram()
        for ms in 1...1000 { h.record(Double(ms) / 1000) }
        #expect(h.count == 1000)
        #expect(abs(h.percentile(0.5) - 0.5) / 0.5 < 0.03)
        #expect(abs(h.percentile(0.95) - 0.95) / 0.95 < 0.03)
        #expect(h.percentile(1.0) <= 1.0)
        #expect(abs(h.mean - 0.5005) < 1e-9)
    }

    @Test func emptyHistogramReportsZero() {
        #expect(LatencyHistogram().percentile(0.5) == 0)
    }
}
