import EPRCore
import EPRMedia
import EPRPipeline
import Foundation
import Testing

/// `pan` for a B-frame at `decodeOrder`.
private func bPan(width: Int, height: Int, dx: Float, decodeOrder: Int) -> MotionVectors {
    var motion = pan(width: width, height: height, dx: dx)
    motion.isBidirectional = true
    motion.decodeOrder = decodeOrder
    return motion
}

/// A map `width` x `height` of label 0 with label `value` in the columns `columns`.
private func stripe(width: Int, height: Int, columns: Range<Int>, value: UInt8 = 5) -> LabelMap {
    var map = LabelMap(width: width, height: height)
    for y in 0..<height { for x in columns { map[x, y] = value } }
    return map
}

/// Vectors for a whole frame in `size`-pixel blocks, each displaced by (dx, dy) to the frame before.
private func pan(width: Int, height: Int, size: Int = 16, dx: Float, dy: Float = 0) -> MotionVectors {
    var blocks: [MotionVectors.Block] = []
    for y in stride(from: 0, to: height, by: size) {
        for x in stride(from: 0, to: width, by: size) {
            blocks.append(.init(x: x, y: y, width: size, height: size, dx: dx, dy: dy))
        }
    }
    return MotionVectors(blocks: blocks)
}

/// The columns that hold `value` in row `y`.
private func columns(of value: UInt8, in map: LabelMap, row y: Int) -> [Int] {
    (0..<map.width).filter { map[$0, y] == value }
}

