import EPRCore
import EPRPipeline
import Testing

/// A map of label 0 with label 5 in the columns `columns`.
private func band(_ columns: Range<Int>, width: Int = 64, height: Int = 16) -> LabelMap {
    var map = LabelMap(width: width, height: height)
    for y in 0..<height { for x in columns { map[x, y] = 5 } }
    return map
}

/// The whole frame's content moved `step` px right since the frame before.
private func pan(_ step: Float, width: Int = 64, height: Int = 16) -> MotionVectors {
    var blocks: [MotionVectors.Block] = []
    for y in stride(from: 0, to: height, by: 16) {
        for x in stride(from: 0, to: width, by: 16) {
            blocks.append(.init(x: x, y: y, width: 16, height: 16, dx: -step, dy: 0))
        }
    }
    return MotionVectors(blocks: blocks)
}

private func fives(_ map: LabelMap?, row: Int = 8) -> [Int] {
    guard let map else { return [] }
    return (0..<map.width).filter { map[$0, row] == 5 }
}

/// `--infer-every auto`'s bookkeeping, event by event: the same events give the same masks and ages.
@Suite struct FreshestMaskTests {
    @Test func aLateResultIsMovedToTheLatestFrameAndTakesOver() {
        var masks = FreshestMask(frameWidth: 64, frameHeight: 16)
        #expect(masks.mask == nil && !masks.networkBusy)
        // Frame 0: the network runs on it, and the first frame waits for its result.
        masks.advance(by: nil)
        masks.networkStarted()
        #expect(masks.networkBusy)
        masks.networkFinished(band(8..<16))
        #expect(fives(masks.mask) == Array(8..<16) && masks.age == 0)
        // Frame 1 (content 4 px right): the network starts on it; frame 1 shows frame 0's mask, moved.
        masks.advance(by: pan(4))
        masks.networkStarted()
        #expect(fives(masks.mask) == Array(12..<20) && masks.age == 1)
        // Frames 2 and 3 go on while the network is still on frame 1.
        masks.advance(by: pan(4))
        #expect(fives(masks.mask) == Array(16..<24) && masks.age == 2)
        masks.advance(by: pan(4))
        #expect(fives(masks.mask) == Array(20..<28) && masks.age == 3)
        // Frame 1's result comes back during frame 3 (the network saw the band at 30..<38 there):
        // moved by frames 2 and 3, 8 px, and the age counts from frame 1.
        masks.networkFinished(band(30..<38))
        #expect(fives(masks.mask) == Array(38..<46) && masks.age == 2)
        #expect(!masks.networkBusy)
        masks.advance(by: pan(4))
        #expect(fives(masks.mask) == Array(42..<50) && masks.age == 3)
    }

    @Test func withoutPropagationTheLatestResultIsReusedAsItIs() {
        var masks = FreshestMask(frameWidth: 64, frameHeight: 16, propagate: false)
        masks.advance(by: nil)
        masks.networkStarted()
        masks.networkFinished(band(8..<16))
        masks.advance(by: pan(4))
        masks.networkStarted()
        masks.advance(by: pan(4))
        #expect(fives(masks.mask) == Array(8..<16) && masks.age == 2)
        masks.networkFinished(band(30..<38))
        #expect(fives(masks.mask) == Array(30..<38) && masks.age == 1)
    }
}

@Suite struct MaskSmootherTests {
    @Test func aLabelThatFlickersForOneFrameIsVotedOut() {
        var smoother = MaskSmoother(window: 3, frameWidth: 64, frameHeight: 16)
        var flicker = FlickerMeter()
        var raw = FlickerMeter()
        let steady = band(8..<16), blip = band(8..<20)
        var outputs: [LabelMap] = []
        for map in [steady, steady, blip, steady, steady] {
            let out = smoother.smooth(map, motion: nil, fresh: true)
            outputs.append(out)
            flicker.add(out.labels)
            raw.add(map.labels)
        }
        #expect(outputs.allSatisfy { $0 == steady })
        #expect(flicker.share == 0)
        // Unsmoothed, 4 columns of 64 change twice in 4 transitions: 2 x 4 / (4 x 64).
        #expect(raw.share == 8.0 / 256.0)
    }

    @Test func aLastingChangeWinsOnceItHasTheMajority() {
        var smoother = MaskSmoother(window: 3, frameWidth: 64, frameHeight: 16)
        let before = band(8..<16), after = band(24..<32)
        for _ in 0..<3 { _ = smoother.smooth(before, motion: nil, fresh: true) }
        #expect(smoother.smooth(after, motion: nil, fresh: true) == before)
        #expect(smoother.smooth(after, motion: nil, fresh: true) == after)
        // A window of 1 is no smoothing.
        var none = MaskSmoother(window: 1, frameWidth: 64, frameHeight: 16)
        #expect(none.smooth(after, motion: nil, fresh: true) == after)
    }

    /// Earlier results vote where they are now: a band moving 4 px a frame is not smeared.
    @Test func earlierResultsAreMovedToTheCurrentFrameBeforeTheVote() {
        var smoother = MaskSmoother(window: 3, frameWidth: 64, frameHeight: 16)
        _ = smoother.smooth(band(8..<16), motion: nil, fresh: true)
        _ = smoother.smooth(band(12..<20), motion: pan(4), fresh: true)
        let out = smoother.smooth(band(16..<24), motion: pan(4), fresh: true)
        #expect(fives(out) == Array(16..<24))
        // A frame the network skipped: its carried mask votes with the results moved to it.
        let carried = smoother.smooth(band(20..<28), motion: pan(4), fresh: false)
        #expect(fives(carried) == Array(20..<28))
    }
}
