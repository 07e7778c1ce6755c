# Shared by the bench/*.sh scripts (sourced, not run): stopping the server they
# started, dropping the PostgreSQL database they made, and installing wrk.
# Callers set SERVER_PID, PG_DB and PG_ADMIN, and define `log` and `die`.

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

drop_pg_db() {
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_ADMIN/postgres" -v ON_ERROR_STOP=1 -qAtc \
            "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 \
            || echo "warning: could not drop database $PG_DB" >&2
        PG_DB=""
    fi
}

# wrk from Debian's packages, when it is not there yet.
ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        if ! $sudo apt-get install -y wrk; then
            $sudo apt-get update
            $sudo apt-get install -y wrk
        fi
    fi
    command -v wrk >/dev/null || die "wrk is not available"
}
