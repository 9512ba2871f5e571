import EPRCore

/// Carries the last network mask to later frames by the codec's motion vectors. It accumulates
/// the vectors since the inferred frame into one map (for each label pixel of the current frame,
/// where its content sat in the inferred frame, with sub-pixel precision) and samples the inferred
/// mask there (nearest label, in label space): slow motion adds up instead of rounding away
/// frame by frame, and each carried mask comes from the network's own, not from a copy of a copy.
/// Vectors refer to the latest anchor (I/P) frame, not the previous frame when B-frames sit
/// between, so the map of that anchor is kept too. Pixels no vector covers (intra blocks) and
/// frames without vectors stay where they were in the previous frame.
public struct MaskPropagator: Sendable {
    /// The picture the vectors are measured in.
    public let frameWidth: Int
    public let frameHeight: Int
    /// The mask for the latest frame, nil before the first network result.
    public private(set) var mask: LabelMap?
    /// Frames since the network last ran (0 = the mask is the network's own).
    public private(set) var age = 0
    private var base: LabelMap?
    /// The label map's size (0 before `start`).
    private var labelWidth = 0
    private var labelHeight = 0
    /// The label map's size (0, 0 before the first `start` or `reset`).
    var labelSize: (Int, Int) { (labelWidth, labelHeight) }
    /// Per label pixel of the current frame: its position in `base` (label pixels).
    private var originX: [Float] = []
    private var originY: [Float] = []
    /// The same for the latest anchor frame, which the next frame's vectors refer to.
    private var anchorX: [Float] = []
    private var anchorY: [Float] = []

    public init(frameWidth: Int, frameHeight: Int) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
    }

    /// A fresh network result for the current frame.
    public mutating func reset(to labels: LabelMap) {
        start(width: labels.width, height: labels.height)
        attach(labels)
    }

    /// Starts following the current frame before its network result is back (`--infer-every
    /// auto`): the vectors of later frames accumulate, and `attach` then moves the result to
    /// the latest frame. Labels `width` x `height`.
    public mutating func start(width w: Int, height h: Int) {
        base = nil
        mask = nil
        age = 0
        labelWidth = w
        labelHeight = h
        if originX.count != w * h {
            originX = [Float](repeating: 0, count: w * h)
            originY = originX
        }
        for y in 0..<h {
            for x in 0..<w {
                originX[y * w + x] = Float(x)
                originY[y * w + x] = Float(y)
            }
        }
        // (When the started frame is a B-frame, its own anchor stands in for the one before.)
        anchorX = originX
        anchorY = originY
    }

    /// The network's result for the frame `start` was called on; returns it carried to the
    /// latest frame (itself when no frame came since).
    @discardableResult
    public mutating func attach(_ labels: LabelMap) -> LabelMap {
        precondition(labels.width == labelWidth && labels.height == labelHeight, "labels of another size than started")
        base = labels
        mask = age == 0 ? labels : sample(labels)
        return mask!
    }

    /// The next frame's mask: the inferred one moved by every vector since (nil while no result
    /// is attached; the vectors still accumulate after `start`).
    @discardableResult
    public mutating func advance(by motion: MotionVectors?) -> LabelMap? {
        guard labelWidth > 0 else { return nil }
        age += 1
        guard let motion, !motion.blocks.isEmpty else {
            anchorX = originX; anchorY = originY   // an intra frame is an anchor
            return mask
        }
        accumulate(motion, width: labelWidth, height: labelHeight)
        if !motion.isBidirectional { anchorX = originX; anchorY = originY }
        guard let base else { return nil }
        mask = sample(base)
        return mask
    }

    /// `labels`, the mask of the latest frame, moved back to the frame `start` was called on: each
    /// latest-frame pixel's label written where its content sat then. The vectors point back in
    /// time, so carrying a later mask to an earlier frame inverts them by scattering instead of
    /// sampling. Pixels nothing lands on (content the later frame no longer shows) keep
    /// `fallback`'s label.
    public func carriedBack(_ labels: LabelMap, fallback: LabelMap) -> LabelMap {
        precondition(labels.width == labelWidth && labels.height == labelHeight
                     && fallback.width == labelWidth && fallback.height == labelHeight, "labels of another size than started")
        var out = fallback
        let w = labelWidth, h = labelHeight
        labels.labels.withUnsafeBufferPointer { src in
            out.labels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(w * h) {
                    let x = Int(originX[i].rounded()), y = Int(originY[i].rounded())
                    guard x >= 0, x < w, y >= 0, y < h else { continue }   // came in from outside the picture
                    dst[y * w + x] = src[i]
                }
            }
        }
        return out
    }

    /// `labels` sampled at each pixel's accumulated origin (nearest label).
    private func sample(_ labels: LabelMap) -> LabelMap {
        var out = labels
        let w = labels.width, h = labels.height
        labels.labels.withUnsafeBufferPointer { src in
            out.labels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(w * h) {
                    let x = min(w - 1, max(0, Int(originX[i].rounded())))
                    let y = min(h - 1, max(0, Int(originY[i].rounded())))
                    dst[i] = src[y * w + x]
                }
            }
        }
        return out
    }

    /// origin(p) <- anchor(q) for q = p + v (the pixel's place in the reference), the fraction of
    /// q kept, for every pixel a block covers.
    private mutating func accumulate(_ motion: MotionVectors, width w: Int, height h: Int) {
        let previousX = anchorX, previousY = anchorY
        // Label pixel i's centre in the frame is (i + 0.5) * frame / label.
        let sx = Float(w) / Float(frameWidth), sy = Float(h) / Float(frameHeight)
        func firstLabel(_ frameCoordinate: Int, _ scale: Float, _ limit: Int) -> Int {
            max(0, min(limit, Int((Float(frameCoordinate) * scale - 0.5).rounded(.up))))
        }
        for block in motion.blocks {
            let x0 = firstLabel(Int(block.x), sx, w), x1 = firstLabel(Int(block.x) + Int(block.width), sx, w)
            let y0 = firstLabel(Int(block.y), sy, h), y1 = firstLabel(Int(block.y) + Int(block.height), sy, h)
            guard x0 < x1, y0 < y1 else { continue }
            let dx = block.dx * sx, dy = block.dy * sy
            for y in y0..<y1 {
                let qy = Float(y) + dy
                let ny = min(h - 1, max(0, Int(qy.rounded())))
                for x in x0..<x1 {
                    let qx = Float(x) + dx
                    let nx = min(w - 1, max(0, Int(qx.rounded())))
                    let j = ny * w + nx
                    originX[y * w + x] = previousX[j] + (qx - Float(nx))
                    originY[y * w + x] = previousY[j] + (qy - Float(ny))
                }
            }
        }
    }
}
