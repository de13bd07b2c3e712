# Developer entry points. `make test` is the test command README.md documents
# and .ci/run calls.
GO ?= go
BIN ?= bin/etl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test vet lint bench fmt demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/etl

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

lint: build
	$(BIN) lint pipelines triggers

test: vet lint
	$(GO) test -count=1 -timeout 40m ./...

# bench: the lint micro-benchmark, then the ingest benchmark (cmd/etlbench,
# about a minute): 200k invoices through `etl run` into an empty database,
# the single-connection COPY ceiling, the re-run, and 50k fresh; it prints
# rows/s, ratios, peak RSS and a verdict per target, and fails when one is
# missed. Flags go through BENCHFLAGS, e.g. make bench BENCHFLAGS='--keep'.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./engine/lint/
	$(GO) run ./cmd/etlbench --etl $(BIN) $(BENCHFLAGS)

demo: build
	$(BIN) demo

fmt:
	gofmt -w $$(git ls-files '*.go')
