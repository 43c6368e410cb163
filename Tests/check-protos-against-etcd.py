#!/usr/bin/env python3
"""Compares Protos/ with etcd's own .proto files, field by field.

etcd's files carry gogoproto, google.api and versionpb annotations that stock protoc cannot
resolve; this script copies them flat into a temporary directory, strips the annotations,
compiles both sets with protoc into descriptor sets and compares every message (field numbers,
names, labels, types, oneof membership), enum (values) and service (methods, types, streaming).

Ours may be a superset (we carry fields of several etcd versions); the script prints what is
EXTRA in ours and fails on anything MISSING or DIFFerent.

Usage:
  Tests/check-protos-against-etcd.py DIR [DIR...]

where each DIR holds etcd's .proto files anywhere below it, e.g. an etcd 3.4 source tree
($ETCD_REFERENCE_DIR/gopath/src/go.etcd.io/etcd) or a checkout of etcd-io/etcd plus etcd-io/raft.
Only the files our Protos/ also define are read (rpc, raft_internal, etcdserver, kv, auth, lease,
membership, v3lock, v3election, raft).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

WANTED = {"rpc.proto", "raft_internal.proto", "etcdserver.proto", "kv.proto", "auth.proto", "lease.proto",
          "membership.proto", "v3lock.proto", "v3election.proto", "raft.proto"}
PACKAGES = {"etcdserverpb", "mvccpb", "authpb", "leasepb", "membershippb", "v3lockpb", "v3electionpb", "raftpb"}
SKIP_DIRS = {"vendor", "node_modules", ".git", "testdata", "third_party", "Documentation"}
PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Protos")


def strip(text):
    text = re.sub(r'option\s*\(google\.api\.http\)\s*=\s*\{(?:[^{}]|\{[^{}]*\})*\};', '', text)
    text = re.sub(r'option\s*\(grpc\.gateway[^;]*?\)\s*=\s*\{(?:[^{}]|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})*\};', '', text)
    text = re.sub(r'option\s*\((gogoproto|versionpb)[^;]*;', '', text)
    text = re.sub(r'\[\s*\((gogoproto|versionpb)[^\]]*\]', '', text)
    text = re.sub(r'import\s+"[^"]*(gogo\.proto|google/api/[^"]*|protoc-gen-openapiv2/[^"]*|versionpb/version\.proto)";', '', text)
    text = re.sub(r'import\s+"[^"]*/([a-z_0-9]+\.proto)";', r'import "\1";', text)
    text = re.sub(r'option\s+go_package\s*=\s*"[^"]*";', '', text)
    return text


def collect(dirs, out):
    found = {}
    for top in dirs:
        for root, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS]
            for name in files:
                if name in WANTED and name not in found:
                    path = os.path.join(root, name)
                    with open(path) as f:
                        package = re.search(r'^package\s+([\w.]+)\s*;', f.read(), re.M)
                    if package and package.group(1) in PACKAGES:  # not e.g. etcd's functional/rpcpb
                        found[name] = path
    for name, path in found.items():
        with open(path) as f:
            text = strip(f.read())
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
    return sorted(found)


def descriptor_text(include, files):
    with tempfile.NamedTemporaryFile(suffix=".pb") as pb:
        subprocess.run(["protoc", "-I", include, "--include_imports", "--descriptor_set_out=" + pb.name] + files, check=True)
        return subprocess.run(["protoc", "-I/usr/include", "--decode=google.protobuf.FileDescriptorSet",
                               "google/protobuf/descriptor.proto"], stdin=open(pb.name, "rb"),
                              capture_output=True, check=True).stdout.decode()


def parse(text):
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}]|[A-Za-z_0-9.\-]+:?', text)
    pos = 0

    def node():
        nonlocal pos
        out = []
        while pos < len(tokens):
            t = tokens[pos]
            if t == "}":
                pos += 1
                return out
            if t.endswith(":"):
                out.append((t[:-1], tokens[pos + 1].strip('"')))
                pos += 2
            else:
                pos += 2
                out.append((t, node()))
        return out

    root = node()
    get = lambda o, k: [v for kk, v in o if kk == k]
    table = {}

    def message(prefix, m):
        name = prefix + "." + get(m, "name")[0]
        oneofs = [get(x, "name")[0] for x in get(m, "oneof_decl")]
        fields = {}
        for f in get(m, "field"):
            oneof = get(f, "oneof_index")
            fields[int(get(f, "number")[0])] = (get(f, "name")[0], get(f, "label")[0], get(f, "type")[0],
                                                (get(f, "type_name") or [""])[0], oneofs[int(oneof[0])] if oneof else "")
        table["message " + name] = fields
        for n in get(m, "nested_type"):
            message(name, n)
        for e in get(m, "enum_type"):
            enum(name, e)

    def enum(prefix, e):
        table["enum " + prefix + "." + get(e, "name")[0]] = {int(get(v, "number")[0]): get(v, "name")[0] for v in get(e, "value")}

    for f in get(root, "file"):
        package = "." + get(f, "package")[0]
        for m in get(f, "message_type"):
            message(package, m)
        for e in get(f, "enum_type"):
            enum(package, e)
        for s in get(f, "service"):
            table["service " + package + "." + get(s, "name")[0]] = {
                get(m, "name")[0]: (get(m, "input_type")[0], get(m, "output_type")[0],
                                    get(m, "client_streaming") or ["false"], get(m, "server_streaming") or ["false"])
                for m in get(s, "method")}
    return table


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ours_files = []
    for root, _, files in os.walk(PROTOS):
        ours_files += [os.path.relpath(os.path.join(root, f), PROTOS) for f in files if f.endswith(".proto")]
    ours = parse(descriptor_text(PROTOS, sorted(ours_files)))
    with tempfile.TemporaryDirectory() as tmp:
        names = collect(sys.argv[1:], tmp)
        print("etcd files compared:", ", ".join(names))
        theirs = parse(descriptor_text(tmp, names))
    failures = 0
    for key in sorted(theirs):
        if key not in ours:
            print("MISSING", key)
            failures += 1
            continue
        a, b = theirs[key], ours[key]
        for n in sorted(set(a) | set(b), key=str):
            if n not in b:
                print("MISSING", key, n, a[n])
                failures += 1
            elif n not in a:
                print("EXTRA  ", key, n, b[n])
            elif a[n] != b[n]:
                print("DIFF   ", key, n, "etcd", a[n], "ours", b[n])
                failures += 1
    for key in sorted(set(ours) - set(theirs)):
        print("EXTRA  ", key)
    print("OK: ours is a superset" if failures == 0 else "FAILED: %d differences" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
