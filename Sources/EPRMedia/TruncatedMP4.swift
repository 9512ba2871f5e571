import CFFmpeg
import EPRCore
import Foundation

/// Recovers the H.264 frames of an MP4/MOV whose index (moov) was never written, untrunc-style:
/// the codec parameters (SPS/PPS in the avcC box, frame rate) come from a complete reference
/// recording of the same camera; the broken file's media data is scanned for length-prefixed NAL
/// units, which are handed to FFmpeg's H.264 demuxer and decoder as an Annex B stream in memory,
/// stamped at the reference's frame rate. Audio is not recovered.
public enum TruncatedMP4 {
    /// A `MediaSource` over the frames recovered from `path`, decoded with `reference`'s parameters.
    public static func recover(path: String, reference: String, options: SourceOptions = SourceOptions()) throws(EPRError) -> MediaSource {
        let ref = try ReferenceParameters(path: reference)
        guard let data = FileManager.default.contents(atPath: path) else { throw EPRError(.input, "input not found: \(path)") }
        let bytes = [UInt8](data)
        guard let mdat = mediaDataOffset(bytes) else {
            throw EPRError(.input, "cannot recover \(path): no media data (mdat box) found")
        }
        let nals = scanNALUnits(bytes, from: mdat, lengthSize: ref.lengthSize, isPlausibleSlice: ref.fitsSlice)
        guard nals.contains(where: { isSlice(bytes[$0.lowerBound]) }) else {
            throw EPRError(.input, "cannot recover \(path): no H.264 frames found in its media data with \(reference)'s parameters (the reference must come from the same camera and settings)")
        }
        var annexB: [UInt8] = []
        annexB.reserveCapacity(bytes.count - mdat + 1024)
        let startCode: [UInt8] = [0, 0, 0, 1]
        for set in ref.parameterSets { annexB += startCode; annexB += set }
        for nal in nals { annexB += startCode; annexB += bytes[nal] }

        var o = options
        o.inputFormat = "h264"
        o.formatOptions["framerate"] = "\(ref.frameRate.num)/\(ref.frameRate.den)"
        o.videoOnly = true
        // Slices read with another camera's (or setting's) SPS misparse: a strict trial decode of
        // the first frames tells, where the concealing decoder would hand out grey pictures.
        var trial = o
        trial.strictDecoding = true
        let probe = try open(annexB, name: path, options: trial)
        defer { probe.close() }
        var frames = 0
        while frames < 3, let item = try probe.next() { if case .video = item { frames += 1 } }
        let decodes = frames > 0 && probe.warnings.isEmpty
        guard decodes else {
            throw EPRError(.input, "cannot recover \(path): its frames do not decode with the parameters of \(reference) (\(ref.width)x\(ref.height) H.264); the reference must come from the same camera and settings")
        }
        return try open(annexB, name: path, options: o)
    }

    private static func open(_ bytes: [UInt8], name: String, options: SourceOptions) throws(EPRError) -> MediaSource {
        let opened = bytes.withUnsafeBytes { raw in
            Result { () throws(EPRError) in try MediaSource(bytes: raw, name: name, options: options) }
        }
        return try opened.get()
    }

    /// The payload offset of the first top-level `mdat` box (a cut or placeholder size is fine:
    /// the scan runs to the end of the file).
    static func mediaDataOffset(_ bytes: [UInt8]) -> Int? {
        var offset = 0
        while offset + 8 <= bytes.count {
            var size = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            var header = 8
            if size == 1, offset + 16 <= bytes.count {
                size = bytes[offset + 8..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
                header = 16
            }
            if type == "mdat" { return offset + header }
            guard size >= 8 else { return nil }
            offset += size
        }
        return nil
    }

    /// The NAL units (byte ranges without their length prefix) found from `start` on. Right after
    /// an accepted unit, a valid header and a length that fits suffice; elsewhere (the start,
    /// after interleaved audio) the unit must also be followed by another, or be a slice whose
    /// header fits the reference (first macroblock inside the picture, a known slice type and
    /// PPS), so that a chance match in audio bytes is not taken. Anything else (audio, a cut-off
    /// last unit) is skipped byte by byte until the chain resynchronises.
    static func scanNALUnits(_ bytes: [UInt8], from start: Int, lengthSize: Int,
                             isPlausibleSlice: (ArraySlice<UInt8>) -> Bool = { _ in false }) -> [Range<Int>] {
        let maxUnit = 16 << 20   // far above any frame a camera writes; bounds a false match
        func unit(at offset: Int) -> Range<Int>? {
            guard offset + lengthSize < bytes.count else { return nil }
            let length = bytes[offset..<offset + lengthSize].reduce(0) { $0 << 8 | Int($1) }
            let begin = offset + lengthSize
            guard length >= 2, length <= min(maxUnit, bytes.count - begin), isValidHeader(bytes[begin]) else { return nil }
            return begin..<begin + length
        }
        var units: [Range<Int>] = []
        var offset = start
        var inChain = false
        while offset + lengthSize < bytes.count {
            if let nal = unit(at: offset),
               inChain || nal.upperBound == bytes.count || unit(at: nal.upperBound) != nil || isPlausibleSlice(bytes[nal]) {
                units.append(nal)
                offset = nal.upperBound
                inChain = true
            } else {
                offset += 1
                inChain = false
            }
        }
        return units
    }

    /// forbidden_zero_bit clear and a type a camera writes (slices, SEI, parameter sets,
    /// delimiters); a reference slice or parameter set has nal_ref_idc set, SEI and AUD have not.
    static func isValidHeader(_ byte: UInt8) -> Bool {
        guard byte & 0x80 == 0 else { return false }
        let type = byte & 0x1F, refIdc = byte >> 5
        switch type {
        case 1: return true
        case 5, 7, 8: return refIdc != 0
        case 6, 9: return refIdc == 0
        default: return false
        }
    }

    static func isSlice(_ header: UInt8) -> Bool { [1, 5].contains(header & 0x1F) }
}

/// Exp-Golomb reading of the first fields of an H.264 header (after the NAL header byte).
struct ExpGolombReader {
    private let bytes: ArraySlice<UInt8>
    private var bit = 8   // skips the NAL header byte

