#!/bin/sh
# Writes PgBouncer's auth file from the environment (the application role's name and password,
# from postgres.env), then runs PgBouncer in the foreground.
set -eu
mkdir -p /tmp/pgbouncer
umask 077
printf '"%s" "%s"\n' "${TRUST_DB_USER:-trust}" "$TRUST_DB_PASSWORD" > /tmp/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
