import CSeccomp

/// Zeroing that the optimiser cannot remove (explicit_bzero).
public enum SecureZero {
    public static func zero(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        remo_explicit_bzero(base, bytes.count)
    }

    public static func zero(_ array: inout [UInt8]) {
        array.withUnsafeMutableBytes { zero($0) }
    }
}
