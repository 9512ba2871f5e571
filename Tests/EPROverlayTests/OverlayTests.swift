import CFFmpeg
import EPRCore
import EPROverlay
import Foundation
import Testing

@Suite struct LegendTests {
    @Test func legendListsOnlyClassesPresent() {
        let labels = labelMap(width: 20, height: 10) { x, y in
            switch x {
            case 0..<5: 8
            case 5..<10: y < 5 ? 3 : 0
            case 10..<12: 200          // not a class of this model
            default: void
            }
        }
        let entries = Legend(model: camVid).entries(for: labels)
        #expect(entries.map(\.classId) == [0, 3, 8])
        #expect(entries.map(\.name) == ["Sky", "Road", "Car"])
        #expect(entries[1].color == camVid.palette[3])
        #expect(Legend(model: camVid).entries(for: LabelMap(width: 4, height: 4, filledWith: void)).isEmpty)
    }

    @Test func legendIsDrawnInsideItsBoxOnly() throws {
        let frame = makeFrame(width: 640, height: 480)
        let before = Snapshot(frame)
        let labels = labelMap(width: 48, height: 36) { x, _ in x < 4 ? 1 : (x < 8 ? 9 : void) }
        let compositor = try Compositor(model: camVid, options: options(alpha: 0, legend: true))
        try compositor.compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame)
        let box = try #require(compositor.legendRect(for: compositor.legend.entries(for: labels),
                                                     frameWidth: 640, frameHeight: 480))
        #expect(box.maxX < 640 && box.x > 320 && box.y < 40, "legend in the top-right corner: \(box)")
        var changed = 0, swatchPixels = 0
        let building = YUVColor(camVid.palette[1])
        for y in 0..<480 {
            for x in 0..<640 where after.Y(x, y) != before.Y(x, y) {
                changed += 1
                #expect(box.contains(x: x, y: y), "legend changed \(x),\(y) outside \(box)")
                if after.Y(x, y) == Int(building.y), after.U(x / 2, y / 2) == Int(building.u) { swatchPixels += 1 }
            }
        }
        #expect(changed >= box.width * box.height * 9 / 10)   // the backing box darkens it all
        #expect(swatchPixels > 25)                              // a Building swatch of at least 6x6 px
        // Chroma changes stay inside the box's 2x2 blocks too.
        for y in 0..<240 {
            for x in 0..<320 where after.U(x, y) != before.U(x, y) || after.V(x, y) != before.V(x, y) {
                #expect(x >= box.x / 2 && x < (box.maxX + 1) / 2 && y >= box.y / 2 && y < (box.maxY + 1) / 2)
            }
        }
    }
}

