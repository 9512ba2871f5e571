import EPRCore
import Testing

/// The evaluator scores masks made at the network's size against labels at the image's size
/// through `LabelMap.resized`; the overlay samples with the same rule.
@Suite struct LabelMapResizeTests {
    @Test func upscalingRepeatsEachLabelOverTheImagePixelsItCovers() {
        let map = LabelMap(width: 2, height: 2, labels: [1, 2, 3, 4])
        let big = map.resized(width: 4, height: 6)
        #expect(big.labels == [1, 1, 2, 2,
                               1, 1, 2, 2,
                               1, 1, 2, 2,
                               3, 3, 4, 4,
                               3, 3, 4, 4,
                               3, 3, 4, 4])
    }

    @Test func downscalingTakesTheLabelUnderEachPixelCentre() {
        // 3 labels per output pixel: the centre one is taken, not the first.
        let map = LabelMap(width: 6, height: 3, labels: [0, 1, 2, 3, 4, 5,
                                                         6, 7, 8, 9, 10, 11,
                                                         12, 13, 14, 15, 16, 17])
        #expect(map.resized(width: 2, height: 1).labels == [7, 10])
    }

    @Test func equalSizeIsIdentityAndIndicesStayInside() {
        let map = LabelMap(width: 5, height: 3, labels: (0..<15).map(UInt8.init))
        #expect(map.resized(width: 5, height: 3) == map)
        for size in 1...40 {
            for p in 0..<size {
                let i = LabelMap.sourceIndex(p, step: 2, imageSize: size, labelSize: 7)
                #expect((0..<7).contains(i))
            }
        }
    }
}
