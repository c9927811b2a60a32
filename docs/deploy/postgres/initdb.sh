#!/bin/sh
# Run once by the postgres image on an empty data directory: the application's own role (not a
# superuser: a superuser can switch the ledger's triggers off) owning the database "trust", and a
# read-only role for the backups.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v trust_password="$TRUST_DB_PASSWORD" -v backup_password="$BACKUP_DB_PASSWORD" <<'SQL'
CREATE ROLE trust LOGIN PASSWORD :'trust_password';
CREATE DATABASE trust OWNER trust;
CREATE ROLE trust_backup LOGIN PASSWORD :'backup_password' IN ROLE pg_read_all_data;
SQL
