/// An RGB colour, 8 bits per channel.
public struct RGB: Sendable, Equatable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
}

/// What a segmentation model says about itself: class names, their colours, the normalisation
/// its training used and its default input size. Read from the model file's metadata
/// (see Training/README.md for the keys), or a sidecar file and flags for models without it, so
/// nothing here is hard-coded per model.
public struct ModelDescription: Sendable, Equatable {
    public var name: String
    public var classNames: [String]
    public var palette: [RGB]
    /// Per-channel mean and standard deviation on the 0-255 scale, in the network's channel order
    /// (a model trained on 0-1 pixels has its values scaled by 255 when it is described).
    public var mean: [Float]
    public var std: [Float]
    /// The order of the network's three input channels.
    public var channelOrder: ChannelOrder
    /// Default network input (height, width).
    public var inputHeight: Int
    public var inputWidth: Int
    /// Label ignored in metrics and left unblended in the overlay (CamVid: 11).
    public var voidLabel: Int?

    public init(name: String, classNames: [String], palette: [RGB], mean: [Float], std: [Float],
                inputHeight: Int, inputWidth: Int, voidLabel: Int?, channelOrder: ChannelOrder = .rgb) {
        self.name = name
        self.classNames = classNames
        self.palette = palette
        self.mean = mean
        self.std = std
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.voidLabel = voidLabel
        self.channelOrder = channelOrder
    }

    public var classCount: Int { classNames.count }
}

/// The order of a network's colour channels: RGB (PyTorch, torchvision, this project's training)
/// or BGR (OpenCV- and Caffe-trained models).
public enum ChannelOrder: String, Sendable, Equatable, CaseIterable {
    case rgb, bgr
}
