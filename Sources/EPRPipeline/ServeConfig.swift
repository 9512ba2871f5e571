import EPRCore
import EPRMedia
import Foundation
import Yams

/// A problem with one field of a serve config or of a `POST /api/streams` body: `field` names it
/// as written there ("streams[1].infer_every" in a file, "infer_every" in a body).
public struct ConfigFieldError: Error, Sendable {
    public let field: String
    public let message: String

    public var line: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// One stream of `eprstream serve`: a config entry, or the JSON body of `POST /api/streams`
/// (the same keys). `settings` is everything the stream's pipeline runs with, but the model.
public struct StreamEntry: Sendable {
    public let id: String
    public let input: String
    public let output: String?
    /// Serve the browser preview at /streams/ID/ on the process's HTTP server.
    public let preview: Bool
    public let settings: PipelineSettings

    public static let keys = ["id", "input", "output", "preview", "pipeline", "infer_every", "zones", "metadata"]

    /// Reads one entry (a mapping); `prefix` goes before every field name in errors.
    static func parse(_ node: Node, prefix: String, base: URL) throws(ConfigFieldError) -> StreamEntry {
        guard case .mapping(let mapping) = node else {
            throw ConfigFieldError(field: String(prefix.dropLast()), message: "expected a mapping with id, input, ...")
        }
        var values: [String: Node] = [:]
        for (k, v) in mapping {
            let key = k.string ?? ""
            guard keys.contains(key) else {
                throw ConfigFieldError(field: prefix + key, message: "unknown key (known: \(keys.joined(separator: ", ")))")
            }
            values[key] = v
        }
        func text(_ key: String) throws(ConfigFieldError) -> String? {
            guard let node = values[key] else { return nil }
            guard case .scalar(let s) = node, !s.string.isEmpty else { throw ConfigFieldError(field: prefix + key, message: "expected a non-empty string") }
            return s.string
        }
        guard let id = try text("id") else { throw ConfigFieldError(field: prefix + "id", message: "missing (every stream needs an id)") }
        guard PipelineSettings.isValidStreamID(id) else {
            throw ConfigFieldError(field: prefix + "id", message: "'\(id)': use 1-64 letters, digits, '-', '_' or '.'")
        }
        guard let input = try text("input") else { throw ConfigFieldError(field: prefix + "input", message: "missing (a file or rtsp:// URL)") }
        if !isLiveURL(input) && !FileManager.default.fileExists(atPath: input) {
            throw ConfigFieldError(field: prefix + "input", message: "\(input): file not found")
        }
        let output = try text("output")
        var preview = false
        if let node = values["preview"] {
            do throws(EPRError) { preview = try PresetLoader.bool(node, prefix + "preview") } catch {
                throw fieldError(error, key: prefix + "preview")
            }
        }
        guard output != nil || preview else {
            throw ConfigFieldError(field: prefix + "output", message: "stream '\(id)' has no output: give output, preview: true, or both")
        }
        if let output, OutputTarget.isSameFile(output, as: input) {
            throw ConfigFieldError(field: prefix + "output", message: "\(output) is the input file: refusing to overwrite it")
        }

        var settings = PipelineSettings()
        if let path = try text("pipeline") {
            let resolved = path.hasPrefix("/") ? path : base.appendingPathComponent(path).path
            do throws(EPRError) { try PresetLoader.apply(file: resolved, to: &settings) } catch {
                throw ConfigFieldError(field: prefix + "pipeline", message: error.message)
            }
            // One compiled model serves every stream: what it is compiled with is set once, at the top.
            let fresh = PipelineSettings()
            let modelWide: [(String, Bool)] = [
                ("model", settings.modelPath != nil),
                ("input_size", settings.inputHeight != fresh.inputHeight || settings.inputWidth != fresh.inputWidth),
                ("inference.requests", settings.inferenceRequests != fresh.inferenceRequests),
                ("inference.threads", settings.inferenceThreads != fresh.inferenceThreads),
                ("inference.hint", settings.inferenceHint != fresh.inferenceHint),
                ("inference.streams", settings.inferenceStreams != fresh.inferenceStreams),
                ("inference.preprocess", settings.preprocessing != fresh.preprocessing),
                ("preview", settings.previewAddress != nil),
            ]
            if let (key, _) = modelWide.first(where: { $0.1 }) {
                let why = key == "preview" ? "use the stream's preview: true (served at /streams/\(id)/)"
                                           : "all streams share one compiled model: set it at the top of the serve config"
                throw ConfigFieldError(field: prefix + "pipeline", message: "preset \(resolved) sets '\(key)', which serve does not take per stream: \(why)")
            }
        }
        if let every = try text("infer_every") {
            do throws(EPRError) {
                let n = try PipelineSettings.parseInferEvery(every, key: "")
                settings.inferAuto = n == nil
                if let n { settings.inferEvery = n }
            } catch {
                throw ConfigFieldError(field: prefix + "infer_every", message: "expected auto or a whole number of at least 1, got '\(every)'")
            }
        }
        if let zones = values["zones"] {
            do throws(EPRError) { settings.zones = try PresetLoader.zones(zones, prefix + "zones") } catch {
                throw fieldError(error, key: prefix + "zones")
            }
        }
        if let metadata = try text("metadata") {
            guard metadata != "-" else { throw ConfigFieldError(field: prefix + "metadata", message: "give a file (stdout is not per stream)") }
            settings.metadataPath = metadata.hasPrefix("/") ? metadata : base.appendingPathComponent(metadata).path
        }
        settings.streamID = id
        var resolvedOutput = output
        if let o = output, !VideoSink.isNetworkURL(o), o != "-", !o.hasPrefix("/") { resolvedOutput = base.appendingPathComponent(o).path }
        return StreamEntry(id: id, input: input, output: resolvedOutput, preview: preview, settings: settings)
    }

