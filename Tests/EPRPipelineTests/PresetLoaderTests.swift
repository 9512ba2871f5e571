import EPRCore
import EPROverlay
import EPRPipeline
import Foundation
import Testing

@Suite struct PresetLoaderTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func dashcamPresetLoadsEveryKey() throws {
        var settings = PipelineSettings()
        settings.alpha = 0.9
        let path = Self.repoRoot.appendingPathComponent("Pipelines/dashcam.yaml").path
        try PresetLoader.apply(file: path, to: &settings)
        #expect(settings.modelPath == Self.repoRoot.appendingPathComponent("Models/eprnet-camvid-int8.xml").path)
        #expect(settings.alpha == 0.5)
        #expect(settings.inputHeight == nil)
        #expect(settings.frameQueueCapacity == 4)
        #expect(settings.inferenceRequests == 2)
        #expect(settings.encoderPreset == "ultrafast")
        #expect(settings.decoderThreads == 1 && settings.encoderThreads == 1)
        #expect(settings.encoderCRF == 23)
        #expect(settings.audio)
        #expect(settings.overlayMode == .blend)
        var silent = PipelineSettings()
        try PresetLoader.apply(yaml: "audio: false\n", source: "t.yaml", to: &silent)
        #expect(!silent.audio)
    }

    @Test func valuesOverrideDefaults() throws {
        var settings = PipelineSettings()
        try PresetLoader.apply(yaml: "input_size: 240x320\nalpha: 0.25\nqueues:\n  frames: 7\nencoder:\n  crf: 30\npreview: 0.0.0.0:8080\n",
                               source: "t.yaml", to: &settings)
        #expect(settings.previewAddress == "0.0.0.0:8080")
        #expect(settings.inputHeight == 240 && settings.inputWidth == 320)
        #expect(settings.alpha == 0.25)
        #expect(settings.frameQueueCapacity == 7)
        #expect(settings.encoderCRF == 30)
    }

    @Test func inferenceSettingsFromASweep() throws {
        var settings = PipelineSettings()
        #expect(settings.preprocessing == .graph && settings.inferenceHint == nil && settings.inferenceStreams == nil)
        try PresetLoader.apply(yaml: "inference:\n  hint: latency\n  requests: 1\n  streams: 1\n  preprocess: host\n",
                               source: "t.yaml", to: &settings)
        #expect(settings.inferenceHint == "LATENCY" && settings.inferenceRequests == 1 && settings.inferenceStreams == 1)
        #expect(settings.preprocessing == .host)
        let options = settings.runnerOptions
        #expect(options.performanceHint == "LATENCY" && options.inFlight == 1 && options.streams == 1)
        #expect(options.preprocessing == .host)
    }

    @Test func inferEveryAndPropagationAreRead() throws {
        var settings = PipelineSettings()
        #expect(settings.inferEvery == 1 && settings.propagateMasks)
        #expect(settings.inferAuto == nil && settings.infersAuto(live: true) && !settings.infersAuto(live: false))
        try PresetLoader.apply(yaml: "inference:\n  every: 3\n  propagate: none\n", source: "t.yaml", to: &settings)
        #expect(settings.inferEvery == 3 && !settings.propagateMasks)
        #expect(!settings.infersAuto(live: true))   // a number given: live input too
        try PresetLoader.apply(yaml: "inference:\n  every: auto\n  smooth: 3\n", source: "t.yaml", to: &settings)
        #expect(settings.infersAuto(live: false) && settings.smoothMasks == 3)
        try PresetLoader.apply(yaml: "inference:\n  every: 3\n  propagate: bidirectional\n", source: "t.yaml", to: &settings)
        #expect(settings.propagateMasks && settings.propagateBothWays)
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "inference:\n  every: sometimes\n", source: "t.yaml", to: &settings)
        }
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "inference:\n  every: 0\n", source: "t.yaml", to: &settings)
        }
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "inference:\n  propagate: flow\n", source: "t.yaml", to: &settings)
        }
    }

    @Test func unknownKeyIsNamed() {
        var settings = PipelineSettings()
        #expect {
            try PresetLoader.apply(yaml: "queues:\n  framez: 3\n", source: "p.yaml", to: &settings)
        } throws: { error in
            (error as? EPRError)?.message.contains("unknown key 'queues.framez'") == true
                && (error as? EPRError)?.message.contains("p.yaml") == true
        }
    }

    @Test(arguments: [
        ("alpha: 2", "alpha"), ("alpha: lots", "alpha"), ("encoder:\n  preset: warp", "encoder.preset"),
        ("input_size: 361x480", "input_size"), ("queues:\n  encode: 0", "queues.encode"), ("legend: maybe", "legend"),
        ("preview: eighty", "preview"), ("inference:\n  hint: fastest", "inference.hint"),
        ("inference:\n  preprocess: gpu", "inference.preprocess"), ("inference:\n  streams: 0", "inference.streams"),
    ])
    func badValueNamesTheKey(yaml: String, key: String) {
        var settings = PipelineSettings()
        let before = settings
        #expect {
            try PresetLoader.apply(yaml: yaml, source: "p.yaml", to: &settings)
        } throws: { error in
            (error as? EPRError)?.message.contains(key) == true
        }
        #expect(settings == before)
    }

    @Test func invalidYAMLIsReported() {
        var settings = PipelineSettings()
        #expect {
            try PresetLoader.apply(yaml: "alpha: [1, 2\n", source: "bad.yaml", to: &settings)
        } throws: { error in
            (error as? EPRError)?.message.contains("bad.yaml is not valid YAML") == true
        }
    }

    @Test func inputSizeParsing() throws {
        let size = try PipelineSettings.parseInputSize("360x640")
        #expect(size.height == 360 && size.width == 640)
        #expect(throws: EPRError.self) { try PipelineSettings.parseInputSize("360") }
        #expect(throws: EPRError.self) { try PipelineSettings.parseInputSize("0x8") }
    }
}

