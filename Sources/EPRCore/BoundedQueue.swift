import Foundation

/// What a full queue does with a new item.
public enum OverflowPolicy: String, Sendable {
    /// The producer waits (files: back-pressure slows decoding, nothing is lost).
    case block
    /// The oldest queued item is discarded and counted (live sources: latency stays low).
    case dropOldest
}

/// What a pop with a time limit got.
public enum PopResult<Element: Sendable>: Sendable {
    case item(Element)
    case timedOut
    case closed
}

/// A fixed-capacity FIFO between two pipeline stages. Memory is bounded by `capacity`
/// whatever the input's length; every drop is counted.
/// Thread-safe: every field is guarded by `condition`.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    public let capacity: Int
    public let policy: OverflowPolicy
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private var cancelled = false
    private var dropped = 0
    private var highWater = 0
    private let condition = NSCondition()
    /// Items `.dropOldest` never drops (a live source's connection events among its frames).
    private let neverDrop: (@Sendable (Element) -> Bool)?

    public init(capacity: Int, policy: OverflowPolicy = .block, neverDrop: (@Sendable (Element) -> Bool)? = nil) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
        self.policy = policy
        self.neverDrop = neverDrop
        items.reserveCapacity(capacity)
    }

    private var countLocked: Int { items.count - head }

    /// Adds `item`; returns false (and drops the item) if the queue was closed.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !closed && countLocked >= capacity {
            if policy == .dropOldest {
                dropOldestLocked()
                break
            }
            condition.wait()
        }
        if closed { return false }
        items.append(item)
        highWater = max(highWater, countLocked)
        condition.broadcast()
        return true
    }

    /// The next item, waiting for one; nil once the queue is closed and empty.
    public func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while countLocked == 0 && !closed { condition.wait() }
        return takeLocked()
    }

    /// The next item, waiting at most `timeout` seconds: `.timedOut` when none came, `.closed`
    /// once the queue is closed and empty.
    public func pop(timeout: Double) -> PopResult<Element> {
        condition.lock()
        defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: timeout)
        while countLocked == 0 && !closed {
            if !condition.wait(until: until) { break }
        }
        if let item = takeLocked() { return .item(item) }
        return closed ? .closed : .timedOut
    }

    /// The next item if one is ready now.
    public func tryPop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        return takeLocked()
    }

    private func takeLocked() -> Element? {
        guard countLocked > 0 else { return nil }
        let item = items[head]
        head += 1
        compactLocked()
        condition.broadcast()
        return item
    }

    /// Drops the oldest item that may be dropped. When every queued item is one `neverDrop` keeps
    /// (rare events), none is dropped and the queue holds one more than its capacity.
    private func dropOldestLocked() {
        guard let neverDrop, neverDrop(items[head]) else {
            head += 1
            dropped += 1
            compactLocked()
            return
        }
        guard let index = items[(head + 1)...].firstIndex(where: { !neverDrop($0) }) else { return }
        items.remove(at: index)
        dropped += 1
    }

    /// Releases consumed slots so the storage never grows past `capacity`.
    private func compactLocked() {
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= capacity {
            items.removeFirst(head)
            head = 0
        }
    }

    /// No more items will come: consumers drain what is queued, then get nil; producers stop.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops everything queued and closes (used when a run aborts).
    public func cancel() {
        condition.lock()
        closed = true
        cancelled = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }

    /// True once `cancel()` was called (a run that aborts, as opposed to an end of input).
    public var isCancelled: Bool { condition.lock(); defer { condition.unlock() }; return cancelled }
    public var count: Int { condition.lock(); defer { condition.unlock() }; return countLocked }
    public var droppedCount: Int { condition.lock(); defer { condition.unlock() }; return dropped }
    public var maxDepth: Int { condition.lock(); defer { condition.unlock() }; return highWater }
}
