import Foundation

/// The statistics line ("24.8 fps  latency 86 ms  #123"; "... infer 8.1/s  mask age 2  #123" when
/// the network skips frames) in the top-left corner, on a dark backing box.
struct StatsLine {
    static func text(for stats: OverlayStats) -> String {
        let inference = stats.inferPerSecond.map { String(format: "  infer %.1f/s  mask age %d", $0, stats.maskAge) } ?? ""
        return String(format: "%.1f fps  latency %.0f ms", stats.fps, stats.latencyMs) + inference + "  #\(stats.frameIndex)"
    }

    /// Pixel size of the text for a frame `frameHeight` rows tall: height / 30, at least 14.
    static func fontSize(frameHeight: Int) -> Int { max(14, frameHeight / 30) }

    struct Layout {
        let box: OverlayRect
        let penX: Int
        let baseline: Int
        let fontSize: Int
    }

    static func layout(_ line: String, frameHeight: Int, text: TextRenderer) -> Layout {
        let size = fontSize(frameHeight: frameHeight)
        let metrics = text.metrics(size: size)
        let padding = max(3, size / 4)
        let margin = Compositor.margin(frameHeight: frameHeight)
        let box = OverlayRect(x: margin, y: margin, width: text.width(of: line, size: size) + 2 * padding,
                              height: metrics.height + 2 * padding)
        return Layout(box: box, penX: margin + padding, baseline: margin + padding + metrics.ascender,
                      fontSize: size)
    }

    static func draw(_ line: String, into planes: YUVPlanes, text: TextRenderer) {
        let layout = layout(line, frameHeight: planes.height, text: text)
        PixelOps.blendRect(planes, layout.box, color: .black, alpha: Compositor.backingAlpha)
        text.draw(line, size: layout.fontSize, x: layout.penX, baseline: layout.baseline,
                  luma: YUVColor.white.y, clip: layout.box, into: planes)
    }
}
