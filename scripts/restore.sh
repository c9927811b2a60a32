#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into a NEW database and a NEW media folder: it never
# writes over an existing database or a folder with files in it. Procedure, and what to do after
# restoring an older backup (the audit witness refuses signing): docs/operations.md, "Backups and
# restore".
#
#   scripts/restore.sh [--check] [--owner ROLE] BACKUP_FOLDER TARGET_DATABASE_URL TARGET_MEDIA_DIR
#
#   --check       then run `manage.py check_ledger` and `manage.py verify_audit` on the restored
#                 database and media (the four keys and TRUST_AUDIT_WITNESS_DIR must be in the
#                 environment, as for the application); exits 1 if either fails
#   --owner ROLE  create the database owned by ROLE and restore every object as ROLE (run as a
#                 superuser); without it, objects belong to the user of TARGET_DATABASE_URL
#
# Environment:
#   RESTORE_ADMIN_URL  a connection that may CREATE DATABASE (default: TARGET_DATABASE_URL with
#                      the database name replaced by "postgres")
#   PYTHON             the interpreter for --check (default .venv/bin/python, else python3)
#   GNUPGHOME          where gpg finds the private key, for an encrypted backup (*.gpg)
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
check=0
owner=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1; shift ;;
    --owner) owner="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "restore.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 3 ] || usage
backup="$1" target="$2" media="$3"

for tool in pg_restore psql tar sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "restore.sh: $tool not found (Debian: apt-get install postgresql-client)" >&2; exit 2; }
done
case "$target" in
  postgres://*|postgresql://*) ;;
  *) echo "restore.sh: TARGET_DATABASE_URL must be postgres://…/NEW_DATABASE" >&2; exit 2 ;;
esac
base="${target%%\?*}"
query="${target#"$base"}"
dbname="${base##*/}"
[[ "$dbname" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || {
  echo "restore.sh: use a plain database name (letters, digits, _), not '$dbname'" >&2; exit 2; }
[ -z "$owner" ] || [[ "$owner" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || {
  echo "restore.sh: use a plain role name, not '$owner'" >&2; exit 2; }
admin="${RESTORE_ADMIN_URL:-${base%/*}/postgres$query}"

# The backup: complete, and its files unchanged since it was made.
[ -f "$backup/SHA256SUMS" ] && [ ! -e "$backup/INCOMPLETE" ] || {
  echo "restore.sh: $backup is not a complete backup (no SHA256SUMS, or INCOMPLETE)" >&2; exit 2; }
(cd "$backup" && sha256sum --quiet --check SHA256SUMS) || {
  echo "restore.sh: the backup's files do not match SHA256SUMS: not restoring" >&2; exit 1; }
if [ -f "$backup/database.dump.gpg" ]; then
  command -v gpg >/dev/null || { echo "restore.sh: the backup is encrypted: install gpg" >&2; exit 2; }
  db_source() { gpg --batch --quiet --decrypt "$backup/database.dump.gpg"; }
  media_source() { gpg --batch --quiet --decrypt "$backup/media.tar.gz.gpg"; }
else
  media_source() { cat "$backup/media.tar.gz"; }
fi

# Never over something that exists.
exists="$(psql "$admin" -X -At -v ON_ERROR_STOP=1 -v name="$dbname" \
  <<<"select 1 from pg_database where datname = :'name'")" || {
  echo "restore.sh: cannot connect with RESTORE_ADMIN_URL (default: the target's server, database postgres)" >&2
  exit 1; }
[ -z "$exists" ] || { echo "restore.sh: database $dbname exists: restore into a new one" >&2; exit 1; }
if [ -e "$media" ] && [ -n "$(ls -A "$media" 2>/dev/null)" ]; then
  echo "restore.sh: $media is not empty: restore into a new media folder" >&2; exit 1
fi

echo "restore.sh: creating database $dbname"
psql "$admin" -X -q -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE \"$dbname\"${owner:+ OWNER \"$owner\"}"
echo "restore.sh: restoring the database (one transaction: all or nothing)"
restore_options=(--dbname="$target" --no-owner --no-acl --single-transaction --exit-on-error)
[ -z "$owner" ] || restore_options+=(--role="$owner")
if [ -f "$backup/database.dump.gpg" ]; then
  db_source | pg_restore "${restore_options[@]}" && restored=1 || restored=0
else
  pg_restore "${restore_options[@]}" "$backup/database.dump" && restored=1 || restored=0
fi
if [ "$restored" != 1 ]; then  # the database is the empty one made above: drop it, so a retry can
  psql "$admin" -X -q -c "DROP DATABASE \"$dbname\"" || true
  echo "restore.sh: pg_restore failed: nothing restored (database $dbname dropped again)" >&2
  exit 1
fi
echo "restore.sh: restoring the media folder into $media"
mkdir -p "$media"
media_source | tar -C "$media" -xzf - --no-same-owner

echo "restore.sh: restored $backup into $dbname and $media"
sed 's/^/  /' "$backup/MANIFEST"
if [ "$check" = 1 ]; then
  python="${PYTHON:-}"
  if [ -z "$python" ]; then
    if [ -x "$here/.venv/bin/python" ]; then python="$here/.venv/bin/python"; else python=python3; fi
  fi
  status=0
  for command in check_ledger verify_audit; do
    echo "restore.sh: manage.py $command"
    DATABASE_URL="$target" TRUST_MEDIA_ROOT="$media" "$python" "$here/manage.py" "$command" \
      || status=1
  done
  if [ "$status" != 0 ]; then
    echo "restore.sh: CHECKS FAILED on the restored copy (see above; docs/operations.md)" >&2
    exit 1
  fi
  echo "restore.sh: check_ledger and verify_audit pass on the restored copy"
fi
echo "restore.sh: point DATABASE_URL and TRUST_MEDIA_ROOT at them to use them."
