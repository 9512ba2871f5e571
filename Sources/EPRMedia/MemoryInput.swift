import CFFmpeg
import EPRCore

/// Bytes in memory as an FFmpeg input: a custom AVIOContext that reads and seeks over its own
/// copy, so a buffer demuxes exactly as a file would (the fuzz target's way in). Owned by the
/// `MediaSource` that reads it, which closes the demuxer first.
final class MemoryInput {
    private let storage: UnsafeMutableRawBufferPointer
    private let count: Int
    private var position = 0
    private(set) var context: UnsafeMutablePointer<AVIOContext>?

    init(copying data: UnsafeRawBufferPointer) throws(EPRError) {
        count = data.count
        storage = .allocate(byteCount: max(1, data.count), alignment: 16)
        if let base = data.baseAddress, data.count > 0 { storage.baseAddress!.copyMemory(from: base, byteCount: data.count) }
        let bufferSize: Int32 = 4096
        guard let buffer = av_malloc(Int(bufferSize)) else {
            storage.deallocate()
            throw EPRError(.internalFailure, "out of memory allocating an input buffer")
        }
        context = avio_alloc_context(buffer.assumingMemoryBound(to: UInt8.self), bufferSize, 0,
                                     Unmanaged.passUnretained(self).toOpaque(),
                                     { opaque, out, size in
                                         guard let opaque, let out else { return cff_averror_eof() }
                                         return Unmanaged<MemoryInput>.fromOpaque(opaque).takeUnretainedValue().read(into: out, size: Int(size))
                                     }, nil,
                                     { opaque, offset, whence in
                                         guard let opaque else { return -1 }
                                         return Unmanaged<MemoryInput>.fromOpaque(opaque).takeUnretainedValue().seek(to: offset, whence: whence)
                                     })
        if context == nil {
            av_free(buffer)
            storage.deallocate()
            throw EPRError(.internalFailure, "out of memory allocating an input context")
        }
    }

    deinit {
        if let ctx = context {
            // FFmpeg may have replaced the buffer it was given; free whichever it holds now.
            av_freep(&ctx.pointee.buffer)
            avio_context_free(&context)
        }
        storage.deallocate()
    }

    private func read(into out: UnsafeMutablePointer<UInt8>, size: Int) -> Int32 {
        let n = min(size, count - position)
        guard n > 0 else { return cff_averror_eof() }
        out.update(from: storage.baseAddress!.advanced(by: position).assumingMemoryBound(to: UInt8.self), count: n)
        position += n
        return Int32(n)
    }

    /// fseek's rules plus FFmpeg's AVSEEK_SIZE (answer the size); -1 outside the data.
    private func seek(to offset: Int64, whence: Int32) -> Int64 {
        let avseekSize: Int32 = 0x10000, avseekForce: Int32 = 0x20000
        let how = whence & ~avseekForce
        if how == avseekSize { return Int64(count) }
        let base: Int64
        switch how {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = Int64(position)
        case SEEK_END: base = Int64(count)
        default: return -1
        }
        let (target, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, target >= 0, target <= Int64(count) else { return -1 }
        position = Int(target)
        return target
    }
}