@Suite struct LivePresetTests {
    @Test func liveKeysApply() throws {
        var settings = PipelineSettings()
        #expect(settings.liveFrameQueueCapacity == 2 && settings.rtspTransport == "tcp" && settings.stallTimeout == 5)
        #expect(settings.maxReconnects == nil)
        try PresetLoader.apply(yaml: "live:\n  frame_queue: 3\n  rtsp_transport: udp\n  stall_timeout: 2.5\n  max_reconnects: 4\n",
                               source: "test.yaml", to: &settings)
        #expect(settings.liveFrameQueueCapacity == 3)
        #expect(settings.rtspTransport == "udp")
        #expect(settings.stallTimeout == 2.5)
        #expect(settings.maxReconnects == 4)
    }

    @Test func rtspCameraPresetLoads() throws {
        let preset = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Pipelines/rtsp-camera.yaml").path
        var settings = PipelineSettings()
        try PresetLoader.apply(file: preset, to: &settings)
        #expect(settings.liveFrameQueueCapacity == 2)
        #expect(settings.stallTimeout == 5)
        #expect(settings.rtspTransport == "tcp")
        #expect(settings.maxReconnects == nil)
        #expect(settings.modelPath?.hasSuffix("Models/eprnet-camvid-int8.xml") == true)
    }

    @Test func badLiveValuesAreNamed() {
        var settings = PipelineSettings()
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "live:\n  rtsp_transport: http\n", source: "t.yaml", to: &settings)
        }
        #expect(throws: EPRError.self) {
            try PresetLoader.apply(yaml: "live:\n  stall_timeout: 0\n", source: "t.yaml", to: &settings)
        }
    }
}

