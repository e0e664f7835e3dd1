#!/usr/bin/env bash
# Healthy when MariaDB answers and the replicator's /health says 200 (the hub's on 4580, which
# also means the master database answers; an agent's on 4581). No curl in the slim image: plain
# HTTP/1.0 over bash's /dev/tcp.
set -euo pipefail
mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null
case "${STARSYNC_ROLE:-}" in
  hub) port=4580 ;;
  agent) port=4581 ;;
  *) exit 1 ;;
esac
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 3 _ code _ <&3
[ "$code" = 200 ]
