#!/bin/sh
# MinIO's settings to versitygw's flags; MinIO's own arguments are ignored.
set -eu
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER}" "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}"
exec versitygw --port :9000 --access "$MINIO_ROOT_USER" --secret "$MINIO_ROOT_PASSWORD" posix /data
