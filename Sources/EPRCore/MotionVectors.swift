/// The codec's motion vectors of one decoded frame, as FFmpeg exports them (`flags2 +export_mvs`):
/// for each predicted block, where its content was in its reference: the latest anchor (I or P)
/// frame before it in display order, or for a B-frame after a reference B-frame (`decodeOrder`),
/// that B-frame. A compact value copied out of the frame's side data, so it
/// survives pixel-format conversion and needs no FFmpeg later.
public struct MotionVectors: Sendable, Equatable {
    /// One block of the current frame (top-left `x`, `y`, size in pixels) whose content sat at
    /// (`x` + `dx`, `y` + `dy`) in the reference.
    public struct Block: Sendable, Equatable {
        public var x: Int16
        public var y: Int16
        public var width: UInt8
        public var height: UInt8
        public var dx: Float
        public var dy: Float

        public init(x: Int, y: Int, width: Int, height: Int, dx: Float, dy: Float) {
            self.x = Int16(clamping: x)
            self.y = Int16(clamping: y)
            self.width = UInt8(clamping: width)
            self.height = UInt8(clamping: height)
            self.dx = dx
            self.dy = dy
        }
    }

    /// Later blocks win where two cover the same pixels (a past reference over a future one).
    public var blocks: [Block]
    /// A B-frame: later anchors do not refer to it (their reference is the anchor before it).
    public var isBidirectional: Bool
    /// The frame's place in decode order (nil: unknown). A B-frame decoded before a B-frame shown
    /// ahead of it is a reference for the B-frames after it (a B-pyramid's middle frame).
    public var decodeOrder: Int?

    public init(blocks: [Block], isBidirectional: Bool = false, decodeOrder: Int? = nil) {
        self.blocks = blocks
        self.isBidirectional = isBidirectional
        self.decodeOrder = decodeOrder
    }
}
