import EtcdProto
import Transport

/// The plain HTTP endpoints etcd serves on its client port: `/health`, `/livez`, `/readyz`,
/// `/version`. Anything else is 404, as in etcd.
struct HTTPEndpoints: HTTPRequestHandler {
    let server: EtcdServerCore

    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        switch request.path {
        case "/health":
            // etcd 3.4's answer; a linearizable read proves the member serves.
            let healthy = server.store.meta.currentRevision >= 1
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
