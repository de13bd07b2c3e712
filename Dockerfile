# syntax=docker/dockerfile:1
#
# The etl image: one static binary plus the pipeline, trigger and schema
# files it runs. docker-compose.yml uses this one image for three roles:
# `etl migrate`, `etl triggers serve` and `etl sandbox`.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t etl:local .
#
# deploy/deploy_test.go checks this file (stages, non-root USER, ENTRYPOINT,
# and that the go build line uses the same flags as `make build`).

ARG GO_VERSION=1.26
# Pinned to a minor release so rebuilds are repeatable; bump it deliberately
# (and pin by digest in a release pipeline).
ARG ALPINE_VERSION=3.22

# ---------------------------------------------------------------------------
# build: compiles bin/etl exactly as `make build` does.
FROM golang:${GO_VERSION} AS build
WORKDIR /src

# Module download is its own layer: it is only redone when go.mod or go.sum
# change, and the cache mount keeps modules across builds even then.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# VERSION is stamped into the binary (`etl version`). .git is not in the build
# context (.dockerignore), so it must be passed in; CI passes the commit.
ARG VERSION=devel
# Same command and flags as the Makefile's build target (the deploy test
# compares them): CGO off gives a static binary that runs on any base image,
# -trimpath keeps build paths out of it, -s -w drop debug tables.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/etl ./cmd/etl

# ---------------------------------------------------------------------------
# runtime: small and non-root.
#
# Alpine rather than distroless: the compose healthcheck of the QBO sandbox
# needs an HTTP client inside the container (busybox wget), and distroless
# has none. Alpine also brings the CA bundle that TLS to Intuit needs. The
# binary itself does not use anything from the base image (it is static).
FROM alpine:${ALPINE_VERSION} AS runtime

ARG VERSION=devel
ARG REVISION=unknown
LABEL org.opencontainers.image.title="etl" \
      org.opencontainers.image.description="Declarative ETL engine: QuickBooks Online back-fills into PostgreSQL" \
      org.opencontainers.image.source="https://github.com/etl-engine/etl" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# A fixed numeric uid/gid (the same as distroless' "nonroot") so that
# runAsNonRoot checks can verify it and host files can be chowned to it.
RUN addgroup -S -g 65532 etl \
 && adduser -S -D -H -u 65532 -G etl -h /app -s /sbin/nologin etl

COPY --from=build /out/etl /usr/local/bin/etl

WORKDIR /app
# Pipelines and schemas stay root-owned: the process reads them and must not
# change them.
COPY pipelines/ /app/pipelines/
COPY schemas/ /app/schemas/
# The scheduler rewrites one-time trigger files to `status: completed` (a
# temporary file renamed over the original), so the folder is the etl user's.
# Completion is also recorded in the database, so a recreated container whose
# files say `active` again does not run a finished back-fill twice.
COPY --chown=65532:65532 triggers/ /app/triggers/
# Runs write evidence to ./evidence. The folder exists with the etl user as
# owner so that a fresh named volume mounted here inherits that owner.
RUN mkdir -p /app/evidence /var/lib/qbo-sandbox && chown 65532:65532 /app/evidence /var/lib/qbo-sandbox
VOLUME ["/app/evidence"]

USER 65532:65532

# No HEALTHCHECK here on purpose: this image runs as a one-shot migration,
# as the scheduler and as the sandbox, and each needs a different check (or
# none). docker-compose.yml defines them per service.
ENTRYPOINT ["etl"]
CMD ["--help"]
