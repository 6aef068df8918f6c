# Majlis server image: multi-stage build, small runtime, non-root, web pages embedded in the binary.
#   docker build -t majlis .
#   docker run --rm -p 8080:8080 -e MAJLIS_JWT_SECRET=change-me majlis
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p majlis-server --bin majlis

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin majlis
COPY --from=build /src/target/release/majlis /usr/local/bin/majlis
USER majlis
ENV MAJLIS_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/majlis"]
