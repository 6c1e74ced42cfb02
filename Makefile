# lifeevents: `make dev` runs everything on embedded defaults, `make test` runs every test.

GO       ?= go
BIN      := bin/lifeevents
PKGS     := ./...
# The end-to-end suites run the binary as a subprocess; they share the race
# build of the dependencies with the unit tests, so nothing links twice.
TESTFLAGS ?= -race -timeout 25m
# The stock OPA CLI, at the version the engine embeds, for the policy checks.
OPA      ?= $(GO) run github.com/open-policy-agent/opa@v1.22.2
WORKFLOWCHECK ?= $(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
# Fuzz budgets are counts (about ten seconds each here), not durations: a
# duration races Go 1.26's fuzz coordinator at its end and fails with a
# spurious "context deadline exceeded". FUZZTIME=60s overrides all four.
FUZZTIME ?=
# The Go vulnerability database: its public address, or a local copy (file:///…).
VULNDB   ?= https://vuln.go.dev

.PHONY: build dev test test-slow fuzz bench lint vulncheck clean help histories

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/lifeevents
	$(GO) build -o $(BIN) ./cmd/lifeevents

dev: build ## run the whole system on embedded Temporal, Kafka and Postgres
	./$(BIN) dev

test: ## run every test (unit, integration, end-to-end) and a short fuzz run
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(MAKE) fuzz

# The stock temporal CLI whose dev server the split runs against (the
# newest release that go install can build: later ones carry a replace).
TEMPORAL_CLI ?= $(shell $(GO) env GOPATH)/bin/temporal
TEMPORAL_CLI_VERSION := v1.5.1

$(TEMPORAL_CLI):
	GOFLAGS= $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

test-slow: $(TEMPORAL_CLI) ## the slow suites: 50 journeys with the process killed (SIGKILL) at random moments; the production split (serve, 2 workers, 2 ingests, Temporal, Kafka, Postgres as separate processes) with kills and faults of every part
	LIFEEVENTS_SLOW_TESTS=1 LIFEEVENTS_TEMPORAL_CLI=$(TEMPORAL_CLI) $(GO) test $(TESTFLAGS) -count=1 -run '^(TestCrashResume|TestSplit|TestFaults)$$' -v ./e2e

fuzz: ## fuzz the event decoder, the bundle reader, token parsing and every request body
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),40000x) ./events
	$(GO) test -run '^$$' -fuzz '^FuzzReadUpload$$' -fuzztime $(or $(FUZZTIME),40000x) ./policies
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(or $(FUZZTIME),60000x) ./auth
	$(GO) test -run '^$$' -fuzz '^FuzzRequestBodies$$' -fuzztime $(or $(FUZZTIME),6000x) ./httpapi

bench: $(TEMPORAL_CLI) ## run the benchmarks (figures and ratios: BENCHMARKS.md)
	$(GO) test -run '^$$' -bench 'Ingest|RawStartWorkflow|RawConsume' -benchtime 2000x -timeout 30m ./internal/benchmarks
	$(GO) test -run '^$$' -bench 'DeadLetter' -benchtime 10000x -timeout 30m ./internal/benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./events
	$(GO) test -run '^$$' -bench 'Decision' -benchtime 10000x -count 5 ./policies
	$(GO) test -run '^$$' -bench 'Authorize' -benchtime 5000x -count 3 -timeout 30m ./consent
	$(GO) test -run '^$$' -bench 'Journey' -benchtime 1x -timeout 30m ./internal/benchmarks
	$(GO) test -run '^$$' -bench 'WhatIf' -benchtime 1x -timeout 30m ./simulations
	$(GO) test -run '^$$' -bench 'FullEngine|TemporalStore' -benchtime 1x -timeout 30m ./internal/benchmarks
	$(GO) test -run '^$$' -bench 'Postkorb' -benchtime 2000x ./portal
	LIFEEVENTS_TEMPORAL_CLI=$(TEMPORAL_CLI) $(GO) test -run '^$$' -bench 'SameTemporalServer' -benchtime 1x -timeout 30m ./e2e

lint: ## go vet, gofmt, workflowcheck, the stock OPA tools on the policies (check --strict, test, fmt), govulncheck where its database is reachable
	$(GO) vet $(PKGS)
	$(WORKFLOWCHECK) ./workflows/
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(OPA) check --strict policies/
	$(OPA) test policies/ --fail-on-empty
	@out=$$($(OPA) fmt --list policies/ e2e/testdata/); if [ -n "$$out" ]; then echo "opa fmt would change:"; echo "$$out"; exit 1; fi
	@if curl -fsS --max-time 5 -o /dev/null $(VULNDB)/index/db.json 2>/dev/null; then $(MAKE) --no-print-directory vulncheck; \
	else echo "govulncheck SKIPPED: the vulnerability database $(VULNDB) cannot be reached (run make vulncheck VULNDB=file:///path/to/copy)"; fi

vulncheck: ## known vulnerabilities reachable from the code (VULNDB: the database, online or a local copy)
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0 -db $(VULNDB) ./...

# The journeys make histories records; HISTORIES=TestAgencySilence records one.
HISTORIES ?= TestJourneys|TestAgencySilence

histories: ## record the journeys' workflow histories for the replay tests into a new folder (earlier ones stay)
	LIFEEVENTS_RECORD_HISTORIES=$(CURDIR)/workflows/testdata/histories/$$(date -u +%Y-%m-%d-%H%M) \
		$(GO) test -race -count=1 -run '^($(HISTORIES))$$' ./e2e

clean: ## remove build output and the dev data dir
	rm -rf bin .lifeevents
