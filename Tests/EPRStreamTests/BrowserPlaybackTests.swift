import Foundation
import Testing

/// The browser preview played by a real browser: headless Chromium loads `run --preview`'s page
/// from the Hummingbird server and plays the live fragmented MP4 through Media Source Extensions
/// (Fixtures/chromium_preview.py drives it over the DevTools protocol and reports the video's state).
@Suite(.serialized) struct BrowserPlaybackTests {
    static let script = Repo.fixtures.appendingPathComponent("chromium_preview.py").path

    @Test func chromiumPlaysThePreviewThroughMediaSource() throws {
        // A camera (the clip looped at its own pace), so the run lasts as long as the browser needs.
        let model = try LiveFixtures.model()
        let camera = try RTSPServer(args: ["--file", Repo.dashcam, "--loops", "50"])
        defer { camera.terminate() }
        let port = try LiveFixtures.freePort()
        let runner = try LiveRun(["run", camera.url, "--preview", String(port), "--model", model, "--input-size", "128x224"])
        defer { runner.kill() }
        #expect(runner.waitForLine(containing: "browser preview: http://127.0.0.1:\(port)/", timeout: 120) != nil,
                "stderr: \(runner.stderrText)")

        // Played: 25 frames (a second of video) decoded and the clock moving, within 4 minutes.
        let browser = try run("/usr/bin/python3", [Self.script, "http://127.0.0.1:\(port)/", "240", "25"], timeout: 300)
        let state = try #require(try JSONSerialization.jsonObject(with: Data(browser.stdout.utf8)) as? [String: Any],
                                 "chromium_preview.py: \(browser.stdout) \(browser.stderr)")
        #expect(browser.status == 0, "\(state)")
        #expect(state["mse"] as? Bool == true, "the page took the MediaSource path: \(state)")
        #expect(state["supported"] as? Bool == true, "Chromium supports the stream's codec string: \(state)")
        #expect((state["decodedFrames"] as? Int ?? 0) >= 25, "\(state)")
        #expect((state["currentTime"] as? Double ?? 0) > 0, "\(state)")
        #expect(state["error"] is NSNull, "no media error: \(state)")

        runner.interrupt()
        let result = try runner.wait(timeout: 120)
        #expect(result.status == 130, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("preview: 1 viewer(s) served"), "the browser was the one viewer: \(result.stdout)")
    }
}
