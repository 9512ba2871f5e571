import CFFmpeg
import EPRCore
import Foundation

/// What the stats line shows for one frame.
public struct OverlayStats: Sendable, Equatable {
    public var fps: Double
    public var latencyMs: Double
    public var frameIndex: Int
    /// When the network does not run on every frame: its runs per second, and the frames since
    /// it ran on the one this frame's mask comes from.
    public var inferPerSecond: Double?
    public var maskAge = 0

    public init(fps: Double, latencyMs: Double, frameIndex: Int) {
        self.fps = fps
        self.latencyMs = latencyMs
        self.frameIndex = frameIndex
    }
}

public struct CompositorOptions: Sendable, Equatable {
    public var mode: OverlayMode = .blend
    /// Weight of the class colour in `blend` and `side-by-side`: 0 leaves the picture as it is,
    /// 1 paints pure class colours.
    public var alpha: Float = 0.5
    /// Only these classes (names or ids) are drawn and listed in the legend; nil: all.
    public var classes: [String]? = nil
    /// Replaces the model's class names and colours; nil: the model's own.
    public var palette: Palette? = nil
    public var showLegend = true
    public var showStats = true
    /// A TrueType/OpenType font; nil means `CompositorOptions.defaultFontPath`.
    public var fontPath: String? = nil

    /// DejaVu Sans Bold from Debian's `fonts-dejavu-core`.
    public static let defaultFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

    public init() {}
}

/// Draws a segmentation result onto its frame in the options' mode - class colours blended into
/// the yuv420p planes (no RGB round trip), painted opaque, outlined, or beside the original - with a
/// legend of the classes present and a stats line.
///
/// One instance serves a whole stream: it keeps the per-size label sampling maps and the
/// rendered glyphs between frames. Calls are serialised by an internal lock.
public final class Compositor: @unchecked Sendable {
    /// The model as drawn: its own palette, or the options' palette applied.
    public let model: ModelDescription
    public let options: CompositorOptions
    public let classes: ClassSelection
    public let legend: Legend

    private let blender: MaskBlender
    private var contours: ContourPainter
    private let glyphs: GlyphCache
    private let text: TextRenderer
    private var sampling: LabelSampling?
    private let lock = NSLock()

    /// Opacity of the dark box behind the legend and the stats line.
    static let backingAlpha: Float = 0.6

    static func margin(frameHeight: Int) -> Int { max(4, StatsLine.fontSize(frameHeight: frameHeight) / 2) }

    /// Loads the font; a font that cannot be loaded, an alpha outside 0...1, a palette for another
    /// number of classes or an unknown class is `.config`.
    public init(model: ModelDescription, options: CompositorOptions = CompositorOptions()) throws(EPRError) {
        guard options.alpha >= 0, options.alpha <= 1 else {
            throw EPRError(.config, "alpha must be between 0 and 1, got \(options.alpha)")
        }
        let described = try options.palette?.applied(to: model) ?? model
        self.model = described
        self.options = options
        classes = try ClassSelection(model: described, classes: options.classes)
        legend = Legend(model: described, classes: classes)
        blender = MaskBlender(palette: described.palette, classes: classes,
                              alpha: options.mode == .mask ? 1 : options.alpha)
        contours = ContourPainter(palette: described.palette, classes: classes)
        glyphs = try GlyphCache(fontPath: options.fontPath ?? CompositorOptions.defaultFontPath)
        text = TextRenderer(glyphs: glyphs)
    }

    /// Size of the frames `compose` returns for input frames of this size (side-by-side: two panels).
    public func outputSize(frameWidth: Int, frameHeight: Int) -> (width: Int, height: Int) {
        guard options.mode == .sideBySide else { return (frameWidth, frameHeight) }
        let layout = SideBySideLayout(frameWidth: frameWidth, frameHeight: frameHeight)
        return (layout.width, layout.height)
    }

