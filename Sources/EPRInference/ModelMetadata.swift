import EPRCore
import Foundation

/// Reads the key/value metadata the training export writes into a model file (see
/// Training/README.md): ONNX `metadata_props`, or the model-level `<rt_info>` of an OpenVINO IR.
///
/// OpenVINO's C API (2026.4) has no accessor for a model's rt_info (the C++ and Python APIs do:
/// ONNX metadata_props land in rt_info["framework"]), so the values are read from the file itself:
/// a minimal protobuf walk for ONNX (ModelProto field 14 = metadata_props, StringStringEntryProto
/// key = 1, value = 2) and a scan of the top-level `<rt_info>` element for IR XML.
enum ModelMetadata {
    static func read(path: String) throws(EPRError) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EPRError(.model, "model \(path): cannot read the file")
        }
        if path.lowercased().hasSuffix(".xml") {
            // Checked here so OpenVINO's frontends never see (and log about) a file that is no IR.
            guard data.prefix(4096).range(of: Data("<net".utf8)) != nil else {
                throw EPRError(.model, "model \(path): not an OpenVINO IR model (no <net> element)")
            }
            return irRuntimeInfo(data)
        }
        guard let props = onnxMetadataProps(data) else {
            throw EPRError(.model, "model \(path): not an ONNX model (expected ONNX protobuf or OpenVINO IR .xml)")
        }
        return props
    }

    // MARK: ONNX

    /// `metadata_props` of an ONNX ModelProto, or nil when the bytes are not a well-formed message
    /// with a graph (field 7).
    static func onnxMetadataProps(_ data: Data) -> [String: String]? {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [String: String]? in
            let bytes = raw.bindMemory(to: UInt8.self)
            var result: [String: String] = [:]
            var hasGraph = false
            var reader = ProtobufReader(bytes: bytes, start: 0, end: bytes.count)
            while !reader.atEnd {
                guard let (field, wire) = reader.tag() else { return nil }
                if field == 7 && wire == 2 { hasGraph = true }
                if field == 14 && wire == 2 {
                    guard let (s, e) = reader.lengthDelimited() else { return nil }
                    var entry = ProtobufReader(bytes: bytes, start: s, end: e)
                    var key = "", value = ""
                    while !entry.atEnd {
                        guard let (f, w) = entry.tag() else { return nil }
                        if (f == 1 || f == 2) && w == 2 {
                            guard let (a, b) = entry.lengthDelimited() else { return nil }
                            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
                            if f == 1 { key = text } else { value = text }
                        } else if !entry.skip(wire: w) {
                            return nil
                        }
                    }
                    result[key] = value
                } else if !reader.skip(wire: wire) {
                    return nil
                }
            }
            return hasGraph ? result : nil
        }
    }

    struct ProtobufReader {
        let bytes: UnsafeBufferPointer<UInt8>
        var pos: Int
        let end: Int

        init(bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) {
            self.bytes = bytes
            self.pos = start
            self.end = end
        }

        var atEnd: Bool { pos >= end }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while pos < end && shift < 64 {
                let b = bytes[pos]
                pos += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        mutating func tag() -> (field: UInt64, wire: UInt64)? {
            guard let t = varint(), t >> 3 != 0 else { return nil }
            return (t >> 3, t & 7)
        }

        mutating func lengthDelimited() -> (Int, Int)? {
            guard let n = varint(), n <= UInt64(end - pos) else { return nil }
            let s = pos
            pos += Int(n)
            return (s, pos)
        }

        mutating func skip(wire: UInt64) -> Bool {
            switch wire {
            case 0: return varint() != nil
            case 1: guard end - pos >= 8 else { return false }; pos += 8; return true
            case 2: return lengthDelimited() != nil
            case 5: guard end - pos >= 4 else { return false }; pos += 4; return true
            default: return false
            }
        }
    }

    // MARK: OpenVINO IR

    /// Every `<key value="..."/>` element inside the model-level `<rt_info>` (the one after
    /// `</edges>`), in any section. The `eprstream` section (where Training/eprnet/quantize.py writes
    /// the keys) wins over others (`framework`, which OpenVINO fills from ONNX metadata_props,
    /// `model_info`, ...); otherwise the first occurrence wins.
    static func irRuntimeInfo(_ data: Data) -> [String: String] {
        let text = String(decoding: data, as: UTF8.self)
        var search = text.startIndex..<text.endIndex
        if let edges = text.range(of: "</edges>", options: .backwards) {
            search = edges.upperBound..<text.endIndex
        }
        guard let open = text.range(of: "<rt_info>", range: search),
              let close = text.range(of: "</rt_info>", range: open.upperBound..<text.endIndex) else { return [:] }
        let block = text[open.upperBound..<close.lowerBound]
        var result: [String: String] = [:]
        var preferred: [String: String] = [:]
        var sections: [String] = []
        var cursor = block.startIndex
        while let lt = block[cursor...].firstIndex(of: "<") {
            guard let gt = block[lt...].firstIndex(of: ">") else { break }
            let element = block[block.index(after: lt)..<gt]
            cursor = block.index(after: gt)
            guard let first = element.first, first != "?", first != "!" else { continue }
            if first == "/" {
                if !sections.isEmpty { sections.removeLast() }
                continue
            }
            let name = String(element.prefix { !$0.isWhitespace && $0 != "/" })
            let selfClosing = element.hasSuffix("/")
            guard let v = element.range(of: "value=\""),
                  let q = element[v.upperBound...].firstIndex(of: "\"") else {
                if !selfClosing { sections.append(name) }
                continue
            }
            if !selfClosing { sections.append(name) }
            let value = xmlUnescape(String(element[v.upperBound..<q]))
            if sections.contains("eprstream") {
                if preferred[name] == nil { preferred[name] = value }
            } else if result[name] == nil {
                result[name] = value
            }
        }
        return result.merging(preferred) { _, new in new }
    }

    static func xmlUnescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
