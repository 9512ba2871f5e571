import CFFmpeg
import EPRCore

/// Converts a decoded frame (or an RGB image of another size) to packed RGB24 at the network size
/// with swscale, as the host path always did: SWS_BILINEAR (like training's PIL bilinear resize it
/// widens the filter when downscaling; CamVid at its native 360x480 needs no resize, so the RGB
/// path is then exact). SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT together (either alone does nothing
/// measurable) raise agreement of yuv420p frames with the training toolchain's label maps from
/// ~98.5% to ~99.6% of pixels, for ~1 ms more per 960x540 frame (2.6 -> 3.8 ms). The colour matrix
/// follows the frame's tags (BT.709 or BT.601, limited or full range).
final class RGBConverter {
    let width: Int
    let height: Int
    /// The converted picture: height rows of `stride` bytes, valid until the next conversion.
    let rgb: UnsafeMutablePointer<UInt8>
    let stride: Int
    private var sws: OpaquePointer?
    private var swsKey: (Int32, Int32, Int32, Int32, Int32) = (0, 0, -1, -1, -1)

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        stride = (width * 3 + 63) & ~63
        rgb = .allocate(capacity: stride * height + 64)
    }

    deinit {
        sws_freeContext(sws)
        rgb.deallocate()
    }

    /// Scales and converts `frame` (any pixel format swscale reads; normally yuv420p) into `rgb`.
    func convert(_ frame: VideoFrame) throws(EPRError) {
        let f = frame.avFrame.pointee
        guard f.width > 0, f.height > 0, f.format >= 0 else {
            throw EPRError(.input, "frame \(frame.sequence) has no picture")
        }
        // Colour matrix: BT.709 when tagged so (HD dashcams), otherwise swscale's BT.601 default;
        // full range for JPEG-range frames.
        let fmt = AVPixelFormat(rawValue: f.format)
        let full: Int32 = (f.color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P
                           || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P) ? 1 : 0
        let matrix: Int32 = f.colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT
        try prepare(srcW: f.width, srcH: f.height, format: fmt, matrix: matrix, fullRange: full)
        let src: [UnsafePointer<UInt8>?] = [UnsafePointer(f.data.0), UnsafePointer(f.data.1),
                                           UnsafePointer(f.data.2), UnsafePointer(f.data.3)]
        let srcStride: [Int32] = [f.linesize.0, f.linesize.1, f.linesize.2, f.linesize.3]
        try scale(src, srcStride, srcH: f.height)
    }

    /// Resamples a packed RGB24 image of another size into `rgb`.
    func convert(rgb image: UnsafePointer<UInt8>, width w: Int, height h: Int, stride rowBytes: Int) throws(EPRError) {
        try prepare(srcW: Int32(w), srcH: Int32(h), format: AV_PIX_FMT_RGB24, matrix: SWS_CS_DEFAULT, fullRange: 1)
        try scale([image, nil, nil, nil], [Int32(rowBytes), 0, 0, 0], srcH: Int32(h))
    }

    private func prepare(srcW: Int32, srcH: Int32, format: AVPixelFormat, matrix: Int32, fullRange: Int32) throws(EPRError) {
        let key = (srcW, srcH, format.rawValue, matrix, fullRange)
        if sws != nil && key == swsKey { return }
        sws = sws_getCachedContext(sws, srcW, srcH, format, Int32(width), Int32(height), AV_PIX_FMT_RGB24,
                                   SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nil, nil, nil)
        guard sws != nil else {
            let name = av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "\(format.rawValue)"
            throw EPRError(.input, "cannot convert \(srcW)x\(srcH) \(name) frames to RGB")
        }
        let table = sws_getCoefficients(matrix)
        // Output RGB is full range; the source range as tagged.
        _ = sws_setColorspaceDetails(sws, table, fullRange, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16)
        swsKey = key
    }

    private func scale(_ src: [UnsafePointer<UInt8>?], _ srcStride: [Int32], srcH: Int32) throws(EPRError) {
        let dst: [UnsafeMutablePointer<UInt8>?] = [rgb, nil, nil, nil]
        let dstStride: [Int32] = [Int32(stride), 0, 0, 0]
        let rows = sws_scale(sws, src, srcStride, 0, srcH, dst, dstStride)
        guard rows == Int32(height) else {
            throw EPRError(.internalFailure, "swscale produced \(rows) rows instead of \(height)")
        }
    }
}

