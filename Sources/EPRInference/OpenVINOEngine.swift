import COpenVINO
import EPRCore
import Foundation

import Synchronization

/// What a compiled model takes as input.
public enum EngineInput: Equatable, Sendable {
    /// One f32 NCHW tensor at the network size, normalised by the caller (the host path).
    case normalisedFloat
    /// One u8 interleaved RGB tensor at the network size; normalisation in the graph.
    case rgb8
    /// Three u8 planes (Y, U, V) of a width x height 4:2:0 frame; colour conversion (BT.601,
    /// limited range), resize to the network size and normalisation in the graph.
    case i420(width: Int, height: Int)
}

/// Static shape facts about a model file, read before compiling.
public struct ModelShapes: Sendable {
    public var inputStatic: (height: Int, width: Int)?
    public var classCount: Int
}

/// What to compile: the model file, its input size and form, the normalisation the graph does
/// (`mean`, `std`; unused for `.normalisedFloat`) and the device with its properties.
public struct NetworkSpec: Sendable {
    public var path: String
    public var height: Int
    public var width: Int
    public var input: EngineInput
    public var mean: [Float]
    public var std: [Float]
    public var order: ChannelOrder = .rgb
    public var device: String
    public var properties: [(String, String)]
}

/// Reads and compiles segmentation models (one image in, one score map out). Thread-safe; one
/// engine serves every model of a process. OpenVINO is the first implementation.
public protocol InferenceEngine: AnyObject, Sendable {
    /// Checks the model is one image in, one score map out; its static input size and class count.
    func shapes(ofModelAt path: String) throws(EPRError) -> ModelShapes
    /// Compiles the model (each call compiles: keep the result and share it).
    func compile(_ spec: NetworkSpec) throws(EPRError) -> any CompiledNetwork
    /// Networks compiled so far.
    var compilations: Int { get }
}

/// A compiled network, shared by every runner that uses it: any thread may make requests from it.
public protocol CompiledNetwork: AnyObject, Sendable {
    var input: EngineInput { get }
    var inputHeight: Int { get }
    var inputWidth: Int { get }
    var classCount: Int { get }
    var outputHeight: Int { get }
    var outputWidth: Int { get }
    /// A new request with its own preallocated input tensors (one per plane of `input`).
    func makeRequest() throws(EPRError) -> any InferRequest
    /// A property of the compiled network, e.g. "NUM_STREAMS" or "INFERENCE_PRECISION_HINT".
    func property(_ key: String) -> String?
}

/// One inference request of a compiled network: owned and driven by one runner (one thread at a
/// time), started asynchronously and waited for.
public protocol InferRequest: AnyObject {
    /// The input tensor for `plane` (f32 NCHW, u8 NHWC RGB, or the Y, U, V planes), valid for the
    /// request's lifetime.
    func inputBuffer(plane: Int) -> UnsafeMutableRawPointer
    var inputBuffers: [UnsafeMutableRawPointer] { get }
    func start() throws(EPRError)
    func wait() throws(EPRError)
    func infer() throws(EPRError)
    /// Calls `body` with the output (classCount planes of outputHeight x outputWidth floats).
    func withOutput<R>(_ body: (UnsafePointer<Float>) -> R) throws(EPRError) -> R
}

/// OpenVINO (C API) implementation of `InferenceEngine`: one core for every model it compiles.
public final class OpenVINORuntime: InferenceEngine {
    private let core: OpenVINOCore
    private let compiled = Mutex(0)

    public init() throws(EPRError) {
        core = try OpenVINOCore()
    }

    public func shapes(ofModelAt path: String) throws(EPRError) -> ModelShapes {
        try OpenVINOEngine(path: path, core: core).shapes()
    }

    public func compile(_ spec: NetworkSpec) throws(EPRError) -> any CompiledNetwork {
        let network = try OpenVINOEngine(path: spec.path, core: core)
            .compile(height: spec.height, width: spec.width, input: spec.input, mean: spec.mean, std: spec.std,
                     order: spec.order, device: spec.device, properties: spec.properties)
        compiled.withLock { $0 += 1 }
        return network
    }

