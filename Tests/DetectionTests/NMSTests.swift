// Greedy NMS against py_nms_wrapper and the Cython cpu_nms (ref_nms_* groups): the kept indices and
// their order must be identical.

import Testing
@testable import Detection

struct NMSTests {
    @Test("keeps exactly the reference's boxes in its order", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_nms"))
    func keepMatchesReference(group: String) throws {
        let c = try RefCase(group)
        let dets = try c.floatRows("dets")
        let thresh = try c.attr("thresh")[0]
        #expect(nonMaximumSuppression(dets, threshold: thresh, rule: .suppressAbove) == (try c.ints("keep")))
        #expect(nonMaximumSuppression(dets, threshold: thresh, rule: .suppressAtOrAbove) == (try c.ints("keep_cpu_nms")))
    }

    @Test func iouEqualToTheThresholdIsKeptByPyNMSAndSuppressedByCpuNMS() {
        // [0,0,9,4] lies inside [0,0,9,9]: intersection 50, union 100, IoU exactly 0.5.
        let dets: [[Float]] = [[0, 0, 9, 9, 0.9], [0, 0, 9, 4, 0.8]]
        #expect(nonMaximumSuppression(dets, threshold: 0.5, rule: .suppressAbove) == [0, 1])
        #expect(nonMaximumSuppression(dets, threshold: 0.5, rule: .suppressAtOrAbove) == [0])
    }

    @Test func keptBoxesComeInDescendingScoreOrder() {
        let dets: [[Float]] = [[0, 0, 9, 9, 0.2], [100, 100, 120, 120, 0.7], [1, 1, 9, 9, 0.5], [50, 50, 60, 60, 0.9]]
        // Box 2 overlaps box 0 (IoU 81/100) and outranks it, so box 0 goes.
        #expect(nonMaximumSuppression(dets, threshold: 0.7) == [3, 1, 2])
        #expect(nonMaximumSuppression([], threshold: 0.7).isEmpty)
    }
}
