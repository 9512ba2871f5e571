import Foundation
import Testing

/// `eprstream serve` end to end: the real binary with real RTSP servers (GStreamer's), a real
/// file, its real HTTP API read with curl. Every step waits on what the process tells (stderr
/// lines, API counters) with a generous deadline; none on a fixed sleep or a rate.
@Suite(.serialized) struct ServeTests {
    /// A served process, its config and its API.
    struct Served {
        let run: LiveRun
        let base: String

        init(config: String, in dir: URL) throws {
            let port = try LiveFixtures.freePort()
            let path = dir.appendingPathComponent("streams.yaml").path
            try config.replacingOccurrences(of: "PORT", with: String(port)).write(toFile: path, atomically: true, encoding: .utf8)
            run = try LiveRun(["serve", "--config", path])
            base = "http://127.0.0.1:\(port)"
            guard run.waitForLine(containing: "serving ", timeout: 180) != nil else {
                run.kill()
                throw TestFailure("serve did not start; stderr: \(run.stderrText)")
            }
        }

        /// (status code, body) of METHOD url.
        func http(_ method: String, _ path: String, body: String? = nil) throws -> (code: Int, body: String) {
            var args = ["-s", "--max-time", "60", "-X", method, "-w", "\n%{http_code}"]
            if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
            let r = try EPRStreamTests.run("/usr/bin/curl", args + [base + path], timeout: 90)
            let parts = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(parts.last ?? "") ?? -1, parts.dropLast().joined(separator: "\n"))
        }

        func json(_ path: String) throws -> [String: Any]? {
            let (code, body) = try http("GET", path)
            guard code == 200 else { return nil }
            return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        }

        func framesOut(_ id: String) throws -> Int { try json("/api/streams/\(id)")?["frames_out"] as? Int ?? -1 }

        /// Polls the API until `done` holds (a generous deadline; nil: it never did).
        @discardableResult
        func waitFor<T>(_ what: String, timeout: Double = 120, _ done: () throws -> T?) throws -> T {
            let until = Date(timeIntervalSinceNow: timeout)
            while Date() < until && run.isRunning {
                if let value = try done() { return value }
                Thread.sleep(forTimeInterval: 0.2)
            }
            throw TestFailure("\(what) did not happen within \(timeout) s; stderr: \(run.stderrText)")
        }

