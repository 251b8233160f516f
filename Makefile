# livechatd — the front door. `make help` lists the targets.

SHELL       := /bin/bash
GO          ?= go
BIN         := bin
PLUGIN_BIN  := $(BIN)/plugins
TOOLS_BIN   := $(BIN)/tools
PROTOC_VERSION := 3.21.12
CONFIG      ?= examples/livechatd.hcl
TESTFLAGS   ?=

PLUGINS  := $(notdir $(wildcard plugins/*))
EXAMPLES := echo-provider

.PHONY: help build run test generate generate-check lint bench clean tools cross

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/livechatd and every plugin into bin/plugins
	@mkdir -p $(PLUGIN_BIN)
	$(GO) build -o $(BIN)/livechatd ./host/cmd/livechatd
	@for p in $(PLUGINS); do \
		if [ -f plugins/$$p/cmd/livechat-provider-$$p/main.go ]; then \
			echo "$(GO) build -o $(PLUGIN_BIN)/livechat-provider-$$p ./plugins/$$p/cmd/livechat-provider-$$p"; \
			$(GO) build -o $(PLUGIN_BIN)/livechat-provider-$$p ./plugins/$$p/cmd/livechat-provider-$$p || exit 1; \
		fi; \
	done
	$(GO) build -o $(PLUGIN_BIN)/livechat-provider-echo ./examples/echo-provider
	$(GO) build -o $(BIN)/demobot ./examples/demobot
	$(GO) build -o $(BIN)/gorgias-sandbox ./plugins/gorgias/cmd/gorgias-sandbox

run: build ## build everything and start the demo: livechatd, the demo bot, the Gorgias sandbox
	CONFIG=$(CONFIG) examples/run-demo.sh

test: ## run every test with the race detector (installs Debian's chromium for the browser tests when missing)
	@.ci/need test chromium:chromium pg_ctlcluster:postgresql
	$(GO) test -race -count=1 $(TESTFLAGS) ./...

.PHONY: faults
faults: ## fault-injection acceptance run: real livechatd + Gorgias plugin under faults (table in artifacts/faults/), three replicas on PostgreSQL with one SIGKILLed, and 2 minutes of reads within Gorgias's rate limit
	@.ci/need faults pg_ctlcluster:postgresql
	$(GO) test -tags faults -count=1 -v -timeout 15m $(TESTFLAGS) ./host/faults/
	$(GO) test -tags faults -count=1 -v -timeout 6m -run 'TestGorgiasReconcileWithinTheRateLimit' $(TESTFLAGS) ./host/cmd/livechatd/

# Every native fuzz target, as package:Target; `make fuzz` runs each for
# FUZZTIME. A failing input is written to the package's testdata/fuzz/Target/.
# The default is a count, not a duration: with a short duration, a loaded
# machine can spend it all on the seed corpus, and go test then fails with
# "context deadline exceeded" without having found anything.
FUZZTIME ?= 3000x
FUZZ_TARGETS := \
	host/httpapi:FuzzDecodeEvent \
	host/engine:FuzzSignature \
	host/engine:FuzzParseBotReply \
	host/engine:FuzzRouting \
	host/webchat:FuzzVerify \
	host/webchat:FuzzStreamLastEventID \
	host/webchat:FuzzCleanName \
	config:FuzzLoad \
	plugins/gorgias:FuzzParseWebhook \
	plugins/gorgias:FuzzHandleWebhook \
	plugins/chatwoot:FuzzParseWebhook \
	plugins/chatwoot:FuzzVerify \
	plugins/chatwoot:FuzzHandleWebhook \
	plugins/chatwoot:FuzzReadMessages \
	plugins/gorgias/sandbox:FuzzRender \
	plugins/zendesk:FuzzParseWebhook \
	plugins/zendesk:FuzzHandleWebhook \
	plugins/intercom:FuzzParseWebhook \
	plugins/freshdesk:FuzzParseWebhook \
	sdk/platform:FuzzErrorMessage \
	sdk/webhook:FuzzVerify

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 3000x inputs; e.g. make fuzz FUZZTIME=60s)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=./$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# The load harness (host/bench, BENCHMARKS.md): the real livechatd and echo
# plugin on loopback; one table of figures, also written to bench.json.
# BENCHFLAGS passes flags, e.g. BENCHFLAGS=-short (seconds) or -duration=30s.
BENCHFLAGS ?=
.PHONY: bench-micro
bench: build ## load harness: bot path, livechat path, expiry, memory, start-up; one table, also bench.json
	$(GO) run ./host/cmd/livechat-bench -bin $(BIN) $(BENCHFLAGS)

bench-micro: ## run the Go micro-benchmarks and print their numbers
	$(GO) test -run '^$$' -bench . -benchmem ./...

tools: ## build the pinned code generators into bin/tools
	@mkdir -p $(TOOLS_BIN)
	$(GO) build -o $(TOOLS_BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o $(TOOLS_BIN)/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc

generate: tools ## regenerate proto/ Go code (protoc $(PROTOC_VERSION) and the go.mod-pinned plugins)
	@.ci/need generate protoc:protobuf-compiler /usr/include/google/protobuf/struct.proto:libprotobuf-dev
	@v=$$(protoc --version 2>/dev/null | awk '{print $$2}'); \
	if [ "$$v" != "$(PROTOC_VERSION)" ]; then \
		echo "make generate: need protoc $(PROTOC_VERSION) (found '$$v'); on Debian: apt-get install protobuf-compiler libprotobuf-dev" >&2; exit 1; \
	fi
	protoc --proto_path=proto \
		--plugin=protoc-gen-go=$(TOOLS_BIN)/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=$(TOOLS_BIN)/protoc-gen-go-grpc \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		$$(find proto -name '*.proto' | sort)

generate-check: generate ## fail when `make generate` changes the tree
	@if [ -n "$$(git status --porcelain -- proto)" ]; then \
		echo "make generate changed the tree; commit the generated code:" >&2; \
		git status --porcelain -- proto >&2; git diff --stat -- proto >&2; exit 1; \
	fi

lint: ## go vet, staticcheck, gofmt, go mod tidy and no committed executables
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy" >&2; exit 1; }
	@bins=$$(git ls-files -z | xargs -0 -I{} sh -c 'test -f "{}" && head -c 4 "{}" | grep -q "ELF" && echo "{}"' ); \
	if [ -n "$$bins" ]; then echo "compiled executables are committed (build outputs belong in bin/):"; echo "$$bins"; exit 1; fi

cross: ## build the host and every plugin for linux, darwin and windows (compile check, nothing kept)
	@for os in linux darwin windows; do \
		echo "GOOS=$$os $(GO) build ./..."; \
		GOOS=$$os $(GO) build -o /dev/null ./... || exit 1; \
	done

clean: ## remove build output
	rm -rf $(BIN)
