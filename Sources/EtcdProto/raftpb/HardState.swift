/// `raftpb.HardState`: what a member must persist before sending the messages of a Ready.
public struct HardState: ProtoMessage {
    public var term: UInt64 = 0
    public var vote: UInt64 = 0
    public var commit: UInt64 = 0

    public init() {}

    public init(term: UInt64, vote: UInt64, commit: UInt64) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public var isEmpty: Bool { term == 0 && vote == 0 && commit == 0 }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64Always(1, term)
        w.writeUInt64Always(2, vote)
        w.writeUInt64Always(3, commit)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: term = try r.readUInt64(field, wt)
        case 2: vote = try r.readUInt64(field, wt)
        case 3: commit = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