@Suite struct MaskPropagatorTests {
    @Test func aPanMovesTheLabelsByItsVector() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 32)
        propagator.reset(to: stripe(width: 64, height: 32, columns: 16..<24))
        // Content that sat 8 px to the left one frame earlier: the scene moved 8 px right.
        let movedMask = propagator.advance(by: pan(width: 64, height: 32, dx: -8))
        let moved = try #require(movedMask)
        for y in [0, 15, 31] { #expect(columns(of: 5, in: moved, row: y) == Array(24..<32)) }
        #expect(propagator.age == 1)
        let againMask = propagator.advance(by: pan(width: 64, height: 32, dx: -8, dy: 0))
        let again = try #require(againMask)
        #expect(columns(of: 5, in: again, row: 10) == Array(32..<40))
    }

    /// The later frame's mask moved back to the started frame: a stripe the scene carried 16 px
    /// right over two frames lands 16 px to the left; what left the picture keeps the fallback.
    @Test func aLaterMaskIsCarriedBackAgainstThePan() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 32)
        propagator.start(width: 64, height: 32)
        for _ in 0..<2 { propagator.advance(by: pan(width: 64, height: 32, dx: -8)) }
        #expect(propagator.age == 2)
        let later = stripe(width: 64, height: 32, columns: 40..<48, value: 5)
        let fallback = stripe(width: 64, height: 32, columns: 0..<64, value: 9)
        let back = propagator.carriedBack(later, fallback: fallback)
        for y in [0, 15, 31] {
            #expect(columns(of: 5, in: back, row: y) == Array(24..<32))
            // Columns 48..63 showed content that is out of the later frame: nothing lands there.
            #expect(columns(of: 9, in: back, row: y) == Array(48..<64))
        }
        // Without vectors nothing moved: the later mask comes back as it is.
        var still = MaskPropagator(frameWidth: 64, frameHeight: 32)
        still.start(width: 64, height: 32)
        still.advance(by: nil)
        #expect(still.carriedBack(later, fallback: fallback) == later)
    }

    @Test func onlyTheMovingBlockCarriesItsLabels() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 64)
        var mask = LabelMap(width: 64, height: 64)
        for y in 16..<32 { for x in 16..<32 { mask[x, y] = 3 } }
        propagator.reset(to: mask)
        // The block at (32, 16) shows what was at (16, 16); nothing else has a vector (intra).
        let motion = MotionVectors(blocks: [.init(x: 32, y: 16, width: 16, height: 16, dx: -16, dy: 0)])
        let outMask = propagator.advance(by: motion)
        let out = try #require(outMask)
        for y in 16..<32 { for x in 16..<48 { #expect(out[x, y] == 3) } }   // old place kept (intra), new place filled
        #expect(out[8, 8] == 0 && out[56, 40] == 0)
    }

    @Test func framesWithoutVectorsKeepTheMask() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 32)
        let mask = stripe(width: 64, height: 32, columns: 10..<20)
        #expect(propagator.advance(by: nil) == nil)   // nothing to carry before the first result
        propagator.reset(to: mask)
        #expect(propagator.advance(by: nil) == mask)
        #expect(propagator.advance(by: MotionVectors(blocks: [])) == mask)
        #expect(propagator.age == 2)
        propagator.reset(to: mask)
        #expect(propagator.age == 0)
    }

    @Test func subPixelMotionAddsUpAcrossFrames() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 32)
        propagator.reset(to: stripe(width: 64, height: 32, columns: 16..<24))
        var out: LabelMap?
        for _ in 0..<4 { out = propagator.advance(by: pan(width: 64, height: 32, dx: -0.5)) }
        // 4 x 0.5 px = 2 px, which frame-by-frame rounding would lose or double.
        #expect(columns(of: 5, in: try #require(out), row: 5) == Array(18..<26))
    }

    /// x264's B-pyramid, shown I0 B1 b2 B3 P4 and decoded I0 P4 b2 B1 B3: B1 and b2 refer to I0,
    /// B3 to b2 (decoded before B1, shown after it), P4 to I0. The scene moves 4 px right a frame.
    @Test func bFramesAfterAReferenceBFrameFollowIt() throws {
        var propagator = MaskPropagator(frameWidth: 64, frameHeight: 32)
        propagator.reset(to: stripe(width: 64, height: 32, columns: 16..<24))
        let frames: [(MotionVectors, shift: Int)] = [
            (bPan(width: 64, height: 32, dx: -4, decodeOrder: 3), 4),    // B1 from I0
            (bPan(width: 64, height: 32, dx: -8, decodeOrder: 2), 8),    // b2 from I0
            (bPan(width: 64, height: 32, dx: -4, decodeOrder: 4), 12),   // B3 from b2
            (MotionVectors(blocks: pan(width: 64, height: 32, dx: -16).blocks, decodeOrder: 1), 16),   // P4 from I0
            (bPan(width: 64, height: 32, dx: -4, decodeOrder: 7), 20),   // B5 from P4 (no reference B yet)
        ]
        for (motion, shift) in frames {
            let outMask = propagator.advance(by: motion)
            let out = try #require(outMask)
            #expect(columns(of: 5, in: out, row: 10) == Array((16 + shift)..<(24 + shift)), "shift \(shift)")
        }
        // Started on the reference B-frame: the B-frame after it refers to it, as to an anchor.
        var started = MaskPropagator(frameWidth: 64, frameHeight: 32)
        started.reset(to: stripe(width: 64, height: 32, columns: 16..<24),
                      motion: bPan(width: 64, height: 32, dx: -8, decodeOrder: 2))
        let nextMask = started.advance(by: bPan(width: 64, height: 32, dx: -4, decodeOrder: 4))
        let next = try #require(nextMask)
        #expect(columns(of: 5, in: next, row: 10) == Array(20..<28))
        // Started on B3 after following I0 B1 b2: P4 refers to I0, 12 px behind B3, so it moves 4.
        var followed = MaskPropagator(frameWidth: 64, frameHeight: 32)
        followed.reset(to: stripe(width: 64, height: 32, columns: 0..<8))
        followed.advance(by: bPan(width: 64, height: 32, dx: -4, decodeOrder: 3))
        followed.advance(by: bPan(width: 64, height: 32, dx: -8, decodeOrder: 2))
        followed.reset(to: stripe(width: 64, height: 32, columns: 16..<24),
                       motion: bPan(width: 64, height: 32, dx: -4, decodeOrder: 4))
        let p4 = MotionVectors(blocks: pan(width: 64, height: 32, dx: -16).blocks, decodeOrder: 1)
        let afterPMask = followed.advance(by: p4)
        let afterP = try #require(afterPMask)
        #expect(columns(of: 5, in: afterP, row: 10) == Array(20..<28))
    }

    @Test func vectorsInFramePixelsAreScaledToTheLabelMap() throws {
        // Frame 128x64, labels 64x32: a 16 px move in the frame is 8 label pixels.
        var propagator = MaskPropagator(frameWidth: 128, frameHeight: 64)
        propagator.reset(to: stripe(width: 64, height: 32, columns: 16..<24))
        let outMask = propagator.advance(by: pan(width: 128, height: 64, dx: -16))
        let out = try #require(outMask)
        #expect(columns(of: 5, in: out, row: 20) == Array(24..<32))
    }
}

/// The decoder's vectors on real H.264: a clip panning by a known step moves a known mask by it.
@Suite struct MotionVectorSourceTests {
    /// A 320x240 window sliding right over a still picture by `step` px a frame: the content
    /// moves left by `step`. No B-frames, one keyframe.
    private func panClip(in dir: URL, step: Int, frames: Int, codec: [String]) throws -> String {
        let still = dir.appendingPathComponent("still.png").path
        let clip = dir.appendingPathComponent("pan.\(codec.contains("mjpeg") ? "avi" : "mp4")").path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=640x240:rate=1", "-frames:v", "1", still])
        try ffmpeg(["-loop", "1", "-framerate", "25", "-i", still, "-vf", "crop=320:240:\(step)*n:0,format=yuv420p",
                    "-frames:v", "\(frames)"] + codec + [clip])
        return clip
    }

    private func decode(_ clip: String, vectors: Bool = true) throws -> [VideoFrame] {
        var options = SourceOptions()
        options.exportMotionVectors = vectors
        let source = try MediaSource(url: clip, options: options)
        defer { source.close() }
        var frames: [VideoFrame] = []
        while let item = try source.next() { if case .video(let f) = item { frames.append(f) } }
        return frames
    }

