import CFFmpeg
import EPRCore
import EPRMedia
import Foundation

// What more than one test target needs (test targets cannot import each other).

/// ../shared/media/solidWhiteRight.mp4 beside the repository (present on every machine that runs the tests).
public let dashcamClipPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("shared/media/solidWhiteRight.mp4").path

/// The first `count` decoded frames of `url` (default: the dashcam clip) and its stream.
public func firstFrames(_ count: Int, of url: String = dashcamClipPath) throws -> (frames: [VideoFrame], video: VideoStreamInfo) {
    FFmpegLog.setLevel(AV_LOG_FATAL)
    let source = try MediaSource(url: url)
    var frames: [VideoFrame] = []
    while frames.count < count, let item = try source.next() {
        if case .video(let f) = item { frames.append(f) }
    }
    return (frames, source.video)
}

public struct UnexpectedONNX: Error, CustomStringConvertible {
    public let description = "unexpected protobuf wire type in the ONNX file"
}

/// `data` (an ONNX ModelProto) with its metadata_props (field 14) left out: the network as a plain
/// export from another toolkit would be.
public func strippingONNXMetadata(_ data: Data) throws -> Data {
    let b = [UInt8](data)
    var out = Data()
    var i = 0
    func varint() -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let byte = b[i]; i += 1
            v |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return v }
            shift += 7
        }
    }
    while i < b.count {
        let start = i
        let tag = varint()
        switch tag & 7 {
        case 0: _ = varint()
        case 1: i += 8
        case 2: let n = Int(varint()); i += n
        case 5: i += 4
        default: throw UnexpectedONNX()
        }
        if tag >> 3 != 14 { out.append(contentsOf: b[start..<i]) }
    }
    return out
}