    public var compilations: Int { compiled.withLock { $0 } }
}

/// Sendable: an immutable pointer to an ov_core, whose read and compile calls OpenVINO allows
/// from any thread.
final class OpenVINOCore: @unchecked Sendable {
    let pointer: OpaquePointer

    init() throws(EPRError) {
        var core: OpaquePointer?
        guard ov_core_create(&core).rawValue == 0, let core else {
            throw EPRError(.model, "cannot start OpenVINO (\(OpenVINOEngine.lastError()))")
        }
        pointer = core
    }

    deinit { ov_core_free(pointer) }
}

/// One model file on its way to a compiled network: read, checked, reshaped, given its
/// preprocessing and compiled once (`OpenVINORuntime.compile`).
final class OpenVINOEngine {
    private let core: OpenVINOCore
    private var model: OpaquePointer?
    let path: String

    /// Reads the model and checks its inputs and outputs; `compile` finishes the set-up.
    init(path: String, core: OpenVINOCore) throws(EPRError) {
        self.path = path
        self.core = core
        var m: OpaquePointer?
        let status = ov_core_read_model(core.pointer, path, nil, &m)
        guard status.rawValue == 0, let m else {
            let detail = Self.lastError()
            if detail.contains("Unable to read the model") {
                throw EPRError(.model, "model \(path): not a readable ONNX or OpenVINO IR model")
            }
            throw EPRError(.model, "model \(path): cannot be read (\(detail))")
        }
        model = m
    }

    deinit {
        if let model { ov_model_free(model) }
    }

    static func lastError() -> String {
        guard let p = ov_get_last_err_msg() else { return "unknown OpenVINO error" }
        let text = String(cString: p)
        // OpenVINO messages carry source locations and several lines; keep the most telling one.
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("Check ") && !$0.contains(".cpp:") }
        return lines.last ?? text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func check(_ status: ov_status_e, _ what: @autoclosure () -> String) throws(EPRError) {
        if status.rawValue != 0 {
            throw EPRError(.model, "model \(path): \(what()) (\(Self.lastError()))")
        }
    }

    private func fail(_ what: String) -> EPRError { EPRError(.model, "model \(path): \(what)") }

    /// Checks the model is one image in, one score map out: input [1,3,H,W] f32, output [1,K,H',W'].
    func shapes() throws(EPRError) -> ModelShapes {
        var n = 0
        try check(ov_model_inputs_size(model, &n), "cannot count inputs")
        guard n == 1 else { throw fail("expected 1 input (an RGB image), the model has \(n)") }
        try check(ov_model_outputs_size(model, &n), "cannot count outputs")
        guard n == 1 else { throw fail("expected 1 output (class scores), the model has \(n)") }

        let inDims = try portDims(input: true)
        if inDims.count == 4, inDims[3].min == 3, inDims[3].max == 3, inDims[1].min != 3 {
            throw fail("input \(Self.describe(inDims)) is channels-last (NHWC): only [1,3,H,W] (NCHW) models run; export it channels-first")
        }
        guard inDims.count == 4, inDims[1].min == 3, inDims[1].max == 3 else {
            throw fail("expected an input of shape [1,3,H,W], got \(Self.describe(inDims))")
        }
        let outDims = try portDims(input: false)
        guard outDims.count == 4, outDims[1].min == outDims[1].max, outDims[1].min >= 1 else {
            throw fail("expected an output of shape [1,K,H,W] with K classes, got \(Self.describe(outDims))")
        }
        var port: OpaquePointer?
        try check(ov_model_const_input_by_index(model, 0, &port), "cannot get the input")
        defer { ov_output_const_port_free(port) }
        var type = ov_element_type_e(0)
        try check(ov_port_get_element_type(port, &type), "cannot get the input type")
        guard type == F32 else { throw fail("expected a float32 input") }
        var staticSize: (Int, Int)? = nil
        if inDims[2].min == inDims[2].max, inDims[3].min == inDims[3].max, inDims[2].min > 0 {
            staticSize = (Int(inDims[2].min), Int(inDims[3].min))
        }
        return ModelShapes(inputStatic: staticSize, classCount: Int(outDims[1].min))
    }

