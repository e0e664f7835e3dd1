#!/usr/bin/env bash
# starsync node entrypoint: MariaDB configured for starsync, then `replicator hub|agent`.
#
# Environment (docker/.env.example shows a whole cluster):
#   STARSYNC_ROLE           hub (the master) or agent (a snap)                          required
#   STARSYNC_NODE_NAME      node name in status and logs, unique in the cluster         required
#   STARSYNC_SERVER_ID      MariaDB server_id, unique per node, >= 1                    required
#   STARSYNC_DOMAIN_ID      MariaDB gtid_domain_id, unique per node          (default: server id)
#   STARSYNC_SECRET         the cluster's shared secret (>= 16 characters)              required
#   STARSYNC_DB_PASSWORD    password of the replication account starsync_repl           required
#   SNAP_APP_PASSWORD       password of the snap application account snap_user          required
#   STARSYNC_HUB            agent: the hub's host:port                    (default: master:4500)
#   STARSYNC_DBA_PASSWORD   hub: creates the account `dba` (all privileges) for the GUI  optional
#   STARSYNC_HTTP_TOKEN     hub: the token its HTTP endpoint asks for ([hub] http_token)  optional
#   STARSYNC_VERIFY_EVERY_SECS hub: its own verifications ([hub] verify_every_secs)   (default: 3600)
#
# First start on an empty volume: mariadb-install-db, then a private server (no network, no
# binlog) creates the accounts from grants.sql. Every start: renders starsync.cnf with this
# node's ids, starts mariadbd, waits for it, runs `replicator check`, then the replicator as the
# unprivileged user `starsync`. SIGTERM/SIGINT stop the replicator first (its clean shutdown
# takes at most 10 s), then MariaDB. If either process dies, the other is stopped too and the
# container exits with the dead one's status, so the restart policy sees it.
set -euo pipefail

log() { echo "starsync-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 2; }

need() { [ -n "${!1:-}" ] || die "$1 is not set (see docker/.env.example)"; }
need STARSYNC_ROLE
need STARSYNC_NODE_NAME
need STARSYNC_SERVER_ID
need STARSYNC_SECRET
need STARSYNC_DB_PASSWORD
need SNAP_APP_PASSWORD
case "$STARSYNC_ROLE" in hub | agent) ;; *) die "STARSYNC_ROLE is '$STARSYNC_ROLE': use hub or agent" ;; esac
[[ "$STARSYNC_SERVER_ID" =~ ^[1-9][0-9]*$ ]] || die "STARSYNC_SERVER_ID must be a number >= 1"
STARSYNC_DOMAIN_ID="${STARSYNC_DOMAIN_ID:-$STARSYNC_SERVER_ID}"
[[ "$STARSYNC_DOMAIN_ID" =~ ^[0-9]+$ ]] || die "STARSYNC_DOMAIN_ID must be a number"
STARSYNC_HUB="${STARSYNC_HUB:-master:4500}"
export STARSYNC_SECRET STARSYNC_DB_PASSWORD

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
CONF=/etc/starsync/$STARSYNC_ROLE.toml

# ---- MariaDB settings: starsync.cnf with this node's ids ----------------------------------------
offset=$(((STARSYNC_SERVER_ID - 1) % 64 + 1))
sed -E \
  -e "s/^server_id( *)=.*/server_id\1= $STARSYNC_SERVER_ID/" \
  -e "s/^gtid_domain_id( *)=.*/gtid_domain_id\1= $STARSYNC_DOMAIN_ID/" \
  -e "s/^auto_increment_offset( *)=.*/auto_increment_offset\1= $offset/" \
  /usr/share/starsync/starsync.cnf >/etc/mysql/mariadb.conf.d/60-starsync.cnf
if [ "$STARSYNC_ROLE" = hub ]; then
  # The GUI reaches the master's MariaDB over the compose network (no port is published).
  printf '[mariadbd]\nbind_address = 0.0.0.0\n' >/etc/mysql/mariadb.conf.d/70-starsync-docker.cnf
fi
install -d -o mysql -g mysql /run/mysqld

