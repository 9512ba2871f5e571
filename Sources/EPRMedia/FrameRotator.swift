import CFFmpeg
import EPRCore

/// Turns stored pictures upright as the stream's display matrix asks (ffmpeg's autorotate:
/// quarter turns clockwise), so the network sees upright streets and the output needs no matrix.
/// Works on yuv420p frames and on their motion vectors.
struct FrameRotator {
    /// Clockwise quarter turns: 1 (90 degrees), 2 (180) or 3 (270).
    let quarterTurns: Int
    /// The stored picture's size.
    let storedWidth: Int
    let storedHeight: Int

    /// The clockwise rotation (degrees, 0..<360) a player applies to `stream`'s pictures, from its
    /// display matrix; 0 without one. (av_display_rotation_get answers counter-clockwise.)
    static func displayRotation(of stream: UnsafeMutablePointer<AVStream>) -> Double {
        var size: Int = 0
        guard let data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size),
              size >= 9 * MemoryLayout<Int32>.size else { return 0 }
        let ccw = data.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        guard ccw.isFinite else { return 0 }
        let clockwise = -ccw.rounded()
        return clockwise - 360 * (clockwise / 360).rounded(.down)
    }

    /// A rotator for `degrees` clockwise, nil when nothing is to be done (0) or the angle is not
    /// a quarter turn (within 1 degree, as ffmpeg decides).
    init?(degrees: Double, storedWidth: Int, storedHeight: Int) {
        let turns = (degrees / 90).rounded()
        guard abs(degrees - 90 * turns) < 1 else { return nil }
        let t = Int(turns) % 4
        guard t != 0 else { return nil }
        quarterTurns = t
        self.storedWidth = storedWidth
        self.storedHeight = storedHeight
    }

    /// Whether width and height trade places.
    var swapsSides: Bool { quarterTurns != 2 }
    var width: Int { swapsSides ? storedHeight : storedWidth }
    var height: Int { swapsSides ? storedWidth : storedHeight }

    /// A new upright yuv420p frame from `src` (yuv420p, stored size), `src`'s properties copied.
    func rotate(_ src: UnsafeMutablePointer<AVFrame>) throws(EPRError) -> UnsafeMutablePointer<AVFrame> {
        guard let dst = av_frame_alloc() else { throw EPRError(.internalFailure, "out of memory allocating a frame") }
        dst.pointee.width = Int32(width)
        dst.pointee.height = Int32(height)
        dst.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        let ret = av_frame_get_buffer(dst, 0)
        if ret < 0 {
            var d: UnsafeMutablePointer<AVFrame>? = dst
            av_frame_free(&d)
            throw EPRError(.internalFailure, "cannot allocate a rotated frame: \(ffmpegErrorString(ret))")
        }
        _ = av_frame_copy_props(dst, src)
        let chromaW = (storedWidth + 1) / 2, chromaH = (storedHeight + 1) / 2
        withPlanes(src, dst) { s, sStride, d, dStride, plane in
            let w = plane == 0 ? storedWidth : chromaW
            let h = plane == 0 ? storedHeight : chromaH
            rotatePlane(s, sStride, w, h, d, dStride)
        }
        return dst
    }

    private func withPlanes(_ src: UnsafeMutablePointer<AVFrame>, _ dst: UnsafeMutablePointer<AVFrame>,
                            _ body: (UnsafePointer<UInt8>, Int, UnsafeMutablePointer<UInt8>, Int, Int) -> Void) {
        let s = [src.pointee.data.0, src.pointee.data.1, src.pointee.data.2]
        let ss = [src.pointee.linesize.0, src.pointee.linesize.1, src.pointee.linesize.2]
        let d = [dst.pointee.data.0, dst.pointee.data.1, dst.pointee.data.2]
        let ds = [dst.pointee.linesize.0, dst.pointee.linesize.1, dst.pointee.linesize.2]
        for plane in 0..<3 {
            guard let sp = s[plane], let dp = d[plane] else { continue }
            body(UnsafePointer(sp), Int(ss[plane]), dp, Int(ds[plane]), plane)
        }
    }

    /// Rotates one w x h plane into `d` (h x w for quarter turns 1 and 3).
    private func rotatePlane(_ s: UnsafePointer<UInt8>, _ sStride: Int, _ w: Int, _ h: Int,
                             _ d: UnsafeMutablePointer<UInt8>, _ dStride: Int) {
        switch quarterTurns {
        case 1:   // upright (x', y') shows stored (y', h - 1 - x')
            for y in 0..<h {
                let row = s + y * sStride, column = h - 1 - y
                for x in 0..<w { d[x * dStride + column] = row[x] }
            }
        case 3:   // upright (x', y') shows stored (w - 1 - y', x')
            for y in 0..<h {
                let row = s + y * sStride
                for x in 0..<w { d[(w - 1 - x) * dStride + y] = row[x] }
            }
        default:  // half turn
            for y in 0..<h {
                let row = s + y * sStride, out = d + (h - 1 - y) * dStride
                for x in 0..<w { out[w - 1 - x] = row[x] }
            }
        }
    }

    /// The same vectors in the upright picture's coordinates.
    func rotate(_ motion: MotionVectors) -> MotionVectors {
        var out = motion
        let w = storedWidth, h = storedHeight
        out.blocks = motion.blocks.map { b in
            let x = Int(b.x), y = Int(b.y), bw = Int(b.width), bh = Int(b.height)
            switch quarterTurns {
            case 1: return .init(x: h - (y + bh), y: x, width: bh, height: bw, dx: -b.dy, dy: b.dx)
            case 3: return .init(x: y, y: w - (x + bw), width: bh, height: bw, dx: b.dy, dy: -b.dx)
            default: return .init(x: w - (x + bw), y: h - (y + bh), width: bw, height: bh, dx: -b.dx, dy: -b.dy)
            }
        }
        return out
    }
}
