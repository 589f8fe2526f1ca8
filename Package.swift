// swift-tools-version:6.0
import PackageDescription

// libhdf5 is linked from its static archive (libhdf5-dev ships it; Debian's path): the shared build
// brings libcurl and about thirty more shared libraries, whose symbol lookups made up a third of
// every paramkit command's start (20 ms, against 12 ms with the archive).
let hdf5Static: [LinkerSetting] = [.unsafeFlags(["/usr/lib/x86_64-linux-gnu/hdf5/serial/libhdf5.a",
                                                 "-lsz", "-lz", "-lm", "-ldl"])]

let package = Package(
    name: "ParamKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "ParamKit", targets: ["ParamKit"]),
        .executable(name: "paramkit", targets: ["paramkit"]),
        .executable(name: "paramkit-h5probe", targets: ["paramkit-h5probe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // C shims: HDF5 macros and constants as inline functions; OpenBLAS cblas.h; libjpeg decode/encode helpers; libpng's simplified API.
        // CHDF5 names libhdf5's headers by their path and links nothing itself: ParamKit links the
        // static archive (see `hdf5Static` below).
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        // The engine's C kernels: Winograd F(2×2/4×4, 3×3) tile transforms, direct 3×3 and SGEMM, each
        // compiled for generic x86-64, AVX2+FMA and AVX-512 (isa.c picks the copy at run time); built
        // optimised even in debug so the engine tests stay quick.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // libhdf5 reading a possibly corrupt file's whole structure in a child process under a time and
        // memory limit, so that a crash or a loop in libhdf5 becomes an error message: the child's
        // walk (CH5ProbeChild, compiled against libhdf5's headers but not linked to it) and the
        // caller's side (CH5Probe: start, time limit, verdict).
        .target(name: "CH5ProbeChild", cSettings: [.unsafeFlags(["-I/usr/include/hdf5/serial"])]),
        .target(name: "CH5Probe", dependencies: ["CH5ProbeChild"]),
        // The small program that child process runs (beside paramkit; without it the probe re-runs
        // the calling program itself, which starts more slowly). It links libhdf5's static archive
        // (libhdf5-dev ships it), so it loads ten shared libraries, not the forty of libhdf5's
        // shared build (libcurl and its dependencies): it starts in about 3 ms instead of 9.
        .executableTarget(name: "paramkit-h5probe", dependencies: ["CH5ProbeChild"], linkerSettings: hdf5Static),
        // Tensors, checkpoints, file formats and the checkpoint operations. Every program that links
        // it (paramkit, the tests, the bench) gets libhdf5's static archive too.
        .target(name: "ParamKit", dependencies: ["CHDF5", "CH5Probe", .product(name: "Yams", package: "Yams")],
                linkerSettings: hdf5Static),
        // Float32 NCHW layers with forward/backward on OpenBLAS, the detection networks, SGD.
        .target(name: "Engine", dependencies: ["ParamKit", "COpenBLAS", "CKernels"]),
        // Anchors, box coding, targets, the Proposal op, NMS, roi sampling, VOC metrics.
        .target(name: "Detection", dependencies: ["Engine", "ParamKit", "CJPEG", "CPNG"]),
        // The stages of alternate training, each reading and writing artifacts only.
        .target(name: "Stages", dependencies: ["Detection", "Engine", "ParamKit", .product(name: "Yams", package: "Yams")]),
        // The command-line tool: parse, call the library, render.
        .executableTarget(name: "paramkit", dependencies: [
            "ParamKit", "Engine", "Detection", "Stages",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ParamKitTests", dependencies: ["ParamKit"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ParamKit"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Engine", "ParamKit"]),
        // Every reader of every input kind, as the fuzzers and the corpus replay test drive them.
        .target(name: "FuzzHarness", dependencies: ["Stages", "Detection", "ParamKit"]),
        .testTarget(name: "StagesTests", dependencies: ["Stages", "Detection", "ParamKit", "FuzzHarness"]),
        // Timing harness driven by bench/run.py (ratios against h5py, MXNet, safetensors, memcpy).
        .executableTarget(name: "ParamKitBench", dependencies: ["ParamKit", "Engine", "Detection", "COpenBLAS"], path: "bench/ParamKitBench"),
    ]
)

// libFuzzer entry points over FuzzHarness. The program has no `main` of its own (libFuzzer supplies
// it), so it exists only in fuzzing builds: see tools/fuzz.sh.
if Context.environment["PARAMKIT_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "ParamKitFuzz", dependencies: ["FuzzHarness"]))
}
