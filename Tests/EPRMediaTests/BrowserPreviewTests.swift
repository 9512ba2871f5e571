import CFFmpeg
import EPRCore
@testable import EPRMedia
import Foundation
import Testing

/// A process started now and read to the end later (a viewer that watches while frames are written).
final class BackgroundTool: @unchecked Sendable {
    private let process = Process()
    private let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("preview-\(UUID().uuidString).out")

    init(_ name: String, _ arguments: [String]) throws {
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Waits for the exit; returns the status and stdout.
    func finish() throws -> (status: Int32, output: Data) {
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: outURL) }
        return (process.terminationStatus, try Data(contentsOf: outURL))
    }
}

@Suite(.serialized) struct BrowserPreviewTests {
    /// A preview on a free local port (ports are tried until one binds).
    func openPreview(video: VideoStreamInfo) throws -> BrowserPreview {
        for _ in 0..<20 {
            if let preview = try? BrowserPreview(address: "127.0.0.1:\(Int.random(in: 20000...60000))", video: video) {
                return preview
            }
        }
        throw ToolFailed(description: "no free port for the preview")
    }

    func firstFrames(_ count: Int) throws -> (frames: [VideoFrame], video: VideoStreamInfo) {
        FFmpegLog.setLevel(AV_LOG_FATAL)
        let source = try MediaSource(url: dashcamClip)
        var frames: [VideoFrame] = []
        while frames.count < count, let item = try source.next() {
            if case .video(let f) = item { frames.append(f) }
        }
        return (frames, source.video)
    }

