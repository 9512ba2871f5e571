import CFreeType
import EPRCore

/// One rendered glyph: an 8-bit coverage bitmap plus where it sits relative to the pen.
struct Glyph {
    let width: Int
    let rows: Int
    /// Offset from the pen position to the bitmap's left edge.
    let left: Int
    /// Distance from the baseline up to the bitmap's top row.
    let top: Int
    /// Pen advance in pixels.
    let advance: Int
    /// `rows * width` coverage values, 0...255, row-major.
    let coverage: [UInt8]
}

/// Vertical metrics of the font at one pixel size.
struct FontMetrics {
    let ascender: Int
    let descender: Int   // positive: pixels below the baseline
    var height: Int { ascender + descender }
}

/// Loads a font with FreeType and renders anti-aliased glyphs on demand, caching each
/// (character, pixel size) so a steady stream of frames renders every glyph once.
/// Not thread-safe: its owner serialises access.
final class GlyphCache {
    private struct Key: Hashable {
        let scalar: UInt32
        let size: Int
    }

    private var library: FT_Library?
    private var face: FT_Face?
    private var currentSize = 0
    private var glyphs: [Key: Glyph] = [:]
    private var metricsBySize: [Int: FontMetrics] = [:]

    let fontPath: String

    init(fontPath: String) throws(EPRError) {
        self.fontPath = fontPath
        var library: FT_Library?
        guard FT_Init_FreeType(&library) == 0, let library else {
            throw EPRError(.internalFailure, "overlay: FreeType failed to initialise")
        }
        self.library = library
        var face: FT_Face?
        let status = FT_New_Face(library, fontPath, 0, &face)
        guard status == 0, let face else {
            FT_Done_FreeType(library)
            self.library = nil
            throw EPRError(.config, "cannot load font '\(fontPath)' (FreeType error \(status))")
        }
        self.face = face
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    private func select(size: Int) -> FT_Face? {
        guard let face else { return nil }
        if size != currentSize {
            guard FT_Set_Pixel_Sizes(face, 0, FT_UInt(size)) == 0 else { return nil }
            currentSize = size
        }
        return face
    }

    func metrics(size: Int) -> FontMetrics {
        if let m = metricsBySize[size] { return m }
        guard let face = select(size: size), let sizeInfo = face.pointee.size else {
            return FontMetrics(ascender: size, descender: size / 4)
        }
        let m = FontMetrics(ascender: Int((sizeInfo.pointee.metrics.ascender + 63) >> 6),
                            descender: Int((-sizeInfo.pointee.metrics.descender + 63) >> 6))
        metricsBySize[size] = m
        return m
    }

    /// The glyph for `scalar` at `size` pixels (nil when the font cannot render it).
    func glyph(_ scalar: Unicode.Scalar, size: Int) -> Glyph? {
        let key = Key(scalar: scalar.value, size: size)
        if let cached = glyphs[key] { return cached }
        guard let face = select(size: size) else { return nil }
        // FT_LOAD_RENDER: load and render to an 8-bit anti-aliased bitmap.
        let loadRender: Int32 = 1 << 2
        guard FT_Load_Char(face, FT_ULong(scalar.value), loadRender) == 0, let slot = face.pointee.glyph else {
            return nil
        }
        let bitmap = slot.pointee.bitmap
        let width = Int(bitmap.width), rows = Int(bitmap.rows), pitch = Int(bitmap.pitch)
        var coverage = [UInt8](repeating: 0, count: width * rows)
        if let buffer = bitmap.buffer, width > 0, rows > 0 {
            for r in 0..<rows {
                let src = pitch >= 0 ? buffer + r * pitch : buffer + (rows - 1 - r) * -pitch
                for c in 0..<width { coverage[r * width + c] = src[c] }
            }
        }
        let glyph = Glyph(width: width, rows: rows, left: Int(slot.pointee.bitmap_left),
                          top: Int(slot.pointee.bitmap_top),
                          advance: Int((slot.pointee.advance.x + 32) >> 6), coverage: coverage)
        glyphs[key] = glyph
        return glyph
    }

    var cachedGlyphCount: Int { glyphs.count }
}
