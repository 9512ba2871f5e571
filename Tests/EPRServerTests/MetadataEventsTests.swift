@testable import EPRServer
import Foundation
import Testing

/// The metadata fan-out and its Server-Sent Events route, with real clients (curl, raw sockets).
@Suite(.serialized) struct MetadataEventsTests {
    func wait(until condition: () -> Bool, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline { usleep(10_000) }
        return condition()
    }

    /// Messages read to the end (the broadcaster finished).
    func drain(_ messages: AsyncStream<MetadataBroadcaster.Message>) async -> [MetadataBroadcaster.Message] {
        var all: [MetadataBroadcaster.Message] = []
        for await message in messages { all.append(message) }
        return all
    }

    @Test func aSlowSubscriberLosesItsOldestEventsOnly() async {
        let broadcaster = MetadataBroadcaster(bufferSize: 8)
        let slow = broadcaster.subscribe().messages
        let other = broadcaster.subscribe().messages
        #expect(broadcaster.subscriberCount == 2)
        for frame in 0..<20 { broadcaster.publish(frame: frame, json: "{\"frame\":\(frame)}") }   // never blocks
        broadcaster.finish()
        let newest = (12..<20).map { MetadataBroadcaster.Message.event(.init(frame: $0, json: "{\"frame\":\($0)}")) }
        #expect(await drain(slow) == newest)
        #expect(await drain(other) == newest)
        #expect(broadcaster.droppedEvents == 24)
        #expect(broadcaster.subscriberCount == 0, "finished subscribers are forgotten")
        #expect(await drain(broadcaster.subscribe().messages).isEmpty, "after the end, a subscriber's events end at once")
    }

    @Test func eventsReachACurlClientWithKeepAlives() throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0)
        defer { server.shutdown() }
        let broadcaster = MetadataBroadcaster()
        server.routes.registerEvents(broadcaster, stream: "cam1", keepAlive: .milliseconds(200))
        let url = server.baseURL + "api/streams/cam1/events"

        let head = try tool("curl", ["-sS", "-I", "--max-time", "10", url])
        #expect(head.stdout.hasPrefix("HTTP/1.1 200"), "\(head.stdout)")
        #expect(head.stdout.lowercased().contains("content-type: text/event-stream"))
        #expect(broadcaster.subscriberCount == 0, "HEAD subscribes nobody")
        #expect(try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                  server.baseURL + "api/streams/cam2/events"]).stdout == "404")

        let client = try BackgroundTool("curl", ["-sS", "-N", "-i", "--max-time", "60", url])
        #expect(wait { broadcaster.subscriberCount == 1 })
        for frame in 0..<5 { broadcaster.publish(frame: frame, json: "{\"frame\":\(frame),\"stream\":\"cam1\"}") }
        // Idle now: keep-alive comments follow; then the end of the stream ends the response.
        #expect(wait { client.outputSoFar.contains(": keep-alive\n\n") })
        broadcaster.finish()
        let (status, data) = try client.finish()
        #expect(status == 0, "curl ends cleanly when the stream ends")
        let text = String(decoding: data, as: UTF8.self)
        let body = try #require(text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) })
        #expect(text.lowercased().contains("content-type: text/event-stream"))
        #expect(text.lowercased().contains("cache-control: no-store"))
        let events = body.components(separatedBy: "\n\n").filter { !$0.hasPrefix(":") && !$0.isEmpty }
        #expect(events == (0..<5).map { "id: \($0)\ndata: {\"frame\":\($0),\"stream\":\"cam1\"}" })
        #expect(body.hasPrefix(": stream cam1\n\n"), "a comment at once tells the client it is subscribed")
        #expect(wait { broadcaster.subscriberCount == 0 })
    }

    /// Clients that subscribe and hang up, again and again: each is unsubscribed, no socket stays.
    @Test func descriptorsStayFlatOverManySubscribers() throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, idleTimeout: 1)
        defer { server.shutdown() }
        let broadcaster = MetadataBroadcaster()
        server.routes.registerEvents(broadcaster, stream: "main", keepAlive: .milliseconds(100))
        #expect(try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-I",
                                  server.baseURL + "api/streams/main/events"]).stdout == "200")   // warm
        for round in 0..<10 {
            var clients: [RawClient] = []
            for _ in 0..<20 {
                let client = try RawClient(port: server.port)
                client.send("GET /api/streams/main/events HTTP/1.1\r\nHost: x\r\n\r\n")
                clients.append(client)
            }
            #expect(wait { broadcaster.subscriberCount == 20 }, "round \(round): \(broadcaster.subscriberCount) subscribed")
            #expect(connectionsHeld(port: server.port) >= 20, "the kernel's table shows the server's side of each")
            broadcaster.publish(frame: round, json: "{}")
            clients.removeAll()   // all hang up; the keep-alive writes notice
            #expect(wait { broadcaster.subscriberCount == 0 }, "round \(round): \(broadcaster.subscriberCount) left subscribed")
        }
        #expect(wait { connectionsHeld(port: server.port) == 0 }, "\(connectionsHeld(port: server.port)) connections still open")
    }
}
