#!/bin/sh
# SYSTEM_MONITOR_BIN for the docker-compose.yml example services: runs the
# single binary from the shared volume with the volume's lib/ on the library
# path, because Node 26's official build needs libatomic.so.1, which slim
# images (Debian's libatomic1) may lack. Only the agent gets the path, never
# the main service.
# No dirname: nothing outside the shell is assumed, not even PATH.
case $0 in
  */*) here=${0%/*} ;;
  *) here=. ;;
esac
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/system-monitor" "$@"
