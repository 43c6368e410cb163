#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain mutex with explicit `lock`/`unlock`, for sections whose body returns a generic,
/// non-Sendable value (which `Synchronization.Mutex.withLock` cannot hand back as `sending`).
/// Heap-allocated so the `pthread_mutex_t` never moves.
final class POSIXMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A reader/writer lock that prefers the writer: once `lockExclusive` waits, new `lockShared`
/// calls wait behind it, so a steady stream of readers cannot starve it. The price: a thread
/// that already holds the lock shared must not take it shared again (it would deadlock behind a
/// waiting writer). Heap-allocated so the `pthread_rwlock_t` never moves.
final class ReaderWriterGate: @unchecked Sendable {
    private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        rwlock = .allocate(capacity: 1)
        rwlock.initialize(to: pthread_rwlock_t())
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        #if canImport(Glibc)
        // glibc's default prefers readers; this kind is the one that lets a writer in.
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        let rc = pthread_rwlock_init(rwlock, &attr)
        pthread_rwlockattr_destroy(&attr)
        precondition(rc == 0, "pthread_rwlock_init failed: \(rc)")
    }

    deinit {
        pthread_rwlock_destroy(rwlock)
        rwlock.deallocate()
    }

    func lockShared() {
        let rc = pthread_rwlock_rdlock(rwlock)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
    }

    func lockExclusive() {
        let rc = pthread_rwlock_wrlock(rwlock)
        precondition(rc == 0, "pthread_rwlock_wrlock failed: \(rc)")
    }

    func unlock() {
        let rc = pthread_rwlock_unlock(rwlock)
        precondition(rc == 0, "pthread_rwlock_unlock failed: \(rc)")
    }
}
