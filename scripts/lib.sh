# shellcheck shell=bash
# Helpers shared by scripts/test and scripts/bench: installing what is missing,
# picking free loopback ports, starting Redis, Postgres and an S3-compatible
# server in a temporary folder.
# Source it; it defines functions and changes nothing by itself.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[1;33m!!! %s\033[0m\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through `sudo -n` when
# that works without a password, and not at all otherwise (returns 1).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

_apt_updated=0
# apt_install PKG...: installs the Debian packages given, running `apt-get
# update` once per script run. Never prompts (CI has no stdin).
apt_install() {
    [ "$#" -gt 0 ] || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        warn "apt-get not found: install $* yourself"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$_apt_updated" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null || { warn "apt-get update failed (not root and no sudo?)"; return 1; }
        _apt_updated=1
    fi
    log "apt-get install $*"
    as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" </dev/null
}

# The bin folder of the newest installed PostgreSQL, or nothing.
pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

# A TCP port on 127.0.0.1 that nothing listens on right now. A race with
# another process remains possible; the callers check that their server came up.
free_port() {
    local port i
    for i in $(seq 1 200); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_redis DIR [PORT]: starts redis-server on PORT or a free loopback
# port, data in DIR. Sets REDIS_PORT and REDIS_PIDFILE.
start_redis() {
    local dir=$1 port=${2:-} try
    for try in 1 2 3; do
        REDIS_PORT=${port:-$(free_port)}
        REDIS_PIDFILE="$dir/redis.pid"
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
            --dir "$dir" --save '' --appendonly no \
            --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$dir/redis.log" </dev/null
        if wait_for 20 redis_ping "$REDIS_PORT"; then
            return 0
        fi
        warn "redis did not answer on port $REDIS_PORT (try $try)"
        stop_redis
        [ -n "$port" ] && break
    done
    cat "$dir/redis.log" >&2 || true
    return 1
}

redis_ping() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
    else
        port_open "$1"
    fi
}

stop_redis() {
    if [ -n "${REDIS_PIDFILE:-}" ] && [ -f "$REDIS_PIDFILE" ]; then
        local pid
        pid=$(cat "$REDIS_PIDFILE")
        kill "$pid" 2>/dev/null || true
        wait_for 10 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
        rm -f "$REDIS_PIDFILE"
    fi
}

# Runs a Postgres tool as the user that owns the cluster: `postgres` when we are
# root (initdb refuses to run as root), ourselves otherwise.
_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR: a fresh cluster in DIR/pgdata on a free loopback port,
# trust auth, superuser `postgres`, database `rampart`. Sets PG_PORT, PG_DATA.
start_postgres() {
    local dir=$1 bindir try
    bindir=$(pg_bindir) || { warn "PostgreSQL binaries not found"; return 1; }
    PG_BINDIR=$bindir
    PG_DATA="$dir/pgdata"
    PG_SOCKDIR="$dir/pgsock"
    mkdir -p "$PG_DATA" "$PG_SOCKDIR"
    if [ "$(id -u)" -eq 0 ]; then
        # mktemp makes 0700 folders: the postgres user must reach its own.
        chmod 0755 "$dir"
        chown postgres: "$PG_DATA" "$PG_SOCKDIR"
    fi
    chmod 0700 "$PG_DATA"
    _pg "$bindir/initdb" -D "$PG_DATA" --auth=trust -U postgres --encoding=UTF8 --no-sync \
        >"$dir/initdb.log" 2>&1 </dev/null || { cat "$dir/initdb.log" >&2; return 1; }
    for try in 1 2 3; do
        PG_PORT=$(free_port)
        if _pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_SOCKDIR/postgres.log" -w -t 60 \
            -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_SOCKDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null </dev/null; then
            _pg "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres rampart </dev/null
            return 0
        fi
        warn "postgres did not start on port $PG_PORT (try $try)"
        cat "$PG_SOCKDIR/postgres.log" >&2 || true
    done
    return 1
}

