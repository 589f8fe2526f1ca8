// The engine's own SGEMM (the current ISA's kernel: AVX-512 12×32 or AVX2 6×16) against OpenBLAS's cblas_sgemm (double-checked against a float64
// triple loop on the small cases): every transpose combination, edge sizes around the 12×32 and 6×16
// register blocks and the 256-deep k blocks, leading dimensions wider than the matrices, alpha and
// beta including beta = 0 over a C full of NaN (which must be overwritten, as BLAS defines it).
//
// Tolerance: both sum K float32 products in different orders; |Δ| ≤ 1e-5 · Σ|a·b| per element.

import CKernels
import COpenBLAS
import Testing
@testable import Engine

struct GemmTests {
    struct Case: CustomStringConvertible, Sendable {
        var ta: Bool, tb: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float, pad: Int
        var description: String { "\(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k) α\(alpha) β\(beta) pad \(pad)" }
    }

    static let cases: [Case] = {
        var out: [Case] = []
        let sizes = [(1, 1, 1), (12, 32, 256), (13, 33, 257), (6, 16, 256), (7, 17, 9), (5, 15, 1), (11, 31, 5), (25, 70, 600), (240, 2048, 256), (241, 2049, 3), (7, 300, 40)]
        for (i, (m, n, k)) in sizes.enumerated() {
            for ta in [false, true] {
                for tb in [false, true] {
                    out.append(Case(ta: ta, tb: tb, m: m, n: n, k: k, alpha: i % 3 == 0 ? 1 : 0.75, beta: [0, 1, 0.5][i % 3], pad: i % 2 * 3))
                }
            }
        }
        return out
    }()

    @Test("ParamKit sgemm equals OpenBLAS", .enabled(if: pk_sgemm_available() != 0, "the generic ISA has no ParamKit sgemm; the engine uses OpenBLAS there"),
          arguments: cases)
    func matchesOpenBLAS(_ t: Case) throws {
        var rng = RandomSource(UInt64(t.m * 131 + t.n * 7 + t.k))
        let (rowsA, colsA) = t.ta ? (t.k, t.m) : (t.m, t.k), (rowsB, colsB) = t.tb ? (t.n, t.k) : (t.k, t.n)
        let lda = colsA + t.pad, ldb = colsB + t.pad, ldc = t.n + t.pad
        let a = rng.floats(rowsA * lda), b = rng.floats(rowsB * ldb)
        let c0 = t.beta == 0 ? [Float](repeating: .nan, count: t.m * ldc) : rng.floats(t.m * ldc)
        var mine = c0, theirs = c0
        pk_sgemm(t.ta ? 1 : 0, t.tb ? 1 : 0, t.m, t.n, t.k, t.alpha, a, lda, b, ldb, t.beta, &mine, ldc)
        cblas_sgemm(CblasRowMajor, t.ta ? CblasTrans : CblasNoTrans, t.tb ? CblasTrans : CblasNoTrans, Int32(t.m), Int32(t.n), Int32(t.k),
                    t.alpha, a, Int32(lda), b, Int32(ldb), t.beta, &theirs, Int32(ldc))
        func av(_ i: Int, _ p: Int) -> Float { t.ta ? a[p * lda + i] : a[i * lda + p] }
        func bv(_ p: Int, _ j: Int) -> Float { t.tb ? b[j * ldb + p] : b[p * ldb + j] }
        var bad = 0
        for i in 0..<t.m {
            for j in 0..<t.n {
                var magnitude: Float = abs(t.beta * (t.beta == 0 ? 0 : c0[i * ldc + j]))
                for p in 0..<t.k { magnitude += abs(av(i, p) * bv(p, j)) }
                if !(abs(mine[i * ldc + j] - theirs[i * ldc + j]) <= 1e-5 * magnitude + 1e-30) { bad += 1 }
            }
            for j in t.n..<ldc where mine[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern { bad += 1 }   // padding untouched
        }
        #expect(bad == 0, "\(t): \(bad) elements differ")
        if t.m * t.n * t.k <= 30_000 {
            // An independent float64 reference on the small cases.
            for i in 0..<t.m {
                for j in 0..<t.n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<t.k { sum += Double(av(i, p)) * Double(bv(p, j)); magnitude += abs(Double(av(i, p) * bv(p, j))) }
                    let want = Double(t.alpha) * sum + (t.beta == 0 ? 0 : Double(t.beta) * Double(c0[i * ldc + j]))
                    #expect(abs(Double(mine[i * ldc + j]) - want) <= 1e-5 * (magnitude + 1), "\(t) [\(i),\(j)]")
                }
            }
        }
    }

    @Test func backendSelection() {
        let before = Threads.gemm
        defer { Threads.setGemm(before) }
        Threads.setGemm(.openblas)
        #expect(Threads.gemm == .openblas)
        Threads.setGemm(.native)
        #expect(Threads.gemm == (KernelISA.current == .generic ? .openblas : .native))
    }
}
