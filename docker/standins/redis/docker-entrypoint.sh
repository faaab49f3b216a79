#!/bin/sh
# The contract of docker-library/redis' entrypoint: options (or a .conf file) first means redis-server;
# redis-server started as root chowns /data and drops to the redis user; anything else is exec'd as it is.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
