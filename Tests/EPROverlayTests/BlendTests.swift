import CFFmpeg
import EPRCore
import EPROverlay
import Testing

@Suite struct ColorTests {
    @Test func yuvColorFollowsBT601LimitedRange() {
        #expect(YUVColor(RGB(255, 255, 255)) == YUVColor(y: 235, u: 128, v: 128))
        #expect(YUVColor(RGB(0, 0, 0)) == YUVColor(y: 16, u: 128, v: 128))
        #expect(YUVColor(RGB(255, 0, 0)) == YUVColor(y: 81, u: 90, v: 240))
        for c in camVid.palette {
            let e = bt601(c), yuv = YUVColor(c)
            #expect(near(Int(yuv.y), e.y, tolerance: 0.5) && near(Int(yuv.u), e.u, tolerance: 0.5)
                    && near(Int(yuv.v), e.v, tolerance: 0.5))
        }
    }
}

@Suite struct BlendTests {
    /// Class 3 (Road) in the left half, void in the right half, labels at the frame's size.
    @Test(arguments: [Float(0.5), 0.3, 0.8])
    func classRegionsBlendAndVoidStaysUntouched(alpha: Float) throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, _ in UInt8(40 + x * 2) })
        let before = Snapshot(frame)
        let labels = labelMap(width: 64, height: 48) { x, _ in x < 32 ? 3 : void }
        let compositor = try Compositor(model: camVid, options: options(alpha: alpha))
        try compositor.compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame)
        let road = bt601(camVid.palette[3]), a = Double(alpha)
        for y in 0..<48 {
            for x in 0..<64 {
                if x < 32 {
                    #expect(near(after.Y(x, y), mix(before.Y(x, y), road.y, a)), "Y at \(x),\(y)")
                } else {
                    #expect(after.Y(x, y) == before.Y(x, y), "void Y at \(x),\(y)")
                }
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                if x < 16 {
                    #expect(near(after.U(x, y), mix(before.U(x, y), road.u, a)))
                    #expect(near(after.V(x, y), mix(before.V(x, y), road.v, a)))
                } else {
                    #expect(after.U(x, y) == before.U(x, y) && after.V(x, y) == before.V(x, y))
                }
            }
        }
    }

    @Test func alphaZeroLeavesTheFrameUnchanged() throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8((x * 3 + y) % 220 + 16) })
        let before = Snapshot(frame)
        let labels = labelMap(width: 16, height: 12) { x, y in UInt8((x + y) % 12) }
        try Compositor(model: camVid, options: options(alpha: 0)).compose(frame, labels: labels, stats: nil)
        #expect(Snapshot(frame) == before)
    }

    @Test func alphaOneGivesThePureClassColour() throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8((x * 3 + y) % 220 + 16) })
        let labels = labelMap(width: 64, height: 48) { x, _ in UInt8(x / 8) }  // classes 0...7
        try Compositor(model: camVid, options: options(alpha: 1)).compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame)
        for y in 0..<48 {
            for x in 0..<64 {
                #expect(near(after.Y(x, y), bt601(camVid.palette[x / 8]).y, tolerance: 0.5))
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                let c = bt601(camVid.palette[x / 4])
                #expect(near(after.U(x, y), c.u, tolerance: 0.5) && near(after.V(x, y), c.v, tolerance: 0.5))
            }
        }
    }

    /// 8x6 labels on a 64x48 frame: label column 3 starts at x = 24, label row 2 at y = 16.
    @Test func smallLabelsUpscaleToTheRightPositions() throws {
        let frame = makeFrame(width: 64, height: 48)
        let before = Snapshot(frame)
        let labels = labelMap(width: 8, height: 6) { x, y in x < 3 && y < 2 ? 8 : void }
        try Compositor(model: camVid, options: options(alpha: 1)).compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame)
        let car = YUVColor(camVid.palette[8])
        for y in 0..<48 {
            for x in 0..<64 {
                let inside = x < 24 && y < 16
                #expect((after.Y(x, y) == Int(car.y)) == inside, "Y at \(x),\(y)")
                if !inside { #expect(after.Y(x, y) == before.Y(x, y)) }
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                let inside = x < 12 && y < 8
                #expect((after.U(x, y) == Int(car.u) && after.V(x, y) == Int(car.v)) == inside, "UV at \(x),\(y)")
            }
        }
    }

    /// The network's 480x360 labels on a 960x540 frame (x2 across, x1.5 down): a boundary at
    /// label column 240 lands at x = 480; one at label row 180 at y = 270.
    @Test func networkSizedLabelsOnA960x540Frame() throws {
        let frame = makeFrame(width: 960, height: 540)
        let labels = labelMap(width: 480, height: 360) { x, y in x < 240 ? (y < 180 ? 0 : 3) : void }
        try Compositor(model: camVid, options: options(alpha: 1)).compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame)
        let sky = Int(YUVColor(camVid.palette[0]).y), road = Int(YUVColor(camVid.palette[3]).y)
        #expect(after.Y(479, 0) == sky && after.Y(480, 0) == 100)
        #expect(after.Y(10, 269) == sky && after.Y(10, 270) == road)
        #expect(after.Y(479, 539) == road && after.Y(480, 539) == 100 && after.Y(959, 539) == 100)
        let roadU = Int(YUVColor(camVid.palette[3]).u)
        #expect(after.U(239, 269) == roadU && after.U(240, 269) == 120)
    }

    /// Labels larger than the frame sample every other label.
    @Test func largerLabelsDownscale() throws {
        let frame = makeFrame(width: 32, height: 16)
        let labels = labelMap(width: 64, height: 32) { x, _ in x % 2 == 1 ? 5 : void }
        try Compositor(model: camVid, options: options(alpha: 1)).compose(frame, labels: labels, stats: nil)
        // Luma x samples label column 2x + 1 (class 5); chroma cx samples column 4cx + 2 (void).
        let after = Snapshot(frame)
        #expect(after.y.allSatisfy { $0 == YUVColor(camVid.palette[5]).y })
        #expect(after.u.allSatisfy { $0 == 120 } && after.v.allSatisfy { $0 == 140 })
    }

    @Test func oddSizedFramesAreFullyCovered() throws {
        let frame = makeFrame(width: 63, height: 47)
        let labels = LabelMap(width: 10, height: 7, filledWith: 1)
        try Compositor(model: camVid, options: options(alpha: 1)).compose(frame, labels: labels, stats: nil)
        let after = Snapshot(frame), c = YUVColor(camVid.palette[1])
        #expect(after.y.allSatisfy { $0 == c.y })
        #expect(after.u.allSatisfy { $0 == c.u } && after.v.allSatisfy { $0 == c.v })
    }

    @Test func unknownLabelsAreLeftAlone() throws {
        let frame = makeFrame(width: 32, height: 16)
        let before = Snapshot(frame)
        try Compositor(model: camVid, options: options(alpha: 1))
            .compose(frame, labels: LabelMap(width: 32, height: 16, filledWith: 200), stats: nil)
        #expect(Snapshot(frame) == before)
    }

    /// A frame whose buffer is shared with another reference is copied before drawing.
    @Test func sharedFramesAreMadeWritableFirst() throws {
        let frame = makeFrame(width: 32, height: 16)
        let other = av_frame_alloc()!
        #expect(av_frame_ref(other, frame.avFrame) == 0)
        let otherFrame = VideoFrame(taking: other, sequence: 0, pts: 0, timeBase: AVRational(num: 1, den: 25),
                                    duration: 1)
        let before = Snapshot(otherFrame)
        try Compositor(model: camVid, options: options(alpha: 1))
            .compose(frame, labels: LabelMap(width: 4, height: 2, filledWith: 2), stats: nil)
        #expect(Snapshot(otherFrame) == before)
        #expect(Snapshot(frame).Y(0, 0) == Int(YUVColor(camVid.palette[2]).y))
    }

    @Test func rgbBlendMatchesTheFormula() throws {
        let compositor = try Compositor(model: camVid, options: options(alpha: 0.5))
        var pixels = [UInt8](repeating: 200, count: 4 * 2 * 3)
        compositor.blendRGB(&pixels, width: 4, height: 2, labels: labelMap(width: 2, height: 1) { x, _ in x == 0 ? 1 : void })
        #expect(Array(pixels[0..<3]) == [164, 100, 100])   // (200 + 128) / 2, (200 + 0) / 2
        #expect(Array(pixels[6..<12]) == [200, 200, 200, 200, 200, 200])
        #expect(Array(pixels[12..<15]) == [164, 100, 100])
    }

    @Test func badSettingsAreConfigErrors() {
        var bad = options()
        bad.fontPath = "/nonexistent/font.ttf"
        #expect(throws: EPRError.self) { try Compositor(model: camVid, options: bad) }
        do {
            _ = try Compositor(model: camVid, options: bad)
        } catch {
            #expect(error.kind == .config)
            #expect(error.message.contains("/nonexistent/font.ttf"))
        }
        #expect(throws: EPRError.self) { try Compositor(model: camVid, options: options(alpha: 1.5)) }
    }

    @Test func nonYUV420FramesAreRefused() throws {
        let frame = av_frame_alloc()!
        frame.pointee.width = 8
        frame.pointee.height = 8
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        #expect(av_frame_get_buffer(frame, 0) == 0)
        let video = VideoFrame(taking: frame, sequence: 0, pts: 0, timeBase: AVRational(num: 1, den: 25), duration: 1)
        let compositor = try Compositor(model: camVid, options: options())
        #expect(throws: EPRError.self) {
            try compositor.compose(video, labels: LabelMap(width: 8, height: 8), stats: nil)
        }
    }
}
