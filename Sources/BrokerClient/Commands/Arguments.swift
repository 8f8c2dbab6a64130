/// A small hand-written argument reader (swift-argument-parser would double the binary):
/// `--flag value`, `--flag=value`, boolean `--flag`, positionals, `--` ends options.
public struct Arguments {
    public private(set) var positionals: [String] = []
    private var options: [(name: String, value: String?)] = []
    /// Everything after `--`, untouched.
    public private(set) var rest: [String] = []

    public struct UsageError: Error, CustomStringConvertible {
        public let message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// - Parameters:
    ///   - valued: options that take a value (`--name VALUE`).
    ///   - flags: options that take none.
    public init(_ arguments: [String], valued: Set<String>, flags: Set<String>) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                rest = Array(arguments[index...])
                break
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                positionals.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String? = nil
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if valued.contains(name) {
                if value == nil {
                    guard index < arguments.count else { throw UsageError("--\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                options.append((name, value))
            } else if flags.contains(name) {
                guard value == nil else { throw UsageError("--\(name) takes no value") }
                options.append((name, nil))
            } else {
                throw UsageError("unknown option --\(name)")
            }
        }
    }

    /// The last value given for `--name`.
    public func value(_ name: String) -> String? { options.last { $0.name == name }?.value }
    public func values(_ name: String) -> [String] { options.filter { $0.name == name }.compactMap { $0.value } }
    public func has(_ name: String) -> Bool { options.contains { $0.name == name } }
    /// Every valued option in order, for passing config flags through.
    public var valuedOptions: [(String, String)] { options.compactMap { option in option.value.map { (option.name, $0) } } }
}
