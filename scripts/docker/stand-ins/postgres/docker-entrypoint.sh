#!/bin/sh
# A small version of the official postgres image's entrypoint. For the
# command `postgres` (or options alone): make PGDATA, initialise it on first
# start (superuser POSTGRES_USER, default postgres, with password
# POSTGRES_PASSWORD; scram-sha-256 for host connections; listening on all
# addresses; database POSTGRES_DB, default the user's name), then run the
# server as the postgres user. Any other command is run as given.
set -eu

if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

# postgres --version, --help and the like need no data directory.
for a in "$@"; do
	case "$a" in
	-V | --version | '-?' | --help | --describe-config | -C) exec "$@" ;;
	esac
done

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "docker-entrypoint.sh: the database is not initialised and POSTGRES_PASSWORD is not set;" >&2
		echo "  start the container with -e POSTGRES_PASSWORD=... (the superuser's password)" >&2
		exit 1
	fi
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
	initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
		${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
	rm -f "$pwfile"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	if [ "$db" != postgres ]; then
		printf 'CREATE DATABASE "%s";\n' "$db" |
			postgres --single -j -D "$PGDATA" postgres >/dev/null
	fi
	echo "docker-entrypoint.sh: PostgreSQL initialised in $PGDATA"
fi

exec "$@"
