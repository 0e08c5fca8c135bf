# Haven: the `haven` binary on a small Debian runtime.
#   docker build -t haven .
#   docker run -p 8000:8000 -e DATABASE_URL=... -e OIDC_ISSUER_URL=... ... haven   (serve; production
#                                                                   unless ENVIRONMENT says otherwise)
#   docker run --rm -e DATABASE_URL=... haven <subcommand>       (operator commands)

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src

# 1. Dependencies only. This layer depends on the manifests and Cargo.lock, not on our sources,
#    so a code change rebuilds just the workspace crates (minutes saved per deploy). Every
#    workspace member's manifest must be here, or cargo cannot load the workspace: add new
#    members to both COPY lists and the stub loop below.
COPY Cargo.toml Cargo.lock ./
COPY crates/api/Cargo.toml crates/api/Cargo.toml
COPY crates/db/Cargo.toml crates/db/Cargo.toml
COPY crates/phi/Cargo.toml crates/phi/Cargo.toml
COPY crates/secrets/Cargo.toml crates/secrets/Cargo.toml
COPY crates/storage/Cargo.toml crates/storage/Cargo.toml
COPY tests/Cargo.toml tests/Cargo.toml
RUN for member in crates/api crates/db crates/phi crates/secrets crates/storage tests; do \
        mkdir -p "$member/src" && : > "$member/src/lib.rs"; \
    done \
    && echo 'fn main() {}' > crates/api/src/main.rs \
    && mkdir -p tests/benches && echo 'fn main() {}' > tests/benches/token_validation.rs \
    && cargo build --release --locked -p haven-api --bin haven \
    && rm -rf crates/api/src crates/db/src crates/phi/src crates/secrets/src crates/storage/src

# 2. Our sources. migrations/ is embedded into the binary at compile time (refinery), so it must
#    be present before this build. tests/ is not copied: the image never builds it, and its stub
#    lib.rs from step 1 is enough for cargo to load the workspace.
COPY crates crates
COPY migrations migrations
# COPY keeps the files' own timestamps, which can be older than the stub build's outputs; touch
# them so cargo rebuilds our crates instead of linking the stubs.
RUN find crates migrations -type f -exec touch {} + \
    && cargo build --release --locked -p haven-api --bin haven \
    && cp target/release/haven /usr/local/bin/haven

# ---- CA roots ---------------------------------------------------------------------------------
# Debian's CA bundle, built in a stage of its own: the package depends on openssl (and libssl3),
# which nothing in the image uses (TLS is rustls), so only the bundle file is carried over.
FROM debian:bookworm-slim AS certs
# Debian removes superseded package versions from its mirrors, so an exact version pin would break
# future builds; bookworm's stable updates are what we want.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN groupadd --system --gid 10001 haven \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin haven

# CA roots for TLS to the IdP, AWS and managed PostgreSQL (rustls reads this file); nothing else.
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /usr/local/bin/haven /usr/local/bin/haven

# Fail safe: the image is a production server unless ENVIRONMENT says otherwise (production
# refuses to start without its guardrails' settings: OIDC, origins, no wildcard CORS; the docs UI
# is off). `-e ENVIRONMENT=development` for a local run.
ENV ENVIRONMENT=production

# Railway and most platforms inject PORT; 8000 is the default elsewhere.
ENV PORT=8000
EXPOSE 8000

# The binary checks its own liveness endpoint: the slim image has no curl, and needs none.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/haven", "healthcheck"]

USER 10001:10001

# Exec form: the binary is PID 1 and receives SIGTERM itself, for a graceful drain.
ENTRYPOINT ["/usr/local/bin/haven"]
CMD ["serve"]
