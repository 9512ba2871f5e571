import EPRPipeline
import Testing

@Suite struct ConfusionMatrixTests {
    @Test func iouFromAccumulatedCountsWithVoidIgnored() {
        var m = ConfusionMatrix(classCount: 3)
        // truth:      0 0 1 1 2 11(void)
        // prediction: 0 1 1 1 0 2
        m.add(truth: [0, 0, 1, 1, 2, 11], prediction: [0, 1, 1, 1, 0, 2])
        #expect(m[0, 0] == 1 && m[0, 1] == 1 && m[1, 1] == 2 && m[2, 0] == 1)
        #expect(m.counts.reduce(0, +) == 5)  // the void pixel is not counted
        let iou = m.classIoU
        #expect(iou[0] == 1.0 / 3.0)  // TP 1, FN 1, FP 1
        #expect(iou[1] == 2.0 / 3.0)  // TP 2, FP 1
        #expect(iou[2] == 0)          // TP 0, FN 1
        #expect(abs(m.meanIoU - 100 * (1.0 / 3 + 2.0 / 3 + 0) / 3) < 1e-9)
        #expect(abs(m.pixelAccuracy - 60) < 1e-9)
    }

    @Test func accumulatesOverImagesNotPerImageAverages() {
        var whole = ConfusionMatrix(classCount: 2)
        whole.add(truth: [0, 0, 0, 0], prediction: [0, 0, 0, 0])
        whole.add(truth: [1, 1], prediction: [0, 1])
        var a = ConfusionMatrix(classCount: 2)
        a.add(truth: [0, 0, 0, 0], prediction: [0, 0, 0, 0])
        var b = ConfusionMatrix(classCount: 2)
        b.add(truth: [1, 1], prediction: [0, 1])
        a.add(b)
        #expect(a == whole)
        #expect(whole.classIoU[0] == 4.0 / 5.0)
        #expect(whole.classIoU[1] == 1.0 / 2.0)
    }

    @Test func absentClassIsLeftOutOfTheMean() {
        var m = ConfusionMatrix(classCount: 3)
        m.add(truth: [0, 1], prediction: [0, 1])
        #expect(m.classIoU[2] == nil)
        #expect(m.meanIoU == 100)
    }
}