    /// A preset parser's error as the field it names: "streams[0].zones[1].polygon: expected ..."
    /// is that field and what follows the colon; one naming nothing under `key` goes on `key`.
    static func fieldError(_ error: EPRError, key: String) -> ConfigFieldError {
        let parts = error.message.split(separator: ": ", maxSplits: 1).map(String.init)
        return parts.count == 2 && parts[0].hasPrefix(key)
            ? ConfigFieldError(field: parts[0], message: parts[1])
            : ConfigFieldError(field: key, message: error.message)
    }

    /// A `POST /api/streams` body: one entry as a JSON object (relative paths: the server's directory).
    public static func parse(json: String) throws(ConfigFieldError) -> StreamEntry {
        let node: Node?
        do { node = try Yams.compose(yaml: json) } catch {
            throw ConfigFieldError(field: "", message: "the body is not valid JSON")
        }
        guard let node, case .mapping = node else { throw ConfigFieldError(field: "", message: "expected a JSON object with id, input, ...") }
        return try parse(node, prefix: "", base: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    }
}

/// `eprstream serve --config FILE`: the model (optional), the HTTP address and the streams.
///
///     model: eprnet-light          # optional; a shipped name or a file
///     input_size: 360x640          # optional: the network input of the one compiled model
///     http: {host: 127.0.0.1, port: 8080}
///     streams:
///       - {id: front, input: rtsp://cam1/stream, output: front.mp4, preview: true}
///       - {id: dash, input: clip.mp4, output: dash.mp4, pipeline: Pipelines/dashcam.yaml, infer_every: 2}
///
/// Every key is checked: an unknown key or a bad value is one error naming it. Relative paths
/// resolve against the config's folder.
public struct ServeConfig: Sendable {
    public var model: String?
    public var inputSize: (height: Int, width: Int)?
    public var host = "127.0.0.1"
    public var port = 8080
    public var streams: [StreamEntry] = []

    static let keys = ["model", "input_size", "http", "streams"]

    public static func load(file path: String) throws(EPRError) -> ServeConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw EPRError(.config, "cannot read the serve config \(path)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        do throws(ConfigFieldError) { return try parse(yaml: text, base: base) } catch {
            throw EPRError(.config, "\(path): \(error.line)")
        }
    }

    public static func parse(yaml: String, base: URL) throws(ConfigFieldError) -> ServeConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigFieldError(field: "", message: "not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root, case .mapping(let mapping) = root else { throw ConfigFieldError(field: "", message: "expected a mapping with streams: [...]") }
        var config = ServeConfig()
        var sawStreams = false
        for (k, v) in mapping {
            let key = k.string ?? ""
            switch key {
            case "model":
                guard let s = v.scalar?.string, !s.isEmpty else { throw ConfigFieldError(field: "model", message: "expected a model name or file") }
                config.model = ShippedModels.isName(s) || s.hasPrefix("/") ? s : base.appendingPathComponent(s).path
            case "input_size":
                guard let s = v.scalar?.string else { throw ConfigFieldError(field: key, message: "expected HxW, e.g. 360x640") }
                if s != "auto" {
                    do throws(EPRError) { config.inputSize = try PipelineSettings.parseInputSize(s) } catch {
                        throw ConfigFieldError(field: key, message: error.message)
                    }
                }
            case "http":
                guard case .mapping(let http) = v else { throw ConfigFieldError(field: "http", message: "expected {host, port}") }
                for (hk, hv) in http {
                    switch hk.string ?? "" {
                    case "host":
                        guard let h = hv.scalar?.string, !h.isEmpty else { throw ConfigFieldError(field: "http.host", message: "expected an address") }
                        config.host = h
                    case "port":
                        guard let p = Int(hv.scalar?.string ?? ""), (0...65535).contains(p) else {
                            throw ConfigFieldError(field: "http.port", message: "expected a port number 0-65535, got '\(hv.scalar?.string ?? "")'")
                        }
                        config.port = p
                    case let other: throw ConfigFieldError(field: "http.\(other)", message: "unknown key (known: host, port)")
                    }
                }
            case "streams":
                sawStreams = true
                guard case .sequence(let items) = v else { throw ConfigFieldError(field: "streams", message: "expected a list of {id, input, ...}") }
                var seen = Set<String>()
                for (i, item) in items.enumerated() {
                    let entry = try StreamEntry.parse(item, prefix: "streams[\(i)].", base: base)
                    guard seen.insert(entry.id).inserted else {
                        throw ConfigFieldError(field: "streams[\(i)].id", message: "'\(entry.id)' is already used by another stream")
                    }
                    config.streams.append(entry)
                }
            default:
                throw ConfigFieldError(field: key, message: "unknown key (known: \(keys.joined(separator: ", ")))")
            }
        }
        guard sawStreams else { throw ConfigFieldError(field: "streams", message: "missing (a list of streams; it may be empty: [])") }
        return config
    }
}
