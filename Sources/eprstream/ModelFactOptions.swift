import ArgumentParser
import EPRCore
import EPRInference

/// Flags that say what a model's metadata does not (a network exported by another toolkit):
/// each wins over the same key in a sidecar file beside the model and in the model's metadata.
struct ModelFactOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The network's per-channel input mean, in its channel order (one number: all three). 0-255 scale unless --pixel-range 0-1.", valueName: "R,G,B"))
    var mean: String?

    @Option(help: ArgumentHelp("The network's per-channel input std, like --mean.", valueName: "R,G,B"))
    var std: String?

    @Option(name: .customLong("pixel-range"), help: ArgumentHelp("The pixel scale --mean and --std are on: 0-255 (default) or 0-1 (torchvision-style 0.485,0.456,0.406).", valueName: "0-255|0-1"))
    var pixelRange: String?

    @Flag(help: "The network's channel order: --rgb (default) or --bgr (OpenCV/Caffe-trained models).")
    var channelOrder: ChannelOrderFlag?

    @Option(name: .customLong("class-names"), help: ArgumentHelp("The classes of the network's output channels, in order, or their count (names: class0, class1, ...).", valueName: "Road,Car,...|K"))
    var classNames: String?

    enum ChannelOrderFlag: String, EnumerableFlag {
        case rgb, bgr
    }

    /// The facts these flags give; a bad value is a `.config` error naming the flag.
    func facts() throws(EPRError) -> ModelFacts {
        var values: [String: String] = [:]
        values["mean"] = mean
        values["std"] = std
        values["pixel_range"] = pixelRange
        values["channel_order"] = channelOrder?.rawValue
        values["class_names"] = classNames
        return try ModelFacts(values, kind: .config) { "--" + $0.replacingOccurrences(of: "_", with: "-") }
    }
}
