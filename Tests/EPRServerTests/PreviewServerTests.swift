import CFFmpeg
import EPRCore
import EPRMedia
@testable import EPRServer
import EPRTestSupport
import Foundation
import Testing

/// The browser preview through the Hummingbird server, with real clients: curl, ffprobe, ffmpeg
/// and raw sockets that misbehave.
@Suite(.serialized) struct PreviewServerTests {
    /// A preview served on a free port.
    func serve(_ video: VideoStreamInfo, idleTimeout: Double = 10) throws -> (BrowserPreview, HTTPServer) {
        let preview = try BrowserPreview(video: video)
        let server = try HTTPServer(host: "127.0.0.1", port: 0, name: "the browser preview", idleTimeout: idleTimeout)
        server.routes.registerPreview(preview)
        return (preview, server)
    }

    func status(_ url: String, _ extra: [String] = []) throws -> String {
        try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"] + extra + [url]).stdout
    }

    @Test func servesThePageAndTheLiveStreamToEveryViewer() throws {
        let (frames, video) = try firstFrames(40)
        let (preview, server) = try serve(video)
        defer { server.shutdown() }
        var finished = false
        defer { if !finished { preview.abort() } }
        let base = server.baseURL

        let page = try tool("curl", ["-sS", "-i", base])
        #expect(page.status == 0, "\(page.stderr)")
        #expect(page.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(page.stdout.lowercased().contains("content-type: text/html"))
        #expect(page.stdout.contains("fetch(\"stream.mp4\")") && page.stdout.contains("video.src = \"stream.mp4\""))
        // The codec MSE is told is the stream's SPS: x264 veryfast (SinkOptions' default) makes High
        // profile (0x64), no constraint flags, level 3.1 (0x1F) for 960x540 at 25 fps.
        #expect(preview.codecString == "avc1.64001F", "\(preview.codecString)")
        #expect(page.stdout.contains("codecs=\"\(preview.codecString)\""))
        #expect(try status(base + "nothing") == "404")
        #expect(try status(base + "index.html") == "200")
        #expect(preview.viewerCount == 0)

        // Two viewers: one reads the whole stream, one takes the first frame and hangs up.
        let whole = try BackgroundTool("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                   "frame=key_frame,best_effort_timestamp_time", "-of", "csv=p=0",
                                                   base + "stream.mp4"])
        let first = try BackgroundTool("ffmpeg", ["-nostdin", "-v", "error", "-i", base + "stream.mp4", "-frames:v", "1",
                                                  "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        #expect(preview.waitForViewers(2, timeout: 20))
        for frame in frames {
            try preview.write(frame)
            usleep(10_000)
        }
        try preview.finish()
        finished = true

        let (status, output) = try whole.finish()
        #expect(status == 0)
        let rows = String(decoding: output, as: UTF8.self).split(separator: "\n").map { $0.split(separator: ",") }
        #expect(rows.count == frames.count, "every frame written while watching reaches the viewer")
        #expect(rows.first?.first == "1", "the stream starts with a keyframe")
        let times = rows.compactMap { $0.count > 1 ? Double($0[1]) : nil }
        let fps = try #require(video.framesPerSecond)
        #expect(times.first == 0, "the viewer's timeline starts at 0")
        for (i, t) in times.enumerated() { #expect(abs(t - Double(i) / fps) < 0.002, "frame \(i) at \(t) s") }

        // The picture is the frame that was written (H.264 at CRF 23: within a few grey levels).
        let (firstStatus, pixels) = try first.finish()
        #expect(firstStatus == 0)
        let width = Int(video.width) & ~1, height = Int(video.height) & ~1
        #expect(pixels.count == width * height * 3 / 2)   // Y plane first, as is
        let y = frames[0].avFrame.pointee
        var total = 0
        for row in 0..<height {
            for col in 0..<width {
                total += abs(Int(y.data.0![row * Int(y.linesize.0) + col]) - Int(pixels[row * width + col]))
            }
        }
        let meanError = Double(total) / Double(width * height)
        #expect(meanError < 3, "mean luma difference \(meanError)")
        #expect(preview.framesWritten == frames.count)
        #expect(preview.warnings.isEmpty, "\(preview.warnings)")
    }

    @Test func aViewerThatLeavesIsForgotten() throws {
        let (frames, video) = try firstFrames(30)
        let (preview, server) = try serve(video)
        defer { server.shutdown(); preview.abort() }
        // curl takes the headers and whatever comes in a second, then hangs up.
        let headers = try tool("curl", ["-sS", "-i", "--max-time", "1", server.baseURL + "stream.mp4"])
        let lower = headers.stdout.lowercased()
        #expect(lower.contains("content-type: video/mp4"))
        #expect(lower.contains("access-control-allow-origin: *"), "other pages may embed the stream")
        var written = 0
        while preview.viewerCount > 0 && written < frames.count {
            try preview.write(frames[written])
            written += 1
            usleep(20_000)
        }
        #expect(preview.viewerCount == 0, "still counted after \(written) frames")
    }

    @Test func headIsAnsweredWithoutJoining() throws {
        let (_, video) = try firstFrames(1)
        let (preview, server) = try serve(video)
        defer { server.shutdown(); preview.abort() }
        let page = try tool("curl", ["-sS", "-I", "--max-time", "10", server.baseURL])
        #expect(page.stdout.hasPrefix("HTTP/1.1 200"), "\(page.stdout)")
        #expect(page.stdout.lowercased().contains("content-type: text/html"))
        let stream = try tool("curl", ["-sS", "-I", "--max-time", "10", server.baseURL + "stream.mp4"])
        #expect(stream.stdout.hasPrefix("HTTP/1.1 200"), "\(stream.stdout)")
        #expect(stream.stdout.lowercased().contains("content-type: video/mp4"))
        #expect(preview.served.viewers == 0, "HEAD is not a viewer")
        #expect(try status(server.baseURL, ["-X", "POST", "-d", "x=1"]) == "405")
    }

    @Test func viewersPastTheLimitGet503() throws {
        let (_, video) = try firstFrames(1)
        let (preview, server) = try serve(video)
        defer { server.shutdown(); preview.abort() }
        var viewers: [RawClient] = []
        for _ in 0..<BrowserPreview.maxViewers {
            let client = try RawClient(port: server.port)
            client.send("GET /stream.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
            viewers.append(client)
        }
        #expect(preview.waitForViewers(BrowserPreview.maxViewers, timeout: 30))
        let refused = try tool("curl", ["-s", "-i", "--max-time", "10", server.baseURL + "stream.mp4"])
        #expect(refused.stdout.hasPrefix("HTTP/1.1 503"), "\(refused.stdout.prefix(200))")
        #expect(try status(server.baseURL) == "200", "the page is still served")
        viewers.removeFirst()   // one hangs up: noticed when its stream is written to, or now it is idle
        let deadline = Date().addingTimeInterval(30)
        var admitted = false
        while !admitted && Date() < deadline {
            admitted = try tool("curl", ["-s", "-i", "--max-time", "1", server.baseURL + "stream.mp4"]).stdout.hasPrefix("HTTP/1.1 200")
            if !admitted { try preview.write(firstFrames(1).frames[0]) }   // a frame makes the gone viewer's write fail
        }
        #expect(admitted, "a slot comes back when a viewer leaves")
    }

    /// HEAD, connect-and-close, malformed requests, POST and half-sent headers: none leaves a socket behind.
    @Test func descriptorsStayFlatUnderRudeClients() throws {
        let (_, video) = try firstFrames(1)
        let (preview, server) = try serve(video, idleTimeout: 1)
        defer { server.shutdown(); preview.abort() }
        #expect(try status(server.baseURL) == "200")
        for i in 0..<200 {
            let client = try RawClient(port: server.port)
            switch i % 5 {
            case 0:   // a health check: HEAD, the answer, hang up (keep-alive: the server would have kept it)
                client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(client.readHead().hasPrefix("HTTP/1.1 200"))
            case 1: break   // connect and close (a port scan, a TCP health check)
            case 2:
                client.send("GARBAGE\r\n\r\n")
                #expect(client.readAll(timeout: 10).hasPrefix("HTTP/1.1 400"), "a malformed request gets 400, then the close")
            case 3:
                client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                #expect(client.readHead().hasPrefix("HTTP/1.1 405"))
            default: client.send("GET / HTTP/1.1\r\nHo")   // half a header, then gone
            }
        }
        #expect(try status(server.baseURL) == "200")
        // The server closes its side as it sees each close; wait for that, bounded.
        let deadline = Date().addingTimeInterval(30)
        while connectionsHeld(port: server.port) > 0 && Date() < deadline { usleep(50_000) }
        #expect(connectionsHeld(port: server.port) == 0, "\(connectionsHeld(port: server.port)) connections still open")
    }

    /// Clients that send a header byte now and then neither hold a viewer out nor stay forever.
    @Test func slowClientsLockNobodyOut() throws {
        let (frames, video) = try firstFrames(5)
        let (preview, server) = try serve(video, idleTimeout: 2)
        defer { server.shutdown(); preview.abort() }
        let slow = try (0..<32).map { _ in try RawClient(port: server.port) }
        for client in slow { client.send("GET / HTTP/1.1\r\n") }
        // A real viewer is served while they dawdle.
        #expect(try status(server.baseURL) == "200")
        let viewer = try BackgroundTool("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                    "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                                                    server.baseURL + "stream.mp4"])
        #expect(preview.waitForViewers(1, timeout: 30))
        for frame in frames { try preview.write(frame) }
        try preview.finish()
        let (code, output) = try viewer.finish()
        #expect(code == 0)
        #expect(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(frames.count)")
        // The header-read timeout: a client still sending its head byte by byte is cut off.
        var cut = false
        for _ in 0..<600 where !cut {
            cut = !slow[0].send("X")
            if !cut { usleep(100_000) }
        }
        #expect(cut, "a client that never finishes its request head is disconnected")
        #expect(slow[1].readAll(timeout: 30).isEmpty, "closed without an answer")
    }

    @Test func aPortInUseIsAClearError() throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, name: "the browser preview")
        defer { server.shutdown() }
        let error = #expect(throws: EPRError.self) {
            try HTTPServer(host: "127.0.0.1", port: server.port, name: "the browser preview")
        }
        #expect(error?.kind == .output)
        #expect(error?.message == "cannot serve the browser preview on 127.0.0.1:\(server.port): Address already in use",
                "\(error?.message ?? "")")
    }

    @Test func afterShutdownNothingListens() throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0)
        server.routes.register("/") { _ in .text(.ok, "hi\n") }
        #expect(try status(server.baseURL) == "200")
        server.shutdown()
        #expect(try tool("curl", ["-s", "--max-time", "5", server.baseURL]).status == 7, "curl: couldn't connect")
    }
}
