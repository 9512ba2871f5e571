import CFFmpeg
import EPRCore
import EPRMedia
import Foundation
import Testing

@Suite struct DashcamRoundTrip {
    @Test func decodesAndWritesAnnotatedStyleOutputWithAudio() throws {
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("out.mp4").path
            let t = try transcode(dashcamClip, to: out)

            // What the source reported.
            #expect(t.video.width == 960 && t.video.height == 540)
            #expect(t.video.codecName == "h264")
            #expect(t.video.frameRate.num == 25 && t.video.frameRate.den == 1)
            #expect(t.video.estimatedFrameCount == 221)
            #expect(t.audioPackets > 0)
            #expect(t.sourceWarnings.isEmpty)
            #expect(t.sinkWarnings.isEmpty)

            // Nothing left behind but the output itself.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.mp4"])

            let v = try probeStream(out, "v:0", "codec_name,profile,pix_fmt,nb_read_frames,duration")
            #expect(v["codec_name"] == "h264")
            #expect(v["pix_fmt"] == "yuv420p")
            #expect(v["profile"] == "High" || v["profile"] == "Main")
            #expect(v["nb_read_frames"] == "221")
            let src = try probeStream(dashcamClip, "v:0", "duration")
            let vd = try #require(Double(v["duration"] ?? ""))
            let sd = try #require(Double(src["duration"] ?? ""))
            #expect(abs(vd - sd) <= 1.0 / 25.0, "video duration \(vd) vs source \(sd)")

            let a = try probeStream(out, "a:0", "codec_name,duration")
            let srcA = try probeStream(dashcamClip, "a:0", "duration")
            #expect(a["codec_name"] == "aac")
            let ad = try #require(Double(a["duration"] ?? ""))
            let sad = try #require(Double(srcA["duration"] ?? ""))
            #expect(abs(ad - sad) <= 1.0 / 25.0, "audio duration \(ad) vs source \(sad)")

            // Plays: a full decode reports no errors.
            let decode = try tool("ffmpeg", ["-nostdin", "-v", "error", "-i", out, "-f", "null", "-"])
            #expect(decode.status == 0)
            #expect(decode.stderr.isEmpty, "decode errors: \(decode.stderr)")

            // faststart: the index comes before the media data.
            let boxes = try mp4TopLevelBoxes(out)
            let moov = try #require(boxes.firstIndex(of: "moov"))
            let mdat = try #require(boxes.firstIndex(of: "mdat"))
            #expect(moov < mdat, "boxes: \(boxes)")
        }
    }

    @Test func framesComeInPresentationOrderWithSourceTimestamps() throws {
        let (frames, source) = try decodeAll(dashcamClip)
        #expect(frames.count == 221)
        #expect(frames.map(\.sequence) == Array(0..<221))
        #expect(frames.allSatisfy { $0.pixelFormat == AV_PIX_FMT_YUV420P && $0.width == 960 && $0.height == 540 })
        #expect(frames.map(\.pts) == frames.map(\.pts).sorted())
        #expect(Set(frames.map(\.pts)).count == 221)
        #expect(abs(frames[220].seconds - 220.0 / 25.0) < 1e-6)
        #expect(frames.allSatisfy { $0.duration == 1 && $0.timeBase.num == 1 && $0.timeBase.den == 25 })
        #expect(source.audioStreams.count == 1)
        #expect(source.audioStreams.first?.codecName == "aac")
        #expect(source.warnings.isEmpty)
        source.close()
        #expect(try source.next() == nil)
    }
}

