"""Edge values the request generator draws from, and `Sym`, a placeholder for a value only known
while the run goes on (the store's current revision, a server-chosen lease ID, a member ID).

Every draw goes through the generator's own `random.Random`, so a seed fixes the whole request
sequence. Values that depend on the servers are written as `Sym`s and resolved by the runner
just before a request is sent; the same symbolic request then gets the same concrete value on
both servers (revisions come from etcd's answers), except for per-server identities (lease IDs
the server chose, member IDs), which each server gets its own of.
"""

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
I32_MIN = -(1 << 31)
I32_MAX = (1 << 31) - 1
U64_MAX = (1 << 64) - 1

MAX_REQUEST_BYTES = 1572864            # etcd's default --max-request-bytes (1.5 MiB)
GRPC_MAX_RECV = MAX_REQUEST_BYTES + 512 * 1024  # etcd adds 512 KiB of gRPC overhead
MAX_LEASE_TTL = 9000000000             # etcd's lease.MaxLeaseTTL

# Signed 64-bit edges (most int64 fields).
I64_EDGES = [0, 1, -1, 2, -2, I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1, I32_MAX, I32_MIN,
             1 << 32, -(1 << 32)]
# Unsigned 64-bit edges (member IDs).
U64_EDGES = [0, 1, 2, U64_MAX, U64_MAX - 1, I64_MAX, I64_MAX + 1, 1 << 32]
# Enum values: the defined ones and some that are not (proto3 enums are open).
SORT_ORDERS = [0, 1, 2]
SORT_ORDERS_BAD = [3, -1, 99, I32_MAX, I32_MIN]
SORT_TARGETS = [0, 1, 2, 3, 4]
SORT_TARGETS_BAD = [5, -1, 99, I32_MAX, I32_MIN]
CMP_RESULTS = [0, 1, 2, 3]
CMP_RESULTS_BAD = [4, -1, 99, I32_MAX]
CMP_TARGETS = [0, 1, 2, 3, 4]
CMP_TARGETS_BAD = [5, -1, 99, I32_MIN]
WATCH_FILTERS = [0, 1]
WATCH_FILTERS_BAD = [2, -1, 99]
ALARM_ACTIONS_BAD = [3, -1, 99]
ALARM_TYPES_BAD = [3, -1, 99]

# The small key space most requests use, so that they meet each other's data.
SMALL_KEYS = [b"a", b"b", b"c", b"foo", b"foo/1", b"foo/2", b"foo0", b"k\x00", b"z",
              b"\x00", b"\x01", b"\xff", b"\xff\xff", b"a\xff"]
# Long keys: around swetcd's old 512-byte limit and up to past the request limit.
LONG_KEY_SIZES = [255, 256, 511, 512, 513, 1024, 4096, 65536, 1 << 20,
                  MAX_REQUEST_BYTES - 256, MAX_REQUEST_BYTES + 16, GRPC_MAX_RECV + 16]
# Value sizes beyond the everyday ones (each big value costs memory and time: drawn rarely).
BIG_VALUE_SIZES = [1024, 4096, 65536, 1 << 20, MAX_REQUEST_BYTES - 512, MAX_REQUEST_BYTES - 40,
                   MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1, GRPC_MAX_RECV - 100, GRPC_MAX_RECV + 1]

# Leases granted with an explicit ID and a long TTL live for the whole run (they never expire
# during it, so expiry timing cannot make the two servers differ).
LONG_LEASE_IDS = [1, 2, 3, 7, 100, 1 << 40, I64_MAX, -1, I64_MIN, -(1 << 40)]
LONG_TTLS = [3600, 86400, 1 << 31, MAX_LEASE_TTL - 1]
# TTLs that must be refused (too large) and that etcd refuses without applying.
TOO_LARGE_TTLS = [MAX_LEASE_TTL + 1, I64_MAX, 1 << 62]
# TTLs below etcd's minimum (2 s with default election timeout): such a lease expires during
# the run, so the generator only uses them in a short compound that revokes the lease at once.
SHORT_TTLS = [I64_MIN, -1, 0, 1, 2, 3]
# IDs for those short-lived leases (0 lets the server choose).
SHORT_LEASE_IDS = [0, 0, 0, 5000, 5001, 5002]


class Sym:
    """A value resolved by the runner at send time.

    kind "rev":     current store revision (as etcd last reported it) + arg
    kind "compact": last compaction revision etcd accepted (1 if none) + arg
    kind "frac":    round(arg * current revision), at least 1 (a revision in the history)
    kind "lease":   the ID server-chosen lease number `arg` got on this server (0 if none)
    kind "self":    this server's member ID
    """

    __slots__ = ("kind", "arg")

    def __init__(self, kind, arg=0):
        self.kind = kind
        self.arg = arg

    def __repr__(self):
        if self.kind in ("rev", "compact"):
            return f"<{self.kind}{self.arg:+d}>" if self.arg else f"<{self.kind}>"
        if self.kind == "frac":
            return f"<rev*{self.arg:.2f}>"
        if self.kind == "lease":
            return f"<auto-lease#{self.arg}>"
        return f"<{self.kind}>"
