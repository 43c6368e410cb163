/// `etcdserverpb.Compare`: one condition of a transaction, `<target of key> <result> <operand>`.
///
/// The operand is the `targetUnion` oneof; a member that is set is always written, even when it
/// is 0 (Kubernetes' create is `mod_revision(key) == 0`, which must reach the server as set).
public struct Compare: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.Compare" }

    /// `Compare.CompareResult`: the relation that must hold.
    public enum CompareResult: Int32, Sendable { case equal = 0, greater = 1, less = 2, notEqual = 3 }
    /// `Compare.CompareTarget`: which property of the key is compared.
    public enum CompareTarget: Int32, Sendable { case version = 0, create = 1, mod = 2, value = 3, lease = 4 }

    /// The `target_union` oneof: the operand.
    public enum TargetUnion: Equatable, Sendable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    public var resultRaw: Int32 = 0
    public var targetRaw: Int32 = 0
    public var key: [UInt8] = []
    public var targetUnion: TargetUnion? = nil
    /// Non-empty: the condition must hold for every key in [key, rangeEnd).
    public var rangeEnd: [UInt8] = []

    public var result: CompareResult? { CompareResult(rawValue: resultRaw) }
    public var target: CompareTarget? { CompareTarget(rawValue: targetRaw) }

    public init() {}

    public init(key: [UInt8], target: CompareTarget, result: CompareResult, _ operand: TargetUnion?, rangeEnd: [UInt8] = []) {
        self.key = key
        self.targetRaw = target.rawValue
        self.resultRaw = result.rawValue
        self.targetUnion = operand
        self.rangeEnd = rangeEnd
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, resultRaw)
        w.writeEnum(2, targetRaw)
        w.writeBytes(3, key)
        switch targetUnion {
        case .version(let v)?: w.writeInt64Always(4, v)
        case .createRevision(let v)?: w.writeInt64Always(5, v)
        case .modRevision(let v)?: w.writeInt64Always(6, v)
        case .value(let v)?: w.writeBytesAlways(7, v)
        case .lease(let v)?: w.writeInt64Always(8, v)
        case nil: break
        }
        w.writeBytes(64, rangeEnd)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: resultRaw = try r.readEnum(field, wt)
        case 2: targetRaw = try r.readEnum(field, wt)
        case 3: key = try r.readBytes(field, wt)
        case 4: targetUnion = .version(try r.readInt64(field, wt))
        case 5: targetUnion = .createRevision(try r.readInt64(field, wt))
        case 6: targetUnion = .modRevision(try r.readInt64(field, wt))
        case 7: targetUnion = .value(try r.readBytes(field, wt))
        case 8: targetUnion = .lease(try r.readInt64(field, wt))
        case 64: rangeEnd = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.RequestOp`: one operation of a transaction. A nested `TxnRequest` may carry more
/// operations; decoding bounds the nesting with `ProtoLimits.nestingDepthMax`.
public struct RequestOp: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.RequestOp" }

    /// The `request` oneof.
    public enum Request: Equatable, Sendable {
        case requestRange(RangeRequest)
        case requestPut(PutRequest)
        case requestDeleteRange(DeleteRangeRequest)
        case requestTxn(TxnRequest)
    }

    public var request: Request? = nil

    public init() {}

    public init(_ request: Request?) {
        self.request = request
    }

    public func encode(to w: inout ProtoWriter) {
        switch request {
        case .requestRange(let m)?: w.writeMessage(1, m)
        case .requestPut(let m)?: w.writeMessage(2, m)
        case .requestDeleteRange(let m)?: w.writeMessage(3, m)
        case .requestTxn(let m)?: w.writeMessage(4, m)
        case nil: break
        }
    }

    /// A oneof member seen again merges into the one already there; another member replaces it.
    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1:
            if case .requestRange(let m)? = request {
                request = .requestRange(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                request = .requestRange(try r.readMessage(field, wt))
            }
        case 2:
            if case .requestPut(let m)? = request {
                request = .requestPut(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                request = .requestPut(try r.readMessage(field, wt))
            }
        case 3:
            if case .requestDeleteRange(let m)? = request {
                request = .requestDeleteRange(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                request = .requestDeleteRange(try r.readMessage(field, wt))
            }
        case 4:
            if case .requestTxn(let m)? = request {
                request = .requestTxn(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                request = .requestTxn(try r.readMessage(field, wt))
            }
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.ResponseOp`: the result of one transaction operation, in operation order.
public struct ResponseOp: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.ResponseOp" }

    /// The `response` oneof.
    public enum Response: Equatable, Sendable {
        case responseRange(RangeResponse)
        case responsePut(PutResponse)
        case responseDeleteRange(DeleteRangeResponse)
        case responseTxn(TxnResponse)
    }

    public var response: Response? = nil

    public init() {}

    public init(_ response: Response?) {
        self.response = response
    }

    public func encode(to w: inout ProtoWriter) {
        switch response {
        case .responseRange(let m)?: w.writeMessage(1, m)
        case .responsePut(let m)?: w.writeMessage(2, m)
        case .responseDeleteRange(let m)?: w.writeMessage(3, m)
        case .responseTxn(let m)?: w.writeMessage(4, m)
        case nil: break
        }
    }

    /// A oneof member seen again merges into the one already there; another member replaces it.
    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1:
            if case .responseRange(let m)? = response {
                response = .responseRange(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                response = .responseRange(try r.readMessage(field, wt))
            }
        case 2:
            if case .responsePut(let m)? = response {
                response = .responsePut(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                response = .responsePut(try r.readMessage(field, wt))
            }
        case 3:
            if case .responseDeleteRange(let m)? = response {
                response = .responseDeleteRange(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                response = .responseDeleteRange(try r.readMessage(field, wt))
            }
        case 4:
            if case .responseTxn(let m)? = response {
                response = .responseTxn(try .merging(m, from: &r, field: field, wireType: wt))
            } else {
                response = .responseTxn(try r.readMessage(field, wt))
            }
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.TxnRequest`: if every `compare` holds, run `success`, else `failure`, atomically.
public struct TxnRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.TxnRequest" }

    public var compare: [Compare] = []
    public var success: [RequestOp] = []
    public var failure: [RequestOp] = []

    public init() {}

    public init(compare: [Compare], success: [RequestOp], failure: [RequestOp] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeRepeatedMessages(1, compare)
        w.writeRepeatedMessages(2, success)
        w.writeRepeatedMessages(3, failure)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: compare.append(try r.readMessage(field, wt))
        case 2: success.append(try r.readMessage(field, wt))
        case 3: failure.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.TxnResponse`.
public struct TxnResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.TxnResponse" }

    public var header: ResponseHeader? = nil
    /// Whether every compare held (so `success` ran).
    public var succeeded: Bool = false
    public var responses: [ResponseOp] = []

    public init() {}

    public init(header: ResponseHeader?, succeeded: Bool, responses: [ResponseOp] = []) {
        self.header = header
        self.succeeded = succeeded
        self.responses = responses
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeBool(2, succeeded)
        w.writeRepeatedMessages(3, responses)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: succeeded = try r.readBool(field, wt)
        case 3: responses.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
