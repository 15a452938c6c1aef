# Shared settings and set-up steps for the Makefile targets. Sourced, never run.
# Everything here is idempotent: a second call finds the work done and returns at once.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Odoo 19.0 source tree: $ODOO_SRC, else this fixed default outside the repository.
ODOO_DEFAULT=/opt/odoo19
ODOO_SRC=${ODOO_SRC:-$ODOO_DEFAULT}
ODOO_GIT_URL=${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}
# Machine-wide state (virtualenv, PostgreSQL cluster) lives outside the repository so that a
# fresh clone reuses it; both are re-created when missing.
STATE_DIR=${RD_STATE_DIR:-/var/tmp/receivable_dunning}
VENV=${RD_VENV:-$STATE_DIR/venv}
PY=$VENV/bin/python
PG_PORT_PRIVATE=${RD_PG_PORT:-55432}
PG_DATA=$STATE_DIR/pgdata
PG_SOCKET_DIR=$STATE_DIR/pgsocket
DB_USER=${PGUSER:-odoo}

log() { printf '\033[1m[receivable_dunning]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[receivable_dunning] %s\033[0m\n' "$*" >&2; exit 1; }

as_root() { [ "$(id -u)" = 0 ]; }

# --- system packages ------------------------------------------------------------------------
# Debian packages the tests need: chromium (tours), wkhtmltopdf (PDF reports), PostgreSQL 15,
# and the headers to build Odoo's python dependencies when no wheel fits.
SYSTEM_PACKAGES="chromium wkhtmltopdf postgresql-15 libpq-dev libldap2-dev libsasl2-dev
  libxml2-dev libxslt1-dev libjpeg-dev zlib1g-dev fonts-dejavu-core"

ensure_system_packages() {
    local missing=()
    for pkg in $SYSTEM_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if as_root && command -v apt-get >/dev/null; then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing Debian packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})"
    fi
}

# --- Odoo source tree -----------------------------------------------------------------------
is_odoo19_tree() {
    [ -f "$1/odoo-bin" ] && [ -d "$1/addons/account" ] \
        && grep -q "^version_info = (19, 0," "$1/odoo/release.py" 2>/dev/null
}

