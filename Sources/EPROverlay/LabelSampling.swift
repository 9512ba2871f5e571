import EPRCore

/// Nearest-neighbour mapping from one plane of a frame to a label map of another size,
/// computed once per (frame size, label size) and reused for every frame.
///
/// A plane pixel samples the label under its centre (`LabelMap.sourceIndex`): luma pixel x sits at
/// frame position x + 0.5; a chroma sample of a 2x2 block sits at the block's centre, 2 cx + 1.
struct LabelSampling {
    struct Axis {
        /// Plane row -> label row.
        let rowMap: [Int]
        /// Label column lx covers plane columns spanStart[lx] ..< spanStart[lx + 1]
        /// (`labelWidth + 1` entries; a span is empty when the labels are wider than the plane).
        let spanStart: [Int]
    }

    let frameWidth: Int
    let frameHeight: Int
    let labelWidth: Int
    let labelHeight: Int
    let luma: Axis
    let chroma: Axis

    init(frameWidth: Int, frameHeight: Int, labelWidth: Int, labelHeight: Int) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.labelWidth = labelWidth
        self.labelHeight = labelHeight
        luma = Self.axis(planeWidth: frameWidth, planeHeight: frameHeight, step: 1,
                         frameWidth: frameWidth, frameHeight: frameHeight,
                         labelWidth: labelWidth, labelHeight: labelHeight)
        chroma = Self.axis(planeWidth: (frameWidth + 1) / 2, planeHeight: (frameHeight + 1) / 2, step: 2,
                           frameWidth: frameWidth, frameHeight: frameHeight,
                           labelWidth: labelWidth, labelHeight: labelHeight)
    }

    func matches(frameWidth fw: Int, frameHeight fh: Int, labelWidth lw: Int, labelHeight lh: Int) -> Bool {
        fw == frameWidth && fh == frameHeight && lw == labelWidth && lh == labelHeight
    }

    private static func axis(planeWidth: Int, planeHeight: Int, step: Int, frameWidth: Int, frameHeight: Int,
                             labelWidth: Int, labelHeight: Int) -> Axis {
        let rowMap = (0..<planeHeight).map {
            LabelMap.sourceIndex($0, step: step, imageSize: frameHeight, labelSize: labelHeight)
        }
        // The column map is non-decreasing, so each label column owns one contiguous span.
        var spanStart = [Int](repeating: planeWidth, count: labelWidth + 1)
        var next = 0
        for x in 0..<planeWidth {
            let lx = LabelMap.sourceIndex(x, step: step, imageSize: frameWidth, labelSize: labelWidth)
            while next <= lx {
                spanStart[next] = x
                next += 1
            }
        }
        return Axis(rowMap: rowMap, spanStart: spanStart)
    }
}
