// Which copy of the C kernels runs: the best the CPU supports, or exactly the one PARAMKIT_ISA
// names (tools/test.sh runs the engine suites once per ISA this way, so the copy under test must be
// the one asked for, never a silent fallback).

import CKernels
import Foundation
import Testing
@testable import Engine

struct KernelISATests {
    @Test func theCurrentISAIsTheOneAskedForOrTheBest() {
        if let want = ProcessInfo.processInfo.environment["PARAMKIT_ISA"], !want.isEmpty {
            #expect(KernelISA.current.description == want)
        } else {
            #expect(KernelISA.current == KernelISA.best)
        }
        #expect(KernelISA.supported.first == .generic)
        #expect(KernelISA.supported.contains(KernelISA.current))
        #expect(KernelISA.supported.last == KernelISA.best)
    }

    @Test func anUnsupportedISAIsRefusedAndChangesNothing() {
        let before = KernelISA.current
        for isa in KernelISA.allCases where !KernelISA.supported.contains(isa) {
            #expect(!KernelISA.select(isa))
            #expect(KernelISA.current == before)
        }
        #expect(pk_isa_select(7) == -1)
        #expect(KernelISA.current == before)
    }

    /// ParamKit's SGEMM exists for AVX2 and AVX-512; the generic ISA leaves every product to OpenBLAS.
    @Test func theNativeGemmFollowsTheISA() {
        #expect((pk_sgemm_available() != 0) == (KernelISA.current != .generic))
        if ProcessInfo.processInfo.environment["PARAMKIT_GEMM"] != "openblas" {
            #expect(Threads.gemm == (KernelISA.current == .generic ? .openblas : .native))
        }
    }
}
