import EPRInference
import Testing

/// The vectorised argmax against a plain scalar reference: every size around the 16-pixel blocks,
/// ties (lower class wins, as torch.argmax) and up to 256 classes.
struct ArgmaxTests {
    private func reference(_ scores: [Float], classes: Int, count: Int) -> [UInt8] {
        (0..<count).map { i in
            var best = scores[i], label = 0
            for k in 1..<classes where scores[k * count + i] > best {
                best = scores[k * count + i]
                label = k
            }
            return UInt8(label)
        }
    }

    private func run(_ scores: [Float], classes: Int, count: Int) -> [UInt8] {
        var labels = [UInt8](repeating: 77, count: count)
        scores.withUnsafeBufferPointer { s in
            labels.withUnsafeMutableBufferPointer { argmax(s.baseAddress!, classes: classes, count: count, into: $0.baseAddress!) }
        }
        return labels
    }

    @Test(arguments: [1, 15, 16, 17, 31, 33, 100, 360 * 8 + 5])
    func matchesTheScalarReference(count: Int) {
        var generator = SystemRandomNumberGenerator()
        for classes in [1, 2, 11, 12] {
            // Few distinct values so ties are common.
            let scores = (0..<classes * count).map { _ in Float(Int.random(in: -3...3, using: &generator)) / 2 }
            #expect(run(scores, classes: classes, count: count) == reference(scores, classes: classes, count: count))
        }
    }

    @Test func tiesKeepTheLowerClassAndAllClassesAreReachable() {
        let count = 40, classes = 256
        var scores = [Float](repeating: 0, count: classes * count)
        for i in 0..<count { scores[(i * 7 % classes) * count + i] = 1 }  // pixel i peaks at class 7i mod 256
        let labels = run(scores, classes: classes, count: count)
        #expect(labels == (0..<count).map { UInt8($0 * 7 % classes) })
        let flat = run([Float](repeating: 0.5, count: 3 * count), classes: 3, count: count)
        #expect(flat == [UInt8](repeating: 0, count: count))
    }
}
