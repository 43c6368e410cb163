import EtcdProto
import Foundation
import Transport

/// `etcdserverpb.Cluster`: MemberList, and MemberAdd/Remove/Update/Promote as etcd's cluster
/// server answers them (its header carries no revision; the member list is the membership as of
/// the applied change, sorted by ID).
struct MemberService {
    let server: EtcdServerCore

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        ServiceSupport.unary(&router, GRPCMethod.memberList.rawValue, MemberListRequest.self, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MemberListResponse, EtcdError>) -> Void) in
            @Sendable func answer() {
                var response = MemberListResponse()
                response.header = server.header(revision: 0)
                response.members = server.members()
                done(.success(response))
            }
            guard request.linearizable else { return answer() }
            server.whenReadable(serializable: false) { result in
                switch result {
                case .success: answer()
                case .failure(let error): done(.failure(error))
                }
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.memberAdd.rawValue, MemberAddRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MemberAddResponse, EtcdError>) -> Void) in
            guard let urls = Self.peerURLs(request.peerURLs) else { return done(.failure(.memberBadURLs)) }
            let member = MemberRecord(
                id: ServerIdentity.addedMemberID(peerURLs: urls, unixSeconds: Int64(Date().timeIntervalSince1970)),
                peerURLs: urls, isLearner: request.isLearner)
            server.addMember(member) { result in
                done(result.map { members in
                    MemberAddResponse(header: server.header(revision: 0),
                                      member: Member(id: member.id, peerURLs: member.peerURLs, isLearner: member.isLearner),
                                      members: members.map(\.protoMember))
                })
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.memberRemove.rawValue, MemberRemoveRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MemberRemoveResponse, EtcdError>) -> Void) in
            server.removeMember(request.id) { result in
                done(result.map { MemberRemoveResponse(header: server.header(revision: 0), members: $0.map(\.protoMember)) })
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.memberUpdate.rawValue, MemberUpdateRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MemberUpdateResponse, EtcdError>) -> Void) in
            // etcd takes the URLs as given here; a member whose peer URLs do not parse could
            // never be reached, so they are checked as for MemberAdd.
            guard let urls = Self.peerURLs(request.peerURLs) else { return done(.failure(.memberBadURLs)) }
            server.updateMember(request.id, peerURLs: urls) { result in
                done(result.map { MemberUpdateResponse(header: server.header(revision: 0), members: $0.map(\.protoMember)) })
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.memberPromote.rawValue, MemberPromoteRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MemberPromoteResponse, EtcdError>) -> Void) in
            server.promoteMemberAnywhere(request.id) { result in
                done(result.map { MemberPromoteResponse(header: server.header(revision: 0), members: $0.map(\.protoMember)) })
            }
        }
    }

    /// etcd's `types.NewURLs`: at least one, each a valid peer URL; sorted, as etcd stores them.
    static func peerURLs(_ given: [String]) -> [String]? {
        guard !given.isEmpty else { return nil }
        var urls: [String] = []
        for text in given {
            guard (try? ListenURL(parsing: text)) != nil else { return nil }
            urls.append(text.trimmingCharacters(in: .whitespaces))
        }
        return urls.sorted()
    }
}
