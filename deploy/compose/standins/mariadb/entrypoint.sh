# On an empty data dir: create the system tables, then the database and user
# from the environment, on a server that listens on no TCP port (so that a
# TCP health check fails until the real server is up).
set -euo pipefail
# The official image also takes the MYSQL_ names (deploy/base sets those).
MARIADB_DATABASE=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
MARIADB_USER=${MARIADB_USER:-${MYSQL_USER:-}}
MARIADB_PASSWORD=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}
MARIADB_ROOT_PASSWORD=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock & pid=$!
  for _ in $(seq 60); do mariadb-admin --socket=/run/mysqld/init.sock ping --silent 2>/dev/null && break; sleep 1; done
  root=${MARIADB_ROOT_PASSWORD:-$(head -c 18 /dev/urandom | base64)}
  mariadb --socket=/run/mysqld/init.sock -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE:?}\`;
CREATE USER IF NOT EXISTS '${MARIADB_USER:?}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD:?}';
GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED BY '${root}';
SQL
  mariadb-admin --socket=/run/mysqld/init.sock -uroot -p"$root" shutdown
  wait "$pid" || true
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306
