import EPRCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What a route answers a request with.
public typealias RouteHandler = @Sendable (Request) async -> Response

/// The routes a server answers, by exact path; streams add and remove theirs while it runs.
/// Thread-safe: the table is guarded by `lock`.
public final class RouteTable: @unchecked Sendable {
    private let lock = NSLock()
    private var routes: [String: RouteHandler] = [:]
    /// Handlers for every path under a prefix and every method (an API: `/api/streams`, `/api/streams/ID`).
    private var trees: [(prefix: String, handler: RouteHandler)] = []

    public init() {}

    /// Answers GET (and HEAD: the same headers, no body) on `path`.
    public func register(_ path: String, _ handler: @escaping RouteHandler) {
        lock.withLock { routes[path] = handler }
    }

    public func remove(_ path: String) { _ = lock.withLock { routes.removeValue(forKey: path) } }

    /// Answers every method on `prefix` and the paths below it (`prefix/...`); the handler reads
    /// the method and the rest of the path itself.
    public func registerTree(_ prefix: String, _ handler: @escaping RouteHandler) {
        lock.withLock { trees.append((prefix, handler)) }
    }

    func handler(for path: String) -> RouteHandler? { lock.withLock { routes[path] } }

    private func tree(for path: String) -> RouteHandler? {
        lock.withLock {
            trees.first { path == $0.prefix || path.hasPrefix($0.prefix + "/") }?.handler
        }
    }

    /// 404 for unknown paths, 405 for methods other than GET and HEAD on exact routes.
    func respond(to request: Request) async -> Response {
        // Exact routes first, so that one registered below a tree (an event stream) wins over it.
        guard let handler = handler(for: request.uri.path) else {
            if let tree = tree(for: request.uri.path) { return await tree(request) }
            return .text(.notFound, "not found\n")
        }
        switch request.method {
        case .get: return await handler(request)
        case .head: return await handler(request).createHeadResponse()
        default:
            var response = Response.text(.methodNotAllowed, "method not allowed\n")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
    }
}

extension Response {
    /// A small plain-text answer.
    public static func text(_ status: HTTPResponse.Status, _ text: String,
                            contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The process's HTTP server (Hummingbird on SwiftNIO): an event loop serves every connection, so
/// a slow or idle client holds no thread and locks nobody out. A connection that has not sent a
/// complete request head within `idleTimeout` seconds of connecting, or of its last response, is
/// closed (the header-read timeout against slowloris clients and forgotten keep-alives); a
/// response in progress (a viewer's stream) is never cut. Runs on its own task from `init` to
/// `shutdown`, on its own threads (`ServerExecutor`).
public final class HTTPServer: Sendable {
    /// Where it listens; `port` is the bound one (0 asks the system for a free port).
    public let host: String
    public let port: Int
    public let routes: RouteTable
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    public var baseURL: String { "http://\(host):\(port)/" }

    /// Binds and starts serving before it returns: a port in use is an error now, not later.
    /// Blocks the calling thread until then (call it from a thread, not from async code).
    public init(host: String, port: Int, name: String = "HTTP", routes: RouteTable = RouteTable(),
                idleTimeout: Double = 10, logger: Logger? = nil) throws(EPRError) {
        // Quiet unless asked (--log-level debug): client errors are the client's business.
        let logger = logger ?? { var l = Logger(label: "eprstream.http"); l.logLevel = .critical; return l }()
        // A port in use is told here, before the server starts: NIO's failure path through the
        // service group was seen to deadlock now and then (swift-async-algorithms' merge lock).
        if let problem = HTTPServer.bindProblem(host: host, port: port) {
            throw EPRError(.output, "cannot serve \(name) on \(host):\(port): \(problem)")
        }
        let bound = BindResult()
        let app = Application(
            responder: CallbackResponder { (request: Request, _: BasicRequestContext) in await routes.respond(to: request) },
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(idleTimeout * 1000)))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "eprstream"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        task = Task(executorPreference: ServerExecutor.shared) {
            do { try await group.run() } catch { bound.set(.failure(error)) }
            bound.set(.failure(CancellationError()))   // ended before it ran: unblocks init
        }
        switch bound.wait() {
        case .success(let p):
            self.host = host
            self.port = p
            self.routes = routes
            self.group = group
        case .failure(let error):
            task.cancel()
            throw EPRError(.output, "cannot serve \(name) on \(host):\(port): \(HTTPServer.describe(error))")
        }
    }

    /// Stops listening and closes every connection: idle ones at once, responses in progress
    /// after at most `grace` seconds (then the server's task is cancelled). Blocks until done,
    /// and never longer than `grace` + 5 s (call it from a thread).
    public func shutdown(grace: Double = 1) {
        let done = DispatchSemaphore(value: 0)
        let task = self.task, group = self.group
        Task(executorPreference: ServerExecutor.shared) {
            await group.triggerGracefulShutdown()
            await task.value
            done.signal()
        }
        if done.wait(timeout: .now() + grace) == .timedOut {
            task.cancel()   // streams that did not end in time
            _ = done.wait(timeout: .now() + 5)
        }
    }

    /// Why an IPv4 `host:port` cannot be bound right now (nil: it can, or the host is a name).
    private static func bindProblem(host: String, port: Int) -> String? {
        var addr = sockaddr_in()
        guard port > 0, inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return nil }
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return ok == 0 ? nil : String(cString: strerror(errno))
    }

    /// "Address already in use" rather than NIO's type dump.
    private static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}

/// The first outcome of starting the server, handed from its task to the thread in `init`.
private final class BindResult: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Int, any Error>?

    func set(_ value: Result<Int, any Error>) {
        condition.lock(); defer { condition.unlock() }
        if result == nil { result = value; condition.broadcast() }
    }

    func wait() -> Result<Int, any Error> {
        condition.lock(); defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
