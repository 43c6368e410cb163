// Storage: the only module that touches disk (DESIGN.md §4).
//
// Layout of a data directory (etcd's, so tools and operators find things where they expect):
//
//     <data-dir>/member/wal/<seq>-<index>.wal   write-ahead log segments       (WriteAheadLog)
//     <data-dir>/member/wal/lock                flock'd while a WAL is open
//     <data-dir>/member/snap/<term>-<index>.snap raft snapshot files           (SnapshotStore)
//     <data-dir>/member/snap/db                 the LMDB data file            (LMDBEnvironment)
//     <data-dir>/member/snap/db-lock            LMDB's lock file
//
// Files of this module, one concept each:
//   CRC32C.swift             checksum of every record and snapshot file
//   LMDB*.swift              LMDB environment, transactions, cursors, errors (only users of CLMDB)
//   WAL*.swift, WriteAheadLog.swift   segment naming, record framing, reading/repair, appending
//   SnapshotStore.swift      .snap files;  DataDirectory.swift   the directory layout
//   POSIXFile.swift, Locks.swift      system-call and lock helpers (internal)
//
// Threads: LMDB reads from any thread; LMDB writes, the WAL and snapshot saves from the one
// raft/apply thread. Each type's documentation says exactly what may be called from where.
