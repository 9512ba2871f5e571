import Hummingbird

extension RouteTable {
    /// How often a quiet event stream gets a comment line: proxies and browsers keep the
    /// connection, and a client that left is noticed by the failed write.
    public static let eventKeepAlive: Duration = .seconds(15)

    /// The path of a stream's metadata events.
    public static func eventsPath(stream id: String) -> String { "/api/streams/\(id)/events" }

    /// `GET /api/streams/ID/events`: the stream's per-frame metadata as Server-Sent Events.
    /// `serve` registers one per stream as it starts it (and removes it with the stream); a path
    /// for an id nobody registered is a 404 like any unknown path.
    public func registerEvents(_ broadcaster: MetadataBroadcaster, stream id: String,
                               keepAlive: Duration = RouteTable.eventKeepAlive) {
        register(Self.eventsPath(stream: id)) { request in
            Self.eventStream(broadcaster, stream: id, request: request, keepAlive: keepAlive)
        }
    }

    public func removeEvents(stream id: String) { remove(Self.eventsPath(stream: id)) }

    /// The answer to one events request (for a handler that finds the stream itself): one
    /// `id: FRAME` / `data: JSON-LINE` event per frame written from the moment the client
    /// connects, until the stream ends. HEAD gets the headers and subscribes nobody.
    public static func eventStream(_ broadcaster: MetadataBroadcaster, stream id: String, request: Request,
                                   keepAlive: Duration = RouteTable.eventKeepAlive) -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        headers[.accessControlAllowOrigin] = "*"   // a dashboard on another origin may follow it
        if request.method == .head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // Subscribed here, not when the response is made: a client that leaves before its body
            // starts never runs this closure, and a subscription made outside it would never end.
            let subscription = broadcaster.subscribe(keepAlive: keepAlive)
            defer { subscription.cancel() }   // the client is gone (a write failed) or the stream ended
            // At once: the client knows it is subscribed before the first frame.
            try await writer.write(ByteBuffer(string: ": stream \(id)\n\n"))
            for await message in subscription.messages {
                switch message {
                case .event(let event): try await writer.write(ByteBuffer(string: "id: \(event.frame)\ndata: \(event.json)\n\n"))
                case .keepAlive: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
            }
            try await writer.finish(nil)
        })
    }
}
