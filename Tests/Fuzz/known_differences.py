"""The one place that lists where swetcd may differ from etcd 3.5.16 in the differential fuzzer.

UNIMPLEMENTED: methods swetcd answers with gRPC UNIMPLEMENTED today. The fuzzer sends them to
swetcd only (several of them would change etcd's state in ways the run cannot follow, e.g.
MemberAdd makes a one-member etcd lose its quorum) and counts the UNIMPLEMENTED answers apart
from divergences. If swetcd ever answers one of them otherwise, the run says so ("newly
implemented"), and for the methods in SAFE_ON_ETCD it also asks etcd and compares.

KNOWN: deliberate differences. Each entry is a regular expression matched (re.search) against
a divergence class name as the fuzzer prints it, and the reason swetcd differs on purpose.
It starts empty: every divergence found is a bug until someone decides otherwise here.
"""
import re

# Not sent at all: membership changes (MemberAdd/Remove/Update/Promote would change the cluster
# under the run: a member added to a one-member cluster takes its quorum away; tested against etcd
# by Tests/Cluster/test_membership.py) and Maintenance.Snapshot (its bytes are a bbolt file whose
# page layout and member IDs differ by design; etcd's tools read it: test_snapshot.py).
UNIMPLEMENTED = {
    "Auth.AuthEnable": "auth not implemented yet",
    "Auth.AuthDisable": "auth not implemented yet",
    "Auth.AuthStatus": "auth not implemented yet",
    "Auth.Authenticate": "auth not implemented yet",
    "Auth.UserAdd": "auth not implemented yet",
    "Auth.UserGet": "auth not implemented yet",
    "Auth.UserList": "auth not implemented yet",
    "Auth.UserDelete": "auth not implemented yet",
    "Auth.RoleAdd": "auth not implemented yet",
    "Auth.RoleGet": "auth not implemented yet",
    "Auth.RoleList": "auth not implemented yet",
}

# Of those, the ones that are safe to send to etcd too (read-only there, or refused without
# effect on a store without auth): compared once swetcd implements them.
SAFE_ON_ETCD = {
    "Auth.AuthStatus", "Auth.Authenticate", "Auth.UserGet",
    "Auth.UserList", "Auth.RoleGet", "Auth.RoleList",
}

# Deliberate differences: {"match": regex on the class name, "reason": why}.
KNOWN = [
    {"match": r'^Maintenance\.Downgrade: status etcd=UNAVAILABLE "etcdserver: request timed out" swetcd=OK$',
     "reason": "etcd 3.5.16 applies a Downgrade ENABLE or CANCEL but never answers its proposer, "
               "who gets 'request timed out' after the request timeout; swetcd answers with the "
               "cluster version"},
    {"match": r"^Maintenance\.Alarm: status etcd=UNAVAILABLE",
     "reason": "etcd 3.5.16 panics (nil pointer dereference in its gRPC layer) on an AlarmRequest "
               "whose action is not GET, ACTIVATE or DEACTIVATE; swetcd answers an empty "
               "AlarmResponse and keeps serving"},
    {"match": r'^KV\.Txn: status etcd=UNAVAILABLE .* swetcd=INVALID_ARGUMENT "etcdserver: key not found"$',
     "reason": "etcd 3.5.16 checks a txn's puts (ignore_value, ignore_lease) against the state before "
               "the txn, then panics ('unexpected error during txn with writes') when an earlier op of "
               "the same txn deleted the key they need; swetcd refuses that txn with "
               "'etcdserver: key not found' and keeps serving"},
]


def known_reason(cls):
    """The reason a divergence class is a known deliberate difference, or None."""
    for entry in KNOWN:
        if re.search(entry["match"], cls):
            return entry["reason"]
    return None
