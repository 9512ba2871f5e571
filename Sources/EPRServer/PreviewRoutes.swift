import EPRMedia
import Hummingbird

extension RouteTable {
    /// The browser preview under `prefix` ("/" for `run`, "/streams/ID/" later): the MSE page at
    /// the prefix (and index.html) and the live fragmented MP4 at `stream.mp4`, one muxer per
    /// viewer, 503 past `BrowserPreview.maxViewers`. HEAD gets the headers and joins no viewer.
    public func registerPreview(_ preview: BrowserPreview, at prefix: String = "/") {
        let page: RouteHandler = { _ in .text(.ok, preview.page, contentType: "text/html; charset=utf-8") }
        register(prefix, page)
        register(prefix + "index.html", page)
        register(prefix + "stream.mp4") { request in
            var headers: HTTPFields = [.contentType: "video/mp4", .cacheControl: "no-store"]
            // Other pages (a dashboard) may embed or fetch the stream; nothing in it is private to this origin.
            headers[.accessControlAllowOrigin] = "*"
            if request.method == .head { return Response(status: .ok, headers: headers) }
            guard let viewer = preview.join() else {
                return .text(.serviceUnavailable, "too many viewers (at most \(BrowserPreview.maxViewers)); try again later\n")
            }
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { preview.leave(viewer) }
                while let chunk = await viewer.nextChunk() {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
        }
    }

    public func removePreview(at prefix: String = "/") {
        for path in [prefix, prefix + "index.html", prefix + "stream.mp4"] { remove(path) }
    }
}
