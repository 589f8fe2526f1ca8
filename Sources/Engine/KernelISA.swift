// Which compiled copy (generic, AVX2, AVX-512) of the C kernels runs.

import CKernels

/// The instruction set of the C kernels (Winograd transforms, direct 3×3, ParamKit's SGEMM). Each
/// kernel is compiled once per ISA; the best the CPU supports runs unless `PARAMKIT_ISA`
/// (generic, avx2, avx512) or `select` chooses another, so every copy can be tested on one machine.
public enum KernelISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case generic = 0, avx2 = 1, avx512 = 2

    /// The copy every kernel call uses now.
    public static var current: KernelISA { KernelISA(rawValue: pk_isa_current()) ?? .generic }
    /// The best copy this CPU runs.
    public static var best: KernelISA { KernelISA(rawValue: pk_isa_best()) ?? .generic }
    /// The copies this CPU runs, generic first.
    public static var supported: [KernelISA] { allCases.filter { pk_isa_supported($0.rawValue) != 0 } }

    /// Switches every kernel to `isa`; false (and no change) when the CPU does not support it.
    /// Not while kernels run on other threads.
    @discardableResult
    public static func select(_ isa: KernelISA) -> Bool { pk_isa_select(isa.rawValue) == 0 }

    public var description: String { String(cString: pk_isa_name(rawValue)) }
}