# start_postgres_replica DIR [PORT]: a streaming hot standby of the cluster
# that start_postgres started, in DIR/replica, on PORT or a free loopback
# port. pg_basebackup -R copies the primary over its replication connection
# (initdb's pg_hba.conf trusts `replication` from 127.0.0.1, wal_level is
# `replica` by default) and writes standby.signal and primary_conninfo; the
# standby then streams the primary's WAL and answers read-only queries
# (hot_standby; hot_standby_feedback, so that the primary's vacuum does not
# cancel them, as docs/operations.md advises). Returns once it accepts
# connections and is in recovery.
# Sets PG_REPLICA_PORT, PG_REPLICA_DATA and PG_REPLICA_CTL, a script that
# takes `stop` or `start` (for tests of a replica outage). stop_postgres
# stops it too.
start_postgres_replica() {
    local dir=$1 port=${2:-} try
    if [ -z "${PG_PORT:-}" ] || [ -z "${PG_BINDIR:-}" ]; then
        warn "start_postgres_replica: start_postgres first (PG_PORT, PG_BINDIR)"
        return 1
    fi
    PG_REPLICA_DATA="$dir/replica"
    PG_REPLICA_SOCKDIR="$dir/replica-sock"
    PG_REPLICA_CTL="$dir/replica-ctl"
    # pg_basebackup wants an empty folder, the postgres user's when we are root.
    rm -rf "$PG_REPLICA_DATA"
    mkdir -p "$PG_REPLICA_DATA" "$PG_REPLICA_SOCKDIR"
    if [ "$(id -u)" -eq 0 ]; then
        chmod 0755 "$dir"
        chown postgres: "$PG_REPLICA_DATA" "$PG_REPLICA_SOCKDIR"
    fi
    chmod 0700 "$PG_REPLICA_DATA"
    _pg "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$PG_REPLICA_DATA" \
        -R -X stream --checkpoint=fast --no-sync >"$dir/basebackup.log" 2>&1 </dev/null \
        || { cat "$dir/basebackup.log" >&2; return 1; }
    for try in 1 2 3; do
        PG_REPLICA_PORT=${port:-$(free_port)}
        _write_replica_ctl
        if "$PG_REPLICA_CTL" start >/dev/null 2>&1 \
            && wait_for 60 _pg_in_recovery "$PG_REPLICA_PORT"; then
            return 0
        fi
        warn "the replica did not start on port $PG_REPLICA_PORT (try $try)"
        cat "$PG_REPLICA_SOCKDIR/postgres.log" >&2 || true
        "$PG_REPLICA_CTL" stop >/dev/null 2>&1 || true
        [ -n "$port" ] && break
    done
    return 1
}

# The replica's stop/start script, with the options start_postgres_replica
# gives it (pg_ctl start does not remember them).
# shellcheck disable=SC2016 # the script's own $1 and $0, written as they are
_write_replica_ctl() {
    local runas=()
    [ "$(id -u)" -eq 0 ] && runas=(runuser -u postgres --)
    {
        echo '#!/bin/sh'
        echo '# stop | start the read replica of scripts/lib.sh start_postgres_replica.'
        echo 'case "$1" in'
        printf '    stop) exec %s %q -D %q -m fast -w -t 30 stop ;;\n' \
            "${runas[*]}" "$PG_BINDIR/pg_ctl" "$PG_REPLICA_DATA"
        printf '    start) exec %s %q -D %q -l %q -w -t 60 -o %q start ;;\n' \
            "${runas[*]}" "$PG_BINDIR/pg_ctl" "$PG_REPLICA_DATA" "$PG_REPLICA_SOCKDIR/postgres.log" \
            "-p $PG_REPLICA_PORT -c listen_addresses=127.0.0.1 -k $PG_REPLICA_SOCKDIR -c fsync=off -c hot_standby=on -c hot_standby_feedback=on"
        echo '    *) echo "usage: $0 stop|start" >&2; exit 2 ;;'
        echo 'esac'
    } >"$PG_REPLICA_CTL"
    chmod 0755 "$PG_REPLICA_CTL"
}

