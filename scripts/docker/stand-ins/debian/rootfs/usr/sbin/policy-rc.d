#!/bin/sh
# No init system runs in a container: package scripts must not start services
# (redis-server, postgresql) while an image is built. As in Debian's images.
exit 101
