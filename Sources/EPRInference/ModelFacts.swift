import EPRCore
import Foundation

/// The pixel scale a network's mean and std are given on: 0-255 (this project's models, most
/// ONNX exports with ImageNet values like 123.675) or 0-1 (torchvision-style 0.485).
public enum PixelRange: String, Sendable, Equatable, CaseIterable {
    case full = "0-255"
    case unit = "0-1"

    /// What a 0-1 value is multiplied by to be on the 0-255 scale the runner works in.
    var factor: Float { self == .full ? 1 : 255 }
}

/// What one source says about a model: the file's own metadata, a sidecar file beside it, or
/// flags. A nil field: this source does not say. Sources are layered with `over`.
public struct ModelFacts: Sendable, Equatable {
    public var name: String?
    public var mean: [Float]?
    public var std: [Float]?
    public var pixelRange: PixelRange?
    public var channelOrder: ChannelOrder?
    public var classNames: [String]?
    /// A class count alone (`class_names: 19`): names then default to class0, class1, ...
    public var classCount: Int?
    public var palette: [RGB]?
    public var inputHeight: Int?
    public var inputWidth: Int?
    public var voidLabel: Int?

    public init() {}

    /// The keys metadata and sidecar files use (the flags are the same names with dashes).
    public static let keys = ["model_name", "mean", "std", "pixel_range", "channel_order", "class_names",
                              "palette", "input_size", "void_label"]

    /// Reads the keys it knows from `values` (others are ignored: metadata carries more). A bad
    /// value is an error of `kind` naming the key as `label(key)` says ("metadata `mean`", "--mean").
    public init(_ values: [String: String], kind: EPRError.Kind, label: (String) -> String) throws(EPRError) {
        func fail(_ key: String, _ what: String, _ text: String) -> EPRError {
            EPRError(kind, "\(label(key)) must be \(what), got \"\(text)\"")
        }
        func trimmed(_ s: Substring) -> String { s.trimmingCharacters(in: .whitespaces) }
        func channels(_ key: String) throws(EPRError) -> [Float]? {
            guard let text = values[key] else { return nil }
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Float(trimmed($0)) }
            guard parts.count == 1 || parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw fail(key, "3 comma-separated numbers (or 1 for all channels)", text)
            }
            let numbers = parts.map { $0! }
            return numbers.count == 1 ? Array(repeating: numbers[0], count: 3) : numbers
        }
        if let text = values["model_name"], !text.isEmpty { name = text }
        mean = try channels("mean")
        std = try channels("std")
        if let std, !std.allSatisfy({ $0 > 0 }) {
            throw fail("std", "positive", values["std"]!)
        }
        if let text = values["pixel_range"] {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "0-255", "255": pixelRange = .full
            case "0-1", "1": pixelRange = .unit
            default: throw fail("pixel_range", "0-255 or 0-1", text)
            }
        }
        if let text = values["channel_order"] {
            guard let order = ChannelOrder(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw fail("channel_order", "rgb or bgr", text)
            }
            channelOrder = order
        }
        if let text = values["class_names"] {
            let t = text.trimmingCharacters(in: .whitespaces)
            if let count = Int(t) {
                guard count >= 1 else { throw fail("class_names", "names or a positive count", text) }
                classCount = count
            } else {
                let names = text.split(separator: ",", omittingEmptySubsequences: false).map(trimmed)
                guard !names.contains(where: \.isEmpty) else {
                    throw fail("class_names", "comma-separated names (none empty) or a count", text)
                }
                classNames = names
            }
        }
        if let text = values["palette"] {
            var colours: [RGB] = []
            for entry in text.split(separator: ";") {
                let parts = entry.split(separator: ",", omittingEmptySubsequences: false)
                let c = parts.compactMap { UInt8(trimmed($0)) }
                guard parts.count == 3, c.count == 3 else { throw fail("palette", "r,g,b triples (0-255) separated by ;", text) }
                colours.append(RGB(c[0], c[1], c[2]))
            }
            guard !colours.isEmpty else { throw fail("palette", "r,g,b triples (0-255) separated by ;", text) }
            palette = colours
        }
        if let text = values["input_size"] {
            let hw = text.lowercased().split(whereSeparator: { $0 == "x" || $0 == "," }).map { Int(trimmed($0)) }
            guard hw.count == 2, let h = hw[0], let w = hw[1], h > 0, w > 0 else { throw fail("input_size", "HxW", text) }
            inputHeight = h
            inputWidth = w
        }
        if let text = values["void_label"], !text.isEmpty {
            guard let v = Int(text.trimmingCharacters(in: .whitespaces)), (0...255).contains(v) else {
                throw fail("void_label", "an integer 0-255", text)
            }
            voidLabel = v
        }
    }

    /// Whether this source gives the fact stored under `key` (one of `keys`).
    public func gives(_ key: String) -> Bool {
        switch key {
        case "model_name": return name != nil
        case "mean": return mean != nil
        case "std": return std != nil
        case "pixel_range": return pixelRange != nil
        case "channel_order": return channelOrder != nil
        case "class_names": return classNames != nil || classCount != nil
        case "palette": return palette != nil
        case "input_size": return inputHeight != nil
        case "void_label": return voidLabel != nil
        default: return false
        }
    }

    /// These facts, and `base`'s where these say nothing.
    public func over(_ base: ModelFacts) -> ModelFacts {
        var f = base
        if let name { f.name = name }
        if let mean { f.mean = mean }
        if let std { f.std = std }
        if let pixelRange { f.pixelRange = pixelRange }
        if let channelOrder { f.channelOrder = channelOrder }
        if classNames != nil || classCount != nil { f.classNames = classNames; f.classCount = classCount }
        if let palette { f.palette = palette }
        if let inputHeight, let inputWidth { f.inputHeight = inputHeight; f.inputWidth = inputWidth }
        if let voidLabel { f.voidLabel = voidLabel }
        return f
    }
}

