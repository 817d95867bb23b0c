#!/usr/bin/env bash
# Restore a dump made by backup.sh into a NEW (or empty) database, then check it.
#
#   deploy/restore.sh DUMP TARGET_URL [--create] [--jobs N]
#
# TARGET_URL: postgresql://user@host:port/NEWDB. --create creates NEWDB first (the user needs
# CREATEDB; the connection goes to the "postgres" database of the same server). Refuses a target
# that already has tables: restore next to the live database, check it, then switch
# DATABASE_URL (docs/operations.md, "Restore"). After the restore it runs ANALYZE and prints the
# exact row count of every table, to compare with the source:
#
#   deploy/restore.sh --counts URL    # the same list for any database (run it on the source)
set -euo pipefail

counts() {
  psql --no-psqlrc -X -q -At -v ON_ERROR_STOP=1 --dbname="$1" <<'SQL'
\set QUIET on
SELECT format('SELECT %L || '' '' || count(*) FROM %I.%I;', c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' ORDER BY c.relname
\gexec
SQL
}

if [ "${1:-}" = "--counts" ]; then
  [ -n "${2:-}" ] || { echo "restore: --counts URL" >&2; exit 2; }
  counts "$2"
  exit 0
fi
[ $# -ge 2 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
DUMP="$1"; URL="$2"; shift 2
CREATE=0
JOBS="${RESTORE_JOBS:-2}"
while [ $# -gt 0 ]; do
  case "$1" in
    --create) CREATE=1; shift ;;
    --jobs) JOBS="$2"; shift 2 ;;
    *) echo "restore: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -r "$DUMP" ] || { echo "restore: cannot read $DUMP" >&2; exit 2; }
if [ -r "$DUMP.sha256" ]; then
  (cd "$(dirname "$DUMP")" && sha256sum --check --quiet "$(basename "$DUMP").sha256")
fi
pg_restore --list "$DUMP" > /dev/null

if [ "$CREATE" = 1 ]; then
  noquery="${URL%%\?*}"; query=""
  case "$URL" in *\?*) query="?${URL#*\?}" ;; esac
  dbname="${noquery##*/}"; base="${noquery%/*}"
  echo "restore: creating database $dbname" >&2
  psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 --dbname="$base/postgres$query" \
    -c "CREATE DATABASE \"$dbname\""
fi
tables=$(psql --no-psqlrc -X -At --dbname="$URL" \
  -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != 0 ]; then
  echo "restore: the target already has $tables tables; restore into a new database" >&2
  exit 1
fi

started=$(date +%s)
pg_restore --no-owner --no-privileges --exit-on-error --jobs="$JOBS" --dbname="$URL" "$DUMP"
psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 --dbname="$URL" -c "ANALYZE"
echo "restore: done in $(( $(date +%s) - started )) s; row counts:" >&2
counts "$URL"
