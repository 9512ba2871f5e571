import Foundation

/// Writes tiny ONNX models by hand (protobuf encoding), so the runner's mechanics and error paths
/// are tested without the trained model: e.g. an Identity "network" whose 3 output channels are the
/// normalised R, G, B planes, so the argmax label of each pixel is known in advance.
enum TinyONNX {
    struct Message {
        var bytes: [UInt8] = []

        mutating func varint(_ field: Int, _ value: Int) {
            key(field, 0)
            raw(UInt64(value))
        }

        mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

        mutating func message(_ field: Int, _ m: Message) { bytes(field, m.bytes) }

        private mutating func bytes(_ field: Int, _ b: [UInt8]) {
            key(field, 2)
            raw(UInt64(b.count))
            bytes += b
        }

        private mutating func key(_ field: Int, _ wire: Int) { raw(UInt64(field << 3 | wire)) }

        private mutating func raw(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }
    }

    /// dims: an Int is a fixed size, nil a named dynamic one.
    static func valueInfo(_ name: String, _ dims: [Int?]) -> Message {
        var shape = Message()
        for (i, d) in dims.enumerated() {
            var dim = Message()
            if let d { dim.varint(1, d) } else { dim.string(2, "d\(i)") }
            shape.message(1, dim)
        }
        var tensor = Message()
        tensor.varint(1, 1)  // FLOAT
        tensor.message(2, shape)
        var type = Message()
        type.message(1, tensor)
        var info = Message()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    static func node(_ op: String, inputs: [String], output: String) -> Message {
        var n = Message()
        for i in inputs { n.string(1, i) }
        n.string(2, output)
        n.string(4, op)
        return n
    }

    /// A node with integer attributes (AttributeProto: name 1, i 3, ints 8, type 20: INT 2, INTS 7).
    static func node(_ op: String, inputs: [String], output: String, ints: [(String, [Int])]) -> Message {
        var n = node(op, inputs: inputs, output: output)
        for (name, values) in ints {
            var a = Message()
            a.string(1, name)
            if values.count == 1 && name != "axes" {
                a.varint(3, values[0])
                a.varint(20, 2)
            } else {
                for v in values { a.varint(8, v) }
                a.varint(20, 7)
            }
            n.message(5, a)
        }
        return n
    }

    /// 19 output channels, as a Cityscapes network has: R, G, B six times over, then their
    /// average (never above the largest), so the argmax is still the strongest of R, G, B.
    static func nineteenClasses(metadata: [(String, String)]) -> Data {
        let dims: [Int?] = [1, 3, nil, nil]
        return model(nodes: [node("ReduceMean", inputs: ["image"], output: "average", ints: [("axes", [1]), ("keepdims", [1])]),
                             node("Concat", inputs: Array(repeating: "image", count: 6) + ["average"], output: "logits",
                                  ints: [("axis", [1])])],
                     inputs: [valueInfo("image", dims)], outputs: [valueInfo("logits", [1, 19, nil, nil])],
                     metadata: metadata)
    }

    /// ModelProto with one graph and metadata_props.
    static func model(nodes: [Message], inputs: [Message], outputs: [Message], metadata: [(String, String)]) -> Data {
        var graph = Message()
        for n in nodes { graph.message(1, n) }
        graph.string(2, "tiny")
        for i in inputs { graph.message(11, i) }
        for o in outputs { graph.message(12, o) }
        var opset = Message()
        opset.string(1, "")
        opset.varint(2, 13)
        var model = Message()
        model.varint(1, 8)  // ir_version
        model.string(2, "eprstream-tests")
        model.message(7, graph)
        model.message(8, opset)
        for (k, v) in metadata {
            var entry = Message()
            entry.string(1, k)
            entry.string(2, v)
            model.message(14, entry)
        }
        return Data(model.bytes)
    }

    static let mean: [Float] = [100, 110, 120]
    static let std: [Float] = [50, 40, 60]

    static func metadata(classes: [String]) -> [(String, String)] {
        [("model_name", "tiny-identity"), ("mean", "100,110,120"), ("std", "50,40,60"),
         ("class_names", classes.joined(separator: ",")),
         ("palette", classes.indices.map { "\($0 * 50),\(255 - $0 * 50),7" }.joined(separator: ";")),
         ("input_size", "48x64"), ("void_label", "3")]
    }

    /// Identity network, input [1,3,?,?]: labels = argmax of the normalised R, G, B.
    static func identity(classes: [String] = ["Red", "Green", "Blue"], dims: [Int?] = [1, 3, nil, nil]) -> Data {
        model(nodes: [node("Identity", inputs: ["image"], output: "logits")],
              inputs: [valueInfo("image", dims)], outputs: [valueInfo("logits", dims)],
              metadata: metadata(classes: classes))
    }

    /// Two inputs added together: not an image model.
    static func twoInputs() -> Data {
        let dims: [Int?] = [1, 3, 8, 8]
        return model(nodes: [node("Add", inputs: ["a", "b"], output: "logits")],
                     inputs: [valueInfo("a", dims), valueInfo("b", dims)], outputs: [valueInfo("logits", dims)],
                     metadata: metadata(classes: ["A", "B", "C"]))
    }

    /// Writes `data` to a fresh temporary file and returns its path.
    static func write(_ data: Data, name: String) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("eprinference-\(getpid())-\(UUID().uuidString.prefix(8))-\(name).onnx")
        try data.write(to: url)
        return url.path
    }
}
