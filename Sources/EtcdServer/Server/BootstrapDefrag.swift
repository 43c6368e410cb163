import Foundation
import Logging
import Storage

/// `--experimental-bootstrap-defrag-threshold-megabytes` (etcd's `maybeDefragBackend`): at
/// start-up, before anything is served, the backend is defragmented when that would free at least
/// the threshold; otherwise etcd's "Skipping defragmentation" line says why not.
enum BootstrapDefrag {
    static func run(_ environment: LMDBEnvironment, thresholdMegabytes: UInt, logger: Logger) throws {
        let sizes = try environment.sizes
        let freeable = UInt(max(0, sizes.fileBytes - sizes.usedBytes))
        let (thresholdBytes, overflow) = thresholdMegabytes.multipliedReportingOverflow(by: 1024 * 1024)
        if overflow || freeable < thresholdBytes {
            logger.info("Skipping defragmentation", metadata: [
                "current-db-size-bytes": "\(sizes.fileBytes)",
                "current-db-size": "\(HumanBytes.format(UInt64(sizes.fileBytes)))",
                "current-db-size-in-use-bytes": "\(sizes.usedBytes)",
                "current-db-size-in-use": "\(HumanBytes.format(UInt64(sizes.usedBytes)))",
                "experimental-bootstrap-defrag-threshold-bytes": "\(overflow ? UInt.max : thresholdBytes)",
                "experimental-bootstrap-defrag-threshold": "\(HumanBytes.format(UInt64(overflow ? UInt.max : thresholdBytes)))",
            ])
            return
        }
        logger.info("defragmenting", metadata: ["path": "\(environment.path)", "current-db-size-bytes": "\(sizes.fileBytes)"])
        let (before, after) = try environment.compactInPlace()
        logger.info("finished defragmenting directory", metadata: [
            "path": "\(environment.path)", "current-db-size-bytes-diff": "\(after - before)", "current-db-size-bytes": "\(after)",
        ])
    }
}

/// go-humanize's `Bytes` (SI units, as etcd logs sizes): "9 B", "20 kB", "1.5 MB", "2.1 GB".
enum HumanBytes {
    static func format(_ bytes: UInt64) -> String {
        if bytes < 10 { return "\(bytes) B" }
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var exponent = 0
        var scale = 1.0
        while exponent < units.count - 1 && Double(bytes) >= scale * 1000 {
            scale *= 1000
            exponent += 1
        }
        let value = (Double(bytes) / scale * 10 + 0.5).rounded(.down) / 10
        // Go's %.1f / %.0f (printf's rounding: 20.5 prints as 20, as etcd logs 20480 bytes).
        return String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[exponent])
    }
}
