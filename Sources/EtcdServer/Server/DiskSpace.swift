import Foundation
import Synchronization

/// Free space on the data directory's filesystem, so writes stop with etcd's NOSPACE alarm before
/// the disk is full rather than failing inside the backend.
///
/// etcd itself panics when its backend cannot write; swetcd refuses new writes instead (as for an
/// exceeded `--quota-backend-bytes`: `etcdserver: mvcc: database space exceeded`, the NOSPACE
/// alarm raised), while reads, deletes and compaction go on. Any thread.
final class DiskSpace: Sendable {
    /// Room kept free for what must still be written: deletes and compaction (copy-on-write pages),
    /// the alarm itself, snapshots' small files.
    static let reserveBytes: Int64 = 16 << 20
    /// How long one `statvfs` answer is reused: writes arrive far faster than disks fill.
    static let refreshNanoseconds: UInt64 = 100_000_000

    let path: String
    private let cached: Mutex<(checkedAt: UInt64, freeBytes: Int64)>

    init(path: String) {
        self.path = path
        self.cached = Mutex((0, Int64.max))
    }

    /// Whether `bytes` more can be written and the reserve still stays free.
    func hasRoom(for bytes: Int) -> Bool {
        freeBytes() - Int64(bytes) >= Self.reserveBytes
    }

    /// Bytes available to this process on the filesystem (`f_bavail`), at most
    /// `refreshNanoseconds` old. If `statvfs` fails, the space is taken as unlimited.
    func freeBytes() -> Int64 {
        let now = DispatchTime.now().uptimeNanoseconds
        if let fresh = cached.withLock({ now &- $0.checkedAt < Self.refreshNanoseconds && $0.checkedAt != 0 ? $0.freeBytes : nil }) {
            return fresh
        }
        var st = statvfs()
        let free = statvfs(path, &st) == 0 ? Int64(st.f_bavail) * Int64(st.f_frsize) : Int64.max
        cached.withLock { $0 = (now, free) }
        return free
    }
}