    @Test func servesThePageAndTheLiveStreamToEveryViewer() throws {
        let (frames, video) = try firstFrames(40)
        let preview = try openPreview(video: video)
        var finished = false
        defer { if !finished { preview.abort() } }
        let base = preview.pageURL

        let page = try tool("curl", ["-sS", "-i", base])
        #expect(page.status == 0, "\(page.stderr)")
        #expect(page.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(page.stdout.contains("Content-Type: text/html"))
        #expect(page.stdout.contains("fetch(\"/stream.mp4\")") && page.stdout.contains("video.src = \"/stream.mp4\""))
        // The codec MSE is told is the stream's SPS: x264 veryfast (SinkOptions' default) makes High
        // profile (0x64), no constraint flags, level 3.1 (0x1F) for 960x540 at 25 fps.
        #expect(preview.codecString == "avc1.64001F", "\(preview.codecString)")
        #expect(page.stdout.contains("codecs=\"\(preview.codecString)\""))
        let missing = try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", base + "nothing"])
        #expect(missing.stdout == "404")
        #expect(preview.viewerCount == 0)

        // Two viewers: one reads the whole stream, one takes the first frame and hangs up.
        let whole = try BackgroundTool("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                   "frame=key_frame,best_effort_timestamp_time", "-of", "csv=p=0",
                                                   base + "stream.mp4"])
        let first = try BackgroundTool("ffmpeg", ["-nostdin", "-v", "error", "-i", base + "stream.mp4", "-frames:v", "1",
                                                  "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        #expect(preview.waitForViewers(2, timeout: 20))
        for frame in frames {
            try preview.write(frame)
            usleep(10_000)
        }
        try preview.finish()
        finished = true

        let (status, output) = try whole.finish()
        #expect(status == 0)
        let rows = String(decoding: output, as: UTF8.self).split(separator: "\n").map { $0.split(separator: ",") }
        #expect(rows.count == frames.count, "every frame written while watching reaches the viewer")
        #expect(rows.first?.first == "1", "the stream starts with a keyframe")
        let times = rows.compactMap { $0.count > 1 ? Double($0[1]) : nil }
        let fps = try #require(video.framesPerSecond)
        #expect(times.first == 0, "the viewer's timeline starts at 0")
        for (i, t) in times.enumerated() { #expect(abs(t - Double(i) / fps) < 0.002, "frame \(i) at \(t) s") }

        // The picture is the frame that was written (H.264 at CRF 23: within a few grey levels).
        let (firstStatus, pixels) = try first.finish()
        #expect(firstStatus == 0)
        let width = Int(video.width) & ~1, height = Int(video.height) & ~1
        #expect(pixels.count == width * height * 3 / 2)   // Y plane first, as is (gray would rescale the range)
        let y = frames[0].avFrame.pointee
        var total = 0
        for row in 0..<height {
            for col in 0..<width {
                total += abs(Int(y.data.0![row * Int(y.linesize.0) + col]) - Int(pixels[row * width + col]))
            }
        }
        let meanError = Double(total) / Double(width * height)
        #expect(meanError < 3, "mean luma difference \(meanError)")
        #expect(preview.framesWritten == frames.count)
        #expect(preview.warnings.isEmpty, "\(preview.warnings)")
    }

    @Test func aViewerThatLeavesIsForgotten() throws {
        let (frames, video) = try firstFrames(30)
        let preview = try openPreview(video: video)
        defer { preview.abort() }
        // curl takes the headers and whatever comes in a second, then hangs up.
        let headers = try tool("curl", ["-sS", "-i", "--max-time", "1", preview.pageURL + "stream.mp4"])
        #expect(headers.stdout.contains("Content-Type: video/mp4"))
        #expect(headers.stdout.contains("Access-Control-Allow-Origin: *"), "other pages may embed the stream")
        #expect(preview.viewerCount == 1, "a gone viewer is noticed on the next write")
        var written = 0
        while preview.viewerCount > 0 && written < frames.count {
            try preview.write(frames[written])
            written += 1
            usleep(20_000)
        }
        #expect(preview.viewerCount == 0, "still counted after \(written) frames")
    }

    @Test func connectionsAreBounded() throws {
        let (_, video) = try firstFrames(1)
        let preview = try openPreview(video: video)
        defer { preview.abort() }
        let port = UInt16(preview.address.split(separator: ":").last!)!
        // Connections that never send a request hold every slot...
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<BrowserPreview.maxConnections {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            idle.append(fd)
        }
        usleep(300_000)
        // ...so one more is answered at once instead of waiting, and the server goes on.
        let refused = try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", preview.pageURL])
        #expect(refused.stdout == "500")
        idle.forEach { close($0) }
        idle = []
        usleep(300_000)
        let page = try tool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", preview.pageURL])
        #expect(page.stdout == "200", "slots come back when those connections close")
    }

    @Test func nobodyWatchingCostsNoEncoding() throws {
        let (frames, video) = try firstFrames(3)
        let preview = try openPreview(video: video)
        for frame in frames { try preview.write(frame) }
        #expect(preview.framesWritten == 3)
        try preview.finish()
        // Served no more after finish: a connection is refused.
        let r = try tool("curl", ["-s", "-o", "/dev/null", "--max-time", "5", preview.pageURL])
        #expect(r.status == 7, "curl: couldn't connect")
        preview.abort()   // after finish: nothing left to do, and it returns
    }

    @Test func aPortInUseIsAClearError() throws {
        let (_, video) = try firstFrames(1)
        let preview = try openPreview(video: video)
        defer { preview.abort() }
        let error = #expect(throws: EPRError.self) { try BrowserPreview(address: preview.address, video: video) }
        #expect(error?.kind == .output)
        #expect(error?.message.hasPrefix("cannot serve the browser preview on \(preview.address): ") == true, "\(error?.message ?? "")")
    }

    @Test func addresses() throws {
        #expect(try BrowserPreview.parseAddress("8080") == ("127.0.0.1", 8080))
        #expect(try BrowserPreview.parseAddress(":8081") == ("127.0.0.1", 8081))
        #expect(try BrowserPreview.parseAddress("0.0.0.0:9000") == ("0.0.0.0", 9000))
        for bad in ["", "http", "70000", "0", "a:b:c", "host:"] {
            #expect(throws: EPRError(.config, "bad preview address '\(bad)': expected PORT or HOST:PORT, e.g. 8080 or 0.0.0.0:8080")) {
                try BrowserPreview.parseAddress(bad)
            }
        }
    }

    func packet(key: Bool) -> PreviewPacket {
        let p = av_packet_alloc()!
        if key { p.pointee.flags |= AV_PKT_FLAG_KEY }
        return PreviewPacket(taking: p)
    }

    @Test func aViewerThatFallsBehindSkipsToTheNextKeyframe() {
        let queue = KeyframeGatedQueue(capacity: 3)
        #expect(!queue.offer(packet(key: false)), "a new viewer starts at a keyframe")
        #expect(queue.offer(packet(key: true)))
        #expect(queue.offer(packet(key: false)))
        #expect(queue.offer(packet(key: false)))
        #expect(queue.count == 3)
        // Full: everything queued goes, and P-frames are skipped until the next keyframe.
        #expect(!queue.offer(packet(key: false)))
        #expect(queue.count == 0)
        #expect(!queue.offer(packet(key: false)))
        #expect(queue.offer(packet(key: true)))
        #expect(queue.next()?.isKeyframe == true)
        queue.end()
        #expect(queue.next() == nil)
    }
}
