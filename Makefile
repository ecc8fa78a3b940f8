# The two commands a new machine needs: `make run` and `make test`.
GO ?= go
BIN := bin/mp3converter
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run ffmpeg install uninstall sample test test-deploy lint lint-openapi build deps test-deps integration fuzz bench bench-split containers kubernetes cluster-e2e ci clean

# Where make run listens: loopback only, so that nobody else on the network
# reaches it until you choose so. Change it for one run with
# make run MP3CONVERTER_ADDR=:8080 (every interface) or =127.0.0.1:9000, or
# by exporting MP3CONVERTER_ADDR, which serve reads itself.
MP3CONVERTER_ADDR ?= 127.0.0.1:8080

# Once make ffmpeg has built the image's own ffmpeg into bin/, make run
# uses it, unless MP3CONVERTER_FFMPEG says otherwise.
ifneq ($(wildcard bin/ffmpeg),)
run: export MP3CONVERTER_FFMPEG ?= $(CURDIR)/bin/ffmpeg
run: export MP3CONVERTER_FFPROBE ?= $(CURDIR)/bin/ffprobe
endif

## run: build and run every role in one process on ./data, at http://$(MP3CONVERTER_ADDR) (MP3CONVERTER_ADDR=:8080 for every interface)
run: deps build
	MP3CONVERTER_ADDR='$(MP3CONVERTER_ADDR)' ./$(BIN) serve

## ffmpeg: build the image's own ffmpeg and ffprobe, minimal and static, from Debian's source package into bin/ (2 minutes, once); make run then uses them
ffmpeg:
	scripts/build-ffmpeg.sh bin

# Where make install puts the binary: /usr/local/bin for root, else
# ~/.local/bin, the user's own (on PATH in Debian's and Ubuntu's default
# ~/.profile once it exists); make install BINDIR=DIR for another.
BINDIR ?= $(if $(filter 0,$(shell id -u)),/usr/local/bin,$(HOME)/.local/bin)

## install: build and put mp3converter in BINDIR (/usr/local/bin as root, else ~/.local/bin), so that the README's commands work as written
install: build
	install -d '$(BINDIR)'
	install -m 0755 $(BIN) '$(BINDIR)/mp3converter'
	@case ":$$PATH:" in *':$(BINDIR):'*) echo "installed $(BINDIR)/mp3converter";; \
	  *) echo "installed $(BINDIR)/mp3converter; $(BINDIR) is not on your PATH yet: export PATH=\"$(BINDIR):\$$PATH\" (Debian's and Ubuntu's ~/.profile add ~/.local/bin at the next login)";; esac

## uninstall: remove what make install put in BINDIR
uninstall:
	rm -f '$(BINDIR)/mp3converter'

## sample: make ./sample.mkv, a 10 s video (a test picture, two tones and pink noise) to try the walk-through on
sample: sample.mkv

# Only ffmpeg's own encoders (mpeg4, aac), which every build of it has.
sample.mkv: | deps
	ffmpeg -nostdin -hide_banner -loglevel error -y \
	  -f lavfi -i testsrc2=size=320x240:rate=25:duration=10 \
	  -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
	  -f lavfi -i sine=frequency=660:sample_rate=48000:duration=10 \
	  -f lavfi -i anoisesrc=color=pink:amplitude=0.2:sample_rate=48000:duration=10 \
	  -filter_complex '[1:a][2:a]join=inputs=2:channel_layout=stereo[tones];[3:a]aformat=channel_layouts=stereo[noise];[tones][noise]amix=inputs=2:duration=shortest[a]' \
	  -map 0:v -map '[a]' -c:v mpeg4 -q:v 5 -c:a aac -b:a 128k $@.tmp.mkv
	mv $@.tmp.mkv $@

## test: the unit and end-to-end tests on embedded backends, with real ffmpeg, and test-deploy
test: test-deps
	$(GO) test -timeout 30m ./...
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
integration: test-deps
	$(GO) test -tags integration -timeout 60m -run "^TestIntegration" ./...

## fuzz: every fuzz target for FUZZTIME (default 30s) each
fuzz:
	@for t in .:FuzzDecodeMessage .:FuzzSanitizeFilename ./auth:FuzzVerify ./ffmpeg:FuzzParseProbe ./ffmpeg:FuzzParseProgress ./internal/mp3frame:FuzzFrames ./internal/probe:FuzzQuickProbe ./httpapi:FuzzUpload; do \
	  $(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $${FUZZTIME:-30s} || exit 1; done

## bench: the benchmarks of BENCHMARKS.md, on embedded backends
bench: test-deps
	$(GO) test -run '^$$' -bench . -benchtime $${BENCHTIME:-5x} ./ffmpeg ./httpapi ./auth
	$(GO) test -run '^$$' -bench 'WholeJob|Throughput|ParallelLong' -benchtime $${BENCHTIME:-3x} -timeout 60m ./cmd/mp3converter

## bench-split: the split deployment's benchmarks of BENCHMARKS.md, against real servers (see integration)
bench-split: test-deps
	$(GO) test -tags integration -run '^$$' -bench 'Split' -benchtime $${BENCHTIME:-3x} -timeout 60m ./cmd/mp3converter

## containers: build the image (BuildKit and legacy), run serve from it and the compose stack, with the curl flow; needs root (starts its own dockerd)
containers:
	scripts/ci-containers.sh

## kubernetes: apply deploy/base and every overlay to a real kube-apiserver built from the Go module proxy
kubernetes:
	scripts/ci-kubernetes.sh

## cluster-e2e: a one-node cluster on this host (kubelet, containerd), deploy/overlays/ci-cluster on it, the curl flow and a converter pod deleted mid-batch; needs root
cluster-e2e:
	scripts/cluster-e2e.sh

## ci: what CI runs, on a clean checkout
ci:
	.ci/run

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/mp3converter

## deps: what make run needs; test-deps: what the tests need as well
deps:
	@scripts/ensure-tools.sh ffmpeg ffprobe:ffmpeg

test-deps:
	@scripts/ensure-tools.sh ffmpeg ffprobe:ffmpeg espeak-ng chromium node:nodejs npm

clean:
	rm -rf bin sample.mkv
