/// SHA-256 (FIPS 180-4), small and dependency-free: a static libcrypto would cost megabytes.
/// Used for manifest pins and the audit chain (SPEC §11); never for secrets' storage.
///
/// The hot path (`compress`) reads whole 64-byte blocks straight from the caller's memory
/// with unaligned big-endian loads and keeps the message schedule on the stack: no heap
/// allocation per block, no generic Collection indexing. A partial block waits in a fixed
/// 64-byte buffer inside the value.
public struct SHA256 {
    /// A finished digest: eight big-endian words. Cheap to compare and to copy.
    public struct Digest: Equatable, Sendable {
        public var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

        public static func == (a: Digest, b: Digest) -> Bool {
            a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
                && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
        }

        /// 64 zero hex digits' value: the `prev` of the first link of a chain.
        public static let zero = Digest(words: (0, 0, 0, 0, 0, 0, 0, 0))

        public var bytes: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(32)
            forEachWord { word in
                out.append(UInt8(truncatingIfNeeded: word >> 24))
                out.append(UInt8(truncatingIfNeeded: word >> 16))
                out.append(UInt8(truncatingIfNeeded: word >> 8))
                out.append(UInt8(truncatingIfNeeded: word))
            }
            return out
        }

        /// Appends the 64 lowercase hex digits.
        public func appendHex(to out: inout [UInt8]) {
            forEachWord { word in
                var shift: UInt32 = 28
                while true {
                    out.append(SHA256.hexDigits[Int((word >> shift) & 0xF)])
                    if shift == 0 { break }
                    shift -= 4
                }
            }
        }

        public var hex: String {
            var text: [UInt8] = []
            text.reserveCapacity(64)
            appendHex(to: &text)
            return String(decoding: text, as: UTF8.self)
        }

