# One image for every Contactsync service: `contactsync <subcommand>` picks which one runs.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the target dir between builds; the binary is copied
# out of the mount because it disappears with it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bin contactsync \
    && cp target/release/contactsync /usr/local/bin/contactsync

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home contactsync
COPY --from=build /usr/local/bin/contactsync /usr/local/bin/contactsync
USER 10001
ENV LOG_FORMAT=json HTTP_LISTEN=0.0.0.0:8080
# 8080: every service's HTTP port (the workers' ops endpoints, the gateway's public API);
# 9090: the gateway's ops port (OPS_LISTEN: /healthz, /readyz, /metrics).
EXPOSE 8080 9090
# Exec form: the process is PID 1's only child, so SIGTERM reaches it and shutdown is graceful.
ENTRYPOINT ["/usr/local/bin/contactsync"]
CMD ["gateway"]
