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

    /// Nearest-neighbour sampling shared by the overlay and the evaluator: pixel `p` of a plane
    /// subsampled by `step` (1 = full resolution, 2 = 4:2:0 chroma) of an image `imageSize` wide
    /// takes the label under its centre, (p + 0.5) * step, i.e.
    /// floor((2p + 1) * step * labelSize / (2 * imageSize)), clamped to the map.
    public static func sourceIndex(_ p: Int, step: Int = 1, imageSize: Int, labelSize: Int) -> Int {
        min(labelSize - 1, ((2 * p + 1) * step * labelSize) / (2 * imageSize))
    }

    /// This map sampled at `width` x `height` by `sourceIndex` (itself when the size is equal).
    public func resized(width newWidth: Int, height newHeight: Int) -> LabelMap {
        if newWidth == width && newHeight == height { return self }
        var out = LabelMap(width: newWidth, height: newHeight)
        let xs = (0..<newWidth).map { LabelMap.sourceIndex($0, imageSize: newWidth, labelSize: width) }
        for y in 0..<newHeight {
            let row = LabelMap.sourceIndex(y, imageSize: newHeight, labelSize: height) * width
            for x in 0..<newWidth { out.labels[y * newWidth + x] = labels[row + xs[x]] }
        }
        return out
    }
}
