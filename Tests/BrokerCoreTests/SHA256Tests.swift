@testable import BrokerCore
import Testing

/// FIPS 180-4 / NIST CAVP (SHA256ShortMsg.rsp, SHA256LongMsg.rsp) vectors.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func fipsMessages(_ message: String, _ expected: String) {
        #expect(SHA256.hexDigest(Array(message.utf8)) == expected)
    }

    /// CAVP byte-oriented short messages (hex in, hex digest out).
    @Test(arguments: [
        ("d3", "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1"),
        ("11af", "5ca7133fa735326081558ac312c620eeca9970d1e70a4b95533d956f072d1f98"),
        ("b4190e", "dff2e73091f6c05e528896c4c831b9448653dc2ff043528f6769437bc7b975c2"),
        ("74ba2521", "b16aa56be3880d18cd41e68384cf1ec8c17680c45a02b1575dc1518923ae8b0e"),
        ("c299209682", "f0887fe961c9cd3beab957e8222494abb969b1ce4c6557976df8b0f6d20e9166"),
        ("74cb9381d89f5aa73368", "73d6fad1caaa75b43b21733561fd3958bdc555194a037c2addec19dc2d7a52bd"),
        ("09fc1accc230a205e4a208e64a8f204291f581a12756392da4b8c0cf5ef02b95",
         "4f44c1c7fbebb6f9601829f3897bfd650c56fa07844be76489076356ac1886a4"),
        ("5a86b737eaea8ee976a0a24da63e7ed7eefad18a101c1211e2b3650c5187c2a8a650547208251f6d4237e661c7bf4c77f335390394c37fa1a9f9be836ac28509",
         "42e61e174fbb3897d6dd6cef3dd2802fe67b331953b06114a65c772859dfc1aa"),
    ])
    func cavpShortMessages(_ hexMessage: String, _ expected: String) {
        #expect(SHA256.hexDigest(Self.bytes(hex: hexMessage)) == expected)
    }

    /// CAVP byte-oriented long messages (SHA256LongMsg.rsp, Len = 1304 and 2096): several
    /// blocks, a partial last one, through the one-shot and the streaming paths.
    @Test(arguments: [
        ("451101250ec6f26652249d59dc974b7361d571a8101cdfd36aba3b5854d3ae086b5fdd4597721b66e3c0dc5d8c606d9657d0e323283a5217d1f53f2f284f57b85c8a61ac8924711f895c5ed90ef17745ed2d728abd22a5f7a13479a462d71b56c19a74a40b655c58edfe0a188ad2cf46cbf30524f65d423c837dd1ff2bf462ac4198007345bb44dbb7b1c861298cdf61982a833afc728fae1eda2f87aa2c9480858bec",
         "3c593aa539fdcdae516cdf2f15000f6634185c88f505b39775fb9ab137a10aa2"),
        ("6b918fb1a5ad1f9c5e5dbdf10a93a9c8f6bca89f37e79c9fe12a57227941b173ac79d8d440cde8c64c4ebc84a4c803d198a296f3de060900cc427f58ca6ec373084f95dd6c7c427ecfbf781f68be572a88dbcbb188581ab200bfb99a3a816407e7dd6dd21003554d4f7a99c93ebfce5c302ff0e11f26f83fe669acefb0c1bbb8b1e909bd14aa48ba3445c88b0e1190eef765ad898ab8ca2fe507015f1578f10dce3c11a55fb9434ee6e9ad6cc0fdc4684447a9b3b156b908646360f24fec2d8fa69e2c93db78708fcd2eef743dcb9353819b8d667c48ed54cd436fb1476598c4a1d7028e6f2ff50751db36ab6bc32435152a00abd3d58d9a8770d9a3e52d5a3628ae3c9e0325",
         "46500b6ae1ab40bde097ef168b0f3199049b55545a1588792d39d594f493dca7"),
    ])
    func cavpLongMessages(_ hexMessage: String, _ expected: String) {
        let message = Self.bytes(hex: hexMessage)
        #expect(SHA256.hexDigest(message) == expected)
        #expect(message.withUnsafeBytes { SHA256.digest($0) }.hex == expected)
        var hasher = SHA256()
        for byte in message { hasher.update(CollectionOfOne(byte)) }
        #expect(SHA256.hex(hasher.finalize()) == expected)
    }

    @Test func digestHexRoundTrips() {
        let digest = SHA256.digest(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(SHA256.Digest(hex: digest.hex) == digest)
        #expect(SHA256.Digest(hex: String(repeating: "0", count: 64)) == .zero)
        #expect(SHA256.Digest(hex: String(repeating: "A", count: 64)) == nil, "uppercase is not a link's prev")
        #expect(SHA256.Digest(hex: String(repeating: "0", count: 63)) == nil)
        #expect(SHA256.Digest(hex: String(repeating: "0", count: 63) + "g") == nil)
    }

    @Test func millionAs() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hexDigest(message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Feeding the same bytes in pieces of every size gives the one-shot digest.
    @Test func incrementalUpdatesMatchOneShot() {
        let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let expected = SHA256.hash(message)
        for piece in [1, 3, 55, 56, 63, 64, 65, 200] {
            var hasher = SHA256()
            var offset = 0
            while offset < message.count {
                let end = min(offset + piece, message.count)
                if piece % 2 == 0 {
                    message[offset..<end].withUnsafeBufferPointer { hasher.update($0) }
                } else {
                    hasher.update(message[offset..<end])
                }
                offset = end
            }
            #expect(hasher.finalize() == expected, "pieces of \(piece)")
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }
}
