/// Requests of wire protocol v2, decoded from a JSON object parsed in place in the line
/// buffer. Secret payloads (push-creds) stay spans into that buffer.

public enum ProjectRequest: Equatable {
    case ping
    case info
    case get(name: JSONSpan)
    /// Held until the project's revision differs from `revision` or the timeout passes (SPEC §10).
    case wait(revision: String, timeoutSeconds: Int)
}

public enum AdminRequest: Equatable {
    case status
    case register(RegisterRequest)
    case unregister(name: String)
    case reload(name: String, dryRun: Bool)
    /// The `secrets` object, still in the line buffer; validated by the store.
    case pushCreds(secrets: [JSONMember])
    case clearCreds
}

public struct RegisterRequest: Equatable, Sendable {
    public let name: String
    public let projectPath: String
    public let allowedUIDs: [UInt32]?
    public let socketGID: UInt32?
}

/// Parses one request line in place and hands the decoded request to the caller.
public enum RequestDecoder {
    static let parseOptions = JSONReader.Options(maxDepth: WireLimits.maxDepth, rejectDuplicateKeys: true)

    /// Parses `line` (JSON object with a string `op`) and returns the members and the op.
    public static func parseObject(_ line: UnsafeMutableBufferPointer<UInt8>)
        -> Result<(members: [JSONMember], op: String), WireError>
    {
        let root: JSONValue
        do {
            root = try JSONReader.parse(inPlace: line, options: parseOptions)
        } catch {
            switch error.kind {
            case .duplicateKey: return .failure(WireError(.protocolError, "request has a duplicate key (\(error))"))
            default: return .failure(WireError(.protocolError, "request is not valid JSON (\(error))"))
            }
        }
        guard case .object(let members) = root else {
            return .failure(WireError(.protocolError, "request must be a JSON object"))
        }
        let buffer = JSONBuffer(UnsafeBufferPointer(line))
        guard case .string(let op)? = buffer.member("op", of: members) else {
            return .failure(WireError(.protocolError, "request has no string \"op\""))
        }
        guard op.count <= 32 else { return .failure(WireError(.protocolError, "unknown op")) }
        return .success((members, buffer.string(op)))
    }

    public static func project(_ members: [JSONMember], op: String, buffer: JSONBuffer) -> Result<ProjectRequest, WireError> {
        switch op {
        case "ping": return .success(.ping)
        case "info": return .success(.info)
        case "get":
            switch buffer.member("name", of: members) {
            case .string(let name)?: return .success(.get(name: name))
            case nil: return .failure(WireError(.protocolError, "get needs a string \"name\""))
            case let other?: return .failure(WireError(.protocolError, "field \"name\" must be a string, not \(other.kindName)"))
            }
        case "wait":
            let revision: String
            switch buffer.member("revision", of: members) {
            case .string(let span)?: revision = buffer.string(span)
            case nil: return .failure(WireError(.protocolError, "wait needs a string \"revision\""))
            case let other?: return .failure(WireError(.protocolError, "field \"revision\" must be a string, not \(other.kindName)"))
            }
            var timeout = 300
            if let value = buffer.member("timeout_seconds", of: members) {
                guard case .number(let number) = value, let exact = buffer.int64(number), exact >= 1, exact <= 3600 else {
                    return .failure(WireError(.protocolError, "field \"timeout_seconds\" must be an integer between 1 and 3600"))
                }
                timeout = Int(exact)
            }
            return .success(.wait(revision: revision, timeoutSeconds: timeout))
        default:
            return .failure(WireError(.protocolError, "unknown op on a project socket (ops: ping, info, get, wait)"))
        }
    }

    public static func admin(_ members: [JSONMember], op: String, buffer: JSONBuffer) -> Result<AdminRequest, WireError> {
        let fields = Fields(members: members, buffer: buffer)
        do throws(WireError) {
            switch op {
            case "status": return .success(.status)
            case "clear-creds": return .success(.clearCreds)
            case "unregister": return .success(.unregister(name: try fields.requiredString("name")))
            case "reload":
                return .success(.reload(name: try fields.requiredString("name"), dryRun: try fields.optionalBool("dry_run") ?? false))
            case "register":
                return .success(.register(RegisterRequest(
                    name: try fields.requiredString("name"),
                    projectPath: try fields.requiredString("project_path"),
                    allowedUIDs: try fields.optionalIDs("allowed_uids"),
                    socketGID: try fields.optionalID("socket_gid"))))
            case "push-creds":
                guard case .object(let secrets)? = buffer.member("secrets", of: members) else {
                    throw WireError(.invalidPayload, "push-creds needs a \"secrets\" object")
                }
                return .success(.pushCreds(secrets: secrets))
            default:
                throw WireError(.protocolError,
                                "unknown op on the admin socket (ops: status, register, unregister, reload, push-creds, clear-creds)")
            }
        } catch {
            return .failure(error)
        }
    }
}

/// Typed access to request fields: a wrong JSON type is `protocol_error`, a missing
/// required field `invalid_payload`.
private struct Fields {
    let members: [JSONMember]
    let buffer: JSONBuffer

    func requiredString(_ key: String) throws(WireError) -> String {
        switch buffer.member(key, of: members) {
        case .string(let span)?: return buffer.string(span)
        case nil: throw WireError(.invalidPayload, "missing field \"\(key)\"")
        case let other?: throw WireError(.protocolError, "field \"\(key)\" must be a string, not \(other.kindName)")
        }
    }

    func optionalBool(_ key: String) throws(WireError) -> Bool? {
        switch buffer.member(key, of: members) {
        case nil: return nil
        case .bool(let value)?: return value
        case let other?: throw WireError(.protocolError, "field \"\(key)\" must be a boolean, not \(other.kindName)")
        }
    }

    func optionalID(_ key: String) throws(WireError) -> UInt32? {
        guard let value = buffer.member(key, of: members) else { return nil }
        return try id(value, key)
    }

    func optionalIDs(_ key: String) throws(WireError) -> [UInt32]? {
        switch buffer.member(key, of: members) {
        case nil: return nil
        case .array(let items)?:
            var ids: [UInt32] = []
            for item in items { ids.append(try id(item, key)) }
            return ids
        case let other?: throw WireError(.protocolError, "field \"\(key)\" must be an array of ids, not \(other.kindName)")
        }
    }

    private func id(_ value: JSONValue, _ key: String) throws(WireError) -> UInt32 {
        guard case .number(let number) = value else {
            throw WireError(.protocolError, "field \"\(key)\" must hold integers, not \(value.kindName)")
        }
        guard let exact = buffer.int64(number), let id = UInt32(exactly: exact), id != UInt32.max else {
            throw WireError(.invalidPayload, "field \"\(key)\" must hold ids between 0 and 4294967294")
        }
        return id
    }
}