    init(_ nal: ArraySlice<UInt8>) { bytes = nal }

    /// ue(v); nil past the end or beyond 31 leading zeros.
    mutating func unsigned() -> Int? {
        var zeros = 0
        while true {
            guard let b = next() else { return nil }
            if b == 1 { break }
            zeros += 1
            if zeros > 31 { return nil }
        }
        var value = 0
        for _ in 0..<zeros {
            guard let b = next() else { return nil }
            value = value << 1 | b
        }
        return (1 << zeros) - 1 + value
    }

    private mutating func next() -> Int? {
        let index = bytes.startIndex + bit / 8
        guard index < bytes.endIndex else { return nil }
        defer { bit += 1 }
        return Int(bytes[index] >> (7 - UInt8(bit % 8)) & 1)
    }
}

/// What a complete recording of the same camera says about its H.264 stream.
struct ReferenceParameters {
    let width: Int
    let height: Int
    let frameRate: AVRational
    /// SPS and PPS NAL units from the avcC box.
    let parameterSets: [[UInt8]]
    /// Bytes of each NAL unit's length prefix in the media data (1, 2 or 4).
    let lengthSize: Int

    init(path: String) throws(EPRError) {
        guard FileManager.default.fileExists(atPath: path) else { throw EPRError(.input, "reference not found: \(path)") }
        var ctx: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_open_input(&ctx, path, nil, nil) >= 0, let fmt = ctx else {
            throw EPRError(.input, "cannot read the reference \(path): not a complete video file")
        }
        defer { avformat_close_input(&ctx) }
        _ = avformat_find_stream_info(fmt, nil)
        let best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0, let stream = fmt.pointee.streams[Int(best)], let par = stream.pointee.codecpar else {
            throw EPRError(.input, "no video stream in the reference \(path)")
        }
        guard par.pointee.codec_id == AV_CODEC_ID_H264 else {
            let name = String(cString: avcodec_get_name(par.pointee.codec_id))
            throw EPRError(.input, "the reference \(path) is \(name), not H.264: only H.264 recordings can be recovered")
        }
        let extra = par.pointee.extradata.map { [UInt8](UnsafeBufferPointer(start: $0, count: Int(par.pointee.extradata_size))) } ?? []
        guard let sets = Self.avcC(extra) else {
            throw EPRError(.input, "the reference \(path) has no avcC parameters (not an MP4/MOV recording of H.264)")
        }
        width = Int(par.pointee.width)
        height = Int(par.pointee.height)
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        frameRate = rate.num > 0 && rate.den > 0 ? rate : AVRational(num: 25, den: 1)
        parameterSets = sets.sets
        lengthSize = sets.lengthSize
        ppsIDs = Set(sets.sets.filter { $0.first.map { $0 & 0x1F == 8 } ?? false }.compactMap {
            var reader = ExpGolombReader($0[...])
            return reader.unsigned()
        })
        macroblocks = ((width + 15) / 16) * ((height + 15) / 16)
    }

    private let ppsIDs: Set<Int>
    private let macroblocks: Int

    /// Whether `nal` is a slice whose header fits this stream: first_mb_in_slice inside the
    /// picture, slice_type 0...9, pic_parameter_set_id one of the reference's.
    func fitsSlice(_ nal: ArraySlice<UInt8>) -> Bool {
        guard let header = nal.first, TruncatedMP4.isSlice(header) else { return false }
        var reader = ExpGolombReader(nal)
        guard let firstMB = reader.unsigned(), firstMB < macroblocks,
              let type = reader.unsigned(), type <= 9,
              let pps = reader.unsigned() else { return false }
        return ppsIDs.contains(pps)
    }

    /// ISO/IEC 14496-15's AVCDecoderConfigurationRecord: version 1, then the length size, the
    /// SPS list and the PPS list, each entry a 16-bit size and the NAL unit.
    static func avcC(_ b: [UInt8]) -> (sets: [[UInt8]], lengthSize: Int)? {
        guard b.count >= 7, b[0] == 1 else { return nil }
        let lengthSize = Int(b[4] & 3) + 1
        var sets: [[UInt8]] = []
        var i = 5
        for countMask in [UInt8(0x1F), 0xFF] {
            guard i < b.count else { return nil }
            let count = Int(b[i] & countMask)
            i += 1
            for _ in 0..<count {
                guard i + 2 <= b.count else { return nil }
                let size = Int(b[i]) << 8 | Int(b[i + 1])
                guard i + 2 + size <= b.count else { return nil }
                sets.append(Array(b[i + 2..<i + 2 + size]))
                i += 2 + size
            }
        }
        return lengthSize == 3 || sets.isEmpty ? nil : (sets, lengthSize)
    }
}