@Suite struct Timestamps {
    @Test func variableFrameRateSurvives() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("vfr.mp4").path
            // Regular 10 fps with two gaps (0.55 s and 0.3 s): frame times no constant rate explains.
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "20",
                        "-vf", "setpts='(N*0.1+gte(N,10)*0.55+gte(N,15)*0.3)/TB'", "-fps_mode", "passthrough",
                        "-c:v", "libx264", "-video_track_timescale", "1000", input])
            let sourceTimes = try probeFrameTimes(input)
            #expect(sourceTimes.count == 20)
            let out = dir.appendingPathComponent("out.mp4").path
            let t = try transcode(input, to: out, keepFrames: true)
            #expect(t.frames.count == 20)
            #expect(zip(t.frames.map(\.seconds), sourceTimes).allSatisfy { abs($0 - $1) < 0.0015 })
            let outTimes = try probeFrameTimes(out)
            #expect(outTimes.count == 20)
            for (o, s) in zip(outTimes, sourceTimes) {
                #expect(abs(o - s) < 0.0015, "output frame at \(o) s, source at \(s) s")
            }
        }
    }

    @Test func transportStreamStartOffsetIsRemovedWithAudioInSync() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("in.ts").path
            // MPEG-TS starts its clock at 1.4 s or later: the output must still start at 0.
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-f", "lavfi", "-i", "sine=d=2",
                        "-t", "2", "-c:v", "libx264", "-c:a", "aac", input])
            let out = dir.appendingPathComponent("out.mp4").path
            let t = try transcode(input, to: out, keepFrames: true)
            #expect(t.video.startTime > 1_000_000)
            #expect(t.frames.count == 20)
            #expect(t.frames[0].seconds > 1.0, "frames keep their source timestamps")
            let v = try probeStream(out, "v:0", "start_time,duration,nb_read_frames")
            let a = try probeStream(out, "a:0", "start_time,codec_name")
            #expect(v["nb_read_frames"] == "20")
            #expect(a["codec_name"] == "aac")
            let vStart = try #require(Double(v["start_time"] ?? ""))
            let aStart = try #require(Double(a["start_time"] ?? ""))
            let vDuration = try #require(Double(v["duration"] ?? ""))
            #expect(vStart < 0.1 && aStart < 0.1, "video starts at \(vStart) s, audio at \(aStart) s")
            #expect(abs(vDuration - 2.0) <= 0.1)
            // Audio/video offset as in the source (video 0.023 s after audio here).
            let src = try probeStream(input, "v:0", "start_time")
            let srcA = try probeStream(input, "a:0", "start_time")
            let srcOffset = try #require(Double(src["start_time"] ?? "")) - #require(Double(srcA["start_time"] ?? ""))
            #expect(abs((vStart - aStart) - srcOffset) < 0.002)
        }
    }

    @Test func audioTheContainerCannotHoldIsDroppedWithAWarning() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("cam.mov").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-f", "lavfi", "-i", "sine=d=1",
                        "-t", "1", "-c:v", "libx264", "-c:a", "pcm_s16le", input])
            let mp4 = dir.appendingPathComponent("out.mp4").path
            let t = try transcode(input, to: mp4)
            #expect(t.sinkWarnings.count == 1)
            #expect(t.sinkWarnings.first?.contains("pcm_s16le") == true, "\(t.sinkWarnings)")
            #expect(try probeStream(mp4, "v:0", "nb_read_frames")["nb_read_frames"] == "10")
            let mov = dir.appendingPathComponent("out.mov").path
            let kept = try transcode(input, to: mov)
            #expect(kept.sinkWarnings.isEmpty)
            #expect(try probeStream(mov, "a:0", "codec_name")["codec_name"] == "pcm_s16le")
        }
    }

    @Test func mkvOutputAndMpeg4AviWithBFrames() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("in.avi").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "15",
                        "-c:v", "mpeg4", "-bf", "2", input])
            let out = dir.appendingPathComponent("out.mkv").path
            let t = try transcode(input, to: out)
            #expect(t.video.codecName == "mpeg4")
            let v = try probeStream(out, "v:0", "codec_name,nb_read_frames")
            #expect(v["codec_name"] == "h264")
            #expect(v["nb_read_frames"] == "15")
            let decode = try tool("ffmpeg", ["-nostdin", "-v", "error", "-i", out, "-f", "null", "-"])
            #expect(decode.stderr.isEmpty, "decode errors: \(decode.stderr)")
        }
    }
}

