// The Proposal and MultiProposal cases of golden/ops.h5, run through Proposal.run. Rows, their order,
// the −1 scores and the cyclic padding must match; coordinates and scores within 1e-4 absolute
// (float32 decoding: exp and the mixed float/double arithmetic of MXNet's C++ differ in the last
// bits; the README's independent re-computation agreed to ≤ 3e-5).

import Testing
@testable import Detection
import ParamKit

struct ProposalTests {
    @Test("Proposal matches MXNet's CPU op", arguments: try Golden.cases(op: ["_contrib_Proposal", "_contrib_MultiProposal"]))
    func proposal(group: String) throws {
        let f = try Golden.file()
        func num(_ n: String) throws -> Double { try f.numbers(n, of: group)![0] }
        var c = ProposalConfig()
        c.featureStride = Int(try num("feature_stride"))
        c.scales = try f.numbers("scales", of: group)!
        c.ratios = try f.numbers("ratios", of: group)!
        c.preNMSTopN = Int(try num("rpn_pre_nms_top_n"))
        c.postNMSTopN = Int(try num("rpn_post_nms_top_n"))
        c.threshold = Float(try num("threshold"))
        c.minSize = Float(try num("rpn_min_size"))
        let (probShape, prob) = try f.dataset("\(group)/cls_prob", as: Float.self)
        let (_, deltas) = try f.dataset("\(group)/bbox_pred", as: Float.self)
        let (_, info) = try f.dataset("\(group)/im_info", as: Float.self)
        let (_, output) = try f.dataset("\(group)/output", as: Float.self)
        let (_, score) = try f.dataset("\(group)/score", as: Float.self)
        let (n, a2, fh, fw) = (probShape[0], probShape[1], probShape[2], probShape[3])
        let post = c.postNMSTopN
        for b in 0..<n {
            let r = prob.withUnsafeBufferPointer { p in
                deltas.withUnsafeBufferPointer { d in
                    Proposal.run(clsProb: UnsafeBufferPointer(rebasing: p[(b * a2 * fh * fw)..<((b + 1) * a2 * fh * fw)]),
                                 bboxPred: UnsafeBufferPointer(rebasing: d[(b * 2 * a2 * fh * fw)..<((b + 1) * 2 * a2 * fh * fw)]),
                                 height: fh, width: fw, imInfo: (info[3 * b], info[3 * b + 1], info[3 * b + 2]), config: c)
                }
            }
            var worst: Float = 0
            for row in 0..<post {
                let ref = b * post + row
                #expect(output[5 * ref] == Float(b), "\(group) row \(ref): batch index")
                for k in 0..<4 { worst = max(worst, abs(r.boxes[4 * row + k] - output[5 * ref + 1 + k])) }
                worst = max(worst, abs(r.scores[row] - score[ref]))
                #expect((r.scores[row] == -1) == (score[ref] == -1), "\(group) row \(ref): score \(r.scores[row]) vs \(score[ref])")
            }
            #expect(worst <= 1e-4, "\(group) image \(b): largest difference \(worst)")
            if let unique = try f.numbers("observed_num_unique_rows", of: group), n == 1 {
                #expect(r.kept == Int(unique[0]), "\(group): NMS kept \(r.kept)")
            }
        }
    }

    @Test func anchorsMatchTheReferenceTable() {
        let a = Proposal.anchors(ProposalConfig())
        #expect(Array(a[0..<4]) == [-84, -40, 99, 55])
        #expect(Array(a[16..<20]) == [-120, -120, 135, 135])
        #expect(Array(a[32..<36]) == [-168, -344, 183, 359])
    }
}
