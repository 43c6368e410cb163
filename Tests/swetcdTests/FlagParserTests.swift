import EtcdServer
import Foundation
import Testing
@testable import swetcd

/// etcd's command line follows Go's `flag` package; so does ours.
@Suite struct FlagParserTests {
    func parse(_ args: [String], env: [String: String] = [:]) throws -> Options {
        let parser = Flags.parser()
        var options = Options()
        let parsed = try parser.parse(args, into: &options)
        _ = try parser.applyEnvironment(env, skipping: parsed.set, into: &options)
        try options.finish()
        return options
    }

    @Test func valuesComeAsTheNextArgumentOrAfterAnEqualsSignWithOneOrTwoDashes() throws {
        let o = try parse(["--name", "n1", "-data-dir=/d", "--snapshot-count=3", "-max-txn-ops", "7"])
        #expect(o.config.name == "n1" && o.config.dataDir == "/d" && o.config.snapshotCount == 3 && o.config.maxTxnOps == 7)
    }

    @Test func booleansAreBareOrTakeAnExplicitValueButNeverTheNextArgument() throws {
        let o = try parse(["--peer-auto-tls", "--strict-reconfig-check=false", "--name", "x"])
        #expect(o.config.peerAutoTLS && o.config.name == "x")
        #expect(try parse(["--unsafe-no-fsync", "--name", "y"]).config.unsafeNoFsync)
        #expect(throws: FlagParser.FlagError.self) { try parse(["--auto-tls=maybe"]) }
    }

    @Test func unknownFlagsFailWithGosMessage() {
        #expect {
            try parse(["--no-such-flag", "1"])
        } throws: { error in
            "\(error)" == "flag provided but not defined: -no-such-flag"
        }
    }

    @Test func aValueFlagAtTheEndNeedsItsArgument() {
        #expect { try parse(["--name"]) } throws: { "\($0)" == "flag needs an argument: -name" }
    }

    @Test func environmentVariablesFillFlagsTheCommandLineLeftUnset() throws {
        let o = try parse(["--name", "cli"], env: ["ETCD_NAME": "env", "ETCD_DATA_DIR": "/from-env", "ETCD_MAX_REQUEST_BYTES": "100"])
        #expect(o.config.name == "cli" && o.config.dataDir == "/from-env" && o.config.maxRequestBytes == 100)
        #expect(o.config.effectiveDataDir == "/from-env")
    }

    @Test func theDataDirDefaultsToTheNameDotEtcd() throws {
        #expect(try parse(["--name", "m1"]).config.effectiveDataDir == "m1.etcd")
        #expect(try parse([]).config.effectiveDataDir == "default.etcd")
    }

    @Test func listenURLsAndTheInitialClusterAreParsedAndBadOnesRefused() throws {
        let o = try parse(["--listen-client-urls", "http://127.0.0.1:1,https://localhost:2,unix://s.sock",
                           "--initial-cluster", "a=http://h:1"])
        #expect(o.config.listenClientURLs.map(\.description) == ["http://127.0.0.1:1", "https://localhost:2", "unix://s.sock"])
        #expect(o.config.initialCluster.map(\.name) == ["a"])
        #expect(throws: FlagParser.FlagError.self) { try parse(["--listen-client-urls", "ftp://x:1"]) }
        #expect(throws: FlagParser.FlagError.self) { try parse(["--initial-cluster-state", "maybe"]) }
    }

    @Test func tlsFilesBecomeATLSConfiguration() throws {
        let o = try parse(["--cert-file", "c.pem", "--key-file", "k.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth"])
        #expect(o.config.clientTLS?.certificateFile == "c.pem" && o.config.clientTLS?.clientCertAuth == true)
        #expect(throws: FlagParser.FlagError.self) { try parse(["--cert-file", "c.pem"]) }
    }

    @Test func goDurationsParse() {
        #expect(GoDuration.milliseconds("10m") == 600_000)
        #expect(GoDuration.milliseconds("1h30m") == 5_400_000)
        #expect(GoDuration.milliseconds("250ms") == 250)
        #expect(GoDuration.milliseconds("1.5s") == 1500)
        #expect(GoDuration.milliseconds("10") == nil)
    }

    @Test func aMultiMemberInitialClusterIsAcceptedAndTheLocalNameMustBeInIt() throws {
        var config = try parse([]).config
        config.initialCluster = [("default", "http://localhost:2380"), ("b", "http://b:2380")]
        #expect(throws: Never.self) { try ConfigValidation.validate(config) }
        config.initialCluster = [("a", "http://a:2380"), ("b", "http://b:2380")]
        #expect(throws: ConfigValidation.Failure.self) { try ConfigValidation.validate(config) }
    }
}

