// The tables a document (or one inline table) is still building, and TOML's rules about who may
// add to which table:
//
// - `[a.b]` defines table a.b once. It may define a table that only existed implicitly (named as
//   part of a longer header), but not one defined by another header or by dotted keys.
// - `[[a]]` appends a table to an array of tables; it cannot extend a plain array or a table.
// - `a.b.c = v` creates a and b as tables "defined by dotted keys". Later dotted keys may go
//   through them only while still under the same header; a header may go through them (to define
//   a sub-table) but may not define them again. Dotted keys may also go through a table that was
//   only implicit (`[a.b.c]` then `[a]` `b.x = 1`); it then counts as defined by dotted keys, so a
//   later `[a.b]` is an error. (The spec is silent here; this is how Python's tomllib reads it,
//   and it agrees with every toml-test case.)
// - Inline tables and arrays are values: complete once written, never extended.
//
// Tables are nodes in an array addressed by index, so nothing is shared and no reference cycles
// or deep recursion are possible while building. Arrays of tables keep their element lists in a
// separate array so appending does not copy them.

struct TOMLTableTree {
    enum Kind {
        /// Only named on the way to a longer header; a header may still define it.
        case implicit
        /// Defined by a header, an `[[array]]` element, or the root.
        case header
        /// Defined by dotted keys under the header with this number.
        case dotted(section: Int)
    }

    enum Slot {
        case value(TOMLValue)
        case table(node: Int)
        case arrayOfTables(list: Int)
    }

    struct Member {
        let key: String
        var slot: Slot
        var position: TOMLPosition
    }

    struct Node {
        var kind: Kind
        let depth: Int
        var members: [Member] = []
        /// Member index by exact key bytes. Swift's `Hasher` is seeded per process, so crafted
        /// keys cannot force collisions.
        var memberIndex: [[UInt8]: Int] = [:]
    }

    static let root = 0

    private(set) var nodes: [Node]
    private var tableLists: [[Int]] = []

    init(rootDepth: Int) {
        nodes = [Node(kind: .header, depth: rootDepth)]
    }

    func depth(of node: Int) -> Int { nodes[node].depth }

    /// Opens the table a `[header]` or `[[header]]` names and returns its node.
    mutating func openTable(_ path: [TOMLKeyPart], asArrayElement: Bool) throws(TOMLError) -> Int {
        guard let last = path.last else { return Self.root }  // parseKey never returns an empty path
        var current = Self.root
        for (i, part) in path.dropLast().enumerated() {
            guard let member = nodes[current].memberIndex[part.bytes] else {
                current = try addTable(named: part, kind: .implicit, under: current)
                continue
            }
            switch nodes[current].members[member].slot {
            case .table(let node):
                current = node
            case .arrayOfTables(let list):
                // A header through an array of tables goes into its latest element.
                guard let element = tableLists[list].last else { return Self.root }  // lists are never empty
                current = element
            case .value(let value):
                throw notATable(path[...i], value: value, at: part.position)
            }
        }

        let existing = nodes[current].memberIndex[last.bytes]
        if asArrayElement {
            let parentDepth = nodes[current].depth
            guard let member = existing else {
                try checkDepth(parentDepth + 2, at: last.position)
                tableLists.append([])
                let list = tableLists.count - 1
                addMember(last, slot: .arrayOfTables(list: list), to: current)
                return appendElement(to: list, depth: parentDepth + 2)
            }
            guard case .arrayOfTables(let list) = nodes[current].members[member].slot else {
                throw TOMLError("cannot define array of tables '\(TOMLText.describeKey(path))': the key is already defined as \(describeSlot(nodes[current].members[member].slot))", at: last.position)
            }
            return appendElement(to: list, depth: parentDepth + 2)
        }

        guard let member = existing else {
            return try addTable(named: last, kind: .header, under: current)
        }
        switch nodes[current].members[member].slot {
        case .table(let node):
            switch nodes[node].kind {
            case .implicit:
                nodes[node].kind = .header
                nodes[current].members[member].position = last.position
                return node
            case .header:
                throw TOMLError("table '\(TOMLText.describeKey(path))' is defined more than once", at: last.position)
            case .dotted:
                throw TOMLError("table '\(TOMLText.describeKey(path))' was already defined by dotted keys", at: last.position)
            }
        case .arrayOfTables:
            throw TOMLError("cannot define table '\(TOMLText.describeKey(path))': the key is already an array of tables", at: last.position)
        case .value(let value):
            throw TOMLError("cannot define table '\(TOMLText.describeKey(path))': the key is already defined as \(describeValue(value))", at: last.position)
        }
    }

