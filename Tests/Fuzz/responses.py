"""What the two servers answered, made comparable, and how two answers differ.

An `Outcome` is one server's answer to one request: a gRPC status code name ("OK" or e.g.
"INVALID_ARGUMENT"), the status message, and for OK the response normalized into plain Python
data (`body`). Normalization removes what legitimately differs between two clusters:

- header: cluster_id, member_id and raft_term are dropped, revision is kept (both servers start
  empty and get the same writes, so revisions must agree);
- lease IDs a server chose itself (LeaseGrant with ID 0) become "auto#n", this member's own ID
  becomes "<self>", its ports in URLs become "<client-port>"/"<peer-port>";
- lists whose order etcd does not define (LeaseLeases, Alarm) are sorted;
- Status keeps what clients act on (version, leader present, errors, learner, sizes > 0, ...);
- bytes longer than 40 become size + digest (values up to 2 MiB would swamp reports);
- watch streams: everything a stream delivered between two checks is grouped by watch_id and
  flattened into control items (created/canceled/compact_revision/cancel_reason with the
  header revision) and single events, so batching of events into responses (which etcd leaves
  to timing) does not count; idle progress notifications for watch_id >= 0 are dropped.

`diff(a, b)` lists the differing paths; `tolerance` allows LeaseTimeToLive's remaining TTL to
differ by one second (the two servers see the request a few milliseconds apart).
"""
import re

from protos import M, short_bytes

ID_FIELDS = {"ID", "lease", "memberID", "leader", "targetID"}
HEADER_TYPE = "etcdserverpb.ResponseHeader"
TRANSPORT_CODES = {"UNAVAILABLE", "CANCELLED", "UNKNOWN", "DEADLINE_EXCEEDED", "INTERNAL", "NO_ANSWER"}


class Outcome:
    __slots__ = ("code", "message", "body", "text", "raw")

    def __init__(self, code, message="", body=None, text="", raw=None):
        self.raw = raw                # the response message itself, when there is one
        self.code = code
        self.message = message
        self.body = body
        self.text = text

    @property
    def ok(self):
        return self.code == "OK"

    def describe(self):
        return self.text if self.ok else f"{self.code}: {self.message}"

    def __repr__(self):
        return f"Outcome({self.describe()[:200]})"


class Identity:
    """What is specific to one server: its member ID, its ports, the lease IDs it chose."""

    def __init__(self, member_id, client_port, peer_port, auto_leases):
        self.member_id = member_id
        self.client_port = client_port
        self.peer_port = peer_port
        self.auto_by_id = {v: f"auto#{k}" for k, v in auto_leases.items()}


def plain(msg, ident, drop_header=True):
    """A message as nested dicts, every field present (defaults included)."""
    out = {}
    for field in msg.DESCRIPTOR.fields:
        name = field.name
        value = getattr(msg, name)
        if field.label == field.LABEL_REPEATED:
            if field.message_type is not None:
                if field.message_type.GetOptions().map_entry:
                    out[name] = {k: (plain(v, ident) if hasattr(v, "DESCRIPTOR") else v) for k, v in value.items()}
                else:
                    out[name] = [plain(v, ident) for v in value]
            else:
                out[name] = [_scalar(name, v, ident) for v in value]
        elif field.message_type is not None:
            if field.containing_oneof is not None and msg.WhichOneof(field.containing_oneof.name) != name:
                continue
            if not msg.HasField(name):
                out[name] = None
            elif field.message_type.full_name == HEADER_TYPE and drop_header:
                out[name] = {"revision": value.revision}
            else:
                out[name] = plain(value, ident)
        else:
            out[name] = _scalar(name, value, ident)
    return out


def _scalar(name, value, ident):
    if isinstance(value, bytes):
        return short_bytes(value)
    if name in ID_FIELDS and isinstance(value, int) and value != 0:
        if value in ident.auto_by_id:
            return ident.auto_by_id[value]
        if value == ident.member_id:
            return "<self>"
    return value


def _scrub_urls(values, ident):
    out = []
    for u in values:
        u = u.replace(f":{ident.client_port}", ":<client-port>").replace(f":{ident.peer_port}", ":<peer-port>")
        out.append(u)
    return out


def normalize(method, resp, ident):
    """The comparable body of an OK response to `method`."""
    body = plain(resp, ident)
    if method == "Maintenance.Status":
        return {
            "header": body["header"],
            "version": resp.version,
            "leader": body["leader"],               # "<self>" on a healthy single member
            "raftIndex>0": resp.raftIndex > 0,
            "raftAppliedIndex>0": resp.raftAppliedIndex > 0,
            "raftAppliedIndex<=raftIndex": resp.raftAppliedIndex <= resp.raftIndex,
            "raftTerm>0": resp.raftTerm > 0,
            "errors": [e.replace(str(ident.member_id), "<self>").replace(f"{ident.member_id:x}", "<self>")
                       for e in resp.errors],
            "dbSize>0": resp.dbSize > 0,
            "dbSizeInUse>0": resp.dbSizeInUse > 0,
            "dbSizeInUse<=dbSize": resp.dbSizeInUse <= resp.dbSize,
            "isLearner": resp.isLearner,
            "storageVersion": resp.storageVersion,
            "dbSizeQuota": resp.dbSizeQuota,
            "downgradeInfo": body["downgradeInfo"],
        }
    if method == "Cluster.MemberList" or method.startswith("Cluster.Member"):
        for m in body.get("members", []):
            m["peerURLs"] = _scrub_urls(m["peerURLs"], ident)
            m["clientURLs"] = _scrub_urls(m["clientURLs"], ident)
    if method == "Lease.LeaseLeases":
        body["leases"] = sorted(body["leases"], key=repr)
    if method == "Lease.LeaseTimeToLive" and "keys" in body:
        # etcd lists a lease's keys from a Go map: in random order, a set to the client.
        body["keys"] = sorted(body["keys"], key=repr)
    if method == "Maintenance.Alarm":
        body["alarms"] = sorted(body["alarms"], key=repr)
    if method == "Maintenance.Hash":
        # A hash of the whole backend: etcd's covers bbolt's buckets, swetcd's its LMDB tables
        # (deliberately different numbers; equal across swetcd members, see the README).
        body.pop("hash", None)
    if method == "Maintenance.Snapshot":
        return {"chunks": len(resp) if isinstance(resp, list) else 1}
    return body