/// Copies packed rows of `rowBytes` from a strided picture into a contiguous tensor.
func copyRows(_ source: UnsafePointer<UInt8>, stride: Int, rowBytes: Int, rows: Int, into destination: UnsafeMutableRawPointer) {
    if stride == rowBytes {
        destination.copyMemory(from: source, byteCount: rowBytes * rows)
        return
    }
    for y in 0..<rows {
        (destination + y * rowBytes).copyMemory(from: source + y * stride, byteCount: rowBytes)
    }
}

/// Feeds a decoded frame to a graph that takes I420 planes: at the compiled size the three planes
/// are copied (FFmpeg pads its rows; the tensors are contiguous). Only frames the graph converts
/// as the host path would are taken: yuv420p, limited range, not tagged BT.709 (the graph's
/// conversion is BT.601 limited range, swscale's default).
enum I420Planes {
    static func accepts(_ frame: VideoFrame) -> Bool {
        let f = frame.avFrame.pointee
        return f.format == AV_PIX_FMT_YUV420P.rawValue && fits(width: Int(f.width), height: Int(f.height))
            && f.color_range != AVCOL_RANGE_JPEG && f.colorspace != AVCOL_SPC_BT709
            && f.data.0 != nil && f.data.1 != nil && f.data.2 != nil
    }

    /// Even width and height: what the graph's I420 input needs.
    static func fits(width: Int, height: Int) -> Bool {
        width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0
    }

    static func copy(_ frame: VideoFrame, into planes: [UnsafeMutableRawPointer]) {
        let f = frame.avFrame.pointee
        let w = Int(f.width), h = Int(f.height)
        copyRows(f.data.0!, stride: Int(f.linesize.0), rowBytes: w, rows: h, into: planes[0])
        copyRows(f.data.1!, stride: Int(f.linesize.1), rowBytes: w / 2, rows: h / 2, into: planes[1])
        copyRows(f.data.2!, stride: Int(f.linesize.2), rowBytes: w / 2, rows: h / 2, into: planes[2])
    }
}

/// Resizes a yuv420p frame's planes straight into an I420 input of another size (swscale,
/// SWS_BILINEAR: widened for downscaling, like the host path's resize). Cheaper than the graph's
/// own resize: OpenVINO's Interpolate on the converted 960x540 RGB cost ~9 ms a frame here, more
/// than the whole host path (~5.6 ms).
final class I420Resizer {
    let width: Int
    let height: Int
    private var sws: OpaquePointer?

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    deinit { sws_freeContext(sws) }

    func resize(_ frame: VideoFrame, into planes: [UnsafeMutableRawPointer]) throws(EPRError) {
        let f = frame.avFrame.pointee
        sws = sws_getCachedContext(sws, f.width, f.height, AV_PIX_FMT_YUV420P, Int32(width), Int32(height),
                                   AV_PIX_FMT_YUV420P, SWS_BILINEAR | SWS_ACCURATE_RND, nil, nil, nil)
        guard sws != nil else { throw EPRError(.input, "cannot resize \(f.width)x\(f.height) yuv420p frames") }
        let src: [UnsafePointer<UInt8>?] = [UnsafePointer(f.data.0), UnsafePointer(f.data.1), UnsafePointer(f.data.2), nil]
        let srcStride: [Int32] = [f.linesize.0, f.linesize.1, f.linesize.2, 0]
        let dst: [UnsafeMutablePointer<UInt8>?] = planes.map { $0.assumingMemoryBound(to: UInt8.self) } + [nil]
        let dstStride: [Int32] = [Int32(width), Int32(width / 2), Int32(width / 2), 0]
        let rows = sws_scale(sws, src, srcStride, 0, f.height, dst, dstStride)
        guard rows == Int32(height) else {
            throw EPRError(.internalFailure, "swscale produced \(rows) rows instead of \(height)")
        }
    }
}