    @Test func aKnownPanMovesAKnownMaskByTheKnownOffset() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try panClip(in: dir, step: 4, frames: 12,
                               codec: ["-c:v", "libx264", "-bf", "0", "-g", "100", "-crf", "18", "-preset", "medium"])
        let frames = try decode(clip)
        #expect(frames.count == 12)
        #expect(frames[0].motion == nil)   // the keyframe has none
        for frame in frames.dropFirst() {
            let blocks = try #require(frame.motion?.blocks)
            let dxs = blocks.map(\.dx).sorted()
            #expect(dxs[dxs.count / 2] == 4, "frame \(frame.sequence): median dx \(dxs[dxs.count / 2])")
        }
        // A mask column band at 100..<140 (frame = label size): after 10 frames it sits 40 px left.
        var propagator = MaskPropagator(frameWidth: 320, frameHeight: 240)
        propagator.reset(to: stripe(width: 320, height: 240, columns: 100..<140))
        var mask: LabelMap?
        for frame in frames[1...10] { mask = propagator.advance(by: frame.motion) }
        let out = try #require(mask)
        // Where the band's middle is, row by row (flat parts of the picture get noisy vectors).
        let middles = stride(from: 8, to: 232, by: 8).map { y -> Double in
            let xs = columns(of: 5, in: out, row: y)
            return xs.isEmpty ? -1 : Double(xs.reduce(0, +)) / Double(xs.count)
        }
        let near = middles.filter { abs($0 - 79.5) <= 2 }.count
        #expect(near * 4 >= middles.count * 3, "band middles (expected 79.5): \(middles)")
        #expect(abs(middles.sorted()[middles.count / 2] - 79.5) <= 1)
    }

    /// x264's B-pyramid (I B b B P ...): the decoder's frames carry their decode order, and the mask
    /// follows the pan on every frame, the B-frames after the reference B-frame included.
    @Test func aBPyramidClipMovesTheMaskOnEveryFrame() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try panClip(in: dir, step: 4, frames: 17,
                               codec: ["-c:v", "libx264", "-x264-params", "bframes=3:b-adapt=0:b-pyramid=normal",
                                       "-g", "100", "-crf", "18", "-preset", "medium"])
        let frames = try decode(clip)
        #expect(frames.count == 17)
        // Shown I0 B1 b2 B3 P4, decoded I0 P4 b2 B1 B3 (the keyframe has no vectors).
        #expect(frames[1...4].map { $0.motion?.decodeOrder } == [3, 2, 4, 1])
        #expect(frames[1...4].map { $0.motion?.isBidirectional } == [true, true, true, false])
        var propagator = MaskPropagator(frameWidth: 320, frameHeight: 240)
        propagator.reset(to: stripe(width: 320, height: 240, columns: 100..<140))
        // Every frame, the ones the decoder flushes at the end of the file included.
        for (k, frame) in frames.enumerated().dropFirst() {
            let outMask = propagator.advance(by: frame.motion)
            let out = try #require(outMask)
            let expected = 119.5 - Double(4 * k)
            let middles = stride(from: 8, to: 232, by: 8).map { y -> Double in
                let xs = columns(of: 5, in: out, row: y)
                return xs.isEmpty ? -1 : Double(xs.reduce(0, +)) / Double(xs.count)
            }
            // x264's B-frame vectors here fall up to 2 px short each (P-frames: exact), so B3 may
            // trail by 4; referred to I0 instead of b2 it would trail by 8.
            let tolerance = frame.motion?.isBidirectional == true ? 4.5 : 1
            #expect(abs(middles.sorted()[middles.count / 2] - expected) <= tolerance, "frame \(k) (expected \(expected)): \(middles)")
        }
    }

    @Test func aClipWithoutVectorsFallsBackToReuse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // MJPEG: every frame intra, no vectors; H.264 decoded without export: none either.
        let mjpeg = try decode(try panClip(in: dir, step: 4, frames: 5, codec: ["-c:v", "mjpeg", "-q:v", "3"]))
        let unexported = try decode(try panClip(in: dir, step: 4, frames: 5, codec: ["-c:v", "libx264", "-bf", "0"]), vectors: false)
        for frames in [mjpeg, unexported] {
            #expect(frames.count == 5)
            #expect(frames.allSatisfy { $0.motion == nil })
            var propagator = MaskPropagator(frameWidth: 320, frameHeight: 240)
            let mask = stripe(width: 320, height: 240, columns: 100..<140)
            propagator.reset(to: mask)
            for frame in frames.dropFirst() { #expect(propagator.advance(by: frame.motion) == mask) }
        }
    }
}

/// `ffmpeg -v error -y ARGS`, throwing on failure.
private func ffmpeg(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    process.arguments = ["-hide_banner", "-nostdin", "-v", "error", "-y"] + arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 { throw FFmpegFailed(arguments: arguments) }
}

private struct FFmpegFailed: Error, CustomStringConvertible {
    let arguments: [String]
    var description: String { "ffmpeg \(arguments.joined(separator: " ")) failed" }
}