    /// Draws `labels` (at network size, e.g. 360x480) onto `frame` (any size, yuv420p): upscaled
    /// nearest-neighbour, each drawn class's colour goes into Y, U and V (chroma uses the label
    /// under the centre of its 2x2 block), undrawn labels stay untouched; then the legend and the
    /// stats line as the options say. Every mode but side-by-side draws in place (the frame is made
    /// writable first) and returns `frame`; side-by-side returns a new frame with the original
    /// and the annotated copy, the legend and stats on the annotated one.
    @discardableResult
    public func compose(_ frame: VideoFrame, labels: LabelMap, stats: OverlayStats?) throws(EPRError) -> VideoFrame {
        lock.lock()
        defer { lock.unlock() }
        let avFrame = frame.avFrame
        let format = frame.pixelFormat
        guard format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P else {
            let name = av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "\(format.rawValue)"
            throw EPRError(.internalFailure, "overlay: expected a yuv420p frame, got \(name)")
        }
        guard frame.width > 0, frame.height > 0, labels.width > 0, labels.height > 0 else {
            throw EPRError(.internalFailure,
                           "overlay: empty frame (\(frame.width)x\(frame.height)) or label map (\(labels.width)x\(labels.height))")
        }
        // Side-by-side only reads the frame.
        let status = options.mode == .sideBySide ? 0 : av_frame_make_writable(avFrame)
        guard status >= 0 else {
            throw EPRError(.internalFailure, "overlay: cannot make the frame writable: \(ffmpegErrorString(status))")
        }
        guard let planes = YUVPlanes(frame: avFrame) else {
            throw EPRError(.internalFailure, "overlay: frame has no picture data")
        }

        guard options.mode == .sideBySide else {
            draw(labels, stats: stats, into: planes)
            return frame
        }
        let layout = SideBySideLayout(frameWidth: planes.width, frameHeight: planes.height)
        let out = try layout.frame(copying: frame, planes: planes)
        guard let outPlanes = YUVPlanes(frame: out.avFrame) else {
            throw EPRError(.internalFailure, "overlay: side-by-side frame has no picture data")
        }
        draw(labels, stats: stats, into: layout.annotatedPanel(of: outPlanes))
        return out
    }

    private func draw(_ labels: LabelMap, stats: OverlayStats?, into planes: YUVPlanes) {
        let current: LabelSampling
        if let s = sampling, s.matches(frameWidth: planes.width, frameHeight: planes.height,
                                       labelWidth: labels.width, labelHeight: labels.height) {
            current = s
        } else {
            current = LabelSampling(frameWidth: planes.width, frameHeight: planes.height,
                                    labelWidth: labels.width, labelHeight: labels.height)
            sampling = current
        }
        switch options.mode {
        case .blend, .mask, .sideBySide: blender.blend(planes, labels: labels, sampling: current)
        case .contours: contours.draw(planes, labels: labels, sampling: current)
        }
        if options.showLegend {
            legend.draw(legend.entries(for: labels), into: planes, text: text)
        }
        if options.showStats, let stats {
            StatsLine.draw(StatsLine.text(for: stats), into: planes, text: text)
        }
    }

    /// The same colour blend on packed 8-bit RGB (`width * height * 3` bytes), e.g. for
    /// screenshots; no legend or text.
    public func blendRGB(_ pixels: inout [UInt8], width: Int, height: Int, labels: LabelMap) {
        blender.blendRGB(&pixels, width: width, height: height, labels: labels)
    }

    /// The text the stats line shows for `stats`.
    public static func statsText(for stats: OverlayStats) -> String { StatsLine.text(for: stats) }

    /// Where the stats box (backing box and text) goes on a frame of this size.
    public func statsRect(for stats: OverlayStats, frameWidth: Int, frameHeight: Int) -> OverlayRect {
        lock.lock()
        defer { lock.unlock() }
        return StatsLine.layout(StatsLine.text(for: stats), frameHeight: frameHeight, text: text).box
            .clipped(width: frameWidth, height: frameHeight)
    }

    /// Where the legend box goes for these entries on a frame of this size (nil: no legend).
    public func legendRect(for entries: [LegendEntry], frameWidth: Int, frameHeight: Int) -> OverlayRect? {
        lock.lock()
        defer { lock.unlock() }
        return legend.layout(entries, frameWidth: frameWidth, frameHeight: frameHeight, text: text)?.box
            .clipped(width: frameWidth, height: frameHeight)
    }

    /// Glyphs rendered so far (each character and size is rendered once).
    public var cachedGlyphCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return glyphs.cachedGlyphCount
    }
}