@Suite struct InputCodecs {
    /// Tiny clips of each codec the source must read, made here with the ffmpeg CLI.
    @Test(arguments: [
        ("hevc", "mkv", ["-c:v", "libx265", "-x265-params", "log-level=error"]),
        ("vp9", "webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"]),
        ("av1", "mkv", ["-c:v", "libaom-av1", "-cpu-used", "8"]),
        ("mpeg4", "avi", ["-c:v", "mpeg4"]),
        ("h264", "mov", ["-c:v", "libx264", "-pix_fmt", "yuv444p"]),
    ])
    func decodes(codec: String, container: String, encoder: [String]) throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("in.\(container)").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "10"] + encoder + [input])
            let (frames, source) = try decodeAll(input)
            #expect(source.video.codecName == codec)
            #expect(frames.count == 10)
            // Whatever the decoder produced (yuv444p for the mov), frames come out as yuv420p.
            #expect(frames.allSatisfy { $0.pixelFormat == AV_PIX_FMT_YUV420P && $0.width == 64 && $0.height == 48 })
            #expect(source.warnings.isEmpty)
        }
    }
}

extension InputCodecs {
    @Test func oddSizedRGBInputIsConvertedAndCroppedToEven() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("odd.mkv").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=65x49:rate=10", "-frames:v", "5",
                        "-c:v", "ffv1", "-pix_fmt", "bgr0", input])
            let out = dir.appendingPathComponent("odd.mp4").path
            let t = try transcode(input, to: out, keepFrames: true)
            #expect(t.frames.allSatisfy { $0.pixelFormat == AV_PIX_FMT_YUV420P && $0.width == 65 && $0.height == 49 })
            let v = try probeStream(out, "v:0", "width,height,pix_fmt,nb_read_frames")
            #expect(v["width"] == "64" && v["height"] == "48" && v["pix_fmt"] == "yuv420p")
            #expect(v["nb_read_frames"] == "5")
        }
    }
}

@Suite struct DamagedInput {
    @Test(arguments: ["mp4", "mkv"])
    func truncatedFileDecodesUpToTheDamage(container: String) throws {
        try withTemporaryDirectory { dir in
            let whole = dir.appendingPathComponent("whole.\(container)").path
            if container == "mp4" {
                try FileManager.default.copyItem(atPath: dashcamClip, toPath: whole)
            } else {
                try ffmpeg(["-i", dashcamClip, "-c", "copy", whole])
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            let cut = dir.appendingPathComponent("cut.\(container)")
            try data.prefix(data.count / 2).write(to: cut)

            let (frames, source) = try decodeAll(cut.path)
            #expect(frames.count > 50 && frames.count < 221, "decoded \(frames.count) frames")
            #expect(source.warnings.count == 1)
            let warning = try #require(source.warnings.first)
            #expect(warning.hasPrefix("input is truncated or corrupt after frame "), "\(warning)")
            #expect(warning.hasSuffix("processed up to the damage"), "\(warning)")
        }
    }
}

extension DamagedInput {
    @Test func completeMkvWithLongerAudioIsNotCalledTruncated() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("long-audio.mkv").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-f", "lavfi", "-i", "sine=d=3",
                        "-c:v", "libx264", "-c:a", "aac", input])
            let (frames, source) = try decodeAll(input)
            #expect(frames.count == 10)
            #expect(source.warnings.isEmpty, "\(source.warnings)")
        }
    }

    @Test func corruptBytesMidStreamAreSkippedWithAWarning() throws {
        try withTemporaryDirectory { dir in
            var data = try Data(contentsOf: URL(fileURLWithPath: dashcamClip))
            let middle = data.count / 2
            data.replaceSubrange(middle..<middle + 30_000, with: Data(count: 30_000))
            let path = dir.appendingPathComponent("damaged.mp4").path
            try data.write(to: URL(fileURLWithPath: path))
            let (frames, source) = try decodeAll(path)
            #expect(frames.count > 200 && frames.count <= 221, "decoded \(frames.count) frames")
            #expect(frames.map(\.sequence) == Array(0..<frames.count))
            #expect(source.warnings.count == 1)
            #expect(source.warnings.first?.hasPrefix("input has corrupt data at frame ") == true, "\(source.warnings)")
        }
    }
}

