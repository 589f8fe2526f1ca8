// A YAML parse error as one line of an error message. Yams' own description spans three lines (the
// problem, the offending source line, a caret under the column); a message that names the file
// has to stay on one line.

import Yams

public enum YAMLProblem {
    /// "line 2, column 3: mapping values are not allowed in this context", for any error Yams throws.
    public static func describe(_ error: any Error) -> String {
        func at(_ mark: Mark, _ context: YamlError.Context?, _ problem: String) -> String {
            let within = context.map { " (\($0.text) from line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return "line \(mark.line), column \(mark.column): \(problem)\(within)"
        }
        if let e = error as? YamlError {
            switch e {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
                return at(mark, context, problem)
            case let .reader(problem, offset, _, _):
                return "\(problem)\(offset.map { " at byte \($0)" } ?? "")"
            default:
                break
            }
        }
        let text = String(describing: error)
        let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        return first.hasSuffix(":") ? String(first.dropLast()) : first
    }
}
