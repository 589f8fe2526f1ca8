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

    @Test("graph parameters equal the definition", arguments: ["tiny-vgg", "vgg16", "tiny-resnet", "resnet-101"])
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

    @Test func aGraphThatDoesNotFitNamesTheNode() throws {
        let def = try NetworkDefinition.named("tiny-vgg")
        let (g, _) = DetectionGraphs.rpn(def, bboxGradScale: 1)
        #expect(throws: GraphError.self) { try g.valueShapes(inputs: ["data": [1, 3, 8, 8]]) }
        do {
            _ = try g.valueShapes(inputs: ["data": [1, 3, 8, 8]])
        } catch {
            #expect(error.node.hasPrefix("pool") || error.node.hasPrefix("conv"))
            #expect(error.description.contains("does not fit"))
        }
    }
}
