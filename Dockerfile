# syntax=docker/dockerfile:1
# Multi-stage build: compile with the full Rust toolchain, ship a slim Debian image running as an
# unprivileged user. TLS uses rustls, so the runtime needs only CA certificates.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY providers providers
COPY src src
COPY bench bench
COPY assets assets
COPY migrations migrations
COPY config config
RUN cargo build --release --locked --bin imbridge && strip target/release/imbridge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin imbridge \
    && mkdir -p /app/data && chown imbridge /app/data
WORKDIR /app
COPY --from=build /src/target/release/imbridge /usr/local/bin/imbridge
COPY config config
USER imbridge
ENV IMBRIDGE_LISTEN=0.0.0.0:8080 \
    IMBRIDGE_DATABASE_URL=sqlite://data/imbridge.db
EXPOSE 8080
# Listening on 0.0.0.0 requires IMBRIDGE_API_KEYS; the service refuses to start without them.
ENTRYPOINT ["/usr/local/bin/imbridge"]
CMD ["serve"]