@Suite struct OverlayPresetTests {
    @Test func overlayKeysApply() throws {
        var settings = PipelineSettings()
        #expect(settings.overlayMode == .blend && settings.classes == nil && settings.palettePath == nil)
        try PresetLoader.apply(yaml: "overlay:\n  mode: side-by-side\n  classes: Road, Car,8\n  palette: /p/palette.txt\n",
                               source: "t.yaml", to: &settings)
        #expect(settings.overlayMode == .sideBySide)
        #expect(settings.classes == ["Road", "Car", "8"])
        #expect(settings.palettePath == "/p/palette.txt")
        try PresetLoader.apply(yaml: "overlay:\n  mode: contours\n  classes: [Road, 3]\n", source: "t.yaml", to: &settings)
        #expect(settings.overlayMode == .contours && settings.classes == ["Road", "3"])
    }

    /// A relative palette path resolves like a relative model path: against the presets folder's parent.
    @Test func relativePalettePathResolvesAgainstTheRepository() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("preset-\(UUID().uuidString)")
        let pipelines = dir.appendingPathComponent("Pipelines")
        try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = pipelines.appendingPathComponent("p.yaml")
        try Data("overlay:\n  palette: Media/palette.txt\n".utf8).write(to: preset)
        var settings = PipelineSettings()
        try PresetLoader.apply(file: preset.path, to: &settings)
        #expect(settings.palettePath == dir.appendingPathComponent("Media/palette.txt").path)
    }

    @Test(arguments: [
        ("overlay:\n  mode: outline\n", "preset p.yaml: overlay.mode: unknown overlay mode 'outline' (one of blend, mask, side-by-side, contours)"),
        ("overlay:\n  classes: ' , '\n", "preset p.yaml: overlay.classes: no classes given in ' , ': expected names or ids, e.g. Road,Car"),
        ("overlay:\n  colours: x\n", "preset p.yaml: unknown key 'overlay.colours'"),
    ])
    func badOverlayValuesAreOneLineErrors(yaml: String, message: String) {
        var settings = PipelineSettings()
        #expect {
            try PresetLoader.apply(yaml: yaml, source: "p.yaml", to: &settings)
        } throws: { error in
            (error as? EPRError)?.message.hasPrefix(message) == true
        }
    }

    @Test func classListParsing() throws {
        #expect(try PipelineSettings.parseClasses("Road,Car, 8") == ["Road", "Car", "8"])
        #expect(throws: EPRError.self) { try PipelineSettings.parseClasses(",") }
    }
}

@Suite struct RecordPresetTests {
    @Test func recordKeysApply() throws {
        var settings = PipelineSettings()
        try PresetLoader.apply(yaml: "record:\n  segment: 60\n  retain: 24h\n", source: "t.yaml", to: &settings)
        #expect(settings.segmentSeconds == 60 && settings.retention == .age(seconds: 86400))
        try PresetLoader.apply(yaml: "record:\n  retain: 10\n", source: "t.yaml", to: &settings)
        #expect(settings.retention == .count(10))
    }

    @Test func retentionParsing() throws {
        #expect(try Retention(parsing: "90s") == .age(seconds: 90))
        #expect(try Retention(parsing: "30m") == .age(seconds: 1800))
        #expect(try Retention(parsing: "7d") == .age(seconds: 7 * 86400))
        for bad in ["0", "-3", "h", "3w", "", "1.5"] {
            #expect(throws: EPRError.self, "\(bad)") { try Retention(parsing: bad) }
        }
    }

    @Test func badRecordValuesNameTheKey() {
        var settings = PipelineSettings()
        #expect(throws: EPRError(.config, "preset p.yaml: record.segment: segments must be at least 1 second, got 0.5")) {
            try PresetLoader.apply(yaml: "record:\n  segment: 0.5\n", source: "p.yaml", to: &settings)
        }
        #expect(throws: EPRError.self) { try PresetLoader.apply(yaml: "record:\n  retain: forever\n", source: "p.yaml", to: &settings) }
    }
}
