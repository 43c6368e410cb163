import Foundation
import Yams

/// `--config-file`: etcd's YAML configuration (see etcd's `etcd.conf.yml.sample`). As in etcd,
/// a configuration file replaces the command line and the environment entirely.
///
/// Top-level keys are flag names and go through the same flag table as the command line, so a
/// value means the same in both places; `client-transport-security` and
/// `peer-transport-security` map onto the client and `--peer-*` TLS flags. Empty values are
/// left at their defaults; lists may be YAML sequences or etcd's comma-separated strings.
enum ConfigFile {
    static let transportKeys: [String: String] = [
        "cert-file": "cert-file", "key-file": "key-file", "client-cert-auth": "client-cert-auth",
        "trusted-ca-file": "trusted-ca-file", "auto-tls": "auto-tls", "crl-file": "client-crl-file",
        "allowed-hostname": "client-cert-allowed-hostname",
    ]

    static func load(path: String, parser: FlagParser, into options: inout Options) throws(FlagParser.FlagError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FlagParser.FlagError("cannot read config file \(path): \(error.localizedDescription)")
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw FlagParser.FlagError("cannot parse config file \(path): \(error)")
        }
        guard let root = document as? [String: Any] else {
            throw FlagParser.FlagError("config file \(path) is not a YAML mapping")
        }
        var arguments: [String] = []
        for key in root.keys.sorted() {
            let value = root[key]!
            if key == "client-transport-security" || key == "peer-transport-security" {
                guard let section = value as? [String: Any] else { continue }
                let prefix = key == "peer-transport-security" ? "peer-" : ""
                for (sub, subValue) in section.sorted(by: { $0.key < $1.key }) {
                    guard let flag = transportKeys[sub], let text = scalar(subValue) else { continue }
                    let name = prefix.isEmpty ? flag : (flag == "client-crl-file" ? "peer-crl-file" : (flag == "client-cert-allowed-hostname" ? "peer-cert-allowed-hostname" : "peer-" + flag))
                    arguments.append("--\(name)=\(text)")
                }
                continue
            }
            guard let text = scalar(value) else { continue }
            guard parser.flags[key] != nil else {
                throw FlagParser.FlagError("config file \(path): unknown key \"\(key)\"")
            }
            if key == "config-file" { continue }
            arguments.append("--\(key)=\(text)")
        }
        _ = try parser.parse(arguments, into: &options)
        if root["initial-cluster"].flatMap(scalar) == nil {
            // etcd builds the initial cluster from the name and advertised peer URLs.
            options.config.initialCluster = options.config.initialAdvertisePeerURLs.map { (options.config.name, $0) }
        }
    }

    /// A YAML value as flag text; nil for empty values (keep the default).
    static func scalar(_ value: Any) -> String? {
        switch value {
        case let s as String: return s.isEmpty ? nil : s
        case let b as Bool: return b ? "true" : "false"
        case let i as Int: return String(i)
        case let d as Double: return String(d)
        case let list as [Any]:
            let parts = list.compactMap(scalar)
            return parts.isEmpty ? nil : parts.joined(separator: ",")
        default: return nil
        }
    }
}
