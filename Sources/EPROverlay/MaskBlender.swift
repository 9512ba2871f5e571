import EPRCore

/// Blends a label map's class colours into a picture: out = (1 - alpha) in + alpha colour per
/// plane, in 8.8 fixed point; labels not drawn (void, unknown, filtered out) are left untouched.
struct MaskBlender {
    /// Per label value (0...255): 256 - a, or 256 (= skip) where the label is not blended.
    private let inverse: [UInt16]
    /// Per label value: colour * a + 128, for Y, U and V.
    private let addY: [UInt16]
    private let addU: [UInt16]
    private let addV: [UInt16]
    /// Per label value: whether it is blended at all.
    private let blended: [Bool]
    /// Per label value: its RGB colour (for the RGB path).
    private let rgb: [RGB]
    private let alpha: UInt16

    init(palette: [RGB], classes: ClassSelection, alpha: Float) {
        let a = PixelOps.alpha256(alpha)
        var inverse = [UInt16](repeating: 256, count: 256)
        var addY = [UInt16](repeating: 128, count: 256)
        var addU = addY, addV = addY
        var blended = [Bool](repeating: false, count: 256)
        var rgb = [RGB](repeating: RGB(0, 0, 0), count: 256)
        for label in classes.ids {
            let c = YUVColor(palette[label])
            inverse[label] = 256 - a
            addY[label] = UInt16(c.y) * a + 128
            addU[label] = UInt16(c.u) * a + 128
            addV[label] = UInt16(c.v) * a + 128
            blended[label] = a > 0
            rgb[label] = palette[label]
        }
        self.inverse = inverse
        self.addY = addY
        self.addU = addU
        self.addV = addV
        self.blended = blended
        self.rgb = rgb
        self.alpha = a
    }

    /// Blends `labels` into the planes, upscaled (or downscaled) nearest-neighbour by `sampling`.
    func blend(_ planes: YUVPlanes, labels: LabelMap, sampling: LabelSampling) {
        guard alpha > 0 else { return }
        labels.labels.withUnsafeBufferPointer { labelBuf in
            guard let labelBase = labelBuf.baseAddress else { return }
            blendPlane(planes.y, stride: planes.yStride, labels: labelBase, labelWidth: labels.width,
                       axis: sampling.luma, add: addY)
            blendPlane(planes.u, stride: planes.uStride, labels: labelBase, labelWidth: labels.width,
                       axis: sampling.chroma, add: addU)
            blendPlane(planes.v, stride: planes.vStride, labels: labelBase, labelWidth: labels.width,
                       axis: sampling.chroma, add: addV)
        }
    }

    /// A stretch of one plane row covered by one blended class.
    private struct Run {
        var start: Int
        var count: Int
        var label: Int
    }

    /// Row by row: a label row splits into runs of one class, each covering a contiguous span of
    /// the plane row, blended 16 bytes at a time. Plane rows that sample the same label row
    /// (2-3 in a row when upscaling) reuse its runs.
    private func blendPlane(_ plane: UnsafeMutablePointer<UInt8>, stride: Int,
                            labels: UnsafePointer<UInt8>, labelWidth: Int,
                            axis: LabelSampling.Axis, add: [UInt16]) {
        inverse.withUnsafeBufferPointer { inverse in
        add.withUnsafeBufferPointer { add in
        blended.withUnsafeBufferPointer { blended in
        axis.spanStart.withUnsafeBufferPointer { spanStart in
        axis.rowMap.withUnsafeBufferPointer { rowMap in
        withUnsafeTemporaryAllocation(of: Run.self, capacity: labelWidth) { runs in
            var runCount = 0
            var runsRow = -1
            for row in 0..<rowMap.count {
                let labelRow = rowMap[row]
                if labelRow != runsRow {
                    runsRow = labelRow
                    runCount = 0
                    let labelLine = labels + labelRow * labelWidth
                    var lx = 0
                    while lx < labelWidth {
                        let value = labelLine[lx]
                        var end = lx + 1
                        while end < labelWidth && labelLine[end] == value { end += 1 }
                        let label = Int(value)
                        let start = spanStart[lx], count = spanStart[end] - spanStart[lx]
                        if blended[label] && count > 0 {
                            runs[runCount] = Run(start: start, count: count, label: label)
                            runCount += 1
                        }
                        lx = end
                    }
                }
                let line = plane + row * stride
                for i in 0..<runCount {
                    let run = runs[i]
                    PixelOps.blendRun(line + run.start, count: run.count, inverse: inverse[run.label],
                                      add: add[run.label])
                }
            }
        }
        }
        }
        }
        }
        }
    }

    /// The same blend on packed RGB (3 bytes per pixel, `width * 3` bytes per row).
    func blendRGB(_ pixels: inout [UInt8], width: Int, height: Int, labels: LabelMap) {
        guard alpha > 0, width > 0, height > 0, labels.width > 0, labels.height > 0 else { return }
        precondition(pixels.count >= width * height * 3, "RGB buffer smaller than width * height * 3")
        let xMap = (0..<width).map {
            LabelMap.sourceIndex($0, imageSize: width, labelSize: labels.width)
        }
        let a = UInt16(alpha), inv = 256 - a
        for y in 0..<height {
            let ly = LabelMap.sourceIndex(y, imageSize: height, labelSize: labels.height)
            for x in 0..<width {
                let label = Int(labels.labels[ly * labels.width + xMap[x]])
                guard blended[label] else { continue }
                let c = rgb[label]
                let o = (y * width + x) * 3
                pixels[o] = UInt8((UInt16(pixels[o]) * inv + UInt16(c.r) * a + 128) >> 8)
                pixels[o + 1] = UInt8((UInt16(pixels[o + 1]) * inv + UInt16(c.g) * a + 128) >> 8)
                pixels[o + 2] = UInt8((UInt16(pixels[o + 2]) * inv + UInt16(c.b) * a + 128) >> 8)
            }
        }
    }
}
