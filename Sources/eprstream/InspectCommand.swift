import ArgumentParser
import EPRCore
import EPRInference
import EPRPipeline
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a model says about itself (inputs, outputs, metadata, classes, preprocessing) and what it lacks to run."
    )

    @Argument(help: "A shipped model's name (eprnet, eprnet-light) or an ONNX / OpenVINO IR (.xml) file.")
    var model: String

    @OptionGroup(title: "Models without metadata")
    var factOptions: ModelFactOptions

    func run() throws {
        do throws(EPRError) {
            let path = try ModelLocator.resolve(model)
            let inspection = try ModelInspection(path: path, flags: try factOptions.facts())
            print(Self.report(inspection))
            // A model that cannot run as given fails, with the first reason as the error line.
            if let first = inspection.problems.first { Terminal.fail(EPRError(.model, first)) }
        } catch {
            Terminal.fail(error)
        }
    }

    static func report(_ i: ModelInspection) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String, _ key: String? = nil) {
            var line = label.padding(toLength: 12, withPad: " ", startingAt: 0) + value
            if let key { line += "  [" + (i.sources.origin(key) ?? "default") + "]" }
            lines.append(line)
        }
        row("model", "\(i.path) (\(i.format))")
        for p in i.inputs {
            var note = ""
            if p.shape.hasPrefix("[1,3,") { note = ", layout NCHW" } else if p.shape.hasSuffix(",3]") { note = ", layout NHWC" }
            row("input", "\(p.name): \(p.elementType) \(p.shape)\(note)")
        }
        for p in i.outputs { row("output", "\(p.name): \(p.elementType) \(p.shape)") }
        let keys = i.sources.rawMetadata.keys.sorted()
        row("metadata", keys.isEmpty ? "none" : "\(keys.count) keys: \(keys.joined(separator: ", "))")
        if let sidecar = i.sources.sidecarPath {
            row("sidecar", sidecar)
        } else {
            let stem = ((i.path as NSString).lastPathComponent as NSString).deletingPathExtension
            row("sidecar", "none (\(stem).json, .yaml or .yml beside the model would be read)")
        }
        if let m = i.model {
            row("name", m.name, "model_name")
            let shown = m.classNames.count > 24 ? m.classNames.prefix(24).joined(separator: ", ") + ", ..." : m.classNames.joined(separator: ", ")
            row("classes", "\(m.classCount): \(shown)", "class_names")
            row("palette", m.palette.prefix(6).map { "\($0.r),\($0.g),\($0.b)" }.joined(separator: "; ")
                + (m.palette.count > 6 ? "; ... (\(m.palette.count) colours)" : ""),
                i.sources.origin("palette") == nil ? nil : "palette")
            if i.sources.origin("palette") == nil { lines[lines.count - 1] += "  [generated]" }
            row("void label", m.voidLabel.map(String.init) ?? "none", "void_label")
            row("channels", m.channelOrder.rawValue.uppercased(), "channel_order")
        }
        let merged = i.sources.merged
        row("pixel range", (merged.pixelRange ?? .full).rawValue, "pixel_range")
        for (key, value) in [("mean", merged.mean), ("std", merged.std)] {
            row(key, value.map { $0.map { ModelInspection.number($0) }.joined(separator: ",") } ?? "MISSING (--\(key) or `\(key)` in a sidecar)",
                value == nil ? nil : key)
        }
        var size: String
        if let h = i.staticInputHeight, let w = i.staticInputWidth {
            size = "\(h)x\(w) (static)"
        } else {
            size = "dynamic: short side 360 at the frame's aspect unless --input-size"
        }
        if let h = i.sources.sidecar.inputHeight, let w = i.sources.sidecar.inputWidth {
            size = "\(h)x\(w) (sidecar default)"
        }
        if let h = i.sources.metadata.inputHeight, let w = i.sources.metadata.inputWidth {
            size += "; trained at \(h)x\(w)"
        }
        row("input size", size)
        if let p = i.preprocessing { row("preprocess", p) }
        let missing = i.sources.missing.map(\.key)
        row("missing", missing.isEmpty ? "nothing" : missing.joined(separator: ", "))
        for problem in i.problems where !i.sources.missing.contains(where: { $0.message == problem }) {
            row("problem", problem)
        }
        row("verdict", i.problems.isEmpty ? "runs as given" : "cannot run as given (\(i.problems.count) problem\(i.problems.count == 1 ? "" : "s"))")
        return lines.joined(separator: "\n")
    }
}
