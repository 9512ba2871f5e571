import EPRCore
import EPRInference
import Foundation
import Synchronization
import Testing

/// One compiled model shared by several runners (the seam of multi-stream serving): each runner
/// has its own requests, masks are those of a runner alone, and the network compiles once.
@Suite("Shared compiled model", .enabled(if: TestSupport.modelPath != nil, "no model: Models/eprnet-camvid.onnx or EPR_TEST_MODEL"))
struct SharedModelTests {
    @Test func twoRunnersUsedAtOnceGiveTheMasksOfOneRunnerAloneAndCompileOnce() throws {
        let clip = try TestSupport.decodeVideo(TestSupport.dashcamClip, every: 20, count: 6)
        let frames = clip.isEmpty ? (0..<6).map { TestSupport.makeFrame(width: 320, height: 180, sequence: $0) } : clip
        let width = frames[0].width, height = frames[0].height
        var options = RunnerOptions()
        options.inputHeight = 128
        options.inputWidth = 224
        options.inFlight = 2
        let engine = try OpenVINORuntime()
        let model = try CompiledSegmentationModel(modelPath: TestSupport.modelPath!, frameWidth: width, frameHeight: height,
                                                  options: options, engine: engine)
        #expect(engine.compilations == 1)
        let image = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 / 3) }

        // The reference: one runner alone, one frame at a time.
        let alone = try model.makeRunner()
        let reference = try frames.map { frame throws(EPRError) in try alone.segment(frame) }
        #expect(reference.contains { $0 != reference[0] }, "the frames should not all give one mask")

        // Two more runners on the same model, driven at once from two threads, each through all
        // frames asynchronously (two requests in flight each), then an RGB image each: the RGB
        // network is compiled when first needed, once for both.
        let runners = [try model.makeRunner(), try model.makeRunner()]
        let results = Mutex<[Int: [LabelMap]]>([:])
        let rgbResults = Mutex<[Int: LabelMap]>([:])
        let errors = Mutex<[String]>([])
        let start = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        for (index, runner) in runners.enumerated() {
            let thread = Thread {
                start.wait()
                do throws(EPRError) {
                    var masks: [LabelMap] = []
                    for frame in frames { masks += try runner.submit(frame).map(\.labels) }
                    masks += try runner.drain().map(\.labels)
                    let rgb = try runner.segment(rgb: image, width: width, height: height)
                    results.withLock { $0[index] = masks }
                    rgbResults.withLock { $0[index] = rgb }
                } catch {
                    errors.withLock { $0.append(error.message) }
                }
                finished.signal()
            }
            thread.start()
        }
        start.signal(); start.signal()
        finished.wait(); finished.wait()

        #expect(errors.withLock { $0 }.isEmpty)
        let masks = results.withLock { $0 }
        for index in runners.indices {
            #expect(masks[index] == reference, "runner \(index) gave other masks than the runner alone")
        }
        let rgb = rgbResults.withLock { $0 }
        #expect(rgb.count == 2 && rgb[0] == rgb[1])
        // One planes network at set-up, one RGB network for both runners.
        #expect(engine.compilations == 2)
        #expect(alone.compiled === model && runners.allSatisfy { $0.compiled === model })
    }
}
