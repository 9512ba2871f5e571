import Synchronization

/// One stream's per-frame metadata fanned out to its live subscribers (the Server-Sent Events
/// at `/api/streams/ID/events`). Publishing never blocks the pipeline: each subscriber has its own
/// bounded buffer, and one that reads too slowly loses its oldest events, not the others' newest.
/// Thread-safe: the subscriber table is guarded by `state`.
public final class MetadataBroadcaster: Sendable {
    /// One frame's metadata: its number (the SSE `id:`) and its JSON line (the `data:`).
    public struct Event: Sendable, Equatable {
        public let frame: Int
        public let json: String
    }

    /// What a subscriber reads: an event, or a tick telling it to show the client it is alive.
    public enum Message: Sendable, Equatable {
        case event(Event)
        case keepAlive
    }

    /// One subscriber: its messages, and `cancel` for when its client is gone (a stream a reader
    /// merely stops iterating stays subscribed: its buffer is held here).
    public struct Subscription: Sendable {
        public let messages: AsyncStream<Message>
        fileprivate let continuation: AsyncStream<Message>.Continuation
        public func cancel() { continuation.finish() }
    }

    /// Events each subscriber may fall behind by before its oldest are dropped (about 10 s at 25 fps).
    public static let defaultBufferSize = 256

    public let bufferSize: Int
    private struct State {
        var subscribers: [Int: AsyncStream<Message>.Continuation] = [:]
        var nextID = 0
        var finished = false
        var dropped = 0
    }
    private let state = Mutex(State())

    public init(bufferSize: Int = MetadataBroadcaster.defaultBufferSize) {
        self.bufferSize = max(1, bufferSize)
    }

    /// A new subscriber's events from now on, ending when the stream ends, with a `.keepAlive`
    /// every `keepAlive` (a quiet connection is still written to, so a gone client is noticed).
    /// `cancel()` (or cancelling the task that reads it) unsubscribes it.
    public func subscribe(keepAlive: Duration? = nil) -> Subscription {
        let (events, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let admitted: Int? = state.withLock { state in
            if state.finished { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            return id
        }
        let subscription = Subscription(messages: events, continuation: continuation)
        guard let admitted else { continuation.finish(); return subscription }
        let ticker = keepAlive.map { interval in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    continuation.yield(.keepAlive)
                }
            }
        }
        continuation.onTermination = { [weak self] _ in
            ticker?.cancel()
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: admitted) }
        }
        return subscription
    }

    /// Hands one frame's line to every subscriber (drop-oldest where a buffer is full).
    public func publish(frame: Int, json: String) {
        let event = Message.event(Event(frame: frame, json: json))
        let subscribers = state.withLock { Array($0.subscribers.values) }
        var dropped = 0
        for subscriber in subscribers {
            if case .dropped = subscriber.yield(event) { dropped += 1 }
        }
        if dropped > 0 { state.withLock { $0.dropped += dropped } }
    }

    /// The stream ended: every subscriber's events end after what they hold; later ones get none.
    public func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            return Array(state.subscribers.values)
        }
        subscribers.forEach { $0.finish() }
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    /// Events lost to slow subscribers, summed over them.
    public var droppedEvents: Int { state.withLock { $0.dropped } }
}
