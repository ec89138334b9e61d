#!/bin/sh
# Podman serving the Docker Engine API, for machines without a Docker engine.
#
#   sudo local/setup-podman.sh          install podman + runc, configure, start the API service
#   sudo local/setup-podman.sh stop     stop the API service this script started
#
# Idempotent: installs only what is missing, rewrites containers.conf only when it differs,
# starts the service only when the socket does not answer. Prints the DOCKER_HOST to use.
# Why runc and cgroupfs: with crun (podman's default) every container fails on these
# machines ("setrlimit RLIMIT_NOFILE: Operation not permitted", "cgroups in hybrid mode").
set -eu

SOCKET="${PODMAN_SOCKET:-/tmp/podman.sock}"
PIDFILE="${SOCKET}.pid"
LOGFILE="${SOCKET}.log"
CONF=/etc/containers/containers.conf

say() { echo "setup-podman: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "run as root (sudo $0)"; exit 1
fi

if [ "${1:-}" = "stop" ]; then
    if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then
        say "stopped the podman API service (pid $(cat "$PIDFILE"))"
    else
        say "no podman API service started by this script is running"
    fi
    rm -f "$PIDFILE"
    exit 0
fi

missing=
for tool in podman runc curl; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    say "installing$missing (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi

mkdir -p /etc/containers
WANTED=$(cat <<'CONF'
# Written by portable-mlops local/setup-podman.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$WANTED" ]; then
    if [ -f "$CONF" ] && ! grep -q 'portable-mlops' "$CONF"; then
        cp "$CONF" "$CONF.before-portable-mlops"
        say "kept the previous $CONF as $CONF.before-portable-mlops"
    fi
    printf '%s\n' "$WANTED" > "$CONF"
    say "wrote $CONF (runtime runc, cgroupfs)"
fi

answers() { curl -fsS --max-time 5 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

if answers; then
    say "podman API already answers on $SOCKET"
else
    rm -f "$SOCKET"
    # setsid + nohup: the service outlives this script and the shell that called it.
    setsid nohup podman system service --time=0 "unix://$SOCKET" >"$LOGFILE" 2>&1 &
    echo $! > "$PIDFILE"
    i=0
    until answers; do
        i=$((i + 1))
        if [ $i -gt 60 ]; then
            say "the podman API did not answer on $SOCKET within 30 s; see $LOGFILE"; exit 1
        fi
        sleep 0.5
    done
    say "started the podman API service (pid $(cat "$PIDFILE"), log $LOGFILE)"
fi

echo "export DOCKER_HOST=unix://$SOCKET"
