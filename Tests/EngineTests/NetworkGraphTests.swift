// The graphs the engine builds for each network against the definitions `init` and the stages
// read: every parameter and aux state a graph names is in the definition with the same role and
// shape, and every definition entry is used by a graph.

import Engine
import ParamKit
import Testing

struct NetworkGraphTests {
    static func entries(_ g: Graph, inputs: [String: [Int]]) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try g.parameterShapes(inputs: inputs).map { ($0.name, "\($0.role) \($0.shape)") })
    }

    static func entries(_ specs: [ParamSpec]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: specs.map { ($0.name, "\($0.role) \($0.shape)") })
    }

    @Test("graph parameters equal the definition", arguments: ["tiny-vgg", "vgg16", "tiny-resnet", "resnet-101", "tiny-inception", "inception-v3"])
    func graphsMatchDefinitions(name: String) throws {
        let def = try NetworkDefinition.named(name, classes: 5, anchors: 9)
        let data = [1, 3, 224, 320]
        let rpn = try Self.entries(DetectionGraphs.rpn(def, bboxGradScale: 1).graph, inputs: ["data": data])
        #expect(rpn == Self.entries(def.params.filter { $0.group != "rcnn" }))
        let rcnn = try Self.entries(DetectionGraphs.rcnn(def, dropout: 0.5, bboxGradScale: 1).graph, inputs: ["data": data, "rois": [8, 5]])
        #expect(rcnn == Self.entries(def.params.filter { $0.group != "rpn" }))
        let test = try Self.entries(DetectionGraphs.detection(def).graph, inputs: ["data": data, "rois": [8, 5]])
        #expect(test == Self.entries(def.params))
    }

    @Test func resnetShapesFollowTheReference() throws {
        let def = try NetworkDefinition.named("resnet-101")
        // 104 bias-free convs (conv0, 3 per unit × 33 units, 4 shortcuts); 102 BatchNorms (bn_data,
        // bn0, 3 per unit, bn1) with gamma and beta; the RPN's 3 convs with bias; cls_score, bbox_pred.
        #expect(def.params.filter { $0.role == .arg }.count == 104 + 2 * 102 + 6 + 4)
        #expect(def.params.filter { $0.role == .aux }.count == 2 * 102)
        let (g, _) = DetectionGraphs.rpn(def, bboxGradScale: 1)
        let shapes = try g.valueShapes(inputs: ["data": [1, 3, 600, 1000]])
        #expect(shapes[g.id("stage3_unit23_plus")!] == [1, 1024, 38, 63])   // stride 16, 1024 channels
        let (r, _) = DetectionGraphs.rcnn(def, dropout: 0, bboxGradScale: 1)
        let rs = try r.valueShapes(inputs: ["data": [1, 3, 600, 1000], "rois": [128, 5]])
        #expect(rs[r.id("roi_pool5")!] == [128, 1024, 14, 14])
        #expect(rs[r.id("pool1")!] == [128, 2048, 1, 1])
        #expect(rs[r.id("cls_score")!] == [128, 21])
    }

    @Test func inceptionShapesFollowTheFork() throws {
        let def = try NetworkDefinition.named("inception-v3")
        // 94 Conv units (stem 5, mixed–mixed_2 7 each, mixed_3 4, mixed_4–7 10 each, mixed_8 6,
        // mixed_9–10 9 each), each a bias-free conv and a BatchNorm; the RPN's 3 convs; the 2 FCs.
        #expect(def.params.filter { $0.role == .arg }.count == 94 + 2 * 94 + 6 + 4)
        #expect(def.params.filter { $0.role == .aux }.count == 2 * 94)
        #expect(NetworkFamily.guess(def.params.map(\.name)) == .inception)
        // Independent of the fork: Keras's InceptionV3 without its top has the same convolutions and
        // BatchNorms (beta and the two statistics, no gamma) and lists 21,802,784 parameters.
        let weights = def.params.filter { $0.name.hasSuffix("_conv2d_weight") && $0.group != "rpn" }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let channels = def.params.filter { $0.name.hasSuffix("_batchnorm_beta") }.reduce(0) { $0 + $1.shape[0] }
        #expect(weights + 3 * channels == 21_802_784)
        let (g, _) = DetectionGraphs.rpn(def, bboxGradScale: 1)
        let shapes = try g.valueShapes(inputs: ["data": [1, 3, 600, 1000]])
        #expect(shapes[g.id("ch_concat_mixed_7_chconcat")!] == [1, 768, 38, 63])   // stride 16, 768 channels
        let (r, _) = DetectionGraphs.rcnn(def, dropout: 0, bboxGradScale: 1)
        let rs = try r.valueShapes(inputs: ["data": [1, 3, 600, 1000], "rois": [128, 5]])
        #expect(rs[r.id("roi_pool5")!] == [128, 768, 17, 17])
        #expect(rs[r.id("ch_concat_mixed_8_chconcat")!] == [128, 1280, 8, 8])
        #expect(rs[r.id("ch_concat_mixed_10_chconcat")!] == [128, 2048, 8, 8])
        #expect(rs[r.id("global_pool")!] == [128, 2048, 1, 1])
        #expect(rs[r.id("cls_score")!] == [128, 21])
        // The tiny twin: the same names, every width divided by 16.
        let tiny = try NetworkDefinition.named("tiny-inception")
        #expect(tiny.params.map(\.name) == def.params.map(\.name))
        #expect(tiny.params.first { $0.name == "mixed_9_tower_1_conv_conv2d_weight" }!.shape == [28, 80, 1, 1])
    }

    @Test func aGraphThatDoesNotFitNamesTheNode() throws {
        let def = try NetworkDefinition.named("tiny-vgg")
        let (g, _) = DetectionGraphs.rpn(def, bboxGradScale: 1)
        #expect(throws: GraphError.self) { try g.valueShapes(inputs: ["data": [1, 3, 8, 8]]) }
        do {
            _ = try g.valueShapes(inputs: ["data": [1, 3, 8, 8]])
        } catch {
            if case let .shapeMismatch(node, problem) = error {
                #expect(node.hasPrefix("pool") || node.hasPrefix("conv"))
                #expect(problem.contains("does not fit"))
            } else {
                Issue.record("\(error)")
            }
        }
    }
}
