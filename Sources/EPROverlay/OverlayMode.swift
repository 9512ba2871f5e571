import EPRCore

/// How a segmentation result is shown on its frame.
public enum OverlayMode: String, Sendable, Equatable, CaseIterable {
    /// Class colours blended into the picture at the options' alpha.
    case blend
    /// The class colours alone (opaque); undrawn pixels keep the picture.
    case mask
    /// The original and the blended frame next to each other: twice as wide, or stacked for
    /// portrait frames.
    case sideBySide = "side-by-side"
    /// One-pixel class boundaries in class colours over the untouched picture.
    case contours

    /// Parses a flag or preset value; an unknown name is `.config` naming the valid ones.
    public init(parsing text: String) throws(EPRError) {
        guard let mode = OverlayMode(rawValue: text.lowercased()) else {
            let known = OverlayMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw EPRError(.config, "unknown overlay mode '\(text)' (one of \(known))")
        }
        self = mode
    }
}
