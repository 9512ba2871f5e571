import EPRCore
import Foundation
import Synchronization

/// A queue between stages that the scheduler can cancel (every waiter wakes at once).
public protocol StageQueue: AnyObject, Sendable {
    func cancel()
}

extension BoundedQueue: StageQueue {}
extension InterleavingQueue: StageQueue {}

/// One node of a run's graph: one job, with its typed input and output queues given to it when it
/// is built. The scheduler runs it on its own thread (stages block in FFmpeg and OpenVINO calls, so
/// they stay off Swift's cooperative pool).
public protocol PipelineStage: AnyObject, Sendable {
    /// Names the thread and the stage in a graph error.
    var name: String { get }
    /// The queues it pops from and pushes to (checked by `Scheduler.validate()`).
    var inputs: [any StageQueue] { get }
    var outputs: [any StageQueue] { get }
    /// The stage's loop: returns at the end of its input or when a queue it waits on is cancelled;
    /// a throw ends the whole run with this error.
    func run() throws(EPRError)
    /// Wakes whatever the stage waits on that no queue reaches (a live source's reconnect loop, a
    /// network write). Called once, from another thread, when the run fails.
    func cancel()
}

extension PipelineStage {
    public func cancel() {}
}

/// Owns a run's stages, the queues between them, one thread per stage and the first-failure latch:
/// whichever stage fails first, every queue and every stage is cancelled, every thread is joined,
/// and `run()` throws that stage's error. Build the graph (`add`), then `run()` once; nothing
/// starts before the graph has been validated.
public final class Scheduler: Sendable {
    private struct Graph {
        var stages: [any PipelineStage] = []
        var queues: [any StageQueue] = []
        var cancelled = false
    }
    // Filled by `add`/`queue` before `run()`; read by `run()` and by `fail()` from any stage's thread.
    private let graph = Mutex(Graph())
    private let latch = FailureLatch()

    public init() {}

    /// Registers a queue between stages and hands it back.
    @discardableResult
    public func queue<Q: StageQueue>(_ queue: Q) -> Q {
        graph.withLock { $0.queues.append(queue) }
        return queue
    }

    public func add(_ stage: any PipelineStage) { graph.withLock { $0.stages.append(stage) } }

    /// Every queue has a producer and exactly one consumer, and every queue a stage uses is
    /// registered (so that a failure cancels it).
    public func validate() throws(EPRError) {
        func ids(_ list: [any StageQueue]) -> [ObjectIdentifier] { list.map { ObjectIdentifier($0) } }
        let (stages, queues) = graph.withLock { ($0.stages, $0.queues) }
        let registered = Set(ids(queues))
        var producers: [ObjectIdentifier: Int] = [:], consumers: [ObjectIdentifier: Int] = [:]
        for stage in stages {
            for id in ids(stage.inputs) {
                guard registered.contains(id) else { throw graphError("stage \(stage.name) reads a queue the scheduler does not own") }
                consumers[id, default: 0] += 1
            }
            for id in ids(stage.outputs) {
                guard registered.contains(id) else { throw graphError("stage \(stage.name) writes a queue the scheduler does not own") }
                producers[id, default: 0] += 1
            }
        }
        for id in registered {
            guard producers[id] != nil else { throw graphError("a queue has no producer") }
            guard consumers[id] == 1 else { throw graphError("a queue has \(consumers[id] ?? 0) consumers (want 1)") }
        }
    }

    /// Validates the graph, starts every stage, waits for all of them; throws the first failure.
    public func run() throws(EPRError) {
        try validate()
        let stages = graph.withLock { $0.stages }
        let threads = stages.map { stage in
            StageThread(name: stage.name) { [self] in
                do throws(EPRError) { try stage.run() } catch { fail(error) }
            }
        }
        for thread in threads { thread.join() }
        if let error = latch.error { throw error }
    }

    /// Ends the run with `error` (the first one wins): cancels every queue and every stage.
    public func fail(_ error: EPRError) {
        latch.record(error)
        let toCancel = graph.withLock { graph -> (stages: [any PipelineStage], queues: [any StageQueue])? in
            guard !graph.cancelled else { return nil }
            graph.cancelled = true
            return (graph.stages, graph.queues)
        }
        guard let toCancel else { return }
        for queue in toCancel.queues { queue.cancel() }
        for stage in toCancel.stages { stage.cancel() }
    }

    /// The first failure, if any (stages that need to tell an end of input from a cancel).
    public var failure: EPRError? { latch.error }

    private func graphError(_ text: String) -> EPRError { EPRError(.internalFailure, "pipeline graph: \(text)") }
}
