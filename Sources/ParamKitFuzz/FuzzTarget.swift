// libFuzzer target: any byte string given to the .params and safetensors readers must either load
// (and every tensor read back) or fail with a FormatError — never crash, hang or over-allocate.

import ParamKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let file = MappedFile(name: "fuzz-input", contents: bytes)
    for policy in [DuplicatePolicy.reject, .keepLast] {
        if let r = try? ParamsReader(file: file, options: ReadOptions(duplicates: policy)) {
            for i in r.entries.indices { _ = try? r.read(i) }
        }
    }
    if let r = try? SafetensorsReader(file: file) {
        for i in r.entries.indices { _ = try? r.read(i) }
    }
    return 0
}
