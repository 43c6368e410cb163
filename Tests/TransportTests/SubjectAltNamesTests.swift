import Testing
@testable import Transport

/// etcd's peer `checkSAN` (client/pkg/transport/listener_tls.go): which client certificates a
/// peer listener accepts from which address.
@Suite struct SubjectAltNamesTests {
    /// No name service: only what the test says resolves.
    static func resolver(reverse: [String: [String]] = [:], forward: [String: [String]] = [:]) -> SubjectAltNames.HostResolver {
        SubjectAltNames.HostResolver(reverse: { reverse[$0] ?? [] }, forward: { forward[$0] ?? [] })
    }

    @Test func aCertificateWithoutNamesIsAccepted() {
        #expect(SubjectAltNames().check(remoteIP: "10.0.0.9", resolver: Self.resolver()) == nil)
    }

    @Test func anIPNameMustBeTheConnectingAddress() {
        let names = SubjectAltNames(ipAddresses: ["127.0.0.1", "::1"])
        #expect(names.check(remoteIP: "127.0.0.1", resolver: Self.resolver()) == nil)
        #expect(names.check(remoteIP: "::1", resolver: Self.resolver()) == nil)
        #expect(names.check(remoteIP: "::ffff:127.0.0.1", resolver: Self.resolver()) == nil)
        #expect(names.check(remoteIP: "10.0.0.2", resolver: Self.resolver())
            == "x509: certificate is valid for 127.0.0.1, ::1, not 10.0.0.2")
    }

    @Test func aDNSNameMatchesByReverseOrForwardLookup() {
        let names = SubjectAltNames(ipAddresses: ["10.9.9.9"], dnsNames: ["m1.example", "*.peers.example"])
        #expect(names.check(remoteIP: "10.0.0.2", resolver: Self.resolver(forward: ["m1.example": ["10.0.0.2"]])) == nil)
        #expect(names.check(remoteIP: "10.0.0.3", resolver: Self.resolver(reverse: ["10.0.0.3": ["m1.example."]])) == nil)
        #expect(names.check(remoteIP: "10.0.0.4", resolver: Self.resolver(reverse: ["10.0.0.4": ["m7.peers.example."]])) == nil)
        #expect(names.check(remoteIP: "10.0.0.5", resolver: Self.resolver(forward: ["m1.example": ["10.0.0.2"]]))
            == "tls: \"10.0.0.5\" does not match any of DNSNames [\"m1.example\" \"*.peers.example\"]")
    }

    @Test func localhostResolvesThroughTheSystem() {
        // /etc/hosts names localhost on every machine these tests run on.
        #expect(SubjectAltNames(dnsNames: ["localhost"]).check(remoteIP: "127.0.0.1") == nil)
    }
}
