import ArgumentParser
import EPRCore
import EPRPipeline

/// `--model` and `--input-size`, shared by run, eval and bench.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: ONNX or OpenVINO IR (.xml). Default: the shipped CamVid EPRNet (int8 if present).")
    var model: String?

    @Option(name: .customLong("input-size"), help: "Network input HxW, multiples of 8 (default: short side 360, frame's aspect).")
    var inputSize: String?

    /// Applies the flags over `settings` (a preset's values stay where no flag is given); falls
    /// back to the shipped model when neither names one.
    func apply(to settings: inout PipelineSettings) throws(EPRError) {
        if let model { settings.modelPath = model }
        if settings.modelPath == nil { settings.modelPath = try ModelLocator.defaultModel() }
        if let inputSize {
            let size = try PipelineSettings.parseInputSize(inputSize)
            settings.inputHeight = size.height
            settings.inputWidth = size.width
        }
    }
}