    static func describe(_ dims: [ov_dimension_t]) -> String {
        "[" + dims.map { $0.min == $0.max ? String($0.min) : "?" }.joined(separator: ",") + "]"
    }

    private func portDims(input: Bool) throws(EPRError) -> [ov_dimension_t] {
        var port: OpaquePointer?
        if input {
            try check(ov_model_const_input_by_index(model, 0, &port), "cannot get the input")
        } else {
            try check(ov_model_const_output_by_index(model, 0, &port), "cannot get the output")
        }
        defer { ov_output_const_port_free(port) }
        var ps = ov_partial_shape_t()
        try check(ov_port_get_partial_shape(port, &ps), "cannot get a shape")
        defer { ov_partial_shape_free(&ps) }
        guard ps.rank.min == ps.rank.max, ps.rank.min > 0, let dims = ps.dims else {
            return []
        }
        return (0..<Int(ps.rank.min)).map { dims[$0] }
    }

    /// Reshapes to [1,3,height,width], puts the steps `input` needs in front of the network
    /// (OpenVINO's PrePostProcessor: the plugin fuses them with the first layers where it can) and
    /// compiles; requests come from the network. `mean` and `std` are the model's per-channel
    /// normalisation and `order` its channel order (unused for `.normalisedFloat`); `properties`
    /// are OpenVINO CPU properties (string keys and values).
    func compile(height: Int, width: Int, input: EngineInput, mean: [Float], std: [Float], order: ChannelOrder = .rgb,
                 device: String, properties: [(String, String)]) throws(EPRError) -> OpenVINONetwork {
        var ps = ov_partial_shape_t()
        let dims: [Int64] = [1, 3, Int64(height), Int64(width)]
        try check(ov_partial_shape_create_static(4, dims, &ps), "cannot make a shape")
        let reshaped = ov_model_reshape_single_input(model, ps)
        ov_partial_shape_free(&ps)
        if reshaped.rawValue != 0 {
            throw fail("cannot take an input of \(height)x\(width) (\(Self.lastError()))")
        }
        if input != .normalisedFloat {
            try addPreprocessing(input, height: height, width: width, mean: mean, std: std, order: order)
        }

        // Property strings must outlive the call.
        let cStrings = properties.flatMap { [strdup($0.0), strdup($0.1)] }
        defer { cStrings.forEach { free($0) } }
        var props: [ov_property_t] = []
        for i in stride(from: 0, to: cStrings.count, by: 2) {
            props.append(ov_property_t(key: cStrings[i], value: UnsafeRawPointer(cStrings[i + 1])))
        }
        var cm: OpaquePointer?
        try check(ov_core_compile_model_props(core.pointer, model, device, props.count, props, &cm),
                  "cannot compile for \(device)")
        guard let cm else { throw fail("cannot compile for \(device)") }
        // The model graph is no longer needed once compiled.
        ov_model_free(model)
        model = nil

        var port: OpaquePointer?
        var shape = ov_shape_t()
        var st = ov_compiled_model_output_by_index(cm, 0, &port)
        if st.rawValue == 0 {
            st = ov_const_port_get_shape(port, &shape)
            ov_output_const_port_free(port)
        }
        guard st.rawValue == 0 else {
            let detail = Self.lastError()
            ov_compiled_model_free(cm)
            throw fail("cannot get the output shape (\(detail))")
        }
        defer { ov_shape_free(&shape) }
        guard shape.rank == 4, let d = shape.dims else {
            ov_compiled_model_free(cm)
            throw fail("output is not [1,K,H,W]")
        }
        return OpenVINONetwork(core: core, compiled: cm, path: path, input: input, inputHeight: height,
                               inputWidth: width, classCount: Int(d[1]), outputHeight: Int(d[2]), outputWidth: Int(d[3]))
    }