# ---- First start: datadir and accounts ----------------------------------------------------------
sql_quote() { # a value for inside '…' in SQL
  local v=${1//\\/\\\\}
  printf '%s' "${v//\'/\'\'}"
}

if [ ! -d "$DATADIR/mysql" ]; then
  log "initializing $DATADIR"
  chown mysql:mysql "$DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
    --auth-root-authentication-method=socket >/dev/null
  mariadbd --user=mysql --skip-networking --skip-log-bin --socket="$SOCKET" &
  init_pid=$!
  for _ in $(seq 120); do
    mariadb-admin --socket="$SOCKET" ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  shopt -u patsub_replacement 2>/dev/null || true # '&' in a password stays '&'
  grants=$(</usr/share/starsync/grants.sql)
  grants=${grants//@REPL_PASSWORD@/$(sql_quote "$STARSYNC_DB_PASSWORD")}
  grants=${grants//@APP_PASSWORD@/$(sql_quote "$SNAP_APP_PASSWORD")}
  if [ "$STARSYNC_ROLE" = hub ] && [ -n "${STARSYNC_DBA_PASSWORD:-}" ]; then
    grants+=$'\n'"CREATE OR REPLACE USER 'dba'@'%' IDENTIFIED BY '$(sql_quote "$STARSYNC_DBA_PASSWORD")';"
    grants+=$'\n'"GRANT ALL PRIVILEGES ON *.* TO 'dba'@'%' WITH GRANT OPTION;"
  fi
  mariadb --socket="$SOCKET" -uroot <<<"$grants"
  mariadb-admin --socket="$SOCKET" shutdown
  wait "$init_pid"
  log "accounts created"
fi

# ---- Replicator configuration (secrets come from the environment) -------------------------------
install -d -m 0750 -g starsync /etc/starsync
if [ "$STARSYNC_ROLE" = hub ]; then
  # HTTP status on every interface of the container: the GUI reads it over the compose network.
  network=$(printf '[hub]\nlisten = "0.0.0.0:4500"\nhttp_listen = "0.0.0.0:4580"\nverify_every_secs = %s' \
    "${STARSYNC_VERIFY_EVERY_SECS:-3600}")
else
  network=$(printf '[agent]\nhub = "%s"\nstatus_listen = "127.0.0.1:4581"' "$STARSYNC_HUB")
fi
cat >"$CONF" <<EOF
# Written by starsync-entrypoint from the container's environment.
[node]
name = "$STARSYNC_NODE_NAME"
server_id = $STARSYNC_SERVER_ID
domain_id = $STARSYNC_DOMAIN_ID

[mariadb]
host = "127.0.0.1"
port = 3306
user = "starsync_repl"

$network
EOF
chgrp starsync "$CONF"
chmod 0640 "$CONF"

# ---- Run ----------------------------------------------------------------------------------------
mariadb_pid=
repl_pid=
stop() {
  trap '' TERM INT
  if [ -n "$repl_pid" ]; then
    kill -TERM "$repl_pid" 2>/dev/null || true
    wait "$repl_pid" 2>/dev/null || true
  fi
  if [ -n "$mariadb_pid" ]; then
    kill -TERM "$mariadb_pid" 2>/dev/null || true
    wait "$mariadb_pid" 2>/dev/null || true
  fi
}
on_signal() {
  log "stopping"
  stop
  exit 0
}
trap on_signal TERM INT

mariadbd --user=mysql &
mariadb_pid=$!
for _ in $(seq 240); do
  mariadb-admin --socket="$SOCKET" ping >/dev/null 2>&1 && break
  kill -0 "$mariadb_pid" 2>/dev/null || { wait "$mariadb_pid" || exit $?; exit 1; }
  sleep 0.5
done

as_starsync=(setpriv --reuid=starsync --regid=starsync --init-groups --inh-caps=-all)
"${as_starsync[@]}" /usr/bin/replicator check --config "$CONF" || {
  status=$?
  stop
  exit "$status"
}
log "starting replicator $STARSYNC_ROLE as $STARSYNC_NODE_NAME"
"${as_starsync[@]}" /usr/bin/replicator "$STARSYNC_ROLE" --config "$CONF" &
repl_pid=$!

# Whichever ends first ends the container.
status=0
wait -n "$mariadb_pid" "$repl_pid" || status=$?
log "a process exited (status $status); stopping the other"
stop
exit "$status"