        /// Parses exactly 64 lowercase hex digits (a hot path of `audit --verify`).
        public init?(hex: UnsafeRawBufferPointer) {
            guard hex.count == 64 else { return nil }
            var parsed: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0)
            var valid = true
            withUnsafeMutableBytes(of: &parsed) { raw in
                let out = raw.bindMemory(to: UInt32.self)
                for wordIndex in 0..<8 {
                    var value: UInt32 = 0
                    for offset in (wordIndex &* 8)..<(wordIndex &* 8 &+ 8) {
                        let byte = UInt32(hex[offset])
                        var digit = byte &- 0x30             // '0'...'9'
                        if digit > 9 {
                            digit = byte &- 0x57            // 'a'...'f' -> 10...15
                            if digit < 10 || digit > 15 { valid = false }
                        }
                        value = value << 4 | (digit & 0xF)
                    }
                    out[wordIndex] = value
                }
            }
            guard valid else { return nil }
            words = parsed
        }

        public init?(hex: String) {
            var text = hex
            guard let digest = text.withUTF8({ Digest(hex: UnsafeRawBufferPointer($0)) }) else { return nil }
            self = digest
        }

        init(words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
            self.words = words
        }

        private func forEachWord(_ body: (UInt32) -> Void) {
            body(words.0); body(words.1); body(words.2); body(words.3)
            body(words.4); body(words.5); body(words.6); body(words.7)
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// Bytes of an incomplete block (the first `pendingCount`), waiting for the rest.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    private var totalBytes: UInt64 = 0

    public init() {}

    // MARK: one call

    /// The digest of `bytes` in one call.
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of contiguous bytes, without any heap allocation.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeDigest()
    }

    /// Lowercase hex of the digest of `bytes`.
    public static func hexDigest<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hex(hash(bytes))
    }

    public static func hex(_ digest: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(digest.count * 2)
        for byte in digest {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: streaming

    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        guard handled == nil else { return }
        for byte in bytes {
            withUnsafeBytes(of: byte) { update($0) }
        }
    }

    public mutating func update(_ buffer: UnsafeBufferPointer<UInt8>) {
        update(UnsafeRawBufferPointer(buffer))
    }

    /// Whole blocks are compressed straight from `buffer`; only a partial block is copied.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard var source = buffer.baseAddress, buffer.count > 0 else { return }
        var remaining = buffer.count
        totalBytes &+= UInt64(remaining)
        if pendingCount > 0 {
            let taken = min(64 - pendingCount, remaining)
            let filled = pendingCount
            withUnsafeMutableBytes(of: &pending) { block in
                (block.baseAddress! + filled).copyMemory(from: source, byteCount: taken)
            }
            pendingCount += taken
            source += taken
            remaining -= taken
            guard pendingCount == 64 else { return }
            var block = pending
            withUnsafeBytes(of: &block) { compress($0.baseAddress!, blocks: 1) }
            pendingCount = 0
        }
        if remaining >= 64 {
            compress(source, blocks: remaining / 64)
            source += remaining & ~63
            remaining &= 63
        }
        if remaining > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: source, byteCount: remaining) }
            pendingCount = remaining
        }
    }

    public mutating func finalize() -> [UInt8] {
        finalizeDigest().bytes
    }

    /// Pads, compresses the tail and returns the digest. The hasher is spent afterwards.
    public mutating func finalizeDigest() -> Digest {
        let messageBits = totalBytes &* 8
        // One or two blocks of tail: the pending bytes, 0x80, zeros, the 64-bit length.
        var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let count = pendingCount
        let blocks = count < 56 ? 1 : 2
        withUnsafeMutableBytes(of: &tail) { out in
            withUnsafeBytes(of: &pending) { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
            out[count] = 0x80
            out.storeBytes(of: messageBits.bigEndian, toByteOffset: blocks * 64 - 8, as: UInt64.self)
        }
        withUnsafeBytes(of: &tail) { compress($0.baseAddress!, blocks: blocks) }
        pendingCount = 0
        return Digest(words: state)
    }

    // MARK: compression

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x >> n) | (x << (32 - n))
    }

    /// One round of FIPS 180-4 §6.2.2 step 3, written so that the caller rotates the names:
    /// `d` becomes the new `e` and `h` the new `a`.
    @inline(__always) private static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                                                _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32,
                                                _ kw: UInt32) {
        let temp1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ kw
        let temp2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
        d = d &+ temp1
        h = temp1 &+ temp2
    }

    /// Compresses `blocks` consecutive 64-byte blocks starting at `source`.
    private mutating func compress(_ source: UnsafeRawPointer, blocks: Int) {
        var (h0, h1, h2, h3, h4, h5, h6, h7) = state
        Self.roundConstants.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                var block = source
                for _ in 0..<blocks {
                    for t in 0..<16 {
                        w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
                    }
                    for t in 16..<64 {
                        let w15 = w[t - 15], w2 = w[t - 2]
                        let s0 = Self.rotr(w15, 7) ^ Self.rotr(w15, 18) ^ (w15 >> 3)
                        let s1 = Self.rotr(w2, 17) ^ Self.rotr(w2, 19) ^ (w2 >> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                    // Eight rounds per step with the roles of the variables rotated instead of
                    // moving the values (the compiler keeps them all in registers).
                    var t = 0
                    while t < 64 {
                        Self.round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
                        Self.round(h, a, b, &c, d, e, f, &g, k[t &+ 1] &+ w[t &+ 1])
                        Self.round(g, h, a, &b, c, d, e, &f, k[t &+ 2] &+ w[t &+ 2])
                        Self.round(f, g, h, &a, b, c, d, &e, k[t &+ 3] &+ w[t &+ 3])
                        Self.round(e, f, g, &h, a, b, c, &d, k[t &+ 4] &+ w[t &+ 4])
                        Self.round(d, e, f, &g, h, a, b, &c, k[t &+ 5] &+ w[t &+ 5])
                        Self.round(c, d, e, &f, g, h, a, &b, k[t &+ 6] &+ w[t &+ 6])
                        Self.round(b, c, d, &e, f, g, h, &a, k[t &+ 7] &+ w[t &+ 7])
                        t &+= 8
                    }
                    h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                    h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                    block += 64
                }
            }
        }
        state = (h0, h1, h2, h3, h4, h5, h6, h7)
    }
}