# Some published copies of 19.0 name views/res_config_settings_views.xml in a manifest where the
# file is views/res_config_settings.xml (iap, lunch, ...). `sms` needs `iap`, so put the file under
# the name the manifest expects; an intact tree is left untouched.
repair_odoo_manifests() {
    local manifest dir
    grep -l "views/res_config_settings_views.xml" "$ODOO_SRC"/addons/*/__manifest__.py 2>/dev/null \
    | while read -r manifest; do
        dir=$(dirname "$manifest")
        if [ ! -f "$dir/views/res_config_settings_views.xml" ] && [ -f "$dir/views/res_config_settings.xml" ]; then
            log "repairing $(basename "$dir"): views/res_config_settings_views.xml missing, using views/res_config_settings.xml"
            cp "$dir/views/res_config_settings.xml" "$dir/views/res_config_settings_views.xml"
        fi
    done
}

ensure_odoo() {
    if ! is_odoo19_tree "$ODOO_SRC"; then
        if [ -e "$ODOO_SRC" ] && [ -n "$(ls -A "$ODOO_SRC" 2>/dev/null)" ]; then
            die "ODOO_SRC=$ODOO_SRC exists but holds no Odoo 19.0 tree (odoo-bin, addons/, odoo/release.py 19.0)."
        fi
        log "no Odoo 19.0 tree at $ODOO_SRC: trying git clone --depth 1 --branch 19.0 $ODOO_GIT_URL"
        if ! git clone -q --depth 1 --branch 19.0 "$ODOO_GIT_URL" "$ODOO_SRC" 2>/dev/null; then
            rm -rf "$ODOO_SRC"
            die "Odoo 19.0 not found. Provide it in one of these ways, then run make again:
  - put an Odoo 19.0 Community tree (odoo-bin, odoo/, addons/, requirements.txt) at $ODOO_DEFAULT, or
  - set ODOO_SRC=/path/to/odoo-19.0 (e.g. make test ODOO_SRC=\$HOME/src/odoo), or
  - allow network access to $ODOO_GIT_URL so that this script can clone branch 19.0."
        fi
    fi
    repair_odoo_manifests
}

# --- Report font ----------------------------------------------------------------------------
# Odoo's report font, Lato, installed as system fonts from the TrueType files of Odoo's own web fonts: Debian's
# wkhtmltopdf (unpatched Qt) draws the text of a web font as vector paths, with four times the CPU of a system font,
# which it embeds (see LOCAL_FONT_FACES in receivable_dunning/models/ir_actions_report.py). Per user unless root.
ensure_report_fonts() {
    local source="$ODOO_SRC/addons/web/static/fonts/lato" target font missing=0
    if as_root; then target=/usr/local/share/fonts/odoo-lato; else target=${XDG_DATA_HOME:-$HOME/.local/share}/fonts/odoo-lato; fi
    for font in "$source"/*.ttf; do
        cmp -s "$font" "$target/$(basename "$font")" || missing=1
    done
    [ "$missing" = 0 ] && return 0
    log "installing Odoo's report font (Lato) as system fonts in $target"
    mkdir -p "$target"
    cp "$source"/*.ttf "$target/"
    if command -v fc-cache >/dev/null; then fc-cache "$target"; fi
}

# --- Python virtualenv ----------------------------------------------------------------------
# pip, without the machine's notes about local package indexes that hold nothing for a name.
pip_quiet() {
    "$PY" -m pip -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    return "${PIPESTATUS[0]}"
}

ensure_venv() {
    local stamp="$VENV/.rd-requirements" want
    want=$(cat "$ODOO_SRC/requirements.txt" "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-dev.txt" \
           | sha256sum | cut -d' ' -f1)
    if [ -x "$PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    mkdir -p "$STATE_DIR"
    [ -x "$PY" ] || { log "creating virtualenv $VENV"; python3 -m venv "$VENV"; }
    log "installing Python requirements (Odoo's, the module's, the tools')"
    # setuptools < 82 still ships pkg_resources, which gevent's websocket worker imports.
    pip_quiet install --upgrade pip 'setuptools<82' wheel
    pip_quiet install -r "$ODOO_SRC/requirements.txt" \
        -r "$REPO_ROOT/requirements.txt" -r "$REPO_ROOT/requirements-dev.txt"
    echo "$want" > "$stamp"
}

# --- Node tools (pre-commit) -----------------------------------------------------------------
# prettier and its XML plugin, the versions OCA's addon template pins for 18.0 and later, in a prefix of their own
# outside the repository; scripts/hook.sh runs them for .pre-commit-config.yaml.
PRETTIER_VERSION=3.3.3
PRETTIER_XML_VERSION=3.4.1
NODE_DIR=$STATE_DIR/node

ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    if as_root && command -v apt-get >/dev/null; then
        log "installing Debian packages: nodejs npm"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    else
        die "node and npm are missing (install them with: sudo apt-get install nodejs npm)"
    fi
}

ensure_prettier() {
    local want="prettier@$PRETTIER_VERSION @prettier/plugin-xml@$PRETTIER_XML_VERSION"
    if [ -x "$NODE_DIR/node_modules/.bin/prettier" ] && [ "$(cat "$NODE_DIR/.rd-packages" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    ensure_node
    log "installing $want into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    # shellcheck disable=SC2086  # two package specs
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error $want >/dev/null
    echo "$want" > "$NODE_DIR/.rd-packages"
}

# --- PostgreSQL -----------------------------------------------------------------------------
# Uses the server named by PGHOST/PGPORT when set; otherwise a private cluster of the machine's
# PostgreSQL 15 binaries with its own data directory, socket and port.
pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
    done
    die "PostgreSQL server binaries not found (install Debian's postgresql-15)."
}

as_pg_owner() {
    if as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_postgres() {
    if [ -n "${PGHOST:-}" ] || [ -n "${PGPORT:-}" ]; then
        DB_HOST=${PGHOST:-localhost}; DB_PORT=${PGPORT:-5432}
        log "using PostgreSQL at $DB_HOST:$DB_PORT as $DB_USER"
        return 0
    fi
    local bin; bin=$(pg_bin)
    DB_HOST=$PG_SOCKET_DIR; DB_PORT=$PG_PORT_PRIVATE
    mkdir -p "$STATE_DIR"
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "initialising private PostgreSQL cluster in $PG_DATA"
        mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
        as_root && chown postgres: "$PG_DATA" "$PG_SOCKET_DIR"
        as_pg_owner "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "starting PostgreSQL on socket $PG_SOCKET_DIR port $DB_PORT"
        mkdir -p "$PG_SOCKET_DIR"; as_root && chown postgres: "$PG_SOCKET_DIR"
        as_pg_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w start \
            -o "-p $DB_PORT -k $PG_SOCKET_DIR -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
    fi
    # Odoo refuses to connect as `postgres`: give it its own superuser role.
    psql -h "$DB_HOST" -p "$DB_PORT" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'" | grep -q 1 \
    || psql -h "$DB_HOST" -p "$DB_PORT" -U postgres -d postgres -q -c "CREATE ROLE \"$DB_USER\" LOGIN SUPERUSER"
}

# --- Odoo command line ----------------------------------------------------------------------
addons_path() { echo "$ODOO_SRC/addons,$ODOO_SRC/odoo/addons,$REPO_ROOT"; }

odoo_bin() {
    "$PY" "$ODOO_SRC/odoo-bin" "$@" --addons-path="$(addons_path)" --http-interface=127.0.0.1 \
        --db_host="$DB_HOST" --db_port="$DB_PORT" --db_user="$DB_USER" ${PGPASSWORD:+--db_password="$PGPASSWORD"}
}

setup_all() {
    ensure_system_packages
    ensure_odoo
    ensure_report_fonts
    ensure_venv
    ensure_postgres
}
