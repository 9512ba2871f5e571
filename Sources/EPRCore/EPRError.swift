/// Every failure a user can cause (bad input, bad model, bad settings) surfaces as one of these:
/// the CLI prints `description` on one line and exits non-zero.
public struct EPRError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case input, codec, output, model, config, stream, dataset, internalFailure
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
