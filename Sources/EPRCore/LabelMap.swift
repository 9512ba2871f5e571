/// A per-pixel class map (row-major, one byte per pixel: the class id), as the runner's argmax
/// produces it at the network's input size.
public struct LabelMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var labels: [UInt8]

    public init(width: Int, height: Int, labels: [UInt8]) {
        precondition(labels.count == width * height, "label count must equal width * height")
        self.width = width
        self.height = height
        self.labels = labels
    }

    public init(width: Int, height: Int, filledWith value: UInt8 = 0) {
        self.init(width: width, height: height, labels: [UInt8](repeating: value, count: width * height))
    }

    public subscript(x: Int, y: Int) -> UInt8 {
        get { labels[y * width + x] }
        set { labels[y * width + x] = newValue }
    }
}
