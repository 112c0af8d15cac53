#!/usr/bin/env bash
# A PostgreSQL server with pgvector on loopback, for docqa's PostgreSQL store and its tests.
#
#   scripts/postgres.sh install   Debian's postgresql, plus pgvector (see below)
#   scripts/postgres.sh start     install, then start a private cluster; prints its DSN
#   scripts/postgres.sh stop      stop that cluster
#
# Debian bookworm ships PostgreSQL 15 but no postgresql-15-pgvector (the package exists from
# trixie on, built for PostgreSQL 17), so `install` builds Debian's own pgvector source
# package, checked against the hash Debian publishes, for the installed server.
#
# The cluster lives in $DOCQA_PG_DIR (default /tmp/docqa-pg), listens only on 127.0.0.1 at
# $DOCQA_PG_PORT (default 55432) and trusts local connections: it is for tests and for trying
# the backend, not for holding a team's documents. Everything but the DSN goes to stderr, so
#   export DOCQA_TEST_POSTGRES="$(scripts/postgres.sh start)"
# works.
set -euo pipefail

PG_MAJOR=15
PGVECTOR_VERSION=0.8.0
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PGVECTOR_URL="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz"
DATA_DIR="${DOCQA_PG_DIR:-/tmp/docqa-pg}"
PORT="${DOCQA_PG_PORT:-55432}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"

say() { echo "postgres.sh: $*" >&2; }

as_owner() {
    # PostgreSQL refuses to run as root; the Debian package creates the `postgres` user.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
    # pg_config alone comes with libpq-dev; building pgvector needs the server's headers.
    if [ ! -x "$BIN/pg_ctl" ] || [ ! -x /usr/bin/pg_config ] \
        || [ ! -f "/usr/include/postgresql/${PG_MAJOR}/server/postgres.h" ]; then
        say "installing Debian's postgresql and postgresql-server-dev-${PG_MAJOR}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
            "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" make gcc >&2
    fi
    if [ -f "$(pg_config --sharedir)/extension/vector.control" ]; then
        return
    fi
    say "building pgvector ${PGVECTOR_VERSION} from Debian's source package"
    local work
    work="$(mktemp -d)"
    curl -fsSL -o "$work/pgvector.tar.gz" "$PGVECTOR_URL"
    echo "$PGVECTOR_SHA256  $work/pgvector.tar.gz" | sha256sum -c --quiet -
    tar -xzf "$work/pgvector.tar.gz" -C "$work"
    # with_llvm=no: no JIT bitcode, so no clang run; OPTFLAGS="": no -march=native, so the
    # library runs on any x86-64 machine the cluster moves to.
    make -C "$work/pgvector-${PGVECTOR_VERSION}" with_llvm=no OPTFLAGS="" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo make -C "$work/pgvector-${PGVECTOR_VERSION}" with_llvm=no OPTFLAGS="" install >&2
    rm -rf "$work"
}

start() {
    install
    if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
        say "creating a cluster in $DATA_DIR"
        mkdir -p "$DATA_DIR"
        [ "$(id -u)" = 0 ] && chown postgres: "$DATA_DIR"
        chmod 700 "$DATA_DIR"
        as_owner "$BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >&2
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA_DIR" start >&2
    fi
    echo "postgresql://postgres@127.0.0.1:${PORT}/postgres"
}

stop() {
    as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -m fast stop >&2
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