    /// Element type and shape of each input tensor the compiled model takes.
    static func planeShapes(_ input: EngineInput, height: Int, width: Int) -> [(type: ov_element_type_e, dims: [Int64])] {
        let h = Int64(height), w = Int64(width)
        switch input {
        case .normalisedFloat: return [(F32, [1, 3, h, w])]
        case .rgb8: return [(U8, [1, h, w, 3])]
        case .i420(let fw, let fh):
            let cw = Int64(fw / 2), ch = Int64(fh / 2)
            return [(U8, [1, Int64(fh), Int64(fw), 1]), (U8, [1, ch, cw, 1]), (U8, [1, ch, cw, 1])]
        }
    }

    /// u8 in (RGB, or I420 planes at the frame size), then in the graph: RGB, f32, resize to the
    /// network size (linear), (x - mean) / std, NHWC -> NCHW. Converting colour before f32 rounds
    /// RGB to u8 as swscale does: label maps then agree with the host path on 99.53% of CamVid val
    /// pixels (int8; 99.49% converting in f32), and with the training toolchain's on 99.39-99.62%
    /// (the host path: 99.27-99.58%).
    private func addPreprocessing(_ input: EngineInput, height: Int, width: Int, mean: [Float], std: [Float],
                                  order: ChannelOrder) throws(EPRError) {
        guard mean.count == 3, std.count == 3 else { throw fail("normalisation needs 3 means and 3 stds") }
        var ppp: OpaquePointer?
        try check(ov_preprocess_prepostprocessor_create(model, &ppp), "cannot set up preprocessing")
        defer { ov_preprocess_prepostprocessor_free(ppp) }
        var info: OpaquePointer?
        try check(ov_preprocess_prepostprocessor_get_input_info(ppp, &info), "cannot set up preprocessing")
        defer { ov_preprocess_input_info_free(info) }

        var tensor: OpaquePointer?
        try check(ov_preprocess_input_info_get_tensor_info(info, &tensor), "cannot set up preprocessing")
        defer { ov_preprocess_input_tensor_info_free(tensor) }
        try check(ov_preprocess_input_tensor_info_set_element_type(tensor, U8), "cannot take u8 input")
        var resize = false
        switch input {
        case .normalisedFloat:
            return
        case .rgb8:
            try withLayout("NHWC") { (l) throws(EPRError) in
                try check(ov_preprocess_input_tensor_info_set_layout(tensor, l), "cannot take NHWC input")
            }
            if order == .bgr {
                try check(ov_preprocess_input_tensor_info_set_color_format(tensor, RGB), "cannot take RGB input")
            }
        case .i420(let fw, let fh):
            try check(ov_preprocess_input_tensor_info_set_color_format(tensor, I420_THREE_PLANES),
                      "cannot take I420 input")
            try check(ov_preprocess_input_tensor_info_set_spatial_static_shape(tensor, fh, fw),
                      "cannot take \(fw)x\(fh) frames")
            resize = fw != width || fh != height
        }

        var steps: OpaquePointer?
        try check(ov_preprocess_input_info_get_preprocess_steps(info, &steps), "cannot set up preprocessing")
        defer { ov_preprocess_preprocess_steps_free(steps) }
        if case .i420 = input {
            try check(ov_preprocess_preprocess_steps_convert_color(steps, order == .bgr ? BGR : RGB), "cannot convert I420 to RGB")
        } else if order == .bgr {
            try check(ov_preprocess_preprocess_steps_convert_color(steps, BGR), "cannot convert RGB to BGR")
        }
        try check(ov_preprocess_preprocess_steps_convert_element_type(steps, F32), "cannot convert to f32")
        if resize {
            try check(ov_preprocess_preprocess_steps_resize(steps, RESIZE_LINEAR), "cannot resize in the graph")
        }
        try check(ov_preprocess_preprocess_steps_mean_multi_channels(steps, mean, 3), "cannot subtract the mean")
        try check(ov_preprocess_preprocess_steps_scale_multi_channels(steps, std, 3), "cannot divide by the std")

        var modelInfo: OpaquePointer?
        try check(ov_preprocess_input_info_get_model_info(info, &modelInfo), "cannot set up preprocessing")
        defer { ov_preprocess_input_model_info_free(modelInfo) }
        try withLayout("NCHW") { (l) throws(EPRError) in
            try check(ov_preprocess_input_model_info_set_layout(modelInfo, l), "cannot set the model layout")
        }
        var built: OpaquePointer?
        try check(ov_preprocess_prepostprocessor_build(ppp, &built), "cannot build the preprocessing graph")
        ov_model_free(model)
        model = built
    }

