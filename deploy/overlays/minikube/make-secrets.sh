#!/bin/sh
# Writes the Secrets of deploy/overlays/minikube as secrets/*.env, one file
# per Secret, with random hex passwords (no escaping needed in URLs). A file
# that exists is kept: MySQL and RabbitMQ take their password on their first
# start only. .gitignore keeps secrets/ out of the repository.
#
#   ./make-secrets.sh [DIR]      DIR: where the overlay is (default: here)
#
# MP3CONVERTER_SMTP_URL is $SMTP_URL (smtp://USER:PASSWORD@HOST:587) if set,
# else empty: notices then go to the notification role's log.
set -eu
dir=${1:-$(dirname "$0")}
mkdir -p "$dir/secrets"
chmod 700 "$dir/secrets"
umask 077

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# write NAME CONTENT: secrets/NAME.env unless it exists.
write() {
  if [ -e "$dir/secrets/$1.env" ]; then
    echo "kept    $dir/secrets/$1.env"
  else
    printf '%s\n' "$2" >"$dir/secrets/$1.env"
    echo "wrote   $dir/secrets/$1.env"
  fi
}

# The database and queue URLs carry the MySQL and RabbitMQ passwords: take
# them from the files that exist, so the pairs stay equal.
old() { sed -n "s/^$2=//p" "$dir/secrets/$1.env" 2>/dev/null || true; }
mysql_pw=$(old mysql MYSQL_PASSWORD); mysql_pw=${mysql_pw:-$(rand 24)}
rabbit_pw=$(old rabbitmq RABBITMQ_DEFAULT_PASS); rabbit_pw=${rabbit_pw:-$(rand 24)}

write jwt "JWT_SECRET=$(rand 32)"
write mysql "MYSQL_USER=mp3converter
MYSQL_PASSWORD=$mysql_pw
MYSQL_ROOT_PASSWORD=$(rand 24)"
write database "MP3CONVERTER_DATABASE_URL=mysql://mp3converter:$mysql_pw@mysql:3306/auth"
write rabbitmq "RABBITMQ_DEFAULT_USER=mp3converter
RABBITMQ_DEFAULT_PASS=$rabbit_pw"
write queue "MP3CONVERTER_QUEUE_URL=amqp://mp3converter:$rabbit_pw@rabbitmq:5672/"
write notification "MP3CONVERTER_SMTP_URL=${SMTP_URL:-}"
# Used only with deploy/components/s3 (MinIO's root account and the roles'
# key pair; deploy/README.md, "Object storage").
write storage "AWS_ACCESS_KEY_ID=mp3converter
AWS_SECRET_ACCESS_KEY=$(rand 24)"
