# syntax=docker/dockerfile:1
# operator-demo: the release binary on Debian slim, as a non-root user.
#
#   docker build -t operator-demo .
#   docker run --rm -p 8000:8000 operator-demo        # embedded SQLite in /var/lib/operator-demo
#
# deploy/compose.yaml runs three of these behind nginx with Postgres (and a
# replica), Redis, Prometheus and Grafana. Not built in CI (no container
# engine there): see docs/deployment.md for what is checked and what is not.

# ---- build: the workspace, one binary out -----------------------------------
# The newest stable Rust 1.x: the demo, unlike the library crates, may need
# more than the workspace's rust-version (docs/msrv.md).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target folder are build caches, not image layers.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p operator-demo --bin operator-demo \
    && install -D -m 0755 target/release/operator-demo /out/operator-demo

# ---- run: the binary and CA certificates, nothing else -----------------------
FROM debian:bookworm-slim
# ca-certificates: the telephony providers and Sentry are reached over TLS
# with the system's roots (rustls-platform-verifier). Not pinned (DL3008):
# the roots must be the distribution's current ones.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/operator-demo \
        --create-home --shell /usr/sbin/nologin operator-demo
COPY --from=build /out/operator-demo /usr/local/bin/operator-demo
USER 10001:10001
WORKDIR /var/lib/operator-demo
ENV BIND_ADDR=0.0.0.0:8000 \
    DATA_DIR=/var/lib/operator-demo \
    LOG_FORMAT=json \
    SHUTDOWN_DRAIN_SECS=5 \
    SHUTDOWN_GRACE_SECS=30
EXPOSE 8000
VOLUME ["/var/lib/operator-demo"]
# Liveness only (/ready is for the balancer): bash's /dev/tcp, no curl in the
# image. Plain HTTP on 8000; with TLS_CERT set, replace it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# SIGTERM starts the drain: /ready 503, then the port closes and running
# requests finish (docs/configuration.md, SHUTDOWN_*).
STOPSIGNAL SIGTERM
ENTRYPOINT ["operator-demo"]
CMD ["serve"]
