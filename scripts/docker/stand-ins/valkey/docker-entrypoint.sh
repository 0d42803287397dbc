#!/bin/sh
# Like the official valkey image's entrypoint: options alone (or a .conf file)
# run valkey-server with them. The server is Debian's redis-server under the
# name valkey-server.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- valkey-server "$@"
fi

if [ "$1" = valkey-server ]; then
	# The official image builds the server with protected mode off (a
	# container's clients never come from loopback). Appended, so that
	# --version or a config file stays the first argument; left out when the
	# arguments set protected mode or name a config file (which may).
	given=no
	for a in "$@"; do
		case "$a" in
		--protected-mode | *.conf) given=yes ;;
		esac
	done
	if [ "$given" = no ]; then
		set -- "$@" --protected-mode no
	fi
	if [ "$(id -u)" = 0 ]; then
		# As the official image: the data belongs to the server's user and
		# the server does not run as root.
		find . \! -user redis -exec chown redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi

exec "$@"
