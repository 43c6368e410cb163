// Messages of the `etcdserverpb.Watch` service: one bidirectional stream carries any number of
// watchers, created and cancelled by `WatchRequest`s; every `WatchResponse` names its watcher.

/// `etcdserverpb.WatchRequest`: a create, a cancel or a progress request.
public struct WatchRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.WatchRequest" }

    /// The `request_union` oneof.
    public enum RequestUnion: Equatable, Sendable {
        case createRequest(WatchCreateRequest)
        case cancelRequest(WatchCancelRequest)
        case progressRequest(WatchProgressRequest)
    }

    public var requestUnion: RequestUnion? = nil

    public init() {}

    public init(_ requestUnion: RequestUnion?) {
        self.requestUnion = requestUnion
    }

    public func encode(to w: inout ProtoWriter) {
        switch requestUnion {
        case .createRequest(let m)?: w.writeMessage(1, m)
        case .cancelRequest(let m)?: w.writeMessage(2, m)
        case .progressRequest(let m)?: w.writeMessage(3, m)
        case nil: break
        }
    }

    /// A oneof member seen again merges into the one already there; another member replaces it.
    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1:
            if case .createRequest(let m)? = requestUnion {
                requestUnion = .createRequest(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                requestUnion = .createRequest(try r.readMessage(field, wt))
            }
        case 2:
            if case .cancelRequest(let m)? = requestUnion {
                requestUnion = .cancelRequest(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                requestUnion = .cancelRequest(try r.readMessage(field, wt))
            }
        case 3:
            if case .progressRequest(let m)? = requestUnion {
                requestUnion = .progressRequest(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                requestUnion = .progressRequest(try r.readMessage(field, wt))
            }
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.WatchCreateRequest`.
public struct WatchCreateRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.WatchCreateRequest" }

    /// `WatchCreateRequest.FilterType`: which events to leave out.
    public enum FilterType: Int32, Sendable { case noPut = 0, noDelete = 1 }

    public var key: [UInt8] = []
    /// Same meaning as `RangeRequest.rangeEnd`.
    public var rangeEnd: [UInt8] = []
    /// First revision to report, inclusive; 0 or less means the next revision.
    public var startRevision: Int64 = 0
    /// Send empty responses periodically while the watcher is idle.
    public var progressNotify: Bool = false
    /// Raw `FilterType` values (packed on the wire); unknown values are kept.
    public var filtersRaw: [Int32] = []
    public var prevKV: Bool = false
    /// Client-chosen watcher ID; 0 lets the server choose.
    public var watchID: Int64 = 0
    /// Split a response too large for one message into fragments.
    public var fragment: Bool = false

    /// The known filters, in order; unknown raw values are left out.
    public var filters: [FilterType] { filtersRaw.compactMap(FilterType.init(rawValue:)) }

    public init() {}

    public init(key: [UInt8], rangeEnd: [UInt8] = [], startRevision: Int64 = 0, progressNotify: Bool = false, filters: [FilterType] = [], prevKV: Bool = false, watchID: Int64 = 0, fragment: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.startRevision = startRevision
        self.progressNotify = progressNotify
        self.filtersRaw = filters.map(\.rawValue)
        self.prevKV = prevKV
        self.watchID = watchID
        self.fragment = fragment
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
        w.writeBytes(2, rangeEnd)
        w.writeInt64(3, startRevision)
        w.writeBool(4, progressNotify)
        w.writePackedEnum(5, filtersRaw)
        w.writeBool(6, prevKV)
        w.writeInt64(7, watchID)
        w.writeBool(8, fragment)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        case 2: rangeEnd = try r.readBytes(field, wt)
        case 3: startRevision = try r.readInt64(field, wt)
        case 4: progressNotify = try r.readBool(field, wt)
        case 5: try r.readRepeatedEnum(field, wt, into: &filtersRaw)
        case 6: prevKV = try r.readBool(field, wt)
        case 7: watchID = try r.readInt64(field, wt)
        case 8: fragment = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.WatchCancelRequest`.
public struct WatchCancelRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.WatchCancelRequest" }

    public var watchID: Int64 = 0

    public init() {}

    public init(watchID: Int64) {
        self.watchID = watchID
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, watchID)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: watchID = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.WatchProgressRequest`: asks for a progress notification (watch ID -1) on the
/// stream, answered only once every watcher on it is synced.
public struct WatchProgressRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.WatchProgressRequest" }
    public init() {}
}

/// `etcdserverpb.WatchResponse`.
public struct WatchResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.WatchResponse" }

    public var header: ResponseHeader? = nil
    public var watchID: Int64 = 0
    /// The answer to a create request.
    public var created: Bool = false
    /// The watcher is gone: cancelled, or its start revision was compacted.
    public var canceled: Bool = false
    /// With `canceled`, when the start revision was compacted: the compacted revision.
    public var compactRevision: Int64 = 0
    public var cancelReason: String = ""
    /// More fragments of this response follow.
    public var fragment: Bool = false
    public var events: [Event] = []

    public init() {}

    public init(header: ResponseHeader?, watchID: Int64, created: Bool = false, canceled: Bool = false, compactRevision: Int64 = 0, cancelReason: String = "", fragment: Bool = false, events: [Event] = []) {
        self.header = header
        self.watchID = watchID
        self.created = created
        self.canceled = canceled
        self.compactRevision = compactRevision
        self.cancelReason = cancelReason
        self.fragment = fragment
        self.events = events
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeInt64(2, watchID)
        w.writeBool(3, created)
        w.writeBool(4, canceled)
        w.writeInt64(5, compactRevision)
        w.writeString(6, cancelReason)
        w.writeBool(7, fragment)
        w.writeRepeatedMessages(11, events)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: watchID = try r.readInt64(field, wt)
        case 3: created = try r.readBool(field, wt)
        case 4: canceled = try r.readBool(field, wt)
        case 5: compactRevision = try r.readInt64(field, wt)
        case 6: cancelReason = try r.readString(field, wt)
        case 7: fragment = try r.readBool(field, wt)
        case 11: events.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
