import EPRCore
import Foundation

/// A list of `image label` pairs (CamVid/SegNet layout: paths relative to the dataset folder),
/// checked up front so a bad path fails before any work with a line that names it.
public struct LabelledDataset: Sendable {
    public struct Pair: Sendable {
        public let image: String
        public let label: String
        public var name: String { ((image as NSString).lastPathComponent as NSString).deletingPathExtension }
    }

    public let root: String
    public let pairs: [Pair]

    public init(root: String, list: String) throws(EPRError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw EPRError(.dataset, "dataset folder not found: \(root)")
        }
        let listPath = list.hasPrefix("/") || FileManager.default.fileExists(atPath: list)
            ? list : (root as NSString).appendingPathComponent(list)
        guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else {
            throw EPRError(.dataset, "list file not found: \(list)")
        }
        var pairs: [Pair] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw EPRError(.dataset, "\(list):\(number + 1): expected 'image label', got '\(line)'")
            }
            let pair = Pair(image: Self.resolve(String(fields[0]), root), label: Self.resolve(String(fields[1]), root))
            for path in [pair.image, pair.label] where !FileManager.default.fileExists(atPath: path) {
                throw EPRError(.dataset, "\(list):\(number + 1): file not found: \(path)")
            }
            pairs.append(pair)
        }
        guard !pairs.isEmpty else { throw EPRError(.dataset, "list \(list) names no images") }
        self.root = root
        self.pairs = pairs
    }

    private static func resolve(_ path: String, _ root: String) -> String {
        // SegNet lists start with "/SegNet/CamVid/..."; CamVid here keeps the last two components.
        if path.hasPrefix("/") && !FileManager.default.fileExists(atPath: path) {
            let parts = path.split(separator: "/").suffix(2).joined(separator: "/")
            return (root as NSString).appendingPathComponent(parts)
        }
        return path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
    }
}
