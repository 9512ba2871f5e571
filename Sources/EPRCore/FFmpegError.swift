import CFFmpeg

/// FFmpeg's own text for an error code, e.g. "Invalid data found when processing input".
public func ffmpegErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    return buffer.withUnsafeMutableBufferPointer { buf in
        String(cString: cff_err2str(code, buf.baseAddress, buf.count))
    }
}
