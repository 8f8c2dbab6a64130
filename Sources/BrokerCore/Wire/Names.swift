/// Line limits of wire protocol v2, excluding the terminating newline (SPEC §3).
public enum WireLimits {
    public static let projectLineBytes = 64 * 1024
    public static let adminLineBytes = 1024 * 1024
    /// Requests are flat objects (push-creds nests two levels); anything deeper is hostile.
    public static let maxDepth = 8
}

/// The name patterns of SPEC §3–§4, checked byte by byte (no regex engine in the binary).
public enum Names {
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isLower(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
    private static func isUpper(_ b: UInt8) -> Bool { b >= 0x41 && b <= 0x5A }
    private static func isWord(_ b: UInt8) -> Bool { isDigit(b) || isLower(b) || isUpper(b) || b == 0x5F }

    /// Secret names, bundle field names: `^[A-Za-z0-9_]{1,128}$`.
    public static func isSecretName<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        (1...128).contains(bytes.count) && bytes.allSatisfy(isWord)
    }

    public static func isSecretName(_ text: String) -> Bool { isSecretName(Array(text.utf8)) }

    /// Project names: `^[a-z0-9][a-z0-9_-]{0,63}$`, and never `admin`.
    public static func isProjectName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 64, text != "admin" else { return false }
        return (isDigit(first) || isLower(first))
            && bytes.dropFirst().allSatisfy { isDigit($0) || isLower($0) || $0 == 0x5F || $0 == 0x2D }
    }

    /// A file binding's `file_path`: absolute or `~/...` (more than the prefix), no control
    /// characters.
    public static func isBindingFilePath(_ path: String) -> Bool {
        ((path.hasPrefix("/") && path.count > 1) || (path.hasPrefix("~/") && path.count > 2))
            && path.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }

    /// Environment variable names: `^[A-Za-z_][A-Za-z0-9_]*$`.
    public static func isEnvVarName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, !isDigit(first) else { return false }
        return bytes.allSatisfy(isWord)
    }
}