/// The host path (`Preprocessing.host`, the way before the graph did it): RGB24 from swscale, then
/// one pass normalises (x - mean) / std per channel through a 256-entry table per channel
/// (bit-identical to training's float32 arithmetic) into the three contiguous channel planes,
/// in the network's channel order (BGR networks get the blue plane first).
public final class Preprocessor {
    public let width: Int
    public let height: Int
    /// lut[c * 256 + v] = (Float(v) - mean[c]) / std[c] for network channel c, computed as numpy does in float32.
    private var lut: [Float]
    /// The RGB24 byte that feeds network channel 0, 1, 2.
    private let source: (Int, Int, Int)
    private let converter: RGBConverter

    /// `mean` and `std` on the 0-255 scale, in the network's channel order `order`.
    public init(width: Int, height: Int, mean: [Float], std: [Float], order: ChannelOrder = .rgb) {
        precondition(mean.count == 3 && std.count == 3)
        self.width = width
        self.height = height
        source = order == .bgr ? (2, 1, 0) : (0, 1, 2)
        lut = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { lut[c * 256 + v] = (Float(v) - mean[c]) / std[c] }
        }
        converter = RGBConverter(width: width, height: height)
    }

    /// Scales and converts `frame` and writes the normalised tensor to `output` (3 * height * width floats).
    public func run(_ frame: VideoFrame, into output: UnsafeMutablePointer<Float>) throws(EPRError) {
        try converter.convert(frame)
        normalise(converter.rgb, stride: converter.stride, into: output)
    }

    /// Same for a packed RGB24 image (`stride` bytes per row, default width * 3). At the network
    /// size no resampling happens: the tensor is exactly what training computes from the image.
    public func run(rgb image: UnsafePointer<UInt8>, width w: Int, height h: Int, stride: Int? = nil,
                    into output: UnsafeMutablePointer<Float>) throws(EPRError) {
        let rowBytes = stride ?? w * 3
        if w == width && h == height {
            normalise(image, stride: rowBytes, into: output)
            return
        }
        try converter.convert(rgb: image, width: w, height: h, stride: rowBytes)
        normalise(converter.rgb, stride: converter.stride, into: output)
    }

    /// One pass: three table look-ups per pixel, written to the three channel planes.
    private func normalise(_ image: UnsafePointer<UInt8>, stride: Int, into output: UnsafeMutablePointer<Float>) {
        let plane = width * height
        let w = width
        let (s0, s1, s2) = source
        lut.withUnsafeBufferPointer { t in
            let lr = t.baseAddress!, lg = lr + 256, lb = lr + 512
            for y in 0..<height {
                let row = image + y * stride
                let r = output + y * w, g = r + plane, b = g + plane
                for x in 0..<w {
                    let p = row + 3 * x
                    r[x] = lr[Int(p[s0])]
                    g[x] = lg[Int(p[s1])]
                    b[x] = lb[Int(p[s2])]
                }
            }
        }
    }
}

/// Per-pixel argmax over `classes` contiguous planes of `count` scores; ties keep the lower class
/// (as torch.argmax does). One pass over the scores, 16 pixels at a time, with no scratch buffer.
public func argmax(_ scores: UnsafePointer<Float>, classes: Int, count: Int, into labels: UnsafeMutablePointer<UInt8>) {
    if classes < 2 || count <= 0 {
        labels.update(repeating: 0, count: max(count, 0))
        return
    }
    let raw = UnsafeRawPointer(scores)
    let planeBytes = count * MemoryLayout<Float>.stride
    var i = 0
    while i + 16 <= count {
        let offset = i * MemoryLayout<Float>.stride
        var best = raw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        var index = SIMD16<Int32>(repeating: 0)
        var k = 1
        while k < classes {
            let v = raw.loadUnaligned(fromByteOffset: k * planeBytes + offset, as: SIMD16<Float>.self)
            let greater = v .> best
            best.replace(with: v, where: greater)
            index.replace(with: Int32(k), where: greater)
            k += 1
        }
        UnsafeMutableRawPointer(labels + i).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: index),
                                                       as: SIMD16<UInt8>.self)
        i += 16
    }
    while i < count {
        var best = scores[i]
        var label = 0
        for k in 1..<classes where scores[k * count + i] > best {
            best = scores[k * count + i]
            label = k
        }
        labels[i] = UInt8(truncatingIfNeeded: label)
        i += 1
    }
}
