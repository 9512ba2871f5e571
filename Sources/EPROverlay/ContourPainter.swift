import EPRCore

/// Class boundaries as thin lines: a frame pixel of a drawn class whose left, right, upper or lower
/// neighbour (labels upscaled nearest-neighbour to the frame) has another label takes its class
/// colour in Y; a chroma sample takes the colour of the first such pixel in its 2x2 block. So each
/// drawn region gets a one-pixel outline just inside its border and everything else stays as it was.
struct ContourPainter {
    private let colors: [YUVColor]
    private let classes: ClassSelection
    /// The labels upscaled to the frame, and per frame pixel its outline class (255: none);
    /// kept between frames.
    private var upscaled: [UInt8] = []
    private var outline: [UInt8] = []

    init(palette: [RGB], classes: ClassSelection) {
        var colors = [YUVColor](repeating: .black, count: 256)
        for (id, c) in palette.prefix(256).enumerated() { colors[id] = YUVColor(c) }
        self.colors = colors
        self.classes = classes
    }

    mutating func draw(_ planes: YUVPlanes, labels: LabelMap, sampling: LabelSampling) {
        let w = planes.width, h = planes.height
        upscale(labels, sampling: sampling.luma, width: w, height: h)
        if outline.count != w * h { outline = [UInt8](repeating: 255, count: w * h) }
        let drawn = classes.drawn
        upscaled.withUnsafeBufferPointer { up in
        outline.withUnsafeMutableBufferPointer { edge in
            for row in 0..<h {
                let line = planes.y + row * planes.yStride
                for x in 0..<w {
                    let i = row * w + x, label = up[i]
                    edge[i] = 255
                    guard drawn[Int(label)] else { continue }
                    let boundary = (x > 0 && up[i - 1] != label) || (x + 1 < w && up[i + 1] != label)
                        || (row > 0 && up[i - w] != label) || (row + 1 < h && up[i + w] != label)
                    guard boundary else { continue }
                    edge[i] = label
                    line[x] = colors[Int(label)].y
                }
            }
            for cy in 0..<planes.chromaHeight {
                for cx in 0..<planes.chromaWidth {
                    let x = 2 * cx, y = 2 * cy, right = x + 1 < w, below = y + 1 < h
                    var label = edge[y * w + x]
                    if label == 255 && right { label = edge[y * w + x + 1] }
                    if label == 255 && below { label = edge[(y + 1) * w + x] }
                    if label == 255 && right && below { label = edge[(y + 1) * w + x + 1] }
                    guard label != 255 else { continue }
                    planes.u[cy * planes.uStride + cx] = colors[Int(label)].u
                    planes.v[cy * planes.vStride + cx] = colors[Int(label)].v
                }
            }
        }
        }
    }

    /// Fills `upscaled` with the label under each frame pixel (the blend's luma sampling).
    private mutating func upscale(_ labels: LabelMap, sampling: LabelSampling.Axis, width w: Int, height h: Int) {
        if upscaled.count != w * h { upscaled = [UInt8](repeating: 0, count: w * h) }
        var columns = [Int](repeating: 0, count: w)
        for lx in 0..<labels.width {
            for x in sampling.spanStart[lx]..<sampling.spanStart[lx + 1] { columns[x] = lx }
        }
        labels.labels.withUnsafeBufferPointer { source in
        upscaled.withUnsafeMutableBufferPointer { target in
            for row in 0..<h {
                let from = sampling.rowMap[row] * labels.width, to = row * w
                for x in 0..<w { target[to + x] = source[from + columns[x]] }
            }
        }
        }
    }
}