def watch_body(responses, closed, ident):
    """What a watch stream delivered, grouped by watch ID (see module doc)."""
    groups = {}
    for r in responses:
        g = groups.setdefault(f"w{r.watch_id}", [])
        if r.created or r.canceled or r.compact_revision or r.cancel_reason:
            item = {"created": r.created, "canceled": r.canceled, "compact_revision": r.compact_revision,
                    "cancel_reason": r.cancel_reason, "rev": r.header.revision}
            g.append(item)
            for e in r.events:
                g.append({"event": plain(e, ident)})
        elif r.events:
            for e in r.events:
                g.append({"event": plain(e, ident)})
        elif r.watch_id == -1:
            g.append({"progress": r.header.revision})
        # else: an idle progress notification (progress_notify): timing, not compared
    groups = {k: v for k, v in groups.items() if v}
    if closed is not None:
        groups["stream-end"] = {"code": closed[0], "message": closed[1]}
    return groups


def merge_range_stream(chunks):
    """RangeStream chunks -> the RangeResponse they add up to (kvs of all, the rest from the last)."""
    out = M.rpc_pb2.RangeResponse()
    for c in chunks:
        rr = c.range_response
        out.kvs.extend(rr.kvs)
        if rr.HasField("header"):
            out.header.CopyFrom(rr.header)
        out.more = rr.more
        out.count = rr.count
    return out


# ---------------------------------------------------------------------------------------------
# Differences

TOLERANCE = {("Lease.LeaseTimeToLive", "TTL"): 1}


def diff(a, b, method="", path=""):
    """[(path, a value, b value)] where the plain structures a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append((p, "<absent>", b[k]))
            elif k not in b:
                out.append((p, a[k], "<absent>"))
            else:
                out.extend(diff(a[k], b[k], method, p))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            p = f"{path}[{i}]"
            if i >= len(a):
                out.append((p, "<absent>", b[i]))
            elif i >= len(b):
                out.append((p, a[i], "<absent>"))
            else:
                out.extend(diff(a[i], b[i], method, p))
        return out
    if a == b:
        return []
    tol = TOLERANCE.get((method, path))
    if tol is not None and isinstance(a, int) and isinstance(b, int) and abs(a - b) <= tol:
        return []
    return [(path, a, b)]


def general_path(path):
    """A diff path with list indices and watch IDs generalized, for grouping."""
    path = re.sub(r"\[\d+\]", "[*]", path)
    path = re.sub(r"\bw-?\d+\b", "w*", path)
    return path


def _kind(x):
    """What a piece of a normalized answer is, for class names (watch items mostly)."""
    if isinstance(x, list):
        return ",".join(sorted({_kind(i) for i in x})) or "empty"
    if isinstance(x, dict):
        if "event" in x:
            return "event"
        if "progress" in x:
            return "progress"
        if "created" in x:
            return "created" if x["created"] else ("canceled" if x["canceled"] else "control")
        if "code" in x:
            return "stream-end"
        return "item"
    return "value"


def _presence(a, b):
    if a == "<absent>":
        return f" ({_kind(b)} only on swetcd)"
    if b == "<absent>":
        return f" ({_kind(a)} only on etcd)"
    return ""


def _class_text(s):
    """Numbers in messages vary with sizes and IDs: leave them out of class names."""
    return re.sub(r"\d+", "N", s)[:160]


def classify(method, etcd, swetcd):
    """None if the two outcomes agree, else (class name, [(path, etcd, swetcd)])."""
    if etcd.code != swetcd.code:
        def side(o):
            return o.code if o.ok else f'{o.code} "{_class_text(o.message)}"'
        return f"{method}: status etcd={side(etcd)} swetcd={side(swetcd)}", []
    if not etcd.ok:
        if etcd.message == swetcd.message:
            return None
        return (f'{method}: message etcd="{_class_text(etcd.message)}" swetcd="{_class_text(swetcd.message)}"',
                [("message", etcd.message, swetcd.message)])
    d = diff(etcd.body, swetcd.body, method)
    if not d:
        return None
    fields = sorted({general_path(p) + _presence(a, b) for p, a, b in d})
    shown = ", ".join(fields[:4]) + (f" (+{len(fields) - 4})" if len(fields) > 4 else "")
    return f"{method}: response differs in {shown}", d