/// No flag is accepted and silently ignored: each works, concerns only peers, or is refused
/// at start (at any value but etcd's default) with the reason.
@Suite struct FlagPolicyTests {
    func parse(_ args: [String]) throws -> Options {
        var options = Options()
        _ = try Flags.parser().parse(args, into: &options)
        try options.finish()
        return options
    }

    func refusal(_ args: [String]) -> String? {
        do {
            _ = try parse(args)
            return nil
        } catch { return "\(error)" }
    }

    @Test func unsupportedFlagsAreRefusedWithTheirReasonUnlessAtEtcdsDefault() throws {
        #expect(refusal(["--discovery", "https://discovery.etcd.io/x"])
            == "--discovery=https://discovery.etcd.io/x is not supported by swetcd: discovery is not implemented; use --initial-cluster (leave it out, or give etcd's default \"\")")
        #expect(refusal(["--experimental-memory-mlock"])?.hasPrefix("--experimental-memory-mlock=true is not supported by swetcd") == true)
        #expect(refusal(["--grpc-keepalive-min-time", "1s"]) != nil)
        #expect(refusal(["--auth-token", "jwt,pub-key=a,priv-key=b"]) != nil)
        // etcd's defaults, in any spelling Go's flag package reads the same, ask for nothing.
        #expect(refusal(["--grpc-keepalive-min-time", "5s", "--grpc-keepalive-interval", "2h", "--discovery-fallback", "proxy",
                         "--backend-batch-limit", "0", "--experimental-memory-mlock=false", "--auth-token", "simple",
                         "--socket-reuse-port=f", "--proxy", "off", "--metrics", "basic"]) == nil)
    }

    @Test func clusterSettingsWorkOrAreRefusedUnlessAtEtcdsDefault() throws {
        // Implemented: they reach the configuration.
        let o = try parse(["--experimental-snapshot-catchup-entries", "100", "--initial-election-tick-advance=false",
                           "--experimental-peer-skip-client-san-verification", "--peer-cert-file", "c", "--peer-key-file", "k"])
        #expect(o.config.snapshotCatchUpEntries == 100 && !o.config.initialElectionTickAdvance)
        #expect(o.config.peerTLS?.verifiesClientSubjectAltNames == false)
        #expect(try parse(["--peer-cert-file", "c", "--peer-key-file", "k"]).config.peerTLS?.verifiesClientSubjectAltNames == true)
        #expect(refusal(["--experimental-snapshot-catchup-entries", "0"]) != nil)
        let checks = try parse(["--experimental-initial-corrupt-check", "--experimental-corrupt-check-time", "3s",
                                "--experimental-compact-hash-check-enabled", "--experimental-compact-hash-check-time", "2m"]).config
        #expect(checks.initialCorruptCheck && checks.corruptCheckMilliseconds == 3000)
        #expect(checks.compactHashCheckEnabled && checks.compactHashCheckMilliseconds == 120_000)
        #expect(refusal(["--experimental-compact-hash-check-time", "soon"]) != nil)
        // Not implemented: etcd's defaults pass, anything else is refused with the reason.
        #expect(refusal(["--raft-read-timeout", "5s", "--experimental-max-learners", "1"]) == nil)
        for flag in [["--raft-write-timeout", "1s"], ["--experimental-max-learners", "2"]] {
            #expect(refusal(flag)?.contains("is not supported by swetcd") == true, "\(flag)")
        }
        // Read by etcd only when another feature is on: checked, as etcd checks them.
        #expect(refusal(["--experimental-downgrade-check-time", "5s"]) == nil)
        #expect(refusal(["--experimental-downgrade-check-time", "soon"]) != nil)
        let reconfig = try parse(["--strict-reconfig-check=false", "--force-new-cluster"])
        #expect(reconfig.startupWarnings.isEmpty && !reconfig.config.strictReconfigCheck && reconfig.config.forceNewCluster)
        #expect(try parse([]).config.strictReconfigCheck && !(try parse([]).config.forceNewCluster))
    }

    @Test func autoCompactionReadsItsRetentionAsEtcdDoes() throws {
        #expect(try parse([]).config.autoCompaction == nil)
        #expect(try parse(["--auto-compaction-retention", "2"]).config.autoCompaction?.mode == .periodic(retentionNanoseconds: 7_200_000_000_000))
        #expect(try parse(["--auto-compaction-retention", "90m"]).config.autoCompaction?.mode == .periodic(retentionNanoseconds: 5_400_000_000_000))
        #expect(try parse(["--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"]).config.autoCompaction?.mode == .revision(revisions: 1000))
        #expect(try parse(["--auto-compaction-mode", "revision", "--auto-compaction-retention", "0"]).config.autoCompaction == nil)
        #expect(refusal(["--auto-compaction-mode", "hourly"]) == "unknown auto-compaction-mode \"hourly\"")
        #expect(refusal(["--auto-compaction-retention", "a while"]) != nil)
    }

    @Test func tlsVersionsAndTheAllowedClientHostNameReachTheTLSConfiguration() throws {
        let o = try parse(["--cert-file", "c", "--key-file", "k", "--tls-min-version", "TLS1.3", "--client-cert-allowed-hostname", "client.example"])
        #expect(o.config.clientTLS?.minVersion == .tls13 && o.config.clientTLS?.maxVersion == nil)
        #expect(o.config.clientTLS?.allowedHostname == "client.example")
        #expect(refusal(["--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"]) == "min version (TLS1.3) is greater than max version (TLS1.2)")
        #expect(refusal(["--tls-min-version", "TLS1.1"]) != nil)
        #expect(try parse(["--auto-tls", "--client-cert-allowed-hostname", "h"]).config.clientTLS?.allowedHostname == "h")
    }

    @Test func logOutputsChoosesTheStream() throws {
        #expect(try parse(["--log-outputs", "stdout"]).logToStdout)
        #expect(try !parse(["--log-outputs", "stderr"]).logToStdout)
        #expect(refusal(["--log-outputs", "/var/log/etcd.log"]) != nil)
    }
}

