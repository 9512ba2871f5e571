import Foundation

/// Says why an MP4/MOV that FFmpeg rejects cannot be read, when the reason is the classic one: a
/// recording interrupted before its index (the `moov` box, written last without faststart) was
/// written. Walks the top-level boxes only; reads a few bytes per box.
enum MP4IndexCheck {
    /// A one-line explanation for `path`, or nil when it is not an ISO media file missing its index.
    static func missingIndex(path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        guard let end = try? file.seekToEnd() else { return nil }
        var offset: UInt64 = 0
        var types: [String] = []
        var firstMedia: UInt64?
        var cutInside: String?
        while offset + 8 <= end, types.count < 10_000 {
            guard (try? file.seek(toOffset: offset)) != nil, let head = try? file.read(upToCount: 16), head.count >= 8 else { break }
            let bytes = [UInt8](head)
            var size = bytes[0..<4].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let type = String(decoding: bytes[4..<8], as: UTF8.self)
            guard type.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { break }
            if size == 1 {
                guard bytes.count >= 16 else { break }
                size = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            } else if size == 0 {
                size = end - offset
            }
            guard size >= 8 else { break }
            if types.isEmpty && type != "ftyp" { return nil }   // not ISO media
            types.append(type)
            if type == "mdat" && firstMedia == nil { firstMedia = offset }
            if offset + size > end { cutInside = type; break }
            offset += size
        }
        guard types.first == "ftyp" else { return nil }
        if types.contains("moov") && cutInside != "moov" { return nil }
        guard let firstMedia else { return nil }
        // From the first media box to the end: an unfinished mdat's size field is often a placeholder.
        let bytes = Double(end - firstMedia)
        let media = bytes >= 1_000_000 ? String(format: "%.1f MB of media data", bytes / 1_000_000)
                                       : String(format: "%.0f kB of media data", (bytes / 1_000).rounded(.up))
        let what = cutInside == "moov" ? "its index (moov box) is cut off" : "its index (moov box) is missing"
        return "\(what): the recording was interrupted before it was finalised (\(media) without an index); "
            + "recover its H.264 frames with --reference GOOD.mp4 (a complete recording from the same camera and settings)"
    }
}