@Suite struct TextTests {
    @Test func statsTextReadsFpsLatencyAndFrame() {
        #expect(Compositor.statsText(for: OverlayStats(fps: 24.84, latencyMs: 86.4, frameIndex: 123))
                == "24.8 fps  latency 86 ms  #123")
    }

    @Test(arguments: [(640, 480), (1920, 1080)])
    func statsLineChangesPixelsInItsAreaOnly(size: (Int, Int)) throws {
        let (width, height) = size
        let frame = makeFrame(width: width, height: height, y: { _, _ in 128 })
        let before = Snapshot(frame)
        let stats = OverlayStats(fps: 24.8, latencyMs: 86, frameIndex: 123)
        let compositor = try Compositor(model: camVid, options: options(alpha: 0.5, stats: true))
        try compositor.compose(frame, labels: LabelMap(width: 48, height: 36, filledWith: void), stats: stats)
        let after = Snapshot(frame)
        let box = compositor.statsRect(for: stats, frameWidth: width, frameHeight: height)
        #expect(box.x < 40 && box.y < 40 && box.maxX < width / 2, "stats box in the top-left corner: \(box)")
        // Text size follows the frame height (height / 30, at least 14 px).
        #expect(box.height >= max(14, height / 30) && box.height <= max(14, height / 30) * 2)
        var bright = 0, dark = 0
        for y in 0..<height {
            for x in 0..<width {
                let value = after.Y(x, y)
                if box.contains(x: x, y: y) {
                    if value > 200 { bright += 1 } else if value < 128 { dark += 1 }
                } else {
                    #expect(value == before.Y(x, y), "stats changed \(x),\(y) outside \(box)")
                }
            }
        }
        #expect(bright > 50)    // glyph strokes, near white
        #expect(dark > bright)  // on a darker backing box
        // Anti-aliased: coverage leaves intermediate values between the box and the strokes.
        var partial = 0
        for y in box.y..<box.maxY { for x in box.x..<box.maxX where (90..<200).contains(after.Y(x, y)) { partial += 1 } }
        #expect(partial > 20)
        // Rendering the same line again reuses the cached glyphs.
        let cached = compositor.cachedGlyphCount
        try compositor.compose(frame, labels: LabelMap(width: 48, height: 36, filledWith: void), stats: stats)
        #expect(cached > 0 && compositor.cachedGlyphCount == cached)
    }

    @Test func statsAreSkippedWithoutStatsOrWhenOff() throws {
        let frame = makeFrame(width: 320, height: 240)
        let before = Snapshot(frame)
        let labels = LabelMap(width: 32, height: 24, filledWith: void)
        try Compositor(model: camVid, options: options(stats: true)).compose(frame, labels: labels, stats: nil)
        try Compositor(model: camVid, options: options(stats: false))
            .compose(frame, labels: labels, stats: OverlayStats(fps: 1, latencyMs: 1, frameIndex: 1))
        #expect(Snapshot(frame) == before)
    }
}

@Suite struct RenderTests {
    /// A gradient "road scene" at 854x480 and 1920x1080, composed with legend and stats, written
    /// as PNG with FFmpeg and decoded back.
    @Test(arguments: [(854, 480), (1920, 1080)])
    func rendersAReadablePNG(size: (Int, Int)) throws {
        let (width, height) = size
        let frame = makeFrame(width: width, height: height,
                              y: { x, y in UInt8(30 + (x * 120 / width) + (y * 80 / height)) },
                              u: { x, _ in UInt8(100 + x * 2 * 56 / width) },
                              v: { _, y in UInt8(150 - y * 2 * 40 / height) })
        // Sky on top, buildings left and right, road below, a car and a pedestrian, some void.
        let labels = labelMap(width: 480, height: 360) { x, y in
            if y < 120 { return x > 400 && y < 40 ? void : 0 }
            if y < 200 { return x < 140 ? 1 : (x > 360 ? 5 : (x > 230 && x < 250 ? 2 : 4)) }
            if x > 180 && x < 300 && y < 280 { return 8 }
            if x > 60 && x < 80 && y < 300 { return 9 }
            return 3
        }
        let compositor = try Compositor(model: camVid, options: options(alpha: 0.5, legend: true, stats: true))
        try compositor.compose(frame, labels: labels,
                               stats: OverlayStats(fps: 24.8, latencyMs: 86.2, frameIndex: 123))
        let directory = temporaryDirectory()
        let path = directory.appendingPathComponent("overlay-\(width)x\(height).png").path
        try FrameSnapshot.writePNG(frame, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let decoded = try decodePNG(data)
        #expect(decoded.width == width && decoded.height == height)
        print("overlay snapshot: \(path)")
    }

    private func decodePNG(_ data: Data) throws -> (width: Int, height: Int) {
        let codec = try #require(avcodec_find_decoder(AV_CODEC_ID_PNG))
        var context = avcodec_alloc_context3(codec)
        defer { avcodec_free_context(&context) }
        #expect(avcodec_open2(context, codec, nil) == 0)
        var packet = av_packet_alloc()
        defer { av_packet_free(&packet) }
        #expect(av_new_packet(packet, Int32(data.count)) == 0)
        data.copyBytes(to: packet!.pointee.data, count: data.count)
        #expect(avcodec_send_packet(context, packet) == 0)
        var frame = av_frame_alloc()
        defer { av_frame_free(&frame) }
        #expect(avcodec_receive_frame(context, frame) == 0)
        return (Int(frame!.pointee.width), Int(frame!.pointee.height))
    }
}
