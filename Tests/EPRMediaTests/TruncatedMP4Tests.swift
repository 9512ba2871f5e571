import CFFmpeg
import EPRCore
import EPRMedia
import Foundation
import Testing

/// A dashcam recording cut before its index (moov at the end) is recovered with a complete
/// recording of the same camera as reference: the frames the kept bytes hold, with the
/// original's pixels, at the reference's frame rate.
@Suite struct TruncatedMP4Tests {
    /// The dashcam clip (H.264 + AAC, interleaved) stream-copied with its moov at the end, and
    /// its first `fraction` of bytes; returns both paths and the video frames wholly in the cut.
    static func cutRecording(in dir: URL, fraction: Double) throws -> (full: String, cut: String, framesKept: Int) {
        let full = dir.appendingPathComponent("moov-at-end.mp4").path
        let cut = dir.appendingPathComponent("cut.mp4").path
        try ffmpeg(["-i", dashcamClip, "-c", "copy", "-movflags", "-faststart", full])
        let data = try Data(contentsOf: URL(fileURLWithPath: full))
        let kept = Int(Double(data.count) * fraction)
        try data.prefix(kept).write(to: URL(fileURLWithPath: cut))
        let packets = try tool("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,size",
                                           "-of", "default=nw=1", full]).stdout
        var pos = 0, framesKept = 0
        for line in packets.split(separator: "\n") {
            let parts = line.split(separator: "=")
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            if parts[0] == "pos" { pos = value } else if parts[0] == "size", pos + value <= kept { framesKept += 1 }
        }
        return (full, cut, framesKept)
    }

    static func lumaFrames(_ source: MediaSource) throws -> [(pts: Double, luma: [UInt8])] {
        var frames: [(Double, [UInt8])] = []
        while let item = try source.next() {
            guard case .video(let frame) = item else { continue }
            let f = frame.avFrame.pointee
            var luma: [UInt8] = []
            for y in 0..<frame.height { luma += UnsafeBufferPointer(start: f.data.0! + y * Int(f.linesize.0), count: frame.width) }
            frames.append((Double(frame.pts) * av_q2d(frame.timeBase), luma))
        }
        return frames
    }

    static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        let mse = zip(a, b).reduce(0.0) { $0 + Double((Int($1.0) - Int($1.1)) * (Int($1.0) - Int($1.1))) } / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    @Test func recoversTheFramesTheKeptBytesHoldWithTheOriginalsPixels() throws {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        try withTemporaryDirectory { dir in
            let (full, cut, framesKept) = try Self.cutRecording(in: dir, fraction: 0.6)
            // Without a reference: the message names the problem and the way out.
            #expect {
                _ = try MediaSource(url: cut)
            } throws: { error in
                let message = (error as? EPRError)?.message ?? ""
                return message.contains("index (moov box) is missing") && message.contains("--reference")
            }

            let recovered = try Self.lumaFrames(try TruncatedMP4.recover(path: cut, reference: full))
            let original = try Self.lumaFrames(try MediaSource(url: dashcamClip))
            #expect(framesKept > 100 && framesKept < original.count)
            #expect(abs(recovered.count - framesKept) <= 3, "recovered \(recovered.count), the cut holds \(framesKept)")
            // Same pictures, at 25 fps from 0.
            let worst = zip(recovered, original).map { Self.psnr($0.luma, $1.luma) }.min() ?? 0
            #expect(worst > 45, "lowest PSNR \(worst) dB")
            let times = recovered.map(\.pts)
            #expect(zip(times, times.dropFirst()).allSatisfy { abs($1 - $0 - 0.04) < 0.001 }, "\(times.prefix(10))")
        }
    }

    @Test func aReferenceOfAnotherCodecOrSizeIsOneClearError() throws {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        try withTemporaryDirectory { dir in
            let (_, cut, _) = try Self.cutRecording(in: dir, fraction: 0.6)
            let mpeg4 = dir.appendingPathComponent("mpeg4.mp4").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=960x540:rate=25:duration=0.2", "-c:v", "mpeg4", mpeg4])
            #expect {
                _ = try TruncatedMP4.recover(path: cut, reference: mpeg4)
            } throws: { error in
                ((error as? EPRError)?.message ?? "") == "the reference \(mpeg4) is mpeg4, not H.264: only H.264 recordings can be recovered"
            }
            let small = dir.appendingPathComponent("small.mp4").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=320x180:rate=25:duration=0.2", "-c:v", "libx264", small])
            #expect {
                _ = try TruncatedMP4.recover(path: cut, reference: small)
            } throws: { error in
                let message = (error as? EPRError)?.message ?? ""
                return message.hasPrefix("cannot recover \(cut):") && message.contains(small) && !message.contains("\n")
            }
        }
    }
}
