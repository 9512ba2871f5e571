import EPRCore
import EPRPipeline
import Foundation
import Testing

@Suite struct BoundedQueueTests {
    @Test func blockingQueueMakesProducerWaitAndLosesNothing() {
        let queue = BoundedQueue<Int>(capacity: 3, policy: .block)
        let produced = ManagedCounter()
        let producer = Thread {
            for i in 0..<100 { queue.push(i); produced.increment() }
            queue.close()
        }
        producer.start()
        // The producer must stall at the capacity until someone pops.
        Thread.sleep(forTimeInterval: 0.2)
        #expect(produced.value == 3)
        #expect(queue.count == 3)
        var received: [Int] = []
        while let item = queue.pop() { received.append(item) }
        #expect(received == Array(0..<100))
        #expect(queue.droppedCount == 0)
        #expect(queue.maxDepth <= 3)
    }

    @Test func dropOldestKeepsNewestAndCountsEveryDrop() {
        let queue = BoundedQueue<Int>(capacity: 2, policy: .dropOldest)
        for i in 0..<10 { queue.push(i) }
        #expect(queue.count == 2)
        #expect(queue.droppedCount == 8)
        #expect(queue.tryPop() == 8)
        #expect(queue.tryPop() == 9)
        #expect(queue.tryPop() == nil)
    }

    /// A live source's connection events sit among its frames: dropping the oldest frame never
    /// drops one of them, and they keep their place.
    @Test func dropOldestNeverDropsWhatItMustKeep() {
        // Negative numbers stand for events.
        let queue = BoundedQueue<Int>(capacity: 3, policy: .dropOldest, neverDrop: { $0 < 0 })
        for item in [-1, 1, 2, 3, -2, 4, 5] { queue.push(item) }
        var out: [Int] = []
        while let item = queue.tryPop() { out.append(item) }
        #expect(out == [-1, -2, 5])
        #expect(queue.droppedCount == 4)
        // Only kept items queued: a new one goes in over the capacity rather than drop one.
        for item in [-1, -2, -3, -4] { queue.push(item) }
        #expect(queue.count == 4 && queue.droppedCount == 4)
    }

    @Test func closeLetsConsumersDrainThenEnds() {
        let queue = BoundedQueue<String>(capacity: 4)
        queue.push("a")
        queue.push("b")
        queue.close()
        #expect(queue.push("c") == false)
        #expect(queue.pop() == "a")
        #expect(queue.pop() == "b")
        #expect(queue.pop() == nil)
    }

    @Test func cancelWakesABlockedProducer() {
        let queue = BoundedQueue<Int>(capacity: 1)
        queue.push(1)
        let result = ManagedCounter()
        let done = DispatchSemaphore(value: 0)
        Thread {
            if !queue.push(2) { result.increment() }
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.1)
        queue.cancel()
        #expect(done.wait(timeout: .now() + 2) == .success)
        #expect(result.value == 1)
        #expect(queue.pop() == nil)
    }
}

final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

@Suite struct BoundedQueueTimeoutTests {
    @Test func popWithTimeoutReturnsItemsTimesOutAndSeesClose() {
        let queue = BoundedQueue<Int>(capacity: 2, policy: .dropOldest)
        let started = Date()
        guard case .timedOut = queue.pop(timeout: 0.1) else { Issue.record("expected a timeout"); return }
        #expect(Date().timeIntervalSince(started) >= 0.09)
        queue.push(7)
        guard case .item(let value) = queue.pop(timeout: 1) else { Issue.record("expected an item"); return }
        #expect(value == 7)
        Thread { Thread.sleep(forTimeInterval: 0.05); queue.close() }.start()
        guard case .closed = queue.pop(timeout: 5) else { Issue.record("expected closed"); return }
        #expect(Date().timeIntervalSince(started) < 2)
    }
}
