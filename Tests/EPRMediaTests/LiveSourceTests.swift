import EPRCore
import EPRMedia
import Foundation
import Testing

/// LiveSource's rules without a media server: backoff, URL kinds, and that no network call can
/// hang (a listener that never answers, a stop from another thread).
@Suite struct LiveSourceTests {
    @Test func backoffDoublesFromAQuarterSecondUpToHalfASecond() {
        let options = LiveSourceOptions()
        #expect((1...7).map { options.backoff(attempt: $0) } == [0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    }

    @Test func liveAndNetworkURLsAreRecognised() {
        #expect(isLiveURL("rtsp://127.0.0.1:8554/cam"))
        #expect(isLiveURL("RTSP://camera/stream"))
        #expect(isLiveURL("srt://host:9000"))
        #expect(!isLiveURL("/videos/clip.mp4"))
        #expect(!isLiveURL("file:clip.mp4"))
        #expect(!isLiveURL("https://example.org/clip.mp4"))
        #expect(VideoSink.isNetworkURL("rtsp://127.0.0.1:8554/out"))
        #expect(!VideoSink.isNetworkURL("out/annotated.mp4"))
    }

    @Test func silentServerFailsAfterTheTimeoutInsteadOfHanging() throws {
        let listener = try Listener()
        defer { listener.close() }
        var options = LiveSourceOptions()
        options.stallTimeout = 0.5
        options.maxReconnects = 1
        let attempts = Counter()
        let source = LiveSource(url: "rtsp://127.0.0.1:\(listener.port)/cam", options: options) { event in
            if case .attemptFailed = event { attempts.add() }
        }
        let started = Date()
        #expect {
            try source.open()
        } throws: { error in
            let message = (error as? EPRError)?.message ?? ""
            return message.contains("no answer within 0.5 s") && message.contains("2 attempts")
        }
        let wall = Date().timeIntervalSince(started)
        #expect(wall >= 1.0 && wall < 4, "took \(wall) s")   // two 0.5 s timeouts and a 0.25 s backoff
        #expect(attempts.value == 1)
    }

    @Test func stopEndsAHangingFirstConnectionAtOnce() throws {
        let listener = try Listener()
        defer { listener.close() }
        var options = LiveSourceOptions()
        options.stallTimeout = 30   // it would hang for 30 s per attempt, forever
        let source = LiveSource(url: "rtsp://127.0.0.1:\(listener.port)/cam", options: options)
        Thread { Thread.sleep(forTimeInterval: 0.3); source.stop() }.start()
        let started = Date()
        #expect(throws: EPRError.self) { try source.open() }
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func refusedConnectionIsRetriedThenReported() throws {
        let port = try Listener().closedPort()
        var options = LiveSourceOptions()
        options.maxReconnects = 0
        let source = LiveSource(url: "rtsp://127.0.0.1:\(port)/cam", options: options)
        #expect {
            try source.open()
        } throws: { error in
            let e = error as? EPRError
            return e?.kind == .stream && e!.message.contains("Connection refused") && e!.message.contains("1 attempt")
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// A loopback TCP listener that never accepts or answers.
final class Listener {
    let port: Int
    private var fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = fd
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, len) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &len) == 0
            }
        }
        guard fd >= 0, ok else { throw EPRError(.internalFailure, "cannot listen on loopback") }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Closes the listener and returns its port, now refusing connections.
    func closedPort() -> Int { close(); return port }

    func close() {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
    }
}
