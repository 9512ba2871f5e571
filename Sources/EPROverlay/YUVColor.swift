import EPRCore

/// A colour in BT.601 limited-range YCbCr (Y 16...235, Cb/Cr 16...240), the space of the
/// yuv420p frames the pipeline decodes, so overlay colours are converted once and blended
/// straight into the planes.
public struct YUVColor: Sendable, Equatable, Hashable {
    public var y: UInt8
    public var u: UInt8
    public var v: UInt8

    public init(y: UInt8, u: UInt8, v: UInt8) {
        self.y = y
        self.u = u
        self.v = v
    }

    /// BT.601 limited range: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, and likewise
    /// for Cb and Cr around 128, rounded to the nearest integer.
    public init(_ rgb: RGB) {
        let r = Double(rgb.r), g = Double(rgb.g), b = Double(rgb.b)
        y = Self.clamp(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
        u = Self.clamp(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255)
        v = Self.clamp(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255)
    }

    /// Limited-range black and white.
    public static let black = YUVColor(y: 16, u: 128, v: 128)
    public static let white = YUVColor(y: 235, u: 128, v: 128)

    private static func clamp(_ value: Double) -> UInt8 {
        UInt8(min(255, max(0, value.rounded())))
    }
}
