# swetcd image: build with the Swift toolchain, run on debian:bookworm-slim with only the shared
# libraries swetcd links (nghttp2, OpenSSL, LMDB); the Swift runtime is linked statically.
#   docker build -t swetcd .
#   docker run --rm -p 2379:2379 swetcd
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnghttp2-dev liblmdb-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY Package.swift ./
RUN swift package resolve
COPY Vendor-shims Vendor-shims
COPY Protos Protos
COPY Sources Sources
COPY Tests Tests
RUN --mount=type=cache,target=/build/.build \
    swift build -c release --static-swift-stdlib --product swetcd \
 && mkdir -p /staging \
 && cp "$(swift build -c release --static-swift-stdlib --show-bin-path)/swetcd" /staging/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnghttp2-14 liblmdb0 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /staging/swetcd /usr/local/bin/swetcd
RUN ln -s /usr/local/bin/swetcd /usr/local/bin/etcd && mkdir -p /var/lib/etcd
EXPOSE 2379 2380
VOLUME /var/lib/etcd
ENTRYPOINT ["/usr/local/bin/swetcd"]
CMD ["--name", "default", "--data-dir", "/var/lib/etcd", \
     "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://localhost:2379", \
     "--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://localhost:2380", \
     "--initial-cluster", "default=http://localhost:2380"]
