import EPRCore
import Foundation

/// The models shipped in Models/, by the short names users type (`--model eprnet-light`, or
/// `model: eprnet-light` in a preset). Each name prefers its int8 IR (fastest on CPU) over fp32.
public enum ShippedModels {
    public static let names = ["eprnet", "eprnet-light"]
    public static let defaultName = "eprnet"

    /// Files under a root that hold model `name`, in order of preference.
    public static func files(for name: String) -> [String] {
        ["Models/\(name)-camvid-int8.xml", "Models/\(name)-camvid.onnx"]
    }

    /// True for a value that is a shipped name rather than a path.
    public static func isName(_ value: String) -> Bool { names.contains(value) }

    /// The first existing file for `name` under `roots` (searched in order).
    public static func locate(_ name: String, roots: [URL]) throws(EPRError) -> String {
        guard isName(name) else {
            throw EPRError(.model, "unknown model \"\(name)\": not a file, and not a shipped model (\(names.joined(separator: ", ")))")
        }
        for root in roots {
            for file in files(for: name) {
                let path = root.appendingPathComponent(file).path
                if FileManager.default.fileExists(atPath: path) { return path }
            }
        }
        throw EPRError(.model, "model \(name) is not in Models/ (looked for \(files(for: name).joined(separator: ", ")))")
    }
}