# Whether the server on port $1 answers and is a standby in recovery.
_pg_in_recovery() {
    [ "$("$PG_BINDIR/psql" -X -At -h 127.0.0.1 -p "$1" -U postgres -d postgres \
        -c 'SELECT pg_is_in_recovery()' </dev/null 2>/dev/null)" = t ]
}

stop_postgres_replica() {
    if [ -n "${PG_REPLICA_DATA:-}" ] && [ -f "$PG_REPLICA_DATA/postmaster.pid" ]; then
        _pg "$PG_BINDIR/pg_ctl" -D "$PG_REPLICA_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 </dev/null || true
    fi
}

# Stops the replica (when start_postgres_replica started one), then the primary.
stop_postgres() {
    stop_postgres_replica
    if [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        _pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 </dev/null || true
    fi
}

# start_s3 DIR VENV: an S3-compatible server on a free loopback port: moto's
# server mode (PyPI `moto[server]`, installed into the Python venv VENV when
# missing), objects in memory, any access key accepted, buckets created by a
# plain `PUT /BUCKET`. Its log is DIR/moto.log. Sets S3_PORT, S3_PID and
# RAMPART_S3_URL (its endpoint, http://127.0.0.1:PORT, for AWS_ENDPOINT_URL
# with AWS_ALLOW_HTTP=true). Stop it with stop_s3.
start_s3() {
    local dir=$1 venv=$2 try
    if [ ! -x "$venv/bin/moto_server" ]; then
        "$venv/bin/pip" install --quiet 'moto[server]>=5,<6' >"$dir/moto-install.log" 2>&1 </dev/null \
            || { cat "$dir/moto-install.log" >&2; return 1; }
    fi
    for try in 1 2 3; do
        S3_PORT=$(free_port)
        "$venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$dir/moto.log" 2>&1 </dev/null &
        S3_PID=$!
        if wait_for 60 port_open "$S3_PORT"; then
            RAMPART_S3_URL="http://127.0.0.1:$S3_PORT"
            return 0
        fi
        warn "moto_server did not answer on port $S3_PORT (try $try)"
        stop_s3
    done
    cat "$dir/moto.log" >&2 || true
    return 1
}

stop_s3() {
    if [ -n "${S3_PID:-}" ]; then
        kill "$S3_PID" 2>/dev/null || true
        wait "$S3_PID" 2>/dev/null || true
        S3_PID=
    fi
}

# start_demo DIR BIN: seeds the demo's embedded SQLite in DIR/data (two
# organizations of three users, password test123; user1@example.com is an
# admin) and starts BIN on a free loopback port with the rate limits out of
# the way, its log in DIR/demo.log. Sets DEMO_PID, DEMO_URL and DEMO_TOKEN (an
# access token of user1). Returns 1, the demo stopped, when it did not start
# or log in. Stop it with `stop_demo`.
start_demo() {
    local dir=$1 bin=$2 port
    mkdir -p "$dir"
    # One cheap argon2id hash of test123 for the seeded users (see db::seed).
    env -u DATABASE_URL -u DATABASE_READ_URL -u REDIS_URL DATA_DIR="$dir/data" \
        SEED_PASSWORD_HASH='$argon2id$v=19$m=8,t=1,p=1$cmFtcGFydGRlbW9zYWx0MQ$ENfb3BGdROTjCXiVE911WUEdwJg2iFp4vmBoRKM3lBI' \
        "$bin" seed --orgs 2 --users-per-org 3 >"$dir/seed.log" 2>&1 </dev/null || true
    port=$(free_port)
    DEMO_URL="http://127.0.0.1:$port"
    env -u DATABASE_URL -u DATABASE_READ_URL -u REDIS_URL RUST_LOG=warn DATA_DIR="$dir/data" \
        BIND_ADDR="127.0.0.1:$port" RATE_LIMIT_GLOBAL=1000000/hour \
        RATE_LIMIT_API=1000000/minute RATE_LIMIT_LOGIN=1000000/minute \
        RATE_LIMIT_LOGIN_ADDRESS=1000000/minute RATE_LIMIT_PROBES=1000000/second \
        PASSWORD_HASH_WAIT_MS=10000 \
        "$bin" >"$dir/demo.log" 2>&1 </dev/null &
    DEMO_PID=$!
    DEMO_TOKEN=$(python3 - "$DEMO_URL" <<'PY' || true
import json, sys, time, urllib.request
url = sys.argv[1]
for _ in range(600):
    try:
        urllib.request.urlopen(url + "/health", timeout=2)
        break
    except OSError:
        time.sleep(0.1)
body = json.dumps({"email": "user1@example.com", "password": "test123"}).encode()
request = urllib.request.Request(url + "/auth/login", body, {"content-type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["access_token"])
PY
)
    if [ -z "$DEMO_TOKEN" ]; then
        stop_demo
        cat "$dir/seed.log" "$dir/demo.log" >&2 || true
        return 1
    fi
}

# stop_demo: stops what start_demo started (SIGTERM, then waits for it).
stop_demo() {
    if [ -n "${DEMO_PID:-}" ]; then
        kill "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
        DEMO_PID=
    fi
}

# python_venv DIR: a Python virtual environment in DIR/python-venv, made
# once per DIR, for the Python tools of the tests (aiosmtpd) and of
# schemathesis; installs python3-venv when `python3 -m venv` fails. Sets
# PYTHON_VENV. Returns 1 when no venv can be made.
python_venv() {
    PYTHON_VENV="$1/python-venv"
    [ -x "$PYTHON_VENV/bin/pip" ] && return 0
    if ! python3 -m venv "$PYTHON_VENV" >/dev/null 2>&1; then
        rm -rf "$PYTHON_VENV"
        { [ "${RAMPART_SKIP_INSTALL:-0}" != 1 ] && apt_install python3-venv \
            && python3 -m venv "$PYTHON_VENV" >/dev/null 2>&1; } || return 1
    fi
}

# start_smtp DIR: a real SMTP server on a free loopback port (aiosmtpd from
# PyPI, in python_venv DIR, through scripts/smtp-sink.py) that writes every
# message it receives to DIR/smtp-mail as a JSON file. Sets SMTP_PORT,
# SMTP_MAIL_DIR and SMTP_PID. Stop it with stop_smtp.
start_smtp() {
    local dir=$1 here try
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    python_venv "$dir" || { warn "start_smtp: no Python venv (python3-venv)"; return 1; }
    if ! "$PYTHON_VENV/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
        "$PYTHON_VENV/bin/pip" install --quiet "aiosmtpd>=1.4,<2" </dev/null \
            || { warn "start_smtp: pip install aiosmtpd failed"; return 1; }
    fi
    SMTP_MAIL_DIR="$dir/smtp-mail"
    mkdir -p "$SMTP_MAIL_DIR"
    for try in 1 2 3; do
        SMTP_PORT=$(free_port)
        "$PYTHON_VENV/bin/python" "$here/smtp-sink.py" --port "$SMTP_PORT" --dir "$SMTP_MAIL_DIR" \
            >"$dir/smtp.log" 2>&1 </dev/null &
        SMTP_PID=$!
        if wait_for 30 port_open "$SMTP_PORT"; then
            return 0
        fi
        warn "the SMTP server did not answer on port $SMTP_PORT (try $try)"
        stop_smtp
    done
    cat "$dir/smtp.log" >&2 || true
    return 1
}

# stop_smtp: stops what start_smtp started.
stop_smtp() {
    if [ -n "${SMTP_PID:-}" ]; then
        kill "$SMTP_PID" 2>/dev/null || true
        wait "$SMTP_PID" 2>/dev/null || true
        SMTP_PID=
    fi
}
