/// Lays out a single line of text with a `GlyphCache` and draws it into the luma plane, each
/// glyph's coverage used as the alpha of the text colour (chroma is left as it is: text sits on
/// a neutral dark backing box).
struct TextRenderer {
    let glyphs: GlyphCache

    /// Width of `text` at `size` pixels, from the pen advances.
    func width(of text: String, size: Int) -> Int {
        var width = 0
        for scalar in text.unicodeScalars {
            width += glyphs.glyph(scalar, size: size)?.advance ?? 0
        }
        return width
    }

    func metrics(size: Int) -> FontMetrics { glyphs.metrics(size: size) }

    /// Draws `text` with its pen starting at `x` on baseline `baseline`, clipped to `clip`
    /// (and the frame).
    func draw(_ text: String, size: Int, x: Int, baseline: Int, luma: UInt8, clip: OverlayRect,
              into planes: YUVPlanes) {
        let bounds = clip.clipped(width: planes.width, height: planes.height)
        guard bounds.width > 0, bounds.height > 0 else { return }
        let target = Int(luma)
        var pen = x
        for scalar in text.unicodeScalars {
            guard let glyph = glyphs.glyph(scalar, size: size) else { continue }
            defer { pen += glyph.advance }
            guard glyph.width > 0, glyph.rows > 0 else { continue }
            let left = pen + glyph.left, top = baseline - glyph.top
            let c0 = max(0, bounds.x - left), c1 = min(glyph.width, bounds.maxX - left)
            let r0 = max(0, bounds.y - top), r1 = min(glyph.rows, bounds.maxY - top)
            guard c0 < c1, r0 < r1 else { continue }
            glyph.coverage.withUnsafeBufferPointer { coverage in
                for r in r0..<r1 {
                    let line = planes.y + (top + r) * planes.yStride + left
                    let src = r * glyph.width
                    for c in c0..<c1 {
                        let a = Int(coverage[src + c])
                        if a == 0 { continue }
                        let old = Int(line[c])
                        line[c] = UInt8(truncatingIfNeeded: old + ((target - old) * a + (target >= old ? 127 : -127)) / 255)
                    }
                }
            }
        }
    }
}
