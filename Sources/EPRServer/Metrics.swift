import Foundation
import Hummingbird
import CoreMetrics
import Metrics
import Prometheus

/// The process's metrics in Prometheus text format, through swift-metrics with the
/// swift-prometheus backend (its own registry and factory, not the global bootstrap, so that
/// several servers or tests in one process stay apart).
/// Thread-safe: the registry is; the CPU counter's last reading is guarded by `lock`.
public final class MetricsRegistry: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let rss: CoreMetrics.Gauge
    private let cpu: CoreMetrics.FloatingPointCounter
    private let lock = NSLock()
    private var cpuSeen = 0.0

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
        rss = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
        cpu = CoreMetrics.FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory)
    }

    /// One stream's instruments, labelled `stream="ID"`.
    public func stream(_ id: String) -> StreamMetrics { StreamMetrics(id: id, factory: factory) }

    /// The exposition: process figures read now, then every instrument.
    public func exposition() -> String {
        rss.record(Double(ProcessUsage.residentBytes()))
        let seconds = ProcessUsage.cpuSeconds()
        lock.withLock {
            if seconds > cpuSeen { cpu.increment(by: seconds - cpuSeen); cpuSeen = seconds }
        }
        return MetricsRegistry.withHelp(registry.emitToString())
    }

    /// What each series means. swift-metrics has no help text, so it is added to the exposition
    /// here (a `# HELP` line before each `# TYPE`), as Prometheus' linters ask.
    static let help = [
        "eprstream_frames_in_total": "Frames decoded.",
        "eprstream_frames_out_total": "Annotated frames written.",
        "eprstream_frames_dropped_total": "Frames dropped by the live frame queue (back-pressure).",
        "eprstream_reconnects_total": "Live source reconnects.",
        "eprstream_stalls_total": "Live source stalls (it stopped sending).",
        "eprstream_stage_seconds": "Time per frame in a pipeline stage, seconds.",
        "eprstream_queue_depth": "Items waiting in a pipeline queue.",
        "process_resident_memory_bytes": "Resident memory of the process, bytes.",
        "process_cpu_seconds_total": "User and system CPU time of the process, seconds.",
    ]

    static func withHelp(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 1024)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first, let help = help[String(name)] {
                out += "# HELP \(name) \(help)\n"
            }
            out += line
            out += "\n"
        }
        return String(out.dropLast())
    }
}

/// Per stream: frames in (decoded) and out (written), dropped, reconnects, stalls, stage
/// latencies (histograms, seconds) and queue depths. Counters the pipeline keeps as totals
/// (drops, reconnects, stalls) are fed as totals and turned into increments here.
/// Thread-safe: the instruments are; the totals seen are guarded by `lock`.
public final class StreamMetrics: @unchecked Sendable {
    public let id: String
    private let factory: PrometheusMetricsFactory
    private let framesIn: CoreMetrics.Counter
    private let framesOut: CoreMetrics.Counter
    private let dropped: CoreMetrics.Counter
    private let reconnects: CoreMetrics.Counter
    private let stalls: CoreMetrics.Counter
    private let lock = NSLock()
    private var timers: [String: CoreMetrics.Timer] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var seen = (dropped: 0, reconnects: 0, stalls: 0)

    init(id: String, factory: PrometheusMetricsFactory) {
        self.id = id
        self.factory = factory
        let label = [("stream", id)]
        framesIn = CoreMetrics.Counter(label: "eprstream_frames_in_total", dimensions: label, factory: factory)
        framesOut = CoreMetrics.Counter(label: "eprstream_frames_out_total", dimensions: label, factory: factory)
        dropped = CoreMetrics.Counter(label: "eprstream_frames_dropped_total", dimensions: label, factory: factory)
        reconnects = CoreMetrics.Counter(label: "eprstream_reconnects_total", dimensions: label, factory: factory)
        stalls = CoreMetrics.Counter(label: "eprstream_stalls_total", dimensions: label, factory: factory)
        // Present from the first scrape, at 0.
        for counter in [framesIn, framesOut, dropped, reconnects, stalls] { counter.increment(by: 0) }
    }

    public func frameIn() { framesIn.increment() }
    public func frameOut() { framesOut.increment() }

    /// One frame's time in a stage ("decode", "infer", ..., "end-to-end").
    public func latency(_ stage: String, seconds: Double) {
        let timer = lock.withLock { () -> CoreMetrics.Timer in
            if let timer = timers[stage] { return timer }
            let timer = CoreMetrics.Timer(label: "eprstream_stage_seconds", dimensions: [("stream", id), ("stage", stage)], factory: factory)
            timers[stage] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// The pipeline's running totals and queue depths, as often as it reports.
    public func observe(dropped totalDropped: Int, reconnects totalReconnects: Int, stalls totalStalls: Int,
                        queueDepths: [(String, Int)]) {
        let (d, r, s) = lock.withLock { () -> (Int, Int, Int) in
            defer { seen = (max(seen.dropped, totalDropped), max(seen.reconnects, totalReconnects), max(seen.stalls, totalStalls)) }
            return (totalDropped - seen.dropped, totalReconnects - seen.reconnects, totalStalls - seen.stalls)
        }
        if d > 0 { dropped.increment(by: d) }
        if r > 0 { reconnects.increment(by: r) }
        if s > 0 { stalls.increment(by: s) }
        for (queue, depth) in queueDepths { gauge(queue).record(depth) }
    }

    private func gauge(_ queue: String) -> CoreMetrics.Gauge {
        lock.withLock {
            if let gauge = gauges[queue] { return gauge }
            let gauge = CoreMetrics.Gauge(label: "eprstream_queue_depth", dimensions: [("stream", id), ("queue", queue)], factory: factory)
            gauges[queue] = gauge
            return gauge
        }
    }
}

/// This process's memory and CPU time, from /proc and getrusage.
enum ProcessUsage {
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }
}

extension RouteTable {
    /// `/metrics` (Prometheus text format), `/healthz` (the process answers) and `/readyz` (200
    /// once `ready` says so, else 503).
    public func registerOperations(metrics: MetricsRegistry, ready: @escaping @Sendable () -> Bool) {
        register("/metrics") { _ in
            .text(.ok, metrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        register("/healthz") { _ in .text(.ok, "ok\n") }
        register("/readyz") { _ in ready() ? .text(.ok, "ready\n") : .text(.serviceUnavailable, "not ready\n") }
    }
}