    /// Adds `path = value` to `table`, creating or going through dotted-key tables on the way.
    mutating func insert(_ path: [TOMLKeyPart], value: TOMLValue, into table: Int, section: Int) throws(TOMLError) {
        guard let last = path.last else { return }  // parseKey never returns an empty path
        var current = table
        for (i, part) in path.dropLast().enumerated() {
            guard let member = nodes[current].memberIndex[part.bytes] else {
                current = try addTable(named: part, kind: .dotted(section: section), under: current)
                continue
            }
            switch nodes[current].members[member].slot {
            case .table(let node):
                switch nodes[node].kind {
                case .dotted(let owner) where owner == section:
                    current = node
                case .implicit:
                    // Named by a longer header but never defined: dotted keys define it now.
                    nodes[node].kind = .dotted(section: section)
                    nodes[current].members[member].position = part.position
                    current = node
                case .dotted, .header:
                    throw TOMLError("cannot add to table '\(TOMLText.describeKey(path[...i]))' with a dotted key: it is defined elsewhere", at: part.position)
                }
            case .arrayOfTables:
                throw TOMLError("cannot add to array of tables '\(TOMLText.describeKey(path[...i]))' with a dotted key", at: part.position)
            case .value(let value):
                throw notATable(path[...i], value: value, at: part.position)
            }
        }
        if nodes[current].memberIndex[last.bytes] != nil {
            throw TOMLError("duplicate key '\(TOMLText.describeKey(path))'", at: last.position)
        }
        addMember(last, slot: .value(value), to: current)
    }

    /// The finished table for `node`. Recursion depth is bounded by `maxNestingDepth`.
    func makeTable(_ node: Int) -> TOMLTable {
        TOMLTable(entries: nodes[node].members.map { member in
            let value: TOMLValue
            switch member.slot {
            case .value(let v): value = v
            case .table(let child): value = .table(makeTable(child))
            case .arrayOfTables(let list): value = .array(tableLists[list].map { .table(makeTable($0)) })
            }
            return TOMLEntry(key: member.key, value: value, position: member.position)
        })
    }

    // MARK: Helpers

    private mutating func addTable(named part: TOMLKeyPart, kind: Kind, under parent: Int) throws(TOMLError) -> Int {
        let depth = nodes[parent].depth + 1
        try checkDepth(depth, at: part.position)
        nodes.append(Node(kind: kind, depth: depth))
        let node = nodes.count - 1
        addMember(part, slot: .table(node: node), to: parent)
        return node
    }

    private mutating func appendElement(to list: Int, depth: Int) -> Int {
        nodes.append(Node(kind: .header, depth: depth))
        let node = nodes.count - 1
        tableLists[list].append(node)
        return node
    }

    private mutating func addMember(_ part: TOMLKeyPart, slot: Slot, to node: Int) {
        nodes[node].memberIndex[part.bytes] = nodes[node].members.count
        nodes[node].members.append(Member(key: part.name, slot: slot, position: part.position))
    }

    private func checkDepth(_ depth: Int, at position: TOMLPosition) throws(TOMLError) {
        if depth > TOMLReader.maxNestingDepth {
            throw TOMLError("tables nested deeper than \(TOMLReader.maxNestingDepth) levels", at: position)
        }
    }

    private func notATable(_ path: ArraySlice<TOMLKeyPart>, value: TOMLValue, at position: TOMLPosition) -> TOMLError {
        if case .table = value {
            return TOMLError("cannot add to inline table '\(TOMLText.describeKey(path))': inline tables are complete once written", at: position)
        }
        return TOMLError("cannot use '\(TOMLText.describeKey(path))' as a table: it is already defined as \(describeValue(value))", at: position)
    }

    private func describeSlot(_ slot: Slot) -> String {
        switch slot {
        case .value(let value): describeValue(value)
        case .table: "a table"
        case .arrayOfTables: "an array of tables"
        }
    }

    private func describeValue(_ value: TOMLValue) -> String {
        switch value {
        case .table: "an inline table"
        case .array: "an array"
        case .integer, .offsetDateTime: "an \(value.typeName)"
        default: "a \(value.typeName)"
        }
    }
}
