import CFFmpeg
import EPRCore

/// The side-by-side picture: two copies of the frame, the original first (left, or top for
/// portrait frames) and the annotated one second. Panels start on even pixels so the 4:2:0 chroma
/// lines up: an odd width (height when stacked) loses its last column (row).
public struct SideBySideLayout: Sendable, Equatable {
    /// Portrait frames (taller than wide) are stacked, the rest put next to each other.
    public let stacked: Bool
    public let panelWidth: Int
    public let panelHeight: Int

    public init(frameWidth: Int, frameHeight: Int) {
        stacked = frameHeight > frameWidth
        panelWidth = stacked ? frameWidth : frameWidth & ~1
        panelHeight = stacked ? frameHeight & ~1 : frameHeight
    }

    public var width: Int { stacked ? panelWidth : 2 * panelWidth }
    public var height: Int { stacked ? 2 * panelHeight : panelHeight }

    /// Top-left corner of the annotated panel.
    public var annotatedOrigin: (x: Int, y: Int) { stacked ? (0, panelHeight) : (panelWidth, 0) }

    /// A new frame with the source's timing and properties and both panels holding its picture.
    func frame(copying source: VideoFrame, planes: YUVPlanes) throws(EPRError) -> VideoFrame {
        guard panelWidth >= 2, panelHeight >= 2 else {
            throw EPRError(.internalFailure, "overlay: a \(source.width)x\(source.height) frame is too small for side-by-side")
        }
        guard let out = av_frame_alloc() else { throw EPRError(.internalFailure, "overlay: out of memory") }
        let frame = VideoFrame(taking: out, sequence: source.sequence, pts: source.pts, timeBase: source.timeBase,
                               duration: source.duration)
        out.pointee.width = Int32(width)
        out.pointee.height = Int32(height)
        out.pointee.format = source.avFrame.pointee.format
        var status = av_frame_get_buffer(out, 0)
        if status >= 0 { status = av_frame_copy_props(out, source.avFrame) }
        guard status >= 0, let target = YUVPlanes(frame: out) else {
            throw EPRError(.internalFailure, "overlay: cannot allocate the side-by-side frame: \(ffmpegErrorString(status))")
        }
        let picture = planes.region(x: 0, y: 0, width: panelWidth, height: panelHeight)
        target.region(x: 0, y: 0, width: panelWidth, height: panelHeight).copy(from: picture)
        annotatedPanel(of: target).copy(from: picture)
        return frame
    }

    func annotatedPanel(of planes: YUVPlanes) -> YUVPlanes {
        planes.region(x: annotatedOrigin.x, y: annotatedOrigin.y, width: panelWidth, height: panelHeight)
    }
}
