import CFFmpeg
import EPRCore
import EPROverlay
import Foundation
import Testing

func options(mode: OverlayMode, alpha: Float = 0.5, classes: [String]? = nil, palette: Palette? = nil,
             legend: Bool = false, stats: Bool = false) -> CompositorOptions {
    var o = options(alpha: alpha, legend: legend, stats: stats)
    o.mode = mode
    o.classes = classes
    o.palette = palette
    return o
}

/// Road (3) in the left half, Car (8) in the right half, at the frame's size.
func roadAndCar(width: Int, height: Int) -> LabelMap {
    labelMap(width: width, height: height) { x, _ in x < width / 2 ? 3 : 8 }
}

@Suite struct OverlayModeTests {
    @Test func modesParseAndUnknownNamesListTheValidOnes() throws {
        #expect(try OverlayMode(parsing: "side-by-side") == .sideBySide)
        #expect(try OverlayMode(parsing: "Contours") == .contours)
        #expect(CompositorOptions().mode == .blend)
        do {
            _ = try OverlayMode(parsing: "outline")
            Issue.record("no error")
        } catch {
            #expect(error.kind == .config)
            #expect(error.message == "unknown overlay mode 'outline' (one of blend, mask, side-by-side, contours)")
        }
    }

    /// Mask: the pure class colour whatever the alpha; void keeps the picture.
    @Test func maskPaintsOpaqueClassColours() throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8(30 + x + y) })
        let before = Snapshot(frame)
        let labels = labelMap(width: 32, height: 24) { x, _ in x < 16 ? 3 : void }
        let out = try Compositor(model: camVid, options: options(mode: .mask, alpha: 0.2))
            .compose(frame, labels: labels, stats: nil)
        #expect(out === frame)
        let after = Snapshot(frame), road = YUVColor(camVid.palette[3])
        for y in 0..<48 {
            for x in 0..<64 {
                #expect(after.Y(x, y) == (x < 32 ? Int(road.y) : before.Y(x, y)), "Y at \(x),\(y)")
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                let expected = x < 16 ? (Int(road.u), Int(road.v)) : (before.U(x, y), before.V(x, y))
                #expect(after.U(x, y) == expected.0 && after.V(x, y) == expected.1, "UV at \(x),\(y)")
            }
        }
    }

    /// Landscape: twice as wide, the original byte for byte on the left, the blend on the right.
    @Test func sideBySidePutsTheOriginalLeftAndTheBlendRight() throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8(30 + x + y) }, u: { x, y in UInt8(100 + x + y) })
        let before = Snapshot(frame)
        let compositor = try Compositor(model: camVid, options: options(mode: .sideBySide, alpha: 0.5))
        #expect(compositor.outputSize(frameWidth: 64, frameHeight: 48) == (128, 48))
        let out = try compositor.compose(frame, labels: roadAndCar(width: 64, height: 48), stats: nil)
        #expect(out !== frame && out.width == 128 && out.height == 48)
        #expect(out.pts == frame.pts && out.sequence == frame.sequence)
        #expect(Snapshot(frame) == before)
        let after = Snapshot(out), road = bt601(camVid.palette[3]), car = bt601(camVid.palette[8])
        for y in 0..<48 {
            for x in 0..<64 {
                #expect(after.Y(x, y) == before.Y(x, y), "left Y at \(x),\(y)")
                #expect(near(after.Y(64 + x, y), mix(before.Y(x, y), x < 32 ? road.y : car.y, 0.5)), "right Y at \(x),\(y)")
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                #expect(after.U(x, y) == before.U(x, y) && after.V(x, y) == before.V(x, y))
                #expect(near(after.U(32 + x, y), mix(before.U(x, y), x < 16 ? road.u : car.u, 0.5)))
                #expect(near(after.V(32 + x, y), mix(before.V(x, y), x < 16 ? road.v : car.v, 0.5)))
            }
        }
    }

    /// Portrait: stacked, the original on top; the legend and stats are drawn on the blend only.
    @Test func sideBySideStacksPortraitFramesWithTheTextOnTheBlend() throws {
        let frame = makeFrame(width: 120, height: 160, y: { x, y in UInt8(30 + (x + y) % 150) })
        let before = Snapshot(frame)
        let compositor = try Compositor(model: camVid, options: options(mode: .sideBySide, alpha: 0.5, legend: true, stats: true))
        let labels = roadAndCar(width: 120, height: 160)
        let out = try compositor.compose(frame, labels: labels, stats: OverlayStats(fps: 10, latencyMs: 50, frameIndex: 3))
        #expect(out.width == 120 && out.height == 320)
        let after = Snapshot(out), road = bt601(camVid.palette[3])
        #expect(Array(after.y[0..<(120 * 160)]) == before.y)
        #expect(Array(after.u[0..<(60 * 80)]) == before.u && Array(after.v[0..<(60 * 80)]) == before.v)
        // Bottom-left, away from the stats box at the top-left of the lower panel: the blend.
        #expect(near(after.Y(10, 160 + 150), mix(before.Y(10, 150), road.y, 0.5)))
        let entries = compositor.legend.entries(for: labels)
        let box = try #require(compositor.legendRect(for: entries, frameWidth: 120, frameHeight: 160))
        let (x, y) = (box.x + box.width / 2, box.y + box.height / 2)
        #expect(after.Y(x, 160 + y) != Int(mix(before.Y(x, y), road.y, 0.5).rounded()), "legend in the lower panel")
    }

    /// An odd width loses its last column so both panels start on a chroma block.
    @Test func sideBySideOfAnOddWidth() throws {
        let frame = makeFrame(width: 63, height: 40, y: { x, _ in UInt8(20 + x) })
        let out = try Compositor(model: camVid, options: options(mode: .sideBySide))
            .compose(frame, labels: LabelMap(width: 8, height: 5, filledWith: void), stats: nil)
        #expect(out.width == 124 && out.height == 40)
        let after = Snapshot(out)
        #expect(after.Y(0, 0) == 20 && after.Y(61, 0) == 81 && after.Y(62, 0) == 20 && after.Y(123, 0) == 81)
    }

    /// Contours: a one-pixel line in each class's colour on each side of the Road/Car boundary,
    /// nothing inside the regions or along the frame's edge.
    @Test func contoursMarkClassBoundariesOnly() throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8(30 + x + y) })
        let before = Snapshot(frame)
        try Compositor(model: camVid, options: options(mode: .contours, alpha: 0.3))
            .compose(frame, labels: roadAndCar(width: 32, height: 24), stats: nil)
        let after = Snapshot(frame)
        let road = YUVColor(camVid.palette[3]), car = YUVColor(camVid.palette[8])
        for y in 0..<48 {
            for x in 0..<64 {
                let expected = x == 31 ? Int(road.y) : x == 32 ? Int(car.y) : before.Y(x, y)
                #expect(after.Y(x, y) == expected, "Y at \(x),\(y)")
            }
        }
        for y in 0..<24 {
            for x in 0..<32 {
                let expected = x == 15 ? (Int(road.u), Int(road.v)) : x == 16 ? (Int(car.u), Int(car.v))
                    : (before.U(x, y), before.V(x, y))
                #expect(after.U(x, y) == expected.0 && after.V(x, y) == expected.1, "UV at \(x),\(y)")
            }
        }
    }

    /// A Car rectangle on void: its outline is just inside its border; void is never outlined.
    @Test func contoursOutlineARegionFromInside() throws {
        let frame = makeFrame(width: 64, height: 48)
        try Compositor(model: camVid, options: options(mode: .contours))
            .compose(frame, labels: labelMap(width: 64, height: 48) { x, y in (16..<48).contains(x) && (12..<36).contains(y) ? 8 : void },
                     stats: nil)
        let after = Snapshot(frame), car = Int(YUVColor(camVid.palette[8]).y)
        #expect(after.Y(16, 20) == car && after.Y(47, 20) == car && after.Y(30, 12) == car && after.Y(30, 35) == car)
        #expect(after.Y(17, 20) == 100 && after.Y(30, 20) == 100 && after.Y(30, 13) == 100)
        #expect(after.Y(15, 20) == 100 && after.Y(48, 20) == 100 && after.Y(30, 11) == 100 && after.Y(30, 36) == 100)
    }

    /// Only the chosen classes are drawn (by name in any case, or by id), in every mode; the
    /// other pixels are byte-identical to the input, and the legend lists only the chosen ones.
    @Test(arguments: [OverlayMode.blend, .mask, .contours, .sideBySide])
    func classFilterLeavesTheRestByteIdentical(mode: OverlayMode) throws {
        let frame = makeFrame(width: 64, height: 48, y: { x, y in UInt8(30 + x + y) }, u: { x, _ in UInt8(90 + x) })
        let before = Snapshot(frame)
        let labels = labelMap(width: 64, height: 48) { x, _ in UInt8(x / 8) }   // classes 0...7 in stripes
        let compositor = try Compositor(model: camVid, options: options(mode: mode, classes: ["road", "7"], legend: true))
        #expect(compositor.legend.entries(for: labels).map(\.classId) == [3, 7])
        // The legend box is checked on its own; keep it out of the comparison.
        let labelsOnly = try Compositor(model: camVid, options: options(mode: mode, classes: ["road", "7"]))
        let after = Snapshot(try labelsOnly.compose(frame, labels: labels, stats: nil))
        let offset = mode == .sideBySide ? 64 : 0
        for y in 0..<48 {
            for x in 0..<64 where x / 8 != 3 && x / 8 != 7 {
                #expect(after.Y(offset + x, y) == before.Y(x, y), "Y at \(x),\(y)")
            }
        }
        for y in 0..<24 {
            for x in 0..<32 where x / 4 != 3 && x / 4 != 7 {
                #expect(after.U(offset / 2 + x, y) == before.U(x, y) && after.V(offset / 2 + x, y) == before.V(x, y),
                        "UV at \(x),\(y)")
            }
        }
        #expect(after.Y(offset + 28, 20) != before.Y(28, 20) || mode == .contours)
        #expect(after.Y(offset + 24, 20) != before.Y(24, 20), "Road's first column is drawn in every mode")
    }

    @Test func unknownClassesListTheValidOnes() throws {
        do {
            _ = try Compositor(model: camVid, options: options(mode: .blend, classes: ["Road", "Rood"]))
            Issue.record("no error")
        } catch {
            #expect(error.kind == .config)
            #expect(error.message.hasPrefix("unknown class 'Rood' (classes: 0 Sky, 1 Building, 2 Pole, 3 Road,"), "\(error.message)")
            #expect(error.message.hasSuffix("10 Bicyclist)") && !error.message.contains("void"), "\(error.message)")
        }
        #expect(throws: EPRError.self) { try Compositor(model: camVid, options: options(mode: .blend, classes: ["11"])) }
        #expect(throws: EPRError.self) { try Compositor(model: camVid, options: options(mode: .blend, classes: ["12"])) }
    }
}

