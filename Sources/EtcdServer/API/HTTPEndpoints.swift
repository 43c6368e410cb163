import EtcdProto
import Foundation
import Transport

/// The plain HTTP endpoints etcd 3.5 serves on its client port and on `--listen-metrics-urls`:
/// `/health`, `/livez`, `/readyz` (and their per-check subpaths), `/version`, `/metrics`
/// (Prometheus text, `ServerMetrics`). Anything else is
/// 404, as in etcd. Every answer comes from real state (`HealthChecks`), never a constant.
struct HTTPEndpoints: HTTPRequestHandler {
    let server: EtcdServerCore

    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let checks = HealthChecks(server: server)
        switch request.path {
        case "/health":
            guard request.method == "GET" else { return respond(Self.methodNotAllowed) }
            checks.health(excludedAlarms: Set(request.queryValues("exclude")),
                          serializable: request.queryValue("serializable") == "true") { health in
                let json = "{\"health\":\"\(health.healthy)\",\"reason\":\"\(Self.jsonEscaped(health.reason))\"}"
                // Go's http.Error for a failure (text/plain, a trailing newline); the JSON alone on
                // success (which Go sniffs as text/plain too).
                respond(health.healthy ? .text(200, json) : Self.goError(503, json))
            }
        case "/version":
            respond(.json(200, Self.versionJSON(server)))
        case "/metrics":
            guard request.method == "GET" else { return respond(Self.methodNotAllowed) }
            var response = HTTPResponse(status: 200, headers: [("content-type", "text/plain; version=0.0.4; charset=utf-8")], body: server.metricsText())
            response.headers.append(("x-content-type-options", "nosniff"))
            respond(response)
        default:
            guard let (registry, only) = HealthChecks.Registry.route(request.path) else {
                return respond(.text(404, "404 page not found\n"))
            }
            guard request.method == "GET" else { return respond(Self.methodNotAllowed) }
            var names = only.map { [$0] } ?? registry.checks
            if only == nil {
                let excluded = Set(request.queryValues("exclude").filter { !$0.isEmpty })
                names.removeAll { excluded.contains($0) }
            }
            let verbose = request.hasQueryKey("verbose")
            checks.run(names) { ok, reason in
                if !ok { return respond(Self.goError(503, reason)) }
                var response = HTTPResponse.text(200, (verbose ? reason : "") + "ok\n")
                response.headers.append(("x-content-type-options", "nosniff"))
                respond(response)
            }
        }
    }

    /// `{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}`; "not_decided" until the cluster version
    /// is set, as etcd answers.
    static func versionJSON(_ server: EtcdServerCore) -> String {
        "{\"etcdserver\":\"\(EtcdVersion.server)\",\"etcdcluster\":\"\(server.membership.current.clusterVersion ?? "not_decided")\"}"
    }

    static let methodNotAllowed: HTTPResponse = {
        var r = goError(405, "Method Not Allowed")
        r.headers.append(("allow", "GET"))
        return r
    }()

    /// Go's `http.Error`: text/plain, nosniff, the message and a newline.
    static func goError(_ status: Int, _ message: String) -> HTTPResponse {
        var r = HTTPResponse.text(status, message + "\n")
        r.headers.append(("x-content-type-options", "nosniff"))
        return r
    }

    static func jsonEscaped(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