        /// Waits until stream `id` has written more than `frames` frames.
        func awaitFrames(_ id: String, beyond frames: Int) throws {
            try waitFor("\(id) past \(frames) frames") { try framesOut(id) > frames ? true : nil }
        }
    }

    static let fastInput = "input_size: 128x224\n"

    @Test func threeCamerasAndAFileShareOneProcessAndOneCameraGoingAwaySlowsNoOther() throws {
        let model = try LiveFixtures.model()
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var servers = try (0..<3).map { _ in try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"]) }
        defer { servers.forEach { $0.terminate() } }
        try "max_frames: 40\n".write(to: dir.appendingPathComponent("short.yaml"), atomically: true, encoding: .utf8)
        let served = try Served(config: """
            model: \(model)
            \(Self.fastInput)http: {port: PORT}
            streams:
              - {id: cam0, input: "\(servers[0].url)", output: cam0.mp4, metadata: cam0.jsonl}
              - {id: cam1, input: "\(servers[1].url)", output: cam1.mp4}
              - {id: cam2, input: "\(servers[2].url)", output: cam2.mp4, preview: true}
              - {id: clip, input: "\(Repo.dashcam)", output: clip.mp4, pipeline: short.yaml}
            """, in: dir)
        defer { served.run.kill() }

        // Ready once every stream started; each writes, the file to its end.
        try served.waitFor("/readyz 200") { try served.http("GET", "/readyz").code == 200 ? true : nil }
        for cam in ["cam0", "cam1", "cam2"] { try served.awaitFrames(cam, beyond: 25) }
        try served.waitFor("clip finished") { try served.json("/api/streams/clip")?["state"] as? String == "finished" ? true : nil }
        #expect(try served.framesOut("clip") == 40)
        let list = try JSONSerialization.jsonObject(with: Data(try served.http("GET", "/api/streams").body.utf8)) as? [[String: Any]]
        #expect(list?.compactMap { $0["id"] as? String } == ["cam0", "cam1", "cam2", "clip"])
        let cam0 = try #require(try served.json("/api/streams/cam0"))
        // A camera that is up: live, or dropping frames, or (on a machine loaded to the brim) a moment without one.
        #expect(["live", "back-pressure", "stalled"].contains(cam0["state"] as? String ?? ""), "\(cam0)")
        #expect(cam0["queues"] as? [String: Int] != nil && cam0["fps_in"] as? Double != nil, "\(cam0)")
        #expect(try served.http("GET", "/streams/cam2/").code == 200, "cam2's preview page")
        #expect(try served.http("GET", "/streams/cam1/").code == 404, "cam1 has no preview")
        let metrics = try served.http("GET", "/metrics").body
        for id in ["cam0", "cam1", "cam2", "clip"] {
            #expect(metrics.contains("eprstream_frames_out_total{stream=\"\(id)\"}"), "no frames_out for \(id)")
        }

        // cam1's server goes away: the others keep writing while it is down, then it comes back.
        servers[1].kill()
        #expect(served.run.waitForLine(containing: "[cam1] source disconnected", timeout: 60) != nil, "stderr: \(served.run.stderrText)")
        let before = (try served.framesOut("cam0"), try served.framesOut("cam2"))
        try served.awaitFrames("cam0", beyond: before.0 + 25)
        try served.awaitFrames("cam2", beyond: before.1 + 25)
        let down = try served.json("/api/streams/cam1")?["state"] as? String
        #expect(down == "offline" || down == "stalled", "cam1 while its server is down: \(down ?? "-")")
        servers[1] = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"], port: servers[1].port)
        #expect(served.run.waitForLine(containing: "[cam1] reconnected: frames flow again", timeout: 90) != nil,
                "stderr: \(served.run.stderrText)")
        let back = try served.framesOut("cam1")
        try served.awaitFrames("cam1", beyond: back + 25)
        #expect(try served.json("/api/streams/cam1")?["reconnects"] as? Int == 1)

        // SIGTERM: every output finalised and playable, exit 128 + 15.
        served.run.send(SIGTERM)
        let result = try served.run.wait(timeout: 120)
        #expect(result.status == 128 + SIGTERM, "stderr: \(result.stderr)")
        for id in ["cam0", "cam1", "cam2", "clip"] {
            let path = dir.appendingPathComponent("\(id).mp4").path
            let frames = try Probe.video(path).frames
            #expect(frames > (id == "clip" ? 39 : 25), "\(id): \(frames) frames")
            let errors = try Probe.decodeErrors(path)
            #expect(errors.isEmpty, "\(id): \(errors)")
        }
        #expect(try Probe.video(dir.appendingPathComponent("clip.mp4").path).frames == 40)
        // cam0's metadata: one JSON line per annotated frame it wrote (notices have none).
        let lines = try String(contentsOf: dir.appendingPathComponent("cam0.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 25)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["stream"] as? String == "cam0")
    }

    @Test func streamsAreAddedAndRemovedOverHTTPWhileAnotherRuns() throws {
        let model = try LiveFixtures.model()
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"])
        defer { server.terminate() }
        let served = try Served(config: """
            model: \(model)
            \(Self.fastInput)http: {port: PORT}
            streams:
              - {id: a, input: "\(server.url)", output: a.mp4}
            """, in: dir)
        defer { served.run.kill() }
        try served.awaitFrames("a", beyond: 10)

        let added = dir.appendingPathComponent("b.mp4").path
        let post = try served.http("POST", "/api/streams",
                                   body: #"{"id": "b", "input": "\#(server.url)", "output": "\#(added)", "preview": true, "infer_every": 2}"#)
        #expect(post.code == 201, "\(post)")
        #expect(post.body.contains(#""id":"b""#), "\(post)")
        try served.awaitFrames("b", beyond: 25)
        #expect(try served.http("GET", "/streams/b/").code == 200)
        let list = try JSONSerialization.jsonObject(with: Data(try served.http("GET", "/api/streams").body.utf8)) as? [[String: Any]]
        #expect(list?.compactMap { $0["id"] as? String } == ["a", "b"])

        // Bad requests: the right 4xx, and a JSON error naming the field.
        func expectRefused(_ body: String, _ code: Int, field: String?, mentions text: String) throws {
            let r = try served.http("POST", "/api/streams", body: body)
            #expect(r.code == code, "\(body) -> \(r)")
            let object = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]
            #expect(object?["field"] as? String == field, "\(body) -> \(r.body)")
            let message = (object?["error"] as? String) ?? ""
            #expect(message.contains(text), "\(body) -> \(r.body)")
        }
        try expectRefused(#"{"id": "b", "input": "\#(server.url)", "output": "x.mp4"}"#, 409, field: "id", mentions: "exists already")
        try expectRefused("{not json", 400, field: nil, mentions: "not valid JSON")
        try expectRefused("[1, 2]", 400, field: nil, mentions: "expected a JSON object")
        try expectRefused(#"{"id": "c", "input": "\#(Repo.dashcam)", "output": "c.mp4", "infer_every": 0}"#, 422,
                          field: "infer_every", mentions: "expected auto or a whole number")
        try expectRefused(#"{"id": "c", "input": "\#(Repo.dashcam)", "output": "c.mp4", "colour": "red"}"#, 422,
                          field: "colour", mentions: "unknown key")
        try expectRefused(#"{"id": "../etc", "input": "\#(Repo.dashcam)", "output": "c.mp4"}"#, 422, field: "id", mentions: "letters, digits")
        try expectRefused(#"{"id": "c", "input": "/no/such.mp4", "output": "c.mp4"}"#, 422, field: "input", mentions: "file not found")
        try expectRefused(#"{"id": "c", "input": "\#(Repo.dashcam)"}"#, 422, field: "output", mentions: "no output")
        try expectRefused(#"{"id": "c", "input": "\#(Repo.dashcam)", "output": "c.mp4", "preview": "maybe"}"#, 422,
                          field: "preview", mentions: "true or false")
        #expect(try served.http("PUT", "/api/streams/a").code == 405)
        #expect(try served.http("GET", "/api/streams/nope").code == 404)

        // DELETE stops b and finalises its file while a keeps going.
        let deleted = try served.http("DELETE", "/api/streams/b")
        #expect(deleted.code == 200, "\(deleted)")
        let final = try #require(try JSONSerialization.jsonObject(with: Data(deleted.body.utf8)) as? [String: Any])
        #expect(final["state"] as? String == "finished", "\(final)")
        let written = try #require(final["frames_out"] as? Int)
        #expect(written > 25)
        #expect(try Probe.video(added).frames >= written, "b.mp4 has its annotated frames (and any notices)")
        #expect(try Probe.decodeErrors(added).isEmpty)
        #expect(try served.http("GET", "/api/streams/b").code == 404)
        #expect(try served.http("DELETE", "/api/streams/b").code == 404)
        #expect(try served.http("GET", "/streams/b/").code == 404, "its preview went with it")
        let a = try served.framesOut("a")
        try served.awaitFrames("a", beyond: a + 10)

        // The id is free again.
        let again = try served.http("POST", "/api/streams", body: #"{"id": "b", "input": "\#(server.url)", "output": "\#(added)"}"#)
        #expect(again.code == 201, "\(again)")
        try served.awaitFrames("b", beyond: 5)

        served.run.interrupt()
        let result = try served.run.wait(timeout: 120)
        #expect(result.status == 128 + SIGINT, "stderr: \(result.stderr)")
        #expect(try Probe.decodeErrors(dir.appendingPathComponent("a.mp4").path).isEmpty)
        #expect(try Probe.decodeErrors(added).isEmpty)
    }

    @Test func configErrorsNameTheKey() throws {
        let dir = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("streams: []\nhttps: {port: 1}\n", "unknown key"),
            ("streams:\n  - {id: a, input: \"\(Repo.dashcam)\", output: a.mp4, every: 2}\n", "streams[0].every: unknown key"),
            ("streams:\n  - {id: a, input: \"\(Repo.dashcam)\", output: a.mp4}\n  - {id: a, input: \"\(Repo.dashcam)\", output: b.mp4}\n",
             "streams[1].id: 'a' is already used"),
            ("streams:\n  - {id: a, input: \"\(Repo.dashcam)\", output: a.mp4, infer_every: -1}\n", "streams[0].infer_every: expected auto"),
            ("streams:\n  - {id: \"a/b\", input: \"\(Repo.dashcam)\", output: a.mp4}\n", "streams[0].id: 'a/b'"),
            ("http: {port: 99999}\nstreams: []\n", "http.port: expected a port number"),
            ("http: {host: 127.0.0.1, tls: yes}\nstreams: []\n", "http.tls: unknown key"),
            ("model: eprnet\n", "streams: missing"),
            ("streams:\n  - {id: a, input: \"\(Repo.dashcam)\", output: a.mp4, zones: [{name: lane, polygon: [[0, 0], [1, 1]]}]}\n",
             "streams[0].zones: zone 'lane': a polygon needs at least 3 points"),
        ]
        for (yaml, message) in cases {
            let path = dir.appendingPathComponent("bad.yaml").path
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try run(Repo.binary, ["serve", "--config", path], timeout: 60)
            #expect(result.status == 64, "\(yaml) -> \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: \(path): ") && lines[0].contains(message), "\(yaml) -> \(result.stderr)")
        }
        // A preset that sets what the shared model is compiled with is refused, naming the key.
        try "input_size: 128x224\n".write(to: dir.appendingPathComponent("size.yaml"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("bad.yaml").path
        try "streams:\n  - {id: a, input: \"\(Repo.dashcam)\", output: a.mp4, pipeline: size.yaml}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try run(Repo.binary, ["serve", "--config", path], timeout: 60)
        #expect(result.status == 64)
        #expect(result.stderr.contains("streams[0].pipeline: preset") && result.stderr.contains("sets 'input_size'"), "\(result.stderr)")
    }
}
