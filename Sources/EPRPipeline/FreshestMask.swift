import EPRCore

/// The freshest network mask carried to the latest frame while the network works on a later
/// frame, for `--infer-every auto`: frames go on at once, without waiting for the network. Two
/// propagators follow the frames: one from the frame of the latest result (its mask, moved by
/// every vector since), one from the frame the network is on now (vectors only, until its result
/// comes back and is moved to the latest frame in one step, then it takes over). Driven by one
/// thread; events in frame order, so the same events give the same masks and ages.
public struct FreshestMask: Sendable {
    private let frameWidth: Int
    private let frameHeight: Int
    private let propagate: Bool
    /// From the latest result's frame: its mask at the latest frame.
    private var current: MaskPropagator?
    /// From the frame the network is on; nil propagator while the label size is still unknown
    /// (the first run: nothing can come before its result).
    private var following: MaskPropagator??
    /// The latest frame's vectors (where it sits among B-frames, for a propagator started on it).
    private var latestMotion: MotionVectors?

    /// `propagate` false: masks are reused unchanged (`--propagate none`).
    public init(frameWidth: Int, frameHeight: Int, propagate: Bool = true) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.propagate = propagate
    }

    /// The network is on a frame and its result is not back yet.
    public var networkBusy: Bool { following != nil }
    /// The latest frame's mask (nil before the first result).
    public var mask: LabelMap? { current?.mask }
    /// Frames between the one `mask` came from and the latest.
    public var age: Int { current?.age ?? 0 }

    /// The next frame, with its motion vectors.
    public mutating func advance(by motion: MotionVectors?) {
        let vectors = propagate ? motion : nil
        latestMotion = vectors
        current?.advance(by: vectors)
        if case .some(.some(var p)) = following {
            p.advance(by: vectors)
            following = .some(p)
        }
    }

    /// The network starts on the latest frame.
    public mutating func networkStarted() {
        precondition(!networkBusy, "the network is on a frame already")
        guard let size = current?.mask.map({ ($0.width, $0.height) }) else { following = .some(nil); return }
        var p = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
        p.start(width: size.0, height: size.1, motion: latestMotion)
        following = .some(p)
    }

    /// The network's result for the frame it started on: it becomes the latest frame's mask.
    public mutating func networkFinished(_ labels: LabelMap) {
        precondition(networkBusy, "no network run to finish")
        var p: MaskPropagator
        if case .some(.some(let started)) = following, started.labelSize == (labels.width, labels.height) {
            p = started
            p.attach(labels)
        } else {
            // The first result (the frame it was on must still be the latest).
            p = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
            p.reset(to: labels, motion: latestMotion)
        }
        current = p
        following = nil
    }
}