@Suite struct Errors {
    init() { FFmpegLog.quiet() }

    @Test func missingInput() {
        let path = "/nonexistent/eprmedia/clip.mp4"
        #expect(throws: EPRError(.input, "input not found: \(path)")) { try MediaSource(url: path) }
    }

    @Test func textFileIsNotAVideo() throws {
        try withTemporaryDirectory { dir in
            for name in ["notes.txt", "fake.mp4"] {
                let path = dir.appendingPathComponent(name).path
                try "this is not a video\n".write(toFile: path, atomically: true, encoding: .utf8)
                let error = #expect(throws: EPRError.self) { try MediaSource(url: path) }
                #expect(error?.kind == .input)
                #expect(error?.message.hasPrefix("cannot read \(path): not a video file (") == true, "\(error?.message ?? "")")
            }
        }
    }

    @Test func audioOnlyFileHasNoVideoStream() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("tone.m4a").path
            try ffmpeg(["-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", path])
            #expect(throws: EPRError(.input, "no video stream in \(path)")) { try MediaSource(url: path) }
        }
    }

    @Test func unknownCodecIsNamed() throws {
        try withTemporaryDirectory { dir in
            let good = dir.appendingPathComponent("good.avi").path
            try ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "3", "-c:v", "mpeg4", good])
            // Replace the fourcc so FFmpeg no longer knows the codec.
            var data = try Data(contentsOf: URL(fileURLWithPath: good))
            let tag = Data("FMP4".utf8), unknown = Data("QQQQ".utf8)
            while let r = data.range(of: tag) { data.replaceSubrange(r, with: unknown) }
            let path = dir.appendingPathComponent("odd.avi").path
            try data.write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: EPRError.self) { try MediaSource(url: path) }
            #expect(error?.kind == .codec)
            #expect(error?.message.contains("QQQQ") == true, "\(error?.message ?? "")")
            #expect(error?.message.hasPrefix("unsupported video codec") == true, "\(error?.message ?? "")")
        }
    }

    @Test func unwritableOutput() throws {
        let source = try MediaSource(url: dashcamClip)
        let path = "/nonexistent-eprmedia-dir/out.mp4"
        let error = #expect(throws: EPRError.self) {
            try VideoSink(path: path, video: source.video, audio: source.audioStreams)
        }
        #expect(error?.kind == .output)
        #expect(error?.message.hasPrefix("cannot write \(path): ") == true, "\(error?.message ?? "")")

        try withTemporaryDirectory { dir in
            let error = #expect(throws: EPRError.self) {
                try VideoSink(path: dir.path, video: source.video, audio: [])
            }
            #expect(error?.message == "cannot write \(dir.path): it is a directory")
        }
    }

    @Test func abandonedOutputLeavesNothingBehind() throws {
        try withTemporaryDirectory { dir in
            let source = try MediaSource(url: dashcamClip)
            let path = dir.appendingPathComponent("out.mp4").path
            let sink = try VideoSink(path: path, video: source.video, audio: source.audioStreams)
            var written = 0
            while written < 5, let item = try source.next() {
                if case .video(let f) = item { try sink.write(f); written += 1 }
            }
            // Until finish() the target does not exist; cancel() removes the partial file.
            #expect(!FileManager.default.fileExists(atPath: path))
            sink.cancel()
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
            #expect(throws: EPRError.self) { try sink.finish() }
        }
    }
}
