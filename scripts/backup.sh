#!/usr/bin/env bash
# A logical backup of the ledger: the PostgreSQL database (pg_dump, custom format) and the media
# folder (supporting documents, generated PDFs), into a new folder of OUT_DIR. Procedure, what it
# does NOT contain (the four keys, the audit witness) and how to restore: docs/operations.md,
# "Backups and restore". Restore with scripts/restore.sh.
#
#   scripts/backup.sh [--media DIR] OUT_DIR
#
# Environment:
#   DATABASE_URL            postgres://user:pass@host:5432/name (as the application's)
#   BACKUP_DATABASE_URL     overrides it: a direct connection, never through PgBouncer in
#                           transaction mode (pg_dump holds one snapshot for the whole dump)
#   TRUST_MEDIA_ROOT        the media folder (default var/media in the checkout); --media wins
#   BACKUP_GPG_RECIPIENT    encrypt both files to this OpenPGP key (gpg): nothing is written to
#                           disk in the clear; the folder then holds *.gpg files
#
# Writes OUT_DIR/trust-<UTC time>/ with database.dump, media.tar.gz (or their .gpg), MANIFEST
# (when, versions, the latest signed audit checkpoint) and SHA256SUMS. The database is dumped
# first, then the media: every file a dumped row names was already stored (files are written
# before their rows commit and never replaced), and a file stored later is only an unused extra.
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")/.." && pwd)"
media="${TRUST_MEDIA_ROOT:-$here/var/media}"
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --media) media="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "backup.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
out_root="$1"
url="${BACKUP_DATABASE_URL:-${DATABASE_URL:-}}"
case "$url" in
  postgres://*|postgresql://*) ;;
  *) echo "backup.sh: set DATABASE_URL (or BACKUP_DATABASE_URL) to the PostgreSQL database" >&2; exit 2 ;;
esac
for tool in pg_dump psql tar sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "backup.sh: $tool not found (Debian: apt-get install postgresql-client)" >&2; exit 2; }
done
[ -d "$media" ] || { echo "backup.sh: no media folder at $media (set TRUST_MEDIA_ROOT)" >&2; exit 2; }
if [ -n "${BACKUP_GPG_RECIPIENT:-}" ]; then
  command -v gpg >/dev/null || { echo "backup.sh: gpg not found" >&2; exit 2; }
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
dest="$out_root/trust-$stamp"
mkdir -p "$out_root"
mkdir "$dest"   # a new folder each time: a backup is never written over another
partial="$dest/INCOMPLETE"
: > "$partial"

# The latest signed checkpoint, for the manifest: after restoring this backup, heads the witness
# holds above this size are the ones the restored database lacks (docs/operations.md).
checkpoint="$(psql "$url" -X -At -v ON_ERROR_STOP=1 -c \
  "select size || ' events, signed at ' || signed_at from trust_audit_checkpoint order by size desc, id desc limit 1" \
  2>/dev/null || true)"
server="$(psql "$url" -X -At -c 'show server_version' 2>/dev/null || echo unknown)"

encrypt() {  # stdin to "$1" (.gpg when BACKUP_GPG_RECIPIENT is set)
  if [ -n "${BACKUP_GPG_RECIPIENT:-}" ]; then
    gpg --batch --yes --trust-model always --encrypt --recipient "$BACKUP_GPG_RECIPIENT" \
      --output "$1.gpg"
  else
    cat > "$1"
  fi
}

echo "backup.sh: dumping the database to $dest"
if [ -n "${BACKUP_GPG_RECIPIENT:-}" ]; then
  pg_dump --format=custom --compress=6 --dbname="$url" | encrypt "$dest/database.dump"
else  # to a file: pg_dump then records where each table's data is (pg_restore -j can use it)
  pg_dump --format=custom --compress=6 --dbname="$url" --file="$dest/database.dump"
fi
echo "backup.sh: archiving the media folder $media"
tar -C "$media" -czf - . | encrypt "$dest/media.tar.gz"

{
  echo "created: $stamp"
  echo "pg_dump: $(pg_dump --version)"
  echo "server: PostgreSQL $server"
  echo "media files: $(find "$media" -type f | wc -l)"
  echo "latest audit checkpoint: ${checkpoint:-none}"
  echo "encrypted to: ${BACKUP_GPG_RECIPIENT:-not encrypted}"
  echo "not included: DJANGO_SECRET_KEY, TRUST_FIELD_ENCRYPTION_KEYS, TRUST_BLIND_INDEX_KEY,"
  echo "  TRUST_AUDIT_SIGNING_KEY (the secret store) and the audit witness: kept apart"
} > "$dest/MANIFEST"
(cd "$dest" && sha256sum database.dump* media.tar.gz* MANIFEST > SHA256SUMS)
rm "$partial"
echo "backup.sh: done: $dest"