/// Everything known about a model before it runs: its metadata, its sidecar file (if any) and
/// the flags, in that rising order of precedence, and the description they make together.
public struct ModelSources: Sendable {
    public let modelPath: String
    /// Every key/value the file carries (also the informational ones), as read.
    public let rawMetadata: [String: String]
    public let metadata: ModelFacts
    public let sidecarPath: String?
    public let sidecar: ModelFacts
    public let flags: ModelFacts

    /// Reads the model's metadata (rejecting files that are no model) and the sidecar beside it.
    public init(modelPath: String, flags: ModelFacts) throws(EPRError) {
        self.modelPath = modelPath
        rawMetadata = try ModelMetadata.read(path: modelPath)
        metadata = try ModelFacts(rawMetadata, kind: .model) { "model \(modelPath): metadata `\($0)`" }
        sidecarPath = try ModelSidecar.locate(beside: modelPath)
        sidecar = try sidecarPath.map { (p) throws(EPRError) in try ModelSidecar.load(p) } ?? ModelFacts()
        self.flags = flags
    }

    init(modelPath: String, rawMetadata: [String: String], metadata: ModelFacts, sidecarPath: String?,
         sidecar: ModelFacts, flags: ModelFacts) {
        self.modelPath = modelPath
        self.rawMetadata = rawMetadata
        self.metadata = metadata
        self.sidecarPath = sidecarPath
        self.sidecar = sidecar
        self.flags = flags
    }

    public var merged: ModelFacts { flags.over(sidecar.over(metadata)) }

    /// Where the fact under `key` comes from: "flag", the sidecar's file name, "metadata", or nil.
    public func origin(_ key: String) -> String? {
        if flags.gives(key) { return "flag" }
        if sidecar.gives(key), let sidecarPath { return (sidecarPath as NSString).lastPathComponent }
        if metadata.gives(key) { return "metadata" }
        return nil
    }

    /// The sidecar this model would read when it has none (for messages).
    var sidecarSuggestion: String {
        sidecarPath.map { ($0 as NSString).lastPathComponent }
            ?? (ModelSidecar.candidates(beside: modelPath).first.map { ($0 as NSString).lastPathComponent } ?? "MODEL.json")
    }

    /// The facts that neither metadata, sidecar nor flags give and that have no honest default,
    /// each with the one line saying how to give it.
    public var missing: [(key: String, message: String)] {
        let m = merged
        let beside = sidecarSuggestion
        let searched = sidecarPath == nil ? "its metadata" : "its metadata or \(beside)"
        let sidecar = sidecarPath == nil ? "a sidecar \(beside)" : beside
        var result: [(String, String)] = []
        for (key, value) in [("mean", m.mean), ("std", m.std)] where value == nil {
            result.append((key, "model \(modelPath): no \(key) in \(searched): give --\(key) R,G,B (0-255 scale, or add --pixel-range 0-1), or `\(key)` in \(sidecar)"))
        }
        return result
    }

    /// The description the runner uses: `classCount` is the network's output channel count,
    /// `fallbackSize` the input size when no source gives one.
    public func describe(classCount: Int, fallbackSize: (height: Int, width: Int)) throws(EPRError) -> ModelDescription {
        if let first = missing.first { throw EPRError(.model, first.message) }
        let m = merged
        func from(_ key: String) -> String {
            switch origin(key) {
            case "flag": return "--" + key.replacingOccurrences(of: "_", with: "-")
            case "metadata": return "metadata `\(key)`"
            case let file?: return "\(file) `\(key)`"
            case nil: return key
            }
        }
        func fail(_ what: String) -> EPRError { EPRError(.model, "model \(modelPath): \(what)") }
        let names: [String]
        if let given = m.classNames {
            names = given
        } else {
            names = (0..<(m.classCount ?? classCount)).map { "class\($0)" }
        }
        guard names.count == classCount else {
            throw fail("output has \(classCount) channels but \(from("class_names")) gives \(names.count) classes")
        }
        var palette = m.palette ?? Self.generatedPalette(classCount)
        if m.palette != nil, palette.count != classCount {
            throw fail("\(from("palette")) has \(palette.count) colours for \(classCount) classes")
        }
        palette = Array(palette.prefix(classCount))
        let factor = (m.pixelRange ?? .full).factor
        let name = m.name ?? URL(fileURLWithPath: modelPath).deletingPathExtension().lastPathComponent
        return ModelDescription(name: name, classNames: names, palette: palette,
                                mean: m.mean!.map { $0 * factor }, std: m.std!.map { $0 * factor },
                                inputHeight: m.inputHeight ?? fallbackSize.height, inputWidth: m.inputWidth ?? fallbackSize.width,
                                voidLabel: m.voidLabel, channelOrder: m.channelOrder ?? .rgb)
    }

    /// A colour per class when no source gives one: the three channels step by different odd
    /// amounts, so any two of the first 256 classes differ in red at least.
    static func generatedPalette(_ count: Int) -> [RGB] {
        (0..<count).map { (i: Int) -> RGB in
            let r: Int = (i * 97 + 50) % 256
            let g: Int = (i * 57 + 120) % 256
            let b: Int = (i * 151 + 30) % 256
            return RGB(UInt8(r), UInt8(g), UInt8(b))
        }
    }
}
