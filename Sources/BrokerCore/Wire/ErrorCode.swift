/// Every error code of wire protocol v2 (SPEC §3).
public enum ErrorCode: String, Sendable, CaseIterable {
    // Both sockets
    case protocolError = "protocol_error"
    case payloadTooLarge = "payload_too_large"
    case internalError = "internal_error"
    case tooManyConnections = "too_many_connections"
    // Project socket
    case denied
    case notFound = "not_found"
    case rateLimited = "rate_limited"
    case peerUnexpected = "peer_unexpected"
    // Admin socket
    case invalidPayload = "invalid_payload"
    case manifestInvalid = "manifest_invalid"
    case manifestNotFound = "manifest_not_found"
    case projectExists = "project_exists"
    case projectUnknown = "project_unknown"
}

/// A request that cannot be served: the code and a message for humans. Messages are written
/// by the broker and never contain request bytes or secret values.
public struct WireError: Error, Equatable, Sendable {
    public let code: ErrorCode
    public let message: String
    /// `retry_after_seconds` of a `rate_limited` reply.
    public let retryAfterSeconds: Int?

    public init(_ code: ErrorCode, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// `{"ok":false,"code":...,"message":...}` (plus `retry_after_seconds` when set).
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("ok", false)
        writer.field("code", code.rawValue)
        writer.field("message", message)
        if let retryAfterSeconds { writer.field("retry_after_seconds", retryAfterSeconds) }
        writer.endObject()
    }
}
