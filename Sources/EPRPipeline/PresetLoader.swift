import EPRCore
import EPRMedia
import EPROverlay
import Foundation
import Yams

/// Reads a pipeline preset (YAML, see Pipelines/dashcam.yaml) onto settings. Every key is
/// checked: an unknown key or a bad value is an error naming the key and the file.
public enum PresetLoader {
    /// Keys a preset may set, with how each applies to the settings.
    private typealias Apply = @Sendable (inout PipelineSettings, Node, String) throws(EPRError) -> Void

    private static let fields: [String: Apply] = [
        "model": { s, n, k throws(EPRError) in s.modelPath = try string(n, k) },
        "input_size": { s, n, k throws(EPRError) in
            let text = try string(n, k)
            if text == "auto" { s.inputHeight = nil; s.inputWidth = nil; return }
            let size: (height: Int, width: Int)
            do throws(EPRError) { size = try PipelineSettings.parseInputSize(text) } catch {
                throw EPRError(.config, "\(k): \(error.message)")
            }
            s.inputHeight = size.height; s.inputWidth = size.width
        },
        "alpha": { s, n, k throws(EPRError) in
            let a = try double(n, k)
            guard (0...1).contains(a) else { throw EPRError(.config, "\(k): alpha must be between 0 and 1, got \(a)") }
            s.alpha = Float(a)
        },
        "overlay.mode": { s, n, k throws(EPRError) in
            let text = try string(n, k)
            do throws(EPRError) { s.overlayMode = try OverlayMode(parsing: text) } catch {
                throw EPRError(.config, "\(k): \(error.message)")
            }
        },
        "overlay.classes": { s, n, k throws(EPRError) in
            let text = try list(n, k)
            do throws(EPRError) { s.classes = try PipelineSettings.parseClasses(text) } catch {
                throw EPRError(.config, "\(k): \(error.message)")
            }
        },
        "overlay.palette": { s, n, k throws(EPRError) in s.palettePath = try string(n, k) },
        "legend": { s, n, k throws(EPRError) in s.showLegend = try bool(n, k) },
        "stats": { s, n, k throws(EPRError) in s.showStats = try bool(n, k) },
        "audio": { s, n, k throws(EPRError) in s.audio = try bool(n, k) },
        "autorotate": { s, n, k throws(EPRError) in s.autorotate = try bool(n, k) },
        "preview": { s, n, k throws(EPRError) in
            let text = try string(n, k)
            do throws(EPRError) { _ = try BrowserPreview.parseAddress(text) } catch {
                throw EPRError(.config, "\(k): \(error.message)")
            }
            s.previewAddress = text
        },
        "metadata.zones": { s, n, k throws(EPRError) in s.zones = try zones(n, k) },
        "record.segment": { s, n, k throws(EPRError) in
            let t = try double(n, k)
            guard t >= 1 else { throw EPRError(.config, "\(k): segments must be at least 1 second, got \(t)") }
            s.segmentSeconds = t
        },
        "record.retain": { s, n, k throws(EPRError) in
            let text = try string(n, k)
            do throws(EPRError) { s.retention = try Retention(parsing: text) } catch {
                throw EPRError(.config, "\(k): \(error.message)")
            }
        },
        "max_frames": { s, n, k throws(EPRError) in s.maxFrames = try int(n, k, min: 1) },
        "queues.frames": { s, n, k throws(EPRError) in s.frameQueueCapacity = try int(n, k, min: 1) },
        "queues.segmented": { s, n, k throws(EPRError) in s.segmentedQueueCapacity = try int(n, k, min: 1) },
        "queues.encode": { s, n, k throws(EPRError) in s.encodeQueueCapacity = try int(n, k, min: 1) },
        "queues.audio": { s, n, k throws(EPRError) in s.audioQueueCapacity = try int(n, k, min: 16) },
        "inference.requests": { s, n, k throws(EPRError) in s.inferenceRequests = try int(n, k, min: 1, max: 8) },
        "inference.every": { s, n, k throws(EPRError) in
            let every = try PipelineSettings.parseInferEvery(try string(n, k), key: k)
            s.inferAuto = every == nil
            if let every { s.inferEvery = every }
        },
        "inference.smooth": { s, n, k throws(EPRError) in s.smoothMasks = try int(n, k, min: 1, max: 16) },
        "inference.propagate": { s, n, k throws(EPRError) in
            let mode = try string(n, k).lowercased()
            guard ["mv", "bidirectional", "none"].contains(mode) else {
                throw EPRError(.config, "\(k): expected mv, bidirectional or none, got '\(mode)'")
            }
            s.propagateMasks = mode != "none"
            s.propagateBothWays = mode == "bidirectional"
        },
        "inference.threads": { s, n, k throws(EPRError) in s.inferenceThreads = try int(n, k, min: 0) },
        "inference.hint": { s, n, k throws(EPRError) in s.inferenceHint = try PipelineSettings.parseHint(try string(n, k), key: k) },
        "inference.streams": { s, n, k throws(EPRError) in s.inferenceStreams = try int(n, k, min: 1, max: 16) },
        "inference.preprocess": { s, n, k throws(EPRError) in
            s.preprocessing = try PipelineSettings.parsePreprocessing(try string(n, k), key: k)
        },
        "decoder.threads": { s, n, k throws(EPRError) in s.decoderThreads = try int(n, k, min: 0) },
        "encoder.preset": { s, n, k throws(EPRError) in
            let preset = try string(n, k)
            let known = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
            guard known.contains(preset) else {
                throw EPRError(.config, "\(k): unknown x264 preset '\(preset)' (one of \(known.joined(separator: ", ")))")
            }
            s.encoderPreset = preset
        },
        "encoder.crf": { s, n, k throws(EPRError) in s.encoderCRF = try int(n, k, min: 0, max: 51) },
        "encoder.threads": { s, n, k throws(EPRError) in s.encoderThreads = try int(n, k, min: 0) },
        "live.frame_queue": { s, n, k throws(EPRError) in s.liveFrameQueueCapacity = try int(n, k, min: 1) },
        "live.rtsp_transport": { s, n, k throws(EPRError) in
            let t = try string(n, k).lowercased()
            guard t == "tcp" || t == "udp" else { throw EPRError(.config, "\(k): expected tcp or udp, got '\(t)'") }
            s.rtspTransport = t
        },
        "live.stall_timeout": { s, n, k throws(EPRError) in
            let t = try double(n, k)
            guard t > 0 else { throw EPRError(.config, "\(k): must be positive, got \(t)") }
            s.stallTimeout = t
        },
        "live.max_reconnects": { s, n, k throws(EPRError) in s.maxReconnects = try int(n, k, min: 0) },
    ]

