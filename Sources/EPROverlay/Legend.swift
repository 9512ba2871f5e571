import EPRCore

/// One legend row: a class present in the frame.
public struct LegendEntry: Sendable, Equatable {
    public let classId: Int
    public let name: String
    public let color: RGB

    public init(classId: Int, name: String, color: RGB) {
        self.classId = classId
        self.name = name
        self.color = color
    }
}

/// The legend: which drawn classes a label map shows (never void, never ids the model does not know),
/// in class order so the box does not reshuffle from frame to frame, and how the box is laid out
/// and drawn (a column of colour swatch + class name on a semi-transparent dark box).
public struct Legend: Sendable {
    public let model: ModelDescription
    /// The classes the overlay draws; the legend never lists others.
    public let classes: ClassSelection

    /// `classes` nil: every class of the model.
    public init(model: ModelDescription, classes: ClassSelection? = nil) {
        self.model = model
        self.classes = classes ?? ClassSelection(model: model)
    }

    /// Drawn classes with at least one pixel in `labels`, in class-id order.
    public func entries(for labels: LabelMap) -> [LegendEntry] {
        var seen = [Bool](repeating: false, count: 256)
        seen.withUnsafeMutableBufferPointer { seen in
            labels.labels.withUnsafeBufferPointer { buffer in
                for label in buffer { seen[Int(label)] = true }
            }
        }
        let known = min(model.classNames.count, model.palette.count, 256)
        return (0..<known).compactMap { id in
            guard seen[id], classes.contains(id) else { return nil }
            return LegendEntry(classId: id, name: model.classNames[id], color: model.palette[id])
        }
    }

    /// Pixel size of the legend's text for a frame `frameHeight` rows tall.
    public static func fontSize(frameHeight: Int) -> Int { max(13, frameHeight / 36) }

    struct Layout {
        let box: OverlayRect
        let padding: Int
        let rowHeight: Int
        let swatch: Int
        let fontSize: Int
        let metrics: FontMetrics
    }

    func layout(_ entries: [LegendEntry], frameWidth: Int, frameHeight: Int, text: TextRenderer) -> Layout? {
        guard !entries.isEmpty else { return nil }
        let size = Self.fontSize(frameHeight: frameHeight)
        let metrics = text.metrics(size: size)
        let padding = max(3, size / 4)
        let rowHeight = metrics.height + padding
        let swatch = max(6, size * 3 / 4)
        let nameWidth = entries.map { text.width(of: $0.name, size: size) }.max() ?? 0
        let width = padding + swatch + padding + nameWidth + padding
        let height = padding + entries.count * rowHeight
        let margin = Compositor.margin(frameHeight: frameHeight)
        let box = OverlayRect(x: frameWidth - margin - width, y: margin, width: width, height: height)
        return Layout(box: box, padding: padding, rowHeight: rowHeight, swatch: swatch, fontSize: size,
                      metrics: metrics)
    }

    func draw(_ entries: [LegendEntry], into planes: YUVPlanes, text: TextRenderer) {
        guard let layout = layout(entries, frameWidth: planes.width, frameHeight: planes.height, text: text)
        else { return }
        let box = layout.box
        PixelOps.blendRect(planes, box, color: .black, alpha: Compositor.backingAlpha)
        for (row, entry) in entries.enumerated() {
            let top = box.y + layout.padding + row * layout.rowHeight
            let swatch = OverlayRect(x: box.x + layout.padding,
                                     y: top + (layout.metrics.height - layout.swatch) / 2,
                                     width: layout.swatch, height: layout.swatch)
            PixelOps.blendRect(planes, swatch, color: YUVColor(entry.color), alpha: 1)
            text.draw(entry.name, size: layout.fontSize, x: swatch.maxX + layout.padding,
                      baseline: top + layout.metrics.ascender, luma: YUVColor.white.y, clip: box, into: planes)
        }
    }
}
