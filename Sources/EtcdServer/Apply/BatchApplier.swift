import EtcdProto
import Logging
import MVCC

/// Applies a run of committed entries in one backend write transaction, recording the applied
/// index in the same commit (DESIGN §4). Raft thread only (start-up replay included).
///
/// Totality: no entry can stop a batch. An entry whose request fails before it writes fails
/// cleanly (`Applier.apply` returns the error). One that fails after it wrote something
/// (`ApplyInterrupted`) cannot be rolled back inside the transaction, so the whole batch is run
/// again from the start with that entry as a no-op answered with its error. The outcome depends
/// only on the entries and the store, so a replay, or another member applying the same log in
/// other batches, reaches the same state. At most one rerun per entry: the loop is bounded by the
/// batch size.
struct BatchApplier {
    let store: MVCCStore
    let applier: Applier
    let logger: Logger

    struct Outcome {
        var results: [Result<ApplyResult, EtcdError>]
        var changes: [MVCCChange]
    }

    /// Applies `entries` (decoded as `decoded`, or here when nil) and marks the last one applied.
    /// Throws only what the backend throws; the caller decides whether that is a stall to retry
    /// or fatal.
    func apply(_ entries: [Entry], decoded: [CommittedEntry]? = nil) throws -> Outcome {
        let decoded = decoded ?? entries.map { CommittedEntry.decode($0) }
        precondition(entries.count == decoded.count, "one decoded entry per entry")
        guard let last = entries.last else { return Outcome(results: [], changes: []) }
        var noOps: [Int: EtcdError] = [:]
        while true {
            do {
                return try store.write { txn in
                    // The backend may run this body again after growing its map: start clean.
                    var results: [Result<ApplyResult, EtcdError>] = []
                    results.reserveCapacity(entries.count)
                    for (i, entry) in entries.enumerated() {
                        if let error = noOps[i] {
                            results.append(.failure(error))
                            continue
                        }
                        do {
                            results.append(try applier.apply(decoded[i], index: entry.index, txn: &txn))
                        } catch let interrupted as ApplyInterrupted {
                            throw Rerun(position: i, error: interrupted.error)
                        }
                    }
                    txn.setApplied(index: last.index, term: last.term)
                    return Outcome(results: results, changes: txn.batchChanges)
                }
            } catch let rerun as Rerun {
                precondition(noOps[rerun.position] == nil, "an entry applied as a no-op was applied again")
                logger.error("a log entry failed after it had written; it is applied as a no-op", metadata: [
                    "index": "\(entries[rerun.position].index)", "error": "\(rerun.error.status.message)",
                ])
                noOps[rerun.position] = rerun.error
            }
        }
    }

    /// Leaves the write transaction (aborting it) to run the batch again without one entry.
    private struct Rerun: Error {
        let position: Int
        let error: EtcdError
    }
}