@Suite struct ConfigFileTests {
    @Test func etcdsSampleConfigFileLoads() throws {
        let dir = NSTemporaryDirectory() + "cfg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/etcd.conf.yml"
        try """
            name: 'infra1'
            data-dir:
            snapshot-count: 10000
            listen-client-urls: http://localhost:2379,http://127.0.0.1:12379
            initial-advertise-peer-urls: http://localhost:2380
            initial-cluster:
            strict-reconfig-check: false
            enable-v2: true
            proxy: 'off'
            client-transport-security:
              cert-file: c.pem
              key-file: k.pem
              client-cert-auth: true
              trusted-ca-file: ca.pem
              auto-tls: false
            peer-transport-security:
              cert-file:
              auto-tls: true
            log-outputs: [stderr]
            auto-compaction-retention: "1"
            """.write(toFile: path, atomically: true, encoding: .utf8)
        var options = Options()
        try ConfigFile.load(path: path, parser: Flags.parser(), into: &options)
        try options.finish()
        #expect(options.config.name == "infra1" && options.config.snapshotCount == 10000)
        #expect(options.config.listenClientURLs.count == 2)
        #expect(options.startupWarnings == [
            "--enable-v2=true has no effect in swetcd: the v2 API is not served",
        ])
        #expect(!options.config.strictReconfigCheck)
        #expect(options.config.autoCompaction?.mode == .periodic(retentionNanoseconds: 3_600_000_000_000))
        #expect(options.config.clientTLS?.clientCertAuth == true && options.config.peerAutoTLS)
        #expect(options.config.initialCluster.map(\.name) == ["infra1"])
        #expect(options.config.effectiveDataDir == "infra1.etcd")
    }
}
