import EPRCore
import Foundation
import Yams

/// A small file beside a model that says what its metadata does not (a network exported by
/// another toolkit carries none): `net.onnx` -> `net.json`, `net.yaml` or `net.yml`, with the
/// metadata's keys (`ModelFacts.keys`). JSON is read as YAML (it is a subset). Values are scalars
/// or lists: `mean: [0.485, 0.456, 0.406]` or `"123.675,116.28,103.53"`, `palette: [[128, 64, 128], ...]`.
enum ModelSidecar {
    static let extensions = ["json", "yaml", "yml"]

    static func candidates(beside modelPath: String) -> [String] {
        let stem = (modelPath as NSString).deletingPathExtension
        return extensions.map { stem + "." + $0 }
    }

    /// The sidecar beside `modelPath`, nil when there is none; two of them is an error (which
    /// one counts would be a guess).
    static func locate(beside modelPath: String) throws(EPRError) -> String? {
        let found = candidates(beside: modelPath).filter { FileManager.default.fileExists(atPath: $0) }
        guard found.count <= 1 else {
            throw EPRError(.model, "model \(modelPath): more than one sidecar file (\(found.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))): keep one")
        }
        return found.first
    }

    static func load(_ path: String) throws(EPRError) -> ModelFacts {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw EPRError(.model, "cannot read model sidecar \(path)")
        }
        return try parse(text, source: path)
    }

    static func parse(_ text: String, source: String) throws(EPRError) -> ModelFacts {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            let first = String(describing: error).split(separator: "\n").first.map(String.init) ?? ""
            throw EPRError(.model, "model sidecar \(source) is not valid JSON or YAML: \(first)")
        }
        guard let root else { return ModelFacts() }
        guard case .mapping(let mapping) = root else {
            throw EPRError(.model, "model sidecar \(source): expected a mapping of keys (\(ModelFacts.keys.joined(separator: ", ")))")
        }
        var values: [String: String] = [:]
        for (k, v) in mapping {
            let key = k.string ?? ""
            guard ModelFacts.keys.contains(key) else {
                throw EPRError(.model, "model sidecar \(source): unknown key '\(key)' (known: \(ModelFacts.keys.joined(separator: ", ")))")
            }
            guard let value = flatten(v) else {
                throw EPRError(.model, "model sidecar \(source): `\(key)` must be a value or a list")
            }
            values[key] = value
        }
        return try ModelFacts(values, kind: .model) { "model sidecar \(source): `\($0)`" }
    }

    /// A scalar as it is; a list of scalars joined by ","; a list of lists (palette) joined by ";".
    private static func flatten(_ node: Node) -> String? {
        switch node {
        case .scalar(let s):
            return s.string
        case .sequence(let items):
            var parts: [String] = []
            var nested = false
            for item in items {
                if case .sequence = item { nested = true }
                guard let part = flatten(item) else { return nil }
                parts.append(part)
            }
            return parts.joined(separator: nested ? ";" : ",")
        default:
            return nil
        }
    }
}
