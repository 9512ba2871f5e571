import EPRCore
import Foundation

/// Which label values the overlay draws: the model's classes (never void, never ids it does not
/// know), optionally narrowed to a user's list of names or ids. Everything else is left untouched.
public struct ClassSelection: Sendable, Equatable {
    /// Per label value 0...255.
    let drawn: [Bool]

    /// Every class of the model.
    public init(model: ModelDescription) {
        var drawn = [Bool](repeating: false, count: 256)
        for id in Self.drawable(model) { drawn[id] = true }
        self.drawn = drawn
    }

    /// `classes` nil draws every class; otherwise each entry is a class name (any case) or id.
    /// An unknown entry is `.config` listing the valid classes.
    public init(model: ModelDescription, classes: [String]?) throws(EPRError) {
        guard let classes else {
            self = ClassSelection(model: model)
            return
        }
        let drawable = Self.drawable(model)
        var drawn = [Bool](repeating: false, count: 256)
        let wanted = classes.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let valid = drawable.map { "\($0) \(model.classNames[$0])" }.joined(separator: ", ")
        guard !wanted.isEmpty else { throw EPRError(.config, "no classes given (classes: \(valid))") }
        for entry in wanted {
            let byName = drawable.first { model.classNames[$0].lowercased() == entry.lowercased() }
            guard let id = byName ?? Int(entry).flatMap({ drawable.contains($0) ? $0 : nil }) else {
                throw EPRError(.config, "unknown class '\(entry)' (classes: \(valid))")
            }
            drawn[id] = true
        }
        self.drawn = drawn
    }

    private static func drawable(_ model: ModelDescription) -> [Int] {
        (0..<min(256, model.classCount, model.palette.count)).filter { $0 != model.voidLabel }
    }

    public func contains(_ label: Int) -> Bool { label >= 0 && label < 256 && drawn[label] }

    /// The drawn class ids, ascending.
    public var ids: [Int] { (0..<256).filter { drawn[$0] } }
}
