import EtcdProto
import Transport

/// The plain HTTP endpoints etcd serves on its client port: `/health`, `/livez`, `/readyz`,
/// `/version`. Anything else is 404, as in etcd.
struct HTTPEndpoints: HTTPRequestHandler {
    let server: EtcdServerCore

    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        switch request.path {
        case "/health":
            // etcd 3.4's answer: unhealthy while any alarm is raised (3.5's ?exclude=NOSPACE
            // leaves that one out), or when the store cannot be read.
            let excluded = request.queryValue("exclude")
            let alarms = server.alarms.get(.none).filter { excluded == nil || "\($0.alarm.map { "\($0)" } ?? "")".uppercased() != excluded!.uppercased() }
            let readable = (try? server.store.read { $0.currentRevision }) != nil
            let healthy = alarms.isEmpty && readable
            respond(.json(healthy ? 200 : 503, healthy ? "{\"health\":\"true\"}" : "{\"health\":\"false\"}"))
        case "/livez", "/readyz":
            respond(.text(200, "ok"))
        case "/version":
            respond(.json(200, "{\"etcdserver\":\"\(EtcdVersion.server)\",\"etcdcluster\":\"\(EtcdVersion.cluster)\"}"))
        default:
            respond(.text(404, "404 page not found\n"))
        }
    }
}