    private func withLayout(_ text: String, _ body: (OpaquePointer?) throws(EPRError) -> Void) throws(EPRError) {
        var layout: OpaquePointer?
        try check(ov_layout_create(text, &layout), "cannot make layout \(text)")
        defer { ov_layout_free(layout) }
        try body(layout)
    }

}

/// A compiled OpenVINO network. Sendable: only lets, and OpenVINO's compiled model may be asked
/// for properties and requests from any thread (request creation is serialised here all the same).
final class OpenVINONetwork: CompiledNetwork, @unchecked Sendable {
    private let core: OpenVINOCore  // outlives the compiled model
    private let compiled: OpaquePointer
    private let creating = Mutex(())
    let path: String
    let input: EngineInput
    let inputHeight: Int, inputWidth: Int
    let classCount: Int, outputHeight: Int, outputWidth: Int

    init(core: OpenVINOCore, compiled: OpaquePointer, path: String, input: EngineInput, inputHeight: Int,
         inputWidth: Int, classCount: Int, outputHeight: Int, outputWidth: Int) {
        self.core = core
        self.compiled = compiled
        self.path = path
        self.input = input
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.classCount = classCount
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
    }

    deinit { ov_compiled_model_free(compiled) }

    func property(_ key: String) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard ov_compiled_model_get_property(compiled, key, &value).rawValue == 0, let value else { return nil }
        defer { ov_free(value) }
        return String(cString: value)
    }

    func makeRequest() throws(EPRError) -> any InferRequest {
        try creating.withLock { _ throws(EPRError) -> OpenVINORequest in
            var request: OpaquePointer?
            try ovCheck(ov_compiled_model_create_infer_request(compiled, &request), path, "cannot create an inference request")
            guard let request else { throw EPRError(.model, "model \(path): cannot create an inference request") }
            let made = OpenVINORequest(request, path: path)
            for (index, plane) in OpenVINOEngine.planeShapes(input, height: inputHeight, width: inputWidth).enumerated() {
                try made.addInput(index: index, type: plane.type, dims: plane.dims)
            }
            return made
        }
    }
}

/// One OpenVINO infer request with its own input tensors; driven by one runner.
final class OpenVINORequest: InferRequest {
    private let request: OpaquePointer
    private let path: String
    private var tensors: [OpaquePointer] = []
    private(set) var inputBuffers: [UnsafeMutableRawPointer] = []

    init(_ request: OpaquePointer, path: String) {
        self.request = request
        self.path = path
    }

    deinit {
        for t in tensors { ov_tensor_free(t) }
        ov_infer_request_free(request)
    }

    /// Allocates the input tensor of port `index` and maps it.
    func addInput(index: Int, type: ov_element_type_e, dims: [Int64]) throws(EPRError) {
        var tensor: OpaquePointer?
        var shape = ov_shape_t()
        try ovCheck(ov_shape_create(Int64(dims.count), dims, &shape), path, "cannot make a shape")
        let created = ov_tensor_create(type, shape, &tensor)
        ov_shape_free(&shape)
        try ovCheck(created, path, "cannot allocate an input tensor")
        guard let tensor else { throw EPRError(.model, "model \(path): cannot allocate an input tensor") }
        tensors.append(tensor)
        try ovCheck(ov_infer_request_set_input_tensor_by_index(request, index, tensor), path, "cannot set an input tensor")
        var p: UnsafeMutableRawPointer?
        try ovCheck(ov_tensor_data(tensor, &p), path, "cannot map an input tensor")
        guard let p else { throw EPRError(.model, "model \(path): cannot map an input tensor") }
        inputBuffers.append(p)
    }

