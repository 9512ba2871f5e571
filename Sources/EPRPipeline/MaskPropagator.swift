import EPRCore

/// Carries the last network mask to later frames by the codec's motion vectors. It accumulates
/// the vectors since the inferred frame into one map (for each label pixel of the current frame,
/// where its content sat in the inferred frame, with sub-pixel precision) and samples the inferred
/// mask there (nearest label, in label space): slow motion adds up instead of rounding away
/// frame by frame, and each carried mask comes from the network's own, not from a copy of a copy.
/// Vectors refer to the latest anchor (I/P) frame, not the previous frame when B-frames sit
/// between, so the map of that anchor is kept too; in a B-pyramid the B-frames after its
/// reference B-frame refer to that one instead (told apart by decode order), so its map is kept
/// as well. Pixels no vector covers (intra blocks) and frames without vectors stay where they
/// were in the previous frame.
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
    /// The same for the reference B-frame since the anchor, with its decode order: the B-frames
    /// decoded after it refer to it (x264's `b-pyramid`).
    private var referenceB: (x: [Float], y: [Float], decodeOrder: Int)?
    /// The latest decode order among the B-frames since the anchor (a B-frame decoded before
    /// one shown ahead of it is a reference).
    private var latestBDecoded: Int?
    /// The vectors of the reference B-frame since the anchor (for a start on a B-frame after it).
    private var referenceBMotion: MotionVectors?
    /// This propagator saw the frame before (so the run of B-frames so far is known).
    private var followedPrevious = false

    public init(frameWidth: Int, frameHeight: Int) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
    }

    /// A fresh network result for the current frame (`motion`: its own vectors, which say where
    /// it sits in a run of B-frames).
    public mutating func reset(to labels: LabelMap, motion: MotionVectors? = nil) {
        start(width: labels.width, height: labels.height, motion: motion)
        attach(labels)
    }

    /// Starts following the current frame before its network result is back (`--infer-every
    /// auto`): the vectors of later frames accumulate, and `attach` then moves the result to
    /// the latest frame. Labels `width` x `height`; `motion`: the frame's own vectors. On a
    /// B-frame the frames after it refer to the anchor before it (a P-frame) or to a reference
    /// B-frame before it, so their maps are rebuilt from its vectors (and the reference B-frame's,
    /// which this propagator saw when it followed the frames before): each of their pixels is
    /// taken to sit in the started frame at itself minus the vector there.
    public mutating func start(width w: Int, height h: Int, motion: MotionVectors? = nil) {
        let knowsRun = followedPrevious && labelWidth == w && labelHeight == h
        followedPrevious = true
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
        anchorX = originX
        anchorY = originY
        referenceB = nil
        guard let motion, motion.isBidirectional, !motion.blocks.isEmpty else {
            latestBDecoded = nil
            referenceBMotion = nil
            return
        }
        // A B-frame: where the anchor's pixels (and a reference B-frame's) sit in this one.
        let order = motion.decodeOrder
        if !knowsRun {
            // Nothing known of the frames before: the B-frames after it may refer to it.
            latestBDecoded = nil
            referenceBMotion = nil
            if let order { referenceB = (originX, originY, order) }
        }
        let own = field(of: motion)
        if let order, let earlier = referenceBMotion, let refOrder = earlier.decodeOrder, refOrder < order {
            // It refers to the reference B-frame, which refers to the anchor.
            let reference = field(of: earlier)
            var bx = originX, by = originY
            Self.moveBack(&bx, &by, by: own, width: w, height: h)
            referenceB = (bx, by, refOrder)
            Self.moveBack(&anchorX, &anchorY, by: reference, width: w, height: h)
            Self.moveBack(&anchorX, &anchorY, by: own, width: w, height: h)
        } else {
            Self.moveBack(&anchorX, &anchorY, by: own, width: w, height: h)
        }
        noteBFrame(motion, order: order)
    }

    /// Records a B-frame of the run since the anchor; one decoded before a B-frame shown ahead of
    /// it is the reference of those after it (`referenceB` then holds its map).
    private mutating func noteBFrame(_ motion: MotionVectors, order: Int?) {
        guard let order else { return }
        if let latest = latestBDecoded, order < latest {
            referenceB = (originX, originY, order)
            referenceBMotion = motion
        }
        latestBDecoded = max(latestBDecoded ?? order, order)
    }

    /// The vectors as a displacement per label pixel (zero where no block covers it).
    private func field(of motion: MotionVectors) -> (dx: [Float], dy: [Float]) {
        let w = labelWidth, h = labelHeight
        var dx = [Float](repeating: 0, count: w * h), dy = dx
        let sx = Float(w) / Float(frameWidth), sy = Float(h) / Float(frameHeight)
        dx.withUnsafeMutableBufferPointer { fx in
            dy.withUnsafeMutableBufferPointer { fy in
                for block in motion.blocks {
                    let (xs, ys) = Self.labelRange(of: block, width: w, height: h, sx: sx, sy: sy)
                    for y in ys { for x in xs { fx[y * w + x] = block.dx * sx; fy[y * w + x] = block.dy * sy } }
                }
            }
        }
        return (dx, dy)
    }

    /// Positions p <- p - field(p) (nearest pixel): from a frame to the one whose vectors `field` are.
    private static func moveBack(_ px: inout [Float], _ py: inout [Float], by field: (dx: [Float], dy: [Float]),
                                 width w: Int, height h: Int) {
        let maxX = Float(w - 1), maxY = Float(h - 1)
        for i in 0..<(w * h) {
            let j = Int(min(maxY, max(0, py[i])).rounded()) * w + Int(min(maxX, max(0, px[i])).rounded())
            px[i] -= field.dx[j]
            py[i] -= field.dy[j]
        }
    }

    /// The label pixels whose centres lie in `block` (frame pixels): label pixel i's centre in the
    /// frame is (i + 0.5) * frame / label.
    private static func labelRange(of block: MotionVectors.Block, width w: Int, height h: Int,
                                   sx: Float, sy: Float) -> (Range<Int>, Range<Int>) {
        func firstLabel(_ frameCoordinate: Int, _ scale: Float, _ limit: Int) -> Int {
            max(0, min(limit, Int((Float(frameCoordinate) * scale - 0.5).rounded(.up))))
        }
        let x0 = firstLabel(Int(block.x), sx, w), x1 = firstLabel(Int(block.x) + Int(block.width), sx, w)
        let y0 = firstLabel(Int(block.y), sy, h), y1 = firstLabel(Int(block.y) + Int(block.height), sy, h)
        return (x0..<max(x0, x1), y0..<max(y0, y1))
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
        followedPrevious = true
        age += 1
        guard let motion, !motion.blocks.isEmpty else {
            becomeAnchor()   // an intra frame is an anchor
            return mask
        }
        if motion.isBidirectional, let order = motion.decodeOrder, let r = referenceB, r.decodeOrder < order {
            accumulate(motion, referenceX: r.x, referenceY: r.y)
        } else {
            accumulate(motion, referenceX: anchorX, referenceY: anchorY)
        }
        if motion.isBidirectional { noteBFrame(motion, order: motion.decodeOrder) } else { becomeAnchor() }
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

    /// This frame is one later frames refer to: an I or P frame (a B-pyramid's run ends).
    private mutating func becomeAnchor() {
        anchorX = originX
        anchorY = originY
        referenceB = nil
        latestBDecoded = nil
        referenceBMotion = nil
    }

    /// `labels` sampled at each pixel's accumulated origin (nearest label).
    private func sample(_ labels: LabelMap) -> LabelMap {
        var out = labels
        let w = labels.width, h = labels.height
        let maxX = Float(w - 1), maxY = Float(h - 1)
        labels.labels.withUnsafeBufferPointer { src in
            out.labels.withUnsafeMutableBufferPointer { dst in
                originX.withUnsafeBufferPointer { ox in
                    originY.withUnsafeBufferPointer { oy in
                        for i in 0..<(w * h) {
                            let x = Int(min(maxX, max(0, ox[i])).rounded())
                            let y = Int(min(maxY, max(0, oy[i])).rounded())
                            dst[i] = src[y * w + x]
                        }
                    }
                }
            }
        }
        return out
    }

    /// origin(p) <- reference(q) for q = p + v (the pixel's place in the reference), the fraction
    /// of q kept, for every pixel a block covers.
    private mutating func accumulate(_ motion: MotionVectors, referenceX: [Float], referenceY: [Float]) {
        let w = labelWidth, h = labelHeight
        let sx = Float(w) / Float(frameWidth), sy = Float(h) / Float(frameHeight)
        // (Writing the origins copies them first when the reference shares their storage, so
        // the reads below see the reference as it was.)
        referenceX.withUnsafeBufferPointer { rx in
            referenceY.withUnsafeBufferPointer { ry in
                originX.withUnsafeMutableBufferPointer { ox in
                    originY.withUnsafeMutableBufferPointer { oy in
                        for block in motion.blocks {
                            let (xs, ys) = Self.labelRange(of: block, width: w, height: h, sx: sx, sy: sy)
                            let dx = block.dx * sx, dy = block.dy * sy
                            for y in ys {
                                let qy = Float(y) + dy
                                let ny = min(h - 1, max(0, Int(qy.rounded())))
                                for x in xs {
                                    let qx = Float(x) + dx
                                    let nx = min(w - 1, max(0, Int(qx.rounded())))
                                    let j = ny * w + nx
                                    ox[y * w + x] = rx[j] + (qx - Float(nx))
                                    oy[y * w + x] = ry[j] + (qy - Float(ny))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
