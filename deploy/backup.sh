#!/usr/bin/env bash
# Logical backup of the portal's database: pg_dump custom format, verified, old dumps pruned.
#
#   deploy/backup.sh [--dir DIR] [--keep-days N] [--no-readings] [--url POSTGRES_URL]
#
# The database comes from --url, else DATABASE_URL (or the file named by DATABASE_URL_FILE), as
# in /etc/bms-portal/env. Writes DIR/bms-<UTC time>.dump (+ .sha256), checks that pg_restore can
# read it, deletes dumps older than N days (default 14) and prints the file name.
# --no-readings: schema and all tables, but no rows of the readings partitions (a small daily
# configuration backup; readings are covered by base backups + WAL archiving, see
# docs/operations.md "Backups"). pg_dump's client major version must be >= the server's.
set -euo pipefail

DIR="${BACKUP_DIR:-/var/backups/bms-portal}"
KEEP_DAYS="${BACKUP_KEEP_DAYS:-14}"
URL=""
NO_READINGS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --keep-days) KEEP_DAYS="$2"; shift 2 ;;
    --url) URL="$2"; shift 2 ;;
    --no-readings) NO_READINGS=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "backup: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$URL" ]; then
  if [ -n "${DATABASE_URL_FILE:-}" ]; then URL="$(cat "$DATABASE_URL_FILE")"; else URL="${DATABASE_URL:-}"; fi
fi
[ -n "$URL" ] || { echo "backup: no database (--url or DATABASE_URL)" >&2; exit 2; }

mkdir -p "$DIR"
umask 077
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$DIR/bms-$stamp.dump"
args=(--format=custom --compress=6 --no-owner --no-privileges --file="$out.partial")
if [ "$NO_READINGS" = 1 ]; then
  args+=(--exclude-table-data='acquisition_reading_p*' --exclude-table-data='acquisition_bankreading_p*')
fi
started=$(date +%s)
pg_dump "${args[@]}" --dbname="$URL"
# a dump pg_restore cannot list is no backup
pg_restore --list "$out.partial" > /dev/null
mv "$out.partial" "$out"
(cd "$DIR" && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
find "$DIR" -maxdepth 1 -name 'bms-*.dump*' -mtime +"$KEEP_DAYS" -delete
echo "backup: $out ($(du -h "$out" | cut -f1), $(( $(date +%s) - started )) s)" >&2
echo "$out"