    func inputBuffer(plane: Int) -> UnsafeMutableRawPointer { inputBuffers[plane] }

    func start() throws(EPRError) {
        try ovCheck(ov_infer_request_start_async(request), path, "inference failed to start")
    }

    func wait() throws(EPRError) {
        try ovCheck(ov_infer_request_wait(request), path, "inference failed")
    }

    func infer() throws(EPRError) {
        try ovCheck(ov_infer_request_infer(request), path, "inference failed")
    }

    func withOutput<R>(_ body: (UnsafePointer<Float>) -> R) throws(EPRError) -> R {
        var tensor: OpaquePointer?
        try ovCheck(ov_infer_request_get_output_tensor(request, &tensor), path, "cannot get the output")
        defer { ov_tensor_free(tensor) }
        var data: UnsafeMutableRawPointer?
        try ovCheck(ov_tensor_data(tensor, &data), path, "cannot map the output")
        return body(UnsafePointer(data!.assumingMemoryBound(to: Float.self)))
    }
}

/// Throws one line naming the model and what failed when an OpenVINO call did not succeed.
func ovCheck(_ status: ov_status_e, _ path: String, _ what: @autoclosure () -> String) throws(EPRError) {
    if status.rawValue != 0 {
        throw EPRError(.model, "model \(path): \(what()) (\(OpenVINOEngine.lastError()))")
    }
}

// MARK: - What `eprstream inspect` shows

/// One input or output of a model as read from the file.
public struct ModelPort: Sendable, Equatable {
    public let name: String
    /// "[1,3,?,?]": `?` for a dynamic dimension.
    public let shape: String
    public let elementType: String

    public init(name: String, shape: String, elementType: String) {
        self.name = name
        self.shape = shape
        self.elementType = elementType
    }
}

extension OpenVINOEngine {
    /// The model's inputs and outputs, as read (before any reshape or preprocessing).
    func ports() throws(EPRError) -> (inputs: [ModelPort], outputs: [ModelPort]) {
        var inputs: [ModelPort] = [], outputs: [ModelPort] = []
        for isInput in [true, false] {
            var n = 0
            try check(isInput ? ov_model_inputs_size(model, &n) : ov_model_outputs_size(model, &n), "cannot count ports")
            for i in 0..<n {
                var port: OpaquePointer?
                try check(isInput ? ov_model_const_input_by_index(model, i, &port) : ov_model_const_output_by_index(model, i, &port),
                          "cannot get port \(i)")
                defer { ov_output_const_port_free(port) }
                var name: UnsafeMutablePointer<CChar>?
                var text = "?"
                if ov_port_get_any_name(port, &name).rawValue == 0, let name {
                    text = String(cString: name)
                    ov_free(name)
                }
                var type = ov_element_type_e(0)
                try check(ov_port_get_element_type(port, &type), "cannot get an element type")
                var ps = ov_partial_shape_t()
                try check(ov_port_get_partial_shape(port, &ps), "cannot get a shape")
                var dims: [ov_dimension_t] = []
                if ps.rank.min == ps.rank.max, ps.rank.min > 0, let d = ps.dims { dims = (0..<Int(ps.rank.min)).map { d[$0] } }
                let rankKnown = ps.rank.min == ps.rank.max
                ov_partial_shape_free(&ps)
                let found = ModelPort(name: text, shape: rankKnown ? Self.describe(dims) : "(any rank)",
                                      elementType: Self.elementTypeName(type))
                if isInput { inputs.append(found) } else { outputs.append(found) }
            }
        }
        return (inputs, outputs)
    }

    static func elementTypeName(_ type: ov_element_type_e) -> String {
        let names = ["dynamic", "boolean", "bf16", "f16", "f32", "f64", "i4", "i8", "i16", "i32", "i64", "u1", "u2",
                     "u3", "u4", "u6", "u8", "u16", "u32", "u64", "nf4", "f8e4m3", "f8e5m2", "string", "f4e2m1", "f8e8m0"]
        let i = Int(type.rawValue)
        return i < names.count ? names[i] : "type \(i)"
    }
}
