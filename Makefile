# The two commands a new machine needs: `make run` and `make test`.
GO ?= go
BIN := bin/mp3converter
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run test test-deploy lint lint-openapi build deps integration fuzz bench bench-split containers kubernetes ci clean

## run: build and run every role in one process on ./data (http://localhost:8080)
run: deps build
	./$(BIN) serve

## test: the unit and end-to-end tests on embedded backends, with real ffmpeg, and test-deploy
test: deps
	$(GO) test ./...
	$(MAKE) test-deploy

## test-deploy: render deploy/base and check it; deploy/ is its own module, keeping Kubernetes out of go.mod
test-deploy:
	cd deploy && $(GO) test ./...

## lint-openapi: docs/openapi.yaml under Redocly's recommended rules (CLI from npm, pinned): errors fail, warnings are listed
lint-openapi:
	scripts/lint-openapi.sh

## lint: gofmt, go vet and staticcheck on every package, with and without the integration tag, and go vet in deploy/; all must be clean
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@files=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$files" ]; then echo "gofmt -l:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags integration ./...
	cd deploy && $(GO) vet ./...

## integration: the tests against real servers (RabbitMQ, MariaDB, FerretDB, Mailpit); see .ci/run
integration: deps
	$(GO) test -tags integration -timeout 60m -run "^TestIntegration" ./...

## fuzz: every fuzz target for FUZZTIME (default 30s) each
fuzz:
	@for t in .:FuzzDecodeMessage .:FuzzSanitizeFilename ./auth:FuzzVerify ./ffmpeg:FuzzParseProbe ./ffmpeg:FuzzParseProgress ./ffmpeg:FuzzFrames ./ffmpeg:FuzzQuickProbe ./httpapi:FuzzUpload; do \
	  $(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $${FUZZTIME:-30s} || exit 1; done

## bench: the benchmarks of BENCHMARKS.md, on embedded backends
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime $${BENCHTIME:-5x} ./ffmpeg ./httpapi ./auth
	$(GO) test -run '^$$' -bench 'WholeJob|Throughput|ParallelLong' -benchtime $${BENCHTIME:-3x} -timeout 60m ./cmd/mp3converter

## bench-split: the split deployment's benchmarks of BENCHMARKS.md, against real servers (see integration)
bench-split: deps
	$(GO) test -tags integration -run '^$$' -bench 'Split' -benchtime $${BENCHTIME:-3x} -timeout 60m ./cmd/mp3converter

## containers: build the image (BuildKit and legacy), run serve from it and the compose stack, with the curl flow; needs root (starts its own dockerd)
containers:
	scripts/ci-containers.sh

## kubernetes: apply deploy/base and every overlay to a real kube-apiserver built from the Go module proxy
kubernetes:
	scripts/ci-kubernetes.sh

## ci: what CI runs, on a clean checkout
ci:
	.ci/run

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/mp3converter

deps:
	@scripts/ensure-ffmpeg.sh

clean:
	rm -rf bin
