# One image for every role: the first argument picks it (gateway, auth,
# converter, notification, or serve: everything in one process).
#
#   docker build --build-arg VERSION=1.0.0 -t mp3converter/mp3converter:1.0.0 .
#   docker run -p 127.0.0.1:8080:8080 -v mp3data:/data mp3converter/mp3converter:1.0.0
#
# It builds with BuildKit and with the legacy builder alike, and needs no
# registry but for its two base images: no "# syntax=" line (BuildKit would
# fetch a frontend image) and no RUN --mount. The final image is FROM
# scratch: the Go binary, an ffmpeg and ffprobe built here from Debian's
# source package with only what uploads need, CA certificates, and a
# non-root user. See the README's "Build the image".

# ffmpeg and ffprobe, static, LGPL-2.1-or-later, from Debian bookworm's
# source package. Only the file and pipe protocols and the upload formats'
# demuxers exist in them: no option or file can make them open a URL, a
# playlist or another file's name. This stage does not see the Go sources,
# so a source change does not rebuild it.
FROM debian:bookworm-slim AS ffmpeg
# FFMPEG_VERSION pins the source package's version (e.g. 7:5.1.9-0+deb12u1);
# empty takes bookworm's current one.
ARG FFMPEG_VERSION=
WORKDIR /build
# deb-src entries from the image's own apt sources, so that the source comes
# from the same mirror as the packages (deb.debian.org, or a local mirror).
# apt checks the download against the signed Sources index.
RUN set -eux; \
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then \
      sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources; \
    fi; \
    if [ -f /etc/apt/sources.list ]; then \
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/deb-src.list; \
    fi; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates dpkg-dev gcc libc6-dev make nasm pkg-config xz-utils \
      libmp3lame-dev zlib1g-dev; \
    apt-get source ffmpeg${FFMPEG_VERSION:+=$FFMPEG_VERSION}; \
    rm -rf /var/lib/apt/lists/* ffmpeg_*; \
    mv ffmpeg-*/ src
# What goes in, and why: scripts/ffmpeg-minimal.sh, which make ffmpeg runs
# too. It is the only file of the project this stage sees.
COPY scripts/ffmpeg-minimal.sh /build/
RUN set -eux; \
    /build/ffmpeg-minimal.sh src /out/usr/local/bin; \
    cd src; \
    mkdir -p /out/usr/share/doc/ffmpeg /out/usr/share/doc/libmp3lame0 /out/usr/share/doc/zlib1g /out/usr/share/doc/libc6; \
    cp COPYING.LGPLv2.1 LICENSE.md /out/usr/share/doc/ffmpeg/; \
    cp debian/copyright /out/usr/share/doc/ffmpeg/copyright; \
    for p in libmp3lame0 zlib1g libc6; do cp /usr/share/doc/$p/copyright /out/usr/share/doc/$p/; done

# The rest of the final file system: CA certificates (SMTP over TLS, TLS to
# the engines), the user, /tmp and the data dir.
FROM debian:bookworm-slim AS rootfs
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates; \
    mkdir -p /out/root/etc/ssl/certs /out/root/tmp /out/owned/data; \
    cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nmp3converter:x:10001:10001:mp3converter:/data:/sbin/nologin\n' >/out/root/etc/passwd; \
    printf 'root:x:0:\nmp3converter:x:10001:\n' >/out/root/etc/group; \
    chmod 1777 /out/root/tmp; \
    chmod 0750 /out/owned/data; \
    rm -rf /var/lib/apt/lists/*

# The Go binary, static (no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/mp3converter ./cmd/mp3converter

FROM scratch
# A directory copied as a whole keeps its mode (/tmp 1777); its contents
# only would not.
COPY --from=rootfs /out/root/ /
COPY --from=rootfs --chown=10001:10001 /out/owned/ /
COPY --from=ffmpeg /out/usr /usr
COPY --from=build /out/mp3converter /usr/local/bin/mp3converter
# serve keeps its database, media and generated secrets in /data: mount a
# volume there (-v mp3data:/data). The other roles keep nothing; the
# converter writes media to /tmp while converting (--tmpfs /tmp with
# --read-only).
ENV PATH=/usr/local/bin \
    MP3CONVERTER_DATA_DIR=/data
USER 10001:10001
# gateway and serve 8080, auth 5000, converter health 8081, notification
# health 8082; /metrics on 9090 where MP3CONVERTER_METRICS_ADDR=:9090 puts
# it (deploy/ does, for the gateway).
EXPOSE 8080 5000 8081 8082 9090
# The healthcheck finds the role's port by itself; no shell is needed.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/mp3converter", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mp3converter"]
CMD ["serve"]
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
# The project's repository has no LICENSE file yet: LICENSE is NOASSERTION
# until it has one. The ffmpeg and ffprobe in the image are
# LGPL-2.1-or-later (built without --enable-gpl), statically linked with
# LAME (LGPL-2.0-or-later), zlib (Zlib) and glibc (LGPL-2.1-or-later); their
# notices are in /usr/share/doc, their source is Debian bookworm's source
# packages and this Dockerfile builds them.
ARG LICENSE=NOASSERTION
LABEL org.opencontainers.image.title="mp3converter" \
      org.opencontainers.image.description="Turns uploaded videos into MP3 files: gateway, auth, converter and notification roles in one binary, with a minimal static ffmpeg" \
      org.opencontainers.image.source="https://github.com/mp3converter/mp3converter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="${LICENSE}" \
      org.opencontainers.image.base.name="scratch" \
      io.github.mp3converter.ffmpeg.licenses="LGPL-2.1-or-later AND LGPL-2.0-or-later AND Zlib"
