# mfabatch: build, test and check.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
GO ?= go

.PHONY: build test e2e lint bench bench-go fuzz demo clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mfabatch ./cmd/mfabatch

# Every test, the end-to-end ones included (they skip where moto_server or
# prometheus-pushgateway is missing, unless MFABATCH_E2E=1; .ci/run installs
# the gateway). Printed as go test prints it, plus a line for each skipped
# test with its reason.
test:
	$(GO) test -race -count=1 -json ./... | $(GO) run ./internal/testsum

e2e:
	MFABATCH_E2E=1 $(GO) test -race -count=1 -run 'E2E' -v ./cmd/mfabatch

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Each fuzz target in turn (go test -fuzz takes one at a time); a failing
# input is kept in batch/testdata/fuzz. The budget is a count of inputs, not
# a duration: Go 1.26's fuzz coordinator can fail a clean run with "context
# deadline exceeded" when a duration ends (go.dev/issue/75804).
FUZZTIME ?= 200000x
FUZZ_TARGETS := FuzzCSVManifest FuzzJSONLManifest FuzzParseFactor FuzzParseToken FuzzTokenClaims FuzzYAMLManifest FuzzJSONManifest FuzzReportReader
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./batch || exit 1; \
	done

# The performance table: bin/mfabatch against a fake Cognito served by the
# harness; exits 1 when a target is missed. BENCH_FLAGS=-only rate (or
# overhead, memory, yaml, startup, peer, shared, idle, s3, admin, plan,
# export) runs some measures; -keep keeps the files.
bench: build
	$(GO) run ./internal/benchtable -bin bin/mfabatch $(BENCH_FLAGS)

# The engine's Go benchmarks, in process (BenchmarkRun, BenchmarkDryRun,
# BenchmarkSigV4: an admin call's signature);
# for pprof, run the line below with -cpuprofile cpu.out.
bench-go:
	$(GO) test -run '^$$' -bench 'Run$$|DryRun$$' -benchtime 5x ./batch
	$(GO) test -run '^$$' -bench 'SigV4' ./batch
	$(GO) test -run '^$$' -bench 'AdaptivePacing|SharedQuota' -benchtime 1x ./batch

# A live rollout against a local Cognito emulator: needs moto_server on
# PATH (pip install 'moto[server]'), no AWS account. DEMO_FLAGS=-keep keeps
# the manifest and reports.
demo: build
	$(GO) run ./internal/demo -mfabatch bin/mfabatch $(DEMO_FLAGS)

clean:
	rm -rf bin
