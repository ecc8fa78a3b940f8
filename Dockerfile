# syntax=docker/dockerfile:1
# One image for every role: the first argument picks it (gateway, auth,
# converter, notification, or serve: everything in one process).
#
#   docker build --build-arg VERSION=1.0.0 -t mp3converter/mp3converter:1.0.0 .
#   docker run -p 8080:8080 -v mp3data:/data mp3converter/mp3converter:1.0.0

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/mp3converter ./cmd/mp3converter

FROM debian:bookworm-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="mp3converter" \
      org.opencontainers.image.description="Turns uploaded videos into MP3 files: gateway, auth, converter and notification roles in one binary" \
      org.opencontainers.image.source="https://github.com/mp3converter/mp3converter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# ffmpeg and ffprobe for the converter; CA certificates for SMTP and TLS
# connections to external databases.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 mp3converter \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin mp3converter \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /out/mp3converter /usr/local/bin/mp3converter
# serve keeps its database, media and generated secrets here.
ENV MP3CONVERTER_DATA_DIR=/data
VOLUME /data
USER 10001:10001
# gateway and serve 8080, auth 5000, converter and notification health 8081.
EXPOSE 8080 5000 8081
ENTRYPOINT ["/usr/local/bin/mp3converter"]
CMD ["serve"]
