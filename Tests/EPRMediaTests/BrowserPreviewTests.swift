import CFFmpeg
import EPRCore
@testable import EPRMedia
import EPRTestSupport
import Foundation
import Testing

@Suite(.serialized) struct BrowserPreviewTests {
    @Test func nobodyWatchingCostsNoEncoding() throws {
        let (frames, video) = try firstFrames(3)
        let preview = try BrowserPreview(video: video)
        for frame in frames { try preview.write(frame) }
        #expect(preview.framesWritten == 3)
        #expect(preview.served.frames == 0)
        try preview.finish()
        #expect(preview.join() == nil, "no viewer joins a finished preview")
        preview.abort()   // after finish: nothing left to do, and it returns
    }

    @Test func viewersAreBounded() throws {
        let (_, video) = try firstFrames(1)
        let preview = try BrowserPreview(video: video)
        defer { preview.abort() }
        let viewers = (0..<BrowserPreview.maxViewers).compactMap { _ in preview.join() }
        #expect(viewers.count == BrowserPreview.maxViewers)
        #expect(preview.join() == nil, "one more is refused")
        preview.leave(viewers[0])
        #expect(preview.join() != nil, "a slot comes back when a viewer leaves")
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

    @Test func aViewerThatFallsBehindSkipsToTheNextKeyframe() async {
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
        #expect(await queue.next()?.isKeyframe == true)
        queue.end()
        #expect(await queue.next() == nil)
    }
}
