import CFFmpeg

/// Writable views of a yuv420p picture's three planes. Borrowed pointers: valid only while the
/// frame they come from is alive and not reallocated.
struct YUVPlanes {
    let y: UnsafeMutablePointer<UInt8>
    let u: UnsafeMutablePointer<UInt8>
    let v: UnsafeMutablePointer<UInt8>
    let yStride: Int
    let uStride: Int
    let vStride: Int
    let width: Int
    let height: Int

    var chromaWidth: Int { (width + 1) / 2 }
    var chromaHeight: Int { (height + 1) / 2 }

    /// The planes of a yuv420p `AVFrame` (the caller has checked the format and made it writable).
    init?(frame: UnsafeMutablePointer<AVFrame>) {
        guard let y = frame.pointee.data.0, let u = frame.pointee.data.1, let v = frame.pointee.data.2
        else { return nil }
        self.y = y
        self.u = u
        self.v = v
        yStride = Int(frame.pointee.linesize.0)
        uStride = Int(frame.pointee.linesize.1)
        vStride = Int(frame.pointee.linesize.2)
        width = Int(frame.pointee.width)
        height = Int(frame.pointee.height)
    }

    private init(y: UnsafeMutablePointer<UInt8>, u: UnsafeMutablePointer<UInt8>, v: UnsafeMutablePointer<UInt8>,
                 yStride: Int, uStride: Int, vStride: Int, width: Int, height: Int) {
        self.y = y
        self.u = u
        self.v = v
        self.yStride = yStride
        self.uStride = uStride
        self.vStride = vStride
        self.width = width
        self.height = height
    }

    /// The `width` x `height` part at (`x`, `y`), both even so chroma blocks line up; drawing into
    /// it stays inside it.
    func region(x: Int, y top: Int, width: Int, height: Int) -> YUVPlanes {
        precondition(x % 2 == 0 && top % 2 == 0, "a region must start on a chroma block")
        return YUVPlanes(y: y + top * yStride + x, u: u + top / 2 * uStride + x / 2, v: v + top / 2 * vStride + x / 2,
                         yStride: yStride, uStride: uStride, vStride: vStride, width: width, height: height)
    }

    /// Copies `source`'s pixels (same size) into these planes.
    func copy(from source: YUVPlanes) {
        precondition(source.width == width && source.height == height, "copying between different sizes")
        for row in 0..<height { (y + row * yStride).update(from: source.y + row * source.yStride, count: width) }
        for row in 0..<chromaHeight {
            (u + row * uStride).update(from: source.u + row * source.uStride, count: chromaWidth)
            (v + row * vStride).update(from: source.v + row * source.vStride, count: chromaWidth)
        }
    }
}

/// An axis-aligned rectangle in frame (luma) pixels.
public struct OverlayRect: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }

    public func contains(x px: Int, y py: Int) -> Bool {
        px >= x && px < maxX && py >= y && py < maxY
    }

    /// This rectangle clipped to `0..<width, 0..<height`.
    func clipped(width w: Int, height h: Int) -> OverlayRect {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(w, maxX), y1 = min(h, maxY)
        return OverlayRect(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }
}

/// The pixel primitives every drawing type shares: a run of bytes moved towards a constant.
enum PixelOps {
    /// Fixed-point alpha: 0...256.
    static func alpha256(_ alpha: Float) -> UInt16 {
        UInt16(min(256, max(0, (alpha * 256).rounded())))
    }

    /// `p[i] = (p[i] * (256 - a) + c * a + 128) >> 8` for `count` bytes, where `inverse = 256 - a`
    /// and `add = c * a + 128` (at most 65408, so everything fits 16 bits), 16 bytes at a time.
    @inline(__always)
    static func blendRun(_ p: UnsafeMutablePointer<UInt8>, count: Int, inverse: UInt16, add: UInt16) {
        var i = 0
        if count >= 16 {
            let vInverse = SIMD16<UInt16>(repeating: inverse)
            let vAdd = SIMD16<UInt16>(repeating: add)
            let raw = UnsafeMutableRawPointer(p)
            while i + 16 <= count {
                let bytes = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                let wide = SIMD16<UInt16>(truncatingIfNeeded: bytes)
                let mixed = (wide &* vInverse &+ vAdd) &>> 8
                raw.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: mixed), toByteOffset: i,
                               as: SIMD16<UInt8>.self)
                i += 16
            }
        }
        while i < count {
            p[i] = UInt8(truncatingIfNeeded: (UInt16(p[i]) &* inverse &+ add) &>> 8)
            i += 1
        }
    }

    /// Blends `color` with `alpha` (0...1) over `rect` in all three planes; chroma covers the
    /// 2x2 blocks the rectangle touches.
    static func blendRect(_ planes: YUVPlanes, _ rect: OverlayRect, color: YUVColor, alpha: Float) {
        let r = rect.clipped(width: planes.width, height: planes.height)
        guard r.width > 0, r.height > 0 else { return }
        let a = alpha256(alpha)
        let inverse = 256 - a
        let addY = UInt16(color.y) * a + 128
        for row in r.y..<r.maxY {
            blendRun(planes.y + row * planes.yStride + r.x, count: r.width, inverse: inverse, add: addY)
        }
        let cx0 = r.x / 2, cx1 = (r.maxX + 1) / 2
        let cy0 = r.y / 2, cy1 = (r.maxY + 1) / 2
        let addU = UInt16(color.u) * a + 128
        let addV = UInt16(color.v) * a + 128
        for row in cy0..<cy1 {
            blendRun(planes.u + row * planes.uStride + cx0, count: cx1 - cx0, inverse: inverse, add: addU)
            blendRun(planes.v + row * planes.vStride + cx0, count: cx1 - cx0, inverse: inverse, add: addV)
        }
    }
}