@Suite struct PaletteTests {
    static let twelve = (0..<12).map { "c\($0) \($0 * 20),\(255 - $0 * 20),7" }.joined(separator: "\n")

    @Test func textPaletteReplacesTheModelsNamesAndColours() throws {
        let palette = try Palette(parsing: "# name r,g,b\n\n" + Self.twelve + "  # trailing comment\n", source: "p.txt")
        #expect(palette.names.count == 12 && palette.names[3] == "c3" && palette.colors[3] == RGB(60, 195, 7))
        let compositor = try Compositor(model: camVid, options: options(mode: .mask, palette: palette))
        #expect(compositor.model.classNames[3] == "c3" && compositor.model.voidLabel == 11)
        let frame = makeFrame(width: 16, height: 8)
        let labels = LabelMap(width: 16, height: 8, filledWith: 3)
        try compositor.compose(frame, labels: labels, stats: nil)
        #expect(Snapshot(frame).y.allSatisfy { $0 == YUVColor(RGB(60, 195, 7)).y })
        #expect(compositor.legend.entries(for: labels) == [LegendEntry(classId: 3, name: "c3", color: RGB(60, 195, 7))])
        // Names may contain spaces; the colour is the last field.
        let spaced = try Palette(parsing: "Traffic sign 1,2,3\n", source: "s.txt")
        #expect(spaced.names == ["Traffic sign"] && spaced.colors == [RGB(1, 2, 3)])
    }

