import EPRCore
import Foundation

/// What a model says about itself and what it lacks, without compiling it (`eprstream inspect`):
/// its inputs and outputs, its metadata, its sidecar, the flags given, the description these
/// make, and every reason it cannot run as given.
public struct ModelInspection: Sendable {
    public let path: String
    /// "ONNX" or "OpenVINO IR".
    public let format: String
    public let inputs: [ModelPort]
    public let outputs: [ModelPort]
    public let sources: ModelSources
    /// The network's static input size, nil when H and W are dynamic (or the shape is unusable).
    public let staticInputHeight: Int?
    public let staticInputWidth: Int?
    /// The description `run` would use; when facts are missing, the rest of it (mean and std 0, 1).
    public let model: ModelDescription?
    /// Why it cannot run as given, one line each (shape problems, missing facts); empty: it runs.
    public let problems: [String]

    /// Throws only when the file is no model at all (missing, unreadable, not ONNX or IR).
    public init(path: String, flags: ModelFacts = ModelFacts()) throws(EPRError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw EPRError(.model, "model \(path): file not found")
        }
        self.path = path
        format = path.lowercased().hasSuffix(".xml") ? "OpenVINO IR" : "ONNX"
        sources = try ModelSources(modelPath: path, flags: flags)
        let engine = try OpenVINOEngine(path: path, core: OpenVINOCore())
        (inputs, outputs) = try engine.ports()
        var problems: [String] = []
        var shapes: ModelShapes?
        do throws(EPRError) { shapes = try engine.shapes() } catch { problems.append(error.message) }
        staticInputHeight = shapes?.inputStatic?.height
        staticInputWidth = shapes?.inputStatic?.width
        problems += sources.missing.map(\.message)
        var described: ModelDescription?
        if let shapes {
            // Placeholders where mean/std are missing, so the rest can still be shown and checked.
            var filler = ModelFacts()
            filler.mean = [0, 0, 0]
            filler.std = [1, 1, 1]
            let filled = sources.withFlags(sources.flags.over(filler))
            do throws(EPRError) {
                described = try filled.describe(classCount: shapes.classCount, fallbackSize: shapes.inputStatic ?? (0, 0))
            } catch {
                problems.append(error.message)
            }
        }
        model = described
        self.problems = problems
    }

    /// The normalisation `run` applies, in words.
    public var preprocessing: String? {
        guard let model, sources.missing.isEmpty else { return nil }
        let order = model.channelOrder.rawValue.uppercased()
        let m = sources.merged
        let range = m.pixelRange ?? .full
        let pixel = range == .unit ? "pixel / 255" : "pixel"
        func list(_ v: [Float]) -> String { v.map { Self.number($0) }.joined(separator: ",") }
        return "frame -> \(order) planes, x = (\(pixel) - [\(list(m.mean!))]) / [\(list(m.std!))] per channel, f32 NCHW"
    }

    public static func number(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(v)
    }
}

extension ModelSources {
    /// The same sources with other flags.
    func withFlags(_ flags: ModelFacts) -> ModelSources {
        ModelSources(modelPath: modelPath, rawMetadata: rawMetadata, metadata: metadata, sidecarPath: sidecarPath,
                     sidecar: sidecar, flags: flags)
    }
}
