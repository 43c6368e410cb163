"""MoveLeader on a one-member cluster, compared with a real etcd 3.5.1."""
import pytest

from normalize import normalize


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_move_leader_on_one_member_prints_what_etcd_prints(swetcd, etcd, version):
    """`etcdctl move-leader` to the member itself succeeds; to an unknown ID it is refused with
    etcd's `bad leader transferee`."""
    def run(server):
        member_id = server.ctl("member", "list", version=version).stdout_text.split(",")[0]
        out = []
        for target in [member_id, "1234abcd"]:
            r = server.ctl("move-leader", target, version=version, check=False)
            out.append((r.returncode, normalize(r.stdout_text), normalize(r.stderr_text)))
        return out
    assert run(swetcd()) == run(etcd())
