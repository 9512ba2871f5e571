import CFFmpeg
import EPRCore
import EPRMedia
import Foundation
import Testing

/// Phone videos carry a display matrix instead of upright pictures: the source turns them upright
/// (as ffmpeg's autorotate does) unless told not to, and then the sink keeps the matrix.
@Suite struct AutorotateTests {
    /// A 62x34 blue clip with a red 16x16 square in the stored picture's top-left corner (odd
    /// chroma planes, 31x17), with `rotate` written into its display matrix by a stream copy.
    static func rotatedClip(in dir: URL, rotate: Int) throws -> String {
        let raw = dir.appendingPathComponent("raw.mp4").path
        let path = dir.appendingPathComponent("rotated-\(rotate).mp4").path
        try ffmpeg(["-f", "lavfi", "-i", "color=blue:size=62x34:rate=10:duration=1",
                    "-vf", "drawbox=x=0:y=0:w=16:h=16:color=red:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p", raw])
        try ffmpeg(["-i", raw, "-c", "copy", "-metadata:s:v", "rotate=\(rotate)", path])
        return path
    }

    /// The frame's three planes, rows packed.
    static func planes(_ frame: VideoFrame) -> [UInt8] {
        let f = frame.avFrame.pointee
        let sizes = [(frame.width, frame.height, f.data.0!, f.linesize.0),
                     ((frame.width + 1) / 2, (frame.height + 1) / 2, f.data.1!, f.linesize.1),
                     ((frame.width + 1) / 2, (frame.height + 1) / 2, f.data.2!, f.linesize.2)]
        var bytes: [UInt8] = []
        for (w, h, data, stride) in sizes {
            for y in 0..<h { bytes += UnsafeBufferPointer(start: data + y * Int(stride), count: w) }
        }
        return bytes
    }

    /// ffmpeg's own first frame of `path` (autorotated) as packed yuv420p.
    static func ffmpegFrame(_ path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        process.arguments = ["-v", "error", "-nostdin", "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }

    static func firstFrame(_ path: String, autorotate: Bool = true) throws -> (VideoFrame, MediaSource) {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        var options = SourceOptions()
        options.autorotate = autorotate
        let source = try MediaSource(url: path, options: options)
        while let item = try source.next() {
            if case .video(let frame) = item { return (frame, source) }
        }
        throw ToolFailed(description: "no frame in \(path)")
    }

    // (rotate metadata, clockwise turn a player applies, where the red corner lands upright)
    @Test(arguments: [(90, 270.0, "bottom-left"), (180, 180.0, "bottom-right"), (270, 90.0, "top-right")])
    func framesComeOutUprightLikeFFmpegsAutorotate(rotate: Int, clockwise: Double, redCorner: String) throws {
        try withTemporaryDirectory { dir in
            let path = try Self.rotatedClip(in: dir, rotate: rotate)
            let (frame, source) = try Self.firstFrame(path)
            #expect(source.displayRotation == clockwise)
            let quarter = rotate != 180
            #expect(source.video.width == (quarter ? 34 : 62) && source.video.height == (quarter ? 62 : 34))
            #expect(frame.width == source.video.width && frame.height == source.video.height)
            #expect(source.video.displayRotation == 0, "upright frames: the output needs no matrix")

            // Luma: red is 81 in limited-range BT.601, blue 41; 4 pixels in from each corner.
            let f = frame.avFrame.pointee
            func luma(_ x: Int, _ y: Int) -> Int { Int(f.data.0![y * Int(f.linesize.0) + x]) }
            let w = frame.width, h = frame.height
            let corners = ["top-left": luma(4, 4), "top-right": luma(w - 5, 4),
                           "bottom-left": luma(4, h - 5), "bottom-right": luma(w - 5, h - 5)]
            for (corner, y) in corners {
                if corner == redCorner { #expect(abs(y - 81) <= 3, "\(corner) is red: \(y)") }
                else { #expect(abs(y - 41) <= 3, "\(corner) is blue: \(y)") }
            }
            // Every byte of every plane as the ffmpeg CLI turns it.
            let ours = Self.planes(frame)
            let theirs = try Self.ffmpegFrame(path)
            #expect(ours.count == theirs.count && ours == theirs)
        }
    }

    @Test func noAutorotateKeepsTheStoredPictureAndTheSinkKeepsTheMatrix() throws {
        try withTemporaryDirectory { dir in
            let path = try Self.rotatedClip(in: dir, rotate: 90)
            let (frame, source) = try Self.firstFrame(path, autorotate: false)
            #expect(frame.width == 62 && frame.height == 34)
            #expect(source.video.displayRotation == 270)
            let f = frame.avFrame.pointee
            #expect(abs(Int(f.data.0![4 * Int(f.linesize.0) + 4]) - 81) <= 3, "red still top-left")

            let out = dir.appendingPathComponent("raw-out.mp4").path
            let sink = try VideoSink(path: out, video: source.video, audio: [])
            try sink.write(frame)
            try sink.finish()
            let r = try tool("ffprobe", ["-v", "error", "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0", out])
            #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "90", "the same matrix as the input's")
        }
    }

    @Test func motionVectorsTurnWithThePicture() throws {
        try withTemporaryDirectory { dir in
            let raw = dir.appendingPathComponent("moving.mp4").path
            let path = dir.appendingPathComponent("moving-rot.mp4").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=128x64:rate=10:duration=1", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-bf", "0", raw])
            try ffmpeg(["-i", raw, "-c", "copy", "-metadata:s:v", "rotate=90", path])
            func vectors(_ file: String) throws -> [MotionVectors] {
                FFmpegLog.setLevel(AV_LOG_FATAL)
                var options = SourceOptions()
                options.exportMotionVectors = true
                let source = try MediaSource(url: file, options: options)
                var all: [MotionVectors] = []
                while let item = try source.next() {
                    if case .video(let frame) = item, let mv = frame.motion { all.append(mv) }
                }
                return all
            }
            let upright = try vectors(path), stored = try vectors(raw)
            #expect(!stored.isEmpty && upright.count == stored.count)
            for (u, s) in zip(upright, stored) {
                #expect(u.blocks.count == s.blocks.count)
                for (a, b) in zip(u.blocks, s.blocks) {
                    // A quarter turn counter-clockwise: stored (x, y) shows at (y, 127 - x).
                    #expect(Int(a.x) == Int(b.y) && Int(a.y) == 128 - (Int(b.x) + Int(b.width)))
                    #expect(a.width == b.height && a.height == b.width && a.dx == b.dy && a.dy == -b.dx)
                    #expect(a.x >= 0 && a.y >= 0 && Int(a.x) + Int(a.width) <= 64 && Int(a.y) + Int(a.height) <= 128)
                }
            }
        }
    }
}
