import EPRCore
import EPRPipeline
import Foundation
import Testing

/// Video and audio items stand for themselves: each is its own timestamp in seconds.
private typealias Queue = InterleavingQueue<Double, Double>

private func makeQueue(video: Int = 4, audio: Int = 8, policy: OverflowPolicy = .block) -> Queue {
    Queue(videoCapacity: video, audioCapacity: audio, audioPolicy: policy, videoTime: { $0 }, audioTime: { $0 })
}

private func describe(_ item: Interleaved<Double, Double>?) -> String {
    switch item {
    case .video(let t): return "v\(t)"
    case .audio(let t): return "a\(t)"
    case nil: return "end"
    }
}

@Suite struct InterleavingQueueTests {
    @Test func itemsComeOutInTimestampOrderAndAudioWaitsForTheVideo() {
        let queue = makeQueue()
        for t in [0.0, 0.5, 1.0, 1.5] { queue.pushAudio(t) }
        // Audio ahead of any video waits: a picture of an earlier time may still come.
        guard case .timedOut = queue.pop(timeout: 0.01) else { Issue.record("audio left before the video came"); return }
        queue.pushVideo(0.2)
        queue.pushVideo(1.2)
        queue.endVideo()
        queue.endAudio()
        var order: [String] = []
        while let item = queue.pop() { order.append(describe(item)) }
        #expect(order == ["a0.0", "v0.2", "a0.5", "a1.0", "v1.2", "a1.5"])
    }

    /// A run stopped early: audio from the cut on, queued or pushed later, never comes out.
    @Test func audioCutAtTheLastFrameEndsWithIt() {
        let queue = makeQueue()
        for t in [0.0, 0.3, 0.6, 0.9] { queue.pushAudio(t) }
        queue.pushVideo(0.0)
        queue.pushVideo(0.4)
        queue.cutAudio(at: 0.5)
        queue.pushAudio(1.2)
        queue.endVideo()
        queue.endAudio()
        var order: [String] = []
        while let item = queue.pop() { order.append(describe(item)) }
        #expect(order == ["v0.0", "a0.0", "a0.3", "v0.4"])   // a tie: the picture first
    }

    @Test func videoNeverWaitsForAudio() {
        let queue = makeQueue()
        queue.pushVideo(0)
        queue.pushVideo(0.04)
        // No audio yet and the audio side still open: the frames go anyway.
        #expect(describe(queue.pop()) == "v0.0")
        #expect(describe(queue.pop()) == "v0.04")
    }

    /// The hang of issue 12: audio that outlasts the video while the decoder still holds the last
    /// pictures. A full audio side goes out ahead of the video instead of blocking the source.
    @Test func fullAudioSideGoesOutAheadSoTheSourceNeverWaitsOnTheVideo() {
        let queue = makeQueue(audio: 8)
        let producer = StageThreadForTest {
            for i in 0..<1000 { queue.pushAudio(Double(i) * 0.02) }
            queue.pushVideo(0.01)   // the picture the decoder held back until the end
            queue.endAudio()
            queue.endVideo()
        }
        var audio = 0, video = 0
        while let item = queue.pop() {
            if case .audio = item { audio += 1 } else { video += 1 }
        }
        producer.join()
        #expect(audio == 1000 && video == 1)
        #expect(queue.audioSentAheadCount > 0)
        #expect(queue.droppedAudioCount == 0)
    }

    @Test func liveAudioIsDroppedOldestFirstAndCounted() {
        let queue = makeQueue(audio: 4, policy: .dropOldest)
        for i in 0..<10 { #expect(queue.pushAudio(Double(i))) }   // never waits
        #expect(queue.droppedAudioCount == 6)
        #expect(queue.warnings.count == 1)
        queue.endVideo()
        queue.endAudio()
        var left: [String] = []
        while let item = queue.pop() { left.append(describe(item)) }
        #expect(left == ["a6.0", "a7.0", "a8.0", "a9.0"])
    }

    @Test func cancelWakesABlockedPushAndABlockedPop() {
        let full = makeQueue(video: 1)
        full.pushVideo(0)
        let empty = makeQueue()
        let results = ResultBox()
        let pusher = StageThreadForTest { results.set("push", full.pushVideo(1)) }
        let popper = StageThreadForTest { results.set("pop", empty.pop() != nil) }
        full.cancel()
        empty.cancel()
        pusher.join()
        popper.join()
        #expect(results.get("push") == false)
        #expect(results.get("pop") == false)
    }
}

/// A thread that can be joined (tests only).
final class StageThreadForTest: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        Thread { body(); done.signal() }.start()
    }
    func join() { done.wait() }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Bool] = [:]
    func set(_ key: String, _ value: Bool) { lock.lock(); values[key] = value; lock.unlock() }
    func get(_ key: String) -> Bool? { lock.lock(); defer { lock.unlock() }; return values[key] }
}
