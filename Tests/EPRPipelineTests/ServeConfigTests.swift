import EPRPipeline
import Foundation
import Testing

/// `serve --config` and `POST /api/streams` bodies: what a valid file gives, and that every bad
/// key or value is one error naming its field as the user wrote it.
@Suite struct ServeConfigTests {
    /// A folder with an input file and a preset, removed afterwards.
    struct Folder {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("serve-config-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try Data("not parsed here".utf8).write(to: url.appendingPathComponent("in.mp4"))
            try "alpha: 0.25\n".write(to: url.appendingPathComponent("soft.yaml"), atomically: true, encoding: .utf8)
            try "model: eprnet-light\n".write(to: url.appendingPathComponent("model.yaml"), atomically: true, encoding: .utf8)
            try "preview: 8081\n".write(to: url.appendingPathComponent("preview.yaml"), atomically: true, encoding: .utf8)
        }
        var input: String { url.appendingPathComponent("in.mp4").path }
        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    @Test func aFullConfigGivesEveryValueWithPathsFromItsFolder() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let yaml = """
            model: eprnet-light
            input_size: 288x512
            http: {host: 0.0.0.0, port: 9090}
            streams:
              - {id: front, input: rtsp://cam1/stream, output: front.mp4, preview: true, infer_every: auto}
              - id: dash.2
                input: \(folder.input)
                output: /tmp/dash.mp4
                pipeline: soft.yaml
                infer_every: 3
                metadata: dash.jsonl
                zones:
                  - {name: lane, polygon: [[0.4, 1], [0.45, 0.6], [0.55, 0.6], [0.6, 1]]}
            """
        let config = try ServeConfig.parse(yaml: yaml, base: folder.url)
        #expect(config.model == "eprnet-light")
        #expect(config.inputSize?.height == 288 && config.inputSize?.width == 512)
        #expect(config.host == "0.0.0.0" && config.port == 9090)
        #expect(config.streams.map(\.id) == ["front", "dash.2"])
        let front = config.streams[0], dash = config.streams[1]
        #expect(front.input == "rtsp://cam1/stream")
        #expect(front.output == folder.url.appendingPathComponent("front.mp4").path)
        #expect(front.preview && front.settings.inferAuto == true)
        #expect(front.settings.streamID == "front")
        #expect(dash.output == "/tmp/dash.mp4" && !dash.preview)
        #expect(dash.settings.inferAuto == false && dash.settings.inferEvery == 3)
        #expect(dash.settings.alpha == 0.25, "the stream's preset applies")
        #expect(dash.settings.metadataPath == folder.url.appendingPathComponent("dash.jsonl").path)
        #expect(dash.settings.zones.map(\.name) == ["lane"])
    }

    @Test func defaultsAndAnEmptyStreamList() throws {
        let config = try ServeConfig.parse(yaml: "streams: []\n", base: URL(fileURLWithPath: "/"))
        #expect(config.model == nil && config.inputSize == nil)
        #expect(config.host == "127.0.0.1" && config.port == 8080, "bound to loopback unless told otherwise")
        #expect(config.streams.isEmpty)
    }

    /// Each bad file, the field its error names (`INPUT` stands for an existing input file).
    static let badConfigs: [(yaml: String, field: String)] = [
        ("http: {port: 8080}\n", "streams"),
        ("streams: []\nmodels: x\n", "models"),
        ("streams: []\nhttp: {port: 70000}\n", "http.port"),
        ("streams: []\nhttp: {port: eighty}\n", "http.port"),
        ("streams: []\nhttp: {hots: x}\n", "http.hots"),
        ("streams: []\nhttp: 8080\n", "http"),
        ("streams: []\ninput_size: big\n", "input_size"),
        ("streams: {id: a}\n", "streams"),
        ("streams: [7]\n", "streams[0]"),
        ("streams: [{input: INPUT, output: o.mp4}]\n", "streams[0].id"),
        ("streams: [{id: ../etc, input: INPUT, output: o.mp4}]\n", "streams[0].id"),
        ("streams: [{id: a/b, input: INPUT, output: o.mp4}]\n", "streams[0].id"),
        ("streams: [{id: a, output: o.mp4}]\n", "streams[0].input"),
        ("streams: [{id: a, input: /no/such.mp4, output: o.mp4}]\n", "streams[0].input"),
        ("streams: [{id: a, input: INPUT}]\n", "streams[0].output"),
        ("streams: [{id: a, input: INPUT, output: INPUT}]\n", "streams[0].output"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, preview: maybe}]\n", "streams[0].preview"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, infer_every: 0}]\n", "streams[0].infer_every"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, infer_every: often}]\n", "streams[0].infer_every"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, metadata: '-'}]\n", "streams[0].metadata"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, outptu: x}]\n", "streams[0].outptu"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, pipeline: missing.yaml}]\n", "streams[0].pipeline"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, pipeline: model.yaml}]\n", "streams[0].pipeline"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, pipeline: preview.yaml}]\n", "streams[0].pipeline"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, zones: [{name: z, polygon: [[0, 0, 1]]}]}]\n", "streams[0].zones[0].polygon"),
        ("streams: [{id: a, input: INPUT, output: o.mp4, zones: [{name: z, polygon: [[0, 0]]}]}]\n", "streams[0].zones"),
        ("streams: [{id: a, input: INPUT, output: a.mp4}, {id: a, input: INPUT, output: b.mp4}]\n", "streams[1].id"),
        ("streams: [\n", ""),
    ]

    @Test(arguments: badConfigs)
    func aBadConfigNamesTheField(yaml: String, field: String) throws {
        let folder = try Folder()
        defer { folder.remove() }
        let text = yaml.replacingOccurrences(of: "INPUT", with: folder.input)
        let error = #expect(throws: ConfigFieldError.self) { try ServeConfig.parse(yaml: text, base: folder.url) }
        #expect(error?.field == field, "\(error?.line ?? "no error")")
        #expect(error.map { !$0.message.isEmpty && !$0.line.contains("\n") } == true)
    }

    @Test func whyAModelWideKeyIsRefusedPerStream() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let yaml = "streams: [{id: a, input: \(folder.input), output: o.mp4, pipeline: model.yaml}]\n"
        let error = #expect(throws: ConfigFieldError.self) { try ServeConfig.parse(yaml: yaml, base: folder.url) }
        #expect(error?.message.contains("sets 'model'") == true)
        #expect(error?.message.contains("one compiled model") == true)
    }

    @Test func aJSONBodyTakesTheSameKeysAndNamesFieldsWithoutPrefix() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let entry = try StreamEntry.parse(json: #"{"id": "cam-3", "input": "rtsp://10.0.0.3/live", "preview": true, "infer_every": 2}"#)
        #expect(entry.id == "cam-3" && entry.input == "rtsp://10.0.0.3/live")
        #expect(entry.preview && entry.output == nil)
        #expect(entry.settings.inferEvery == 2 && entry.settings.inferAuto == false)
        for (body, field) in [("{\"id\": \"x\", \"input\": \"\(folder.input)\", \"preview\": \"sometimes\"}", "preview"),
                              ("{\"input\": \"rtsp://h/s\", \"preview\": true}", "id"),
                              ("{\"id\": \"x\", \"input\": \"rtsp://h/s\", \"colour\": 1, \"preview\": true}", "colour"),
                              ("[1, 2]", ""), ("{\"id\": ", "")] {
            let error = #expect(throws: ConfigFieldError.self) { try StreamEntry.parse(json: body) }
            #expect(error?.field == field, "\(body): \(error?.line ?? "no error")")
        }
    }
}
