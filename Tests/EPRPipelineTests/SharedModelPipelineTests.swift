import EPRCore
import EPRInference
import EPRPipeline
import Foundation
import Synchronization
import Testing

/// Two pipelines (two streams) given one compiled model run at once, each with its own runner on
/// it: both write every frame, and the network was compiled once.
@Suite struct SharedModelPipelineTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var clip: String {
        let near = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/media/solidWhiteRight.mp4").path
        return FileManager.default.fileExists(atPath: near) ? near : "/work/shared/media/solidWhiteRight.mp4"
    }
    static var model: String { repoRoot.appendingPathComponent("Models/eprnet-camvid-int8.xml").path }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: model) && FileManager.default.fileExists(atPath: clip)))
    func twoPipelinesShareOneCompiledModel() throws {
        var settings = PipelineSettings()
        settings.modelPath = Self.model
        settings.inputHeight = 128
        settings.inputWidth = 224
        settings.maxFrames = 20
        settings.audio = false
        let engine = try OpenVINORuntime()
        // The clip is 960x540: the model is compiled for frames of that size.
        let model = try CompiledSegmentationModel(modelPath: Self.model, frameWidth: 960, frameHeight: 540,
                                                  options: settings.runnerOptions, engine: engine)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shared-model-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let outcomes = Mutex<[Int: Result<Int, EPRError>]>([:])
        let finished = DispatchSemaphore(value: 0)
        for stream in 0..<2 {
            let output = dir.appendingPathComponent("stream\(stream).mp4").path
            let pipeline = Pipeline(input: Self.clip, output: output, settings: settings, model: model)
            Thread {
                let outcome: Result<Int, EPRError>
                do throws(EPRError) { outcome = .success(try pipeline.run().framesWritten) } catch { outcome = .failure(error) }
                outcomes.withLock { $0[stream] = outcome }
                finished.signal()
            }.start()
        }
        finished.wait(); finished.wait()

        for stream in 0..<2 {
            let written = try outcomes.withLock { $0[stream] }?.get()
            #expect(written == 20, "stream \(stream)")
            let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("stream\(stream).mp4").path)[.size] as? Int
            #expect((size ?? 0) > 0)
        }
        #expect(engine.compilations == 1)
    }
}
