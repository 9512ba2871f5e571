import ArgumentParser
import EPRCore
import EPRPipeline

/// `--model`, `--input-size`, `--preprocess` and the model facts (`--mean`, ...), shared by run,
/// eval and bench.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: a shipped one by name (eprnet, eprnet-light; int8 when present) or an ONNX / OpenVINO IR (.xml) file. Default: eprnet.")
    var model: String?

    @Option(name: .customLong("input-size"), help: "Network input HxW, multiples of 8 (default: short side 360, frame's aspect).")
    var inputSize: String?

    @Option(help: "Where frames become the network's input: graph (in the compiled model, the default) or host (swscale + a Swift loop, the earlier path, for comparison).")
    var preprocess: String?

    @OptionGroup(title: "Models without metadata")
    var factOptions: ModelFactOptions

    /// Applies the flags over `settings` (a preset's values stay where no flag is given); falls
    /// back to the shipped model when neither names one.
    func apply(to settings: inout PipelineSettings) throws(EPRError) {
        if let model { settings.modelPath = model }
        settings.modelPath = try ModelLocator.resolve(settings.modelPath)
        if let inputSize {
            let size = try PipelineSettings.parseInputSize(inputSize)
            settings.inputHeight = size.height
            settings.inputWidth = size.width
        }
        settings.modelFacts = try factOptions.facts()
        if let preprocess { settings.preprocessing = try PipelineSettings.parsePreprocessing(preprocess, key: "--preprocess") }
    }
}