    /// Applies the preset at `path` over `settings`. Relative model paths resolve against the
    /// preset's folder's parent (presets live in Pipelines/, models in Models/), and so do relative
    /// palette paths; shipped model names (`eprnet-light`) stay names.
    public static func apply(file path: String, to settings: inout PipelineSettings) throws(EPRError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw EPRError(.config, "cannot read preset \(path)")
        }
        try apply(yaml: text, source: path, to: &settings)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent()
        if let model = settings.modelPath, !model.hasPrefix("/"), !ShippedModels.isName(model) {
            settings.modelPath = base.appendingPathComponent(model).path
        }
        if let palette = settings.palettePath, !palette.hasPrefix("/") {
            settings.palettePath = base.appendingPathComponent(palette).path
        }
    }

    public static func apply(yaml: String, source: String, to settings: inout PipelineSettings) throws(EPRError) {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw EPRError(.config, "preset \(source) is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root else { return }
        guard case .mapping = root else { throw EPRError(.config, "preset \(source): expected a mapping of keys") }
        var updated = settings
        for (key, value) in flatten(root, prefix: "") {
            guard let field = fields[key] else {
                throw EPRError(.config, "preset \(source): unknown key '\(key)' (known: \(fields.keys.sorted().joined(separator: ", ")))")
            }
            do throws(EPRError) { try field(&updated, value, key) } catch {
                throw EPRError(.config, "preset \(source): \(error.message)")
            }
        }
        settings = updated
    }

    /// Nested mappings become dotted keys ("encoder.crf"); scalars stay leaves.
    private static func flatten(_ node: Node, prefix: String) -> [(String, Node)] {
        guard case .mapping(let mapping) = node else { return [(prefix, node)] }
        var result: [(String, Node)] = []
        for (k, v) in mapping {
            let key = prefix.isEmpty ? (k.string ?? "") : prefix + "." + (k.string ?? "")
            if case .mapping = v { result += flatten(v, prefix: key) } else { result.append((key, v)) }
        }
        return result
    }

    private static func string(_ n: Node, _ key: String) throws(EPRError) -> String {
        guard case .scalar(let s) = n else { throw EPRError(.config, "\(key): expected a single value") }
        return s.string
    }

    /// A YAML list of scalars, or one scalar holding a comma-separated list.
    private static func list(_ n: Node, _ key: String) throws(EPRError) -> String {
        guard case .sequence(let items) = n else { return try string(n, key) }
        var values: [String] = []
        for item in items { values.append(try string(item, key)) }
        return values.joined(separator: ",")
    }

    /// `- {name: lane, polygon: [[0.4, 1], [0.45, 0.6], [0.55, 0.6], [0.6, 1]]}` items.
    static func zones(_ n: Node, _ key: String) throws(EPRError) -> [Zone] {
        guard case .sequence(let items) = n else { throw EPRError(.config, "\(key): expected a list of {name, polygon}") }
        var result: [Zone] = []
        for (i, item) in items.enumerated() {
            let where_ = "\(key)[\(i)]"
            guard case .mapping(let fields) = item else { throw EPRError(.config, "\(where_): expected {name, polygon}") }
            var name: String?
            var points: [Zone.Point]?
            for (k, v) in fields {
                switch k.string ?? "" {
                case "name": name = try string(v, where_ + ".name")
                case "polygon":
                    guard case .sequence(let list) = v else { throw EPRError(.config, "\(where_).polygon: expected a list of [x, y]") }
                    var parsed: [Zone.Point] = []
                    for p in list {
                        guard case .sequence(let xy) = p, xy.count == 2 else {
                            throw EPRError(.config, "\(where_).polygon: expected [x, y] points")
                        }
                        parsed.append(Zone.Point(x: try double(xy[0], where_ + ".polygon"), y: try double(xy[1], where_ + ".polygon")))
                    }
                    points = parsed
                case let other: throw EPRError(.config, "\(where_): unknown key '\(other)' (known: name, polygon)")
                }
            }
            guard let name, let points else { throw EPRError(.config, "\(where_): needs both name and polygon") }
            do throws(EPRError) { result.append(try Zone(name: name, polygon: points)) } catch {
                throw EPRError(.config, "\(key): \(error.message)")
            }
        }
        return result
    }

    private static func double(_ n: Node, _ key: String) throws(EPRError) -> Double {
        guard let v = Double(try string(n, key)) else {
            throw EPRError(.config, "\(key): expected a number, got '\(try string(n, key))'")
        }
        return v
    }

    private static func int(_ n: Node, _ key: String, min: Int, max: Int = Int.max) throws(EPRError) -> Int {
        let text = try string(n, key)
        guard let v = Int(text) else { throw EPRError(.config, "\(key): expected an integer, got '\(text)'") }
        guard v >= min, v <= max else {
            throw EPRError(.config, "\(key): \(v) is out of range (\(min)...\(max == Int.max ? "" : String(max)))")
        }
        return v
    }

    static func bool(_ n: Node, _ key: String) throws(EPRError) -> Bool {
        switch try string(n, key).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other: throw EPRError(.config, "\(key): expected true or false, got '\(other)'")
        }
    }
}