    @Test func jsonPalette() throws {
        let palette = try Palette(parsing: #"[{"name": "Road", "color": [128, 64, 128]}, {"name": "Sky", "color": [0, 0, 255]}]"#,
                                  source: "p.json")
        #expect(palette.names == ["Road", "Sky"] && palette.colors == [RGB(128, 64, 128), RGB(0, 0, 255)])
    }

    @Test func classCountMismatchNamesBothCounts() throws {
        let palette = try Palette(parsing: "Road 1,2,3\nSky 4,5,6\n", source: "p.txt")
        do {
            _ = try Compositor(model: camVid, options: options(mode: .blend, palette: palette))
            Issue.record("no error")
        } catch {
            #expect(error.kind == .config)
            #expect(error.message == "palette p.txt has 2 classes but the model test-camvid has 12")
        }
    }

    @Test(arguments: [
        ("Road 128,64\n", "palette p line 1: expected 'name r,g,b' (0-255 each), got 'Road 128,64'"),
        ("Road 1,2,3\nSky 1,2,300\n", "palette p line 2: expected 'name r,g,b' (0-255 each), got 'Sky 1,2,300'"),
        ("1,2,3\n", "palette p line 1: expected 'name r,g,b' (0-255 each), got '1,2,3'"),
        ("# nothing\n", "palette p lists no classes"),
        ("[{\"name\": \"Road\"}]", "palette p entry 0: expected {\"name\": ..., \"color\": [r, g, b]}"),
        ("[{\"name\": \"Road\", \"color\": [1, 2, 3.5]}]", "palette p entry 0 (Road): colour values must be integers 0-255"),
        ("[{", "palette p is not valid JSON"),
    ])
    func malformedPalettesAreOneLineErrors(text: String, message: String) {
        do {
            _ = try Palette(parsing: text, source: "p")
            Issue.record("no error for \(text)")
        } catch {
            #expect(error.kind == .config)
            #expect(error.message == message)
        }
    }

    @Test func unreadablePaletteFile() {
        #expect(throws: EPRError(.config, "cannot read palette /nonexistent/p.txt")) {
            try Palette(contentsOfFile: "/nonexistent/p.txt")
        }
    }
}
