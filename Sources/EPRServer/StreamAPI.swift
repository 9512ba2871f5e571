import Foundation
import Hummingbird

/// An answer of the streams API: a status code and a JSON body.
public struct APIAnswer: Sendable {
    public let status: Int
    public let json: Data

    public init(status: Int, json: Data) {
        self.status = status
        self.json = json
    }

    /// `object` (dictionaries, arrays, strings, numbers, NSNull) as JSON with sorted keys.
    public init(status: Int, object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        self.init(status: status, json: data)
    }

    /// `{"error": message, "field": field}` (field left out when the problem is the whole body).
    public static func error(_ status: Int, _ message: String, field: String? = nil) -> APIAnswer {
        var object = ["error": message]
        if let field, !field.isEmpty { object["field"] = field }
        return APIAnswer(status: status, object: object)
    }
}

/// What the streams API asks of the process that runs the streams (`eprstream serve`).
public protocol StreamDirectory: Sendable {
    /// Every stream's status, as a JSON array.
    func list() -> APIAnswer
    /// One stream's status; nil: no stream has that id.
    func status(of id: String) -> APIAnswer?
    /// Starts a stream from a JSON body with the keys of a config entry.
    func add(json body: String) async -> APIAnswer
    /// Stops a stream, finalises its output and forgets it; nil: no stream has that id.
    func remove(_ id: String) async -> APIAnswer?
}

extension RouteTable {
    /// Largest `POST /api/streams` body read.
    static let maxBody = 64 * 1024

    /// `GET /api/streams`, `POST /api/streams`, `GET /api/streams/ID`, `DELETE /api/streams/ID`.
    /// Paths below a stream (`/api/streams/ID/events`) are left to routes registered there.
    public func registerStreamAPI(_ directory: any StreamDirectory, at prefix: String = "/api/streams") {
        registerTree(prefix) { request in
            let rest = request.uri.path.dropFirst(prefix.count)
            let parts = rest.split(separator: "/", omittingEmptySubsequences: true)
            if parts.isEmpty {
                switch request.method {
                case .get, .head: return answer(directory.list(), request)
                case .post:
                    var request = request
                    let body: ByteBuffer
                    do { body = try await request.collectBody(upTo: Self.maxBody) } catch {
                        return answer(.error(413, "the body is larger than \(Self.maxBody) bytes"), request)
                    }
                    return answer(await directory.add(json: String(buffer: body)), request)
                default: return notAllowed("GET, HEAD, POST")
                }
            }
            guard parts.count == 1 else { return answer(.error(404, "not found"), request) }
            let id = String(parts[0])
            switch request.method {
            case .get, .head:
                return answer(directory.status(of: id) ?? .error(404, "no stream '\(id)'", field: "id"), request)
            case .delete:
                return answer(await directory.remove(id) ?? .error(404, "no stream '\(id)'", field: "id"), request)
            default: return notAllowed("GET, HEAD, DELETE")
            }
        }
    }
}

private func answer(_ answer: APIAnswer, _ request: Request) -> Response {
    let response = Response(status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.json + Data([0x0A]))))
    return request.method == .head ? response.createHeadResponse() : response
}

private func notAllowed(_ allow: String) -> Response {
    var response = Response.text(.methodNotAllowed, "{\"error\":\"method not allowed\"}\n", contentType: "application/json")
    response.headers[.allow] = allow
    return response
}
