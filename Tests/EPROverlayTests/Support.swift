import CFFmpeg
import EPRCore
import EPROverlay
import Foundation

/// CamVid's 11 classes plus void, as the shipped model describes them.
let camVid = ModelDescription(
    name: "test-camvid",
    classNames: ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                 "Pedestrian", "Bicyclist", "void"],
    palette: [RGB(128, 128, 128), RGB(128, 0, 0), RGB(192, 192, 128), RGB(128, 64, 128), RGB(60, 40, 222),
              RGB(128, 128, 0), RGB(192, 128, 128), RGB(64, 64, 128), RGB(64, 0, 128), RGB(64, 64, 0),
              RGB(0, 128, 192), RGB(0, 0, 0)],
    mean: [0, 0, 0], std: [1, 1, 1], inputHeight: 360, inputWidth: 480, voidLabel: 11)

let void: UInt8 = 11

func options(alpha: Float = 0.5, legend: Bool = false, stats: Bool = false) -> CompositorOptions {
    var o = CompositorOptions()
    o.alpha = alpha
    o.showLegend = legend
    o.showStats = stats
    return o
}

/// A yuv420p frame whose planes are filled by the closures (luma x, y; chroma cx, cy).
func makeFrame(width: Int, height: Int,
               y: (Int, Int) -> UInt8 = { _, _ in 100 },
               u: (Int, Int) -> UInt8 = { _, _ in 120 },
               v: (Int, Int) -> UInt8 = { _, _ in 140 }) -> VideoFrame {
    let frame = av_frame_alloc()!
    frame.pointee.width = Int32(width)
    frame.pointee.height = Int32(height)
    frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
    precondition(av_frame_get_buffer(frame, 0) >= 0)
    let image = Planes(frame)
    for row in 0..<height { for col in 0..<width { image.y[row * image.yStride + col] = y(col, row) } }
    for row in 0..<(height + 1) / 2 {
        for col in 0..<(width + 1) / 2 {
            image.u[row * image.uStride + col] = u(col, row)
            image.v[row * image.vStride + col] = v(col, row)
        }
    }
    return VideoFrame(taking: frame, sequence: 0, pts: 0, timeBase: AVRational(num: 1, den: 25), duration: 1)
}

struct Planes {
    let y, u, v: UnsafeMutablePointer<UInt8>
    let yStride, uStride, vStride: Int
    init(_ frame: UnsafeMutablePointer<AVFrame>) {
        y = frame.pointee.data.0!
        u = frame.pointee.data.1!
        v = frame.pointee.data.2!
        yStride = Int(frame.pointee.linesize.0)
        uStride = Int(frame.pointee.linesize.1)
        vStride = Int(frame.pointee.linesize.2)
    }
}

/// A copy of a frame's three planes, tightly packed, for before/after comparisons.
struct Snapshot: Equatable {
    let width, height: Int
    var y: [UInt8], u: [UInt8], v: [UInt8]

    init(_ frame: VideoFrame) {
        width = frame.width
        height = frame.height
        let p = Planes(frame.avFrame)
        let w = frame.width, h = frame.height, cw = (w + 1) / 2, ch = (h + 1) / 2
        y = (0..<h).flatMap { r in (0..<w).map { p.y[r * p.yStride + $0] } }
        u = (0..<ch).flatMap { r in (0..<cw).map { p.u[r * p.uStride + $0] } }
        v = (0..<ch).flatMap { r in (0..<cw).map { p.v[r * p.vStride + $0] } }
    }

    var chromaWidth: Int { (width + 1) / 2 }
    func Y(_ x: Int, _ yy: Int) -> Int { Int(y[yy * width + x]) }
    func U(_ x: Int, _ yy: Int) -> Int { Int(u[yy * chromaWidth + x]) }
    func V(_ x: Int, _ yy: Int) -> Int { Int(v[yy * chromaWidth + x]) }
}

/// BT.601 limited range, straight from the formula.
func bt601(_ c: RGB) -> (y: Double, u: Double, v: Double) {
    let r = Double(c.r), g = Double(c.g), b = Double(c.b)
    return (16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
            128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255,
            128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255)
}

func mix(_ original: Int, _ colour: Double, _ alpha: Double) -> Double {
    (1 - alpha) * Double(original) + alpha * colour
}

func near(_ value: Int, _ expected: Double, tolerance: Double = 1) -> Bool {
    abs(Double(value) - expected) <= tolerance
}

func labelMap(width: Int, height: Int, _ label: (Int, Int) -> UInt8) -> LabelMap {
    var map = LabelMap(width: width, height: height, filledWith: void)
    for row in 0..<height { for col in 0..<width { map[col, row] = label(col, row) } }
    return map
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("epr-overlay-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
