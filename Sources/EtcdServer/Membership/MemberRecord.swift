import EtcdProto
import Foundation

/// One member as etcd's membership package knows it (`membership.Member`): its ID, the peer URLs
/// raft talks to, whether it is a learner, and the name and client URLs it publishes once it runs.
///
/// Its JSON is part of the wire: it is the `Context` of etcd's `ConfChange` entries and the body
/// of the peer port's `/members`. `json` writes it the way Go's `encoding/json` writes etcd's
/// struct (field order `id`, `peerURLs`, `isLearner`, `name`, `clientURLs`; the last three
/// omitted when empty; `id` a decimal number that may exceed 2^53).
struct MemberRecord: Equatable, Sendable, Codable {
    var id: UInt64
    var peerURLs: [String]
    var isLearner: Bool
    var name: String
    var clientURLs: [String]

    init(id: UInt64, peerURLs: [String], isLearner: Bool = false, name: String = "", clientURLs: [String] = []) {
        self.id = id
        self.peerURLs = peerURLs
        self.isLearner = isLearner
        self.name = name
        self.clientURLs = clientURLs
    }

    enum CodingKeys: String, CodingKey {
        case id, peerURLs, isLearner, name, clientURLs
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(UInt64.self, forKey: .id)
        peerURLs = try c.decodeIfPresent([String].self, forKey: .peerURLs) ?? []
        isLearner = try c.decodeIfPresent(Bool.self, forKey: .isLearner) ?? false
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        clientURLs = try c.decodeIfPresent([String].self, forKey: .clientURLs) ?? []
    }

    /// etcd's JSON for this member (see the type's comment).
    var json: String {
        var out = "{\"id\":\(id),\"peerURLs\":\(JSONText.array(peerURLs))"
        if isLearner { out += ",\"isLearner\":true" }
        if !name.isEmpty { out += ",\"name\":\(JSONText.string(name))" }
        if !clientURLs.isEmpty { out += ",\"clientURLs\":\(JSONText.array(clientURLs))" }
        return out + "}"
    }

    /// The member as etcdserverpb.Member (MemberList, MemberAdd answers).
    var protoMember: Member {
        Member(id: id, name: name, peerURLs: peerURLs, clientURLs: clientURLs, isLearner: isLearner)
    }
}

/// A ConfChange's context as etcd writes it (`membership.ConfigChangeContext`): the member, and
/// `isPromote` when a learner becomes a voter.
struct ConfChangeContext: Equatable, Sendable {
    var member: MemberRecord
    var isPromote: Bool

    /// Decodes etcd's JSON; nil when it is not a member object (etcd would panic there; a member
    /// refuses the change instead).
    static func decode(_ bytes: [UInt8]) -> ConfChangeContext? {
        guard !bytes.isEmpty, let member = try? JSONDecoder().decode(MemberRecord.self, from: Data(bytes)) else { return nil }
        struct Promote: Decodable { var isPromote: Bool? }
        let promote = (try? JSONDecoder().decode(Promote.self, from: Data(bytes)))?.isPromote ?? false
        return ConfChangeContext(member: member, isPromote: promote)
    }

    /// etcd's JSON: the member's, with `"peerURLs":null` and `"isPromote":true` for a promotion.
    var json: String {
        guard isPromote else { return member.json }
        return "{\"id\":\(member.id),\"peerURLs\":null,\"isPromote\":true}"
    }
}

/// Member attributes as etcd publishes them (`membership.Attributes`): `{"name":…,"clientURLs":[…]}`.
struct MemberAttributes: Equatable, Sendable, Codable {
    var name: String
    var clientURLs: [String]

    enum CodingKeys: String, CodingKey { case name, clientURLs }

    init(name: String, clientURLs: [String]) {
        self.name = name
        self.clientURLs = clientURLs
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        clientURLs = try c.decodeIfPresent([String].self, forKey: .clientURLs) ?? []
    }

    var json: String {
        var out = "{"
        var parts: [String] = []
        if !name.isEmpty { parts.append("\"name\":\(JSONText.string(name))") }
        if !clientURLs.isEmpty { parts.append("\"clientURLs\":\(JSONText.array(clientURLs))") }
        out += parts.joined(separator: ",")
        return out + "}"
    }
}

/// Go `encoding/json` text for the few values etcd's membership JSON holds.
enum JSONText {
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // Go escapes <, > and & in HTML-safe mode, as encoding/json does by default.
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func array(_ items: [String]) -> String {
        "[" + items.map(string).joined(separator: ",") + "]"
    }
}
