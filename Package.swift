// swift-tools-version: 6.1
import PackageDescription

// OpenVINO's C API comes from the official `openvino` wheel, installed by scripts/setup.sh into
// .venv-ov; setup links its headers and library into .openvino/ (include/, lib/) so the paths here
// are stable. The rpath lets the binary run without LD_LIBRARY_PATH.
let openVINO = Context.packageDirectory + "/.openvino"

let package = Package(
    name: "EPRStream",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "eprstream", targets: ["eprstream"]),
        .executable(name: "eprstream-fuzz", targets: ["eprstream-fuzz"]),
        .library(name: "EPRPipeline", targets: ["EPRPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The HTTP server (preview, health, metrics). No default traits: swift-configuration is not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.9.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // C shims: module maps plus a few inline wrappers for what Swift cannot import.
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(name: "CFreeType", pkgConfig: "freetype2", providers: [.apt(["libfreetype-dev"])]),
        .target(
            name: "COpenVINO",
            cSettings: [.unsafeFlags(["-I\(openVINO)/include"])],
            linkerSettings: [
                .linkedLibrary("openvino_c"),
                .unsafeFlags(["-L\(openVINO)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(openVINO)/lib"]),
            ]
        ),

        .target(name: "EPRCore", dependencies: ["CFFmpeg"]),
        .target(name: "EPRMedia", dependencies: ["EPRCore", "CFFmpeg"]),
        .target(
            name: "EPRInference",
            dependencies: ["EPRCore", "CFFmpeg", "COpenVINO", "Yams"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
        .target(name: "EPROverlay", dependencies: ["EPRCore", "CFFmpeg", "CFreeType"]),
        .target(
            name: "EPRServer",
            dependencies: [
                "EPRCore", "EPRMedia",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "EPRPipeline",
            dependencies: ["EPRCore", "EPRMedia", "EPRInference", "EPROverlay", "EPRServer", "Yams",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
        .executableTarget(
            name: "eprstream",
            dependencies: ["EPRPipeline", "EPRMedia", "EPROverlay", "EPRCore", "EPRInference", "EPRServer",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "UnixSignals", package: "swift-service-lifecycle")],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
        // The fuzz target (scripts/fuzz.sh builds it with libFuzzer); a plain build replays inputs.
        .target(name: "CLibFuzzer"),
        .executableTarget(name: "eprstream-fuzz", dependencies: ["EPRMedia", "EPRCore", "CLibFuzzer"]),

        // Helpers more than one test target needs (test targets cannot import each other).
        .target(name: "EPRTestSupport", dependencies: ["EPRMedia", "EPRCore", "CFFmpeg"], path: "Tests/EPRTestSupport"),
        .testTarget(name: "EPRMediaTests", dependencies: ["EPRMedia", "EPRCore", "CFFmpeg", "EPRTestSupport"]),
        .testTarget(
            name: "EPRInferenceTests",
            dependencies: ["EPRInference", "EPRCore", "EPRMedia", "CFFmpeg", "EPRTestSupport"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
        .testTarget(name: "EPRServerTests", dependencies: ["EPRServer", "EPRMedia", "EPRCore", "CFFmpeg", "EPRTestSupport"]),
        .testTarget(name: "EPROverlayTests", dependencies: ["EPROverlay", "EPRCore", "CFFmpeg"]),
        .testTarget(
            name: "EPRPipelineTests",
            dependencies: ["EPRPipeline", "EPRCore", "EPRMedia", "EPRInference", "EPROverlay", "CFFmpeg"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
        // End-to-end tests drive the built `eprstream` binary on real media.
        .testTarget(
            name: "EPRStreamTests",
            dependencies: ["eprstream", "EPRCore", "CFFmpeg", "EPRTestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(openVINO)/include"])]
        ),
    ]
)
