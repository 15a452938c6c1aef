#!/usr/bin/env bash
# `make wheel-check`: the add-on installs from its wheel, as OCA's addons do.
#
# 1. builds odoo_addon_receivable_dunning-19.0.*-py3-none-any.whl with whool (pyproject.toml of the add-on);
# 2. creates a fresh virtualenv ($RD_STATE_DIR/wheel-check/venv, outside the repository) with Odoo 19 in it:
#    Odoo's requirements.txt, then Odoo itself as an editable install of $ODOO_SRC, so that the installed `odoo`
#    distribution (19.0) satisfies the wheels' `odoo==19.0.*` requirement and nothing pulls `odoo` from an index;
# 3. installs our wheel and an OCA wheel of the same series (pinned in requirements-bench.txt) with their
#    dependencies, Odoo's pins as constraints;
# 4. installs both modules with that virtualenv's `odoo` into a throwaway database, with an addons path of Odoo's
#    own addons only (the wheels put theirs in the `odoo.addons` namespace), and checks that both are installed.
# Every run starts from scratch (virtualenv, database, filestore); pip's cache makes the second run faster.
source "$(dirname "$0")/lib.sh"

WC_DIR=$STATE_DIR/wheel-check
WC_VENV=$WC_DIR/venv
WC_PY=$WC_VENV/bin/python
WC_DIST=$WC_DIR/dist
WC_ODOO=$WC_DIR/odoo-src
WC_DATA=$WC_DIR/data
WC_LOG=$WC_DIR/odoo.log
WC_DB=${RD_WHEEL_CHECK_DB:-rd_wheel_check}
# The OCA peer installed next to ours: its pin in requirements-bench.txt, its module name.
OCA_DIST=odoo-addon-account-credit-control
OCA_MODULE=account_credit_control

step_start=$SECONDS
step() {
    log "[wheel-check +$((SECONDS - step_start))s] $*"
}

wc_pip() {
    "$WC_PY" -m pip -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    return "${PIPESTATUS[0]}"
}

psql_db() {
    psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -v ON_ERROR_STOP=1 -tAq "$@"
}

drop_db() {
    psql_db -d postgres -c "DROP DATABASE IF EXISTS \"$WC_DB\" WITH (FORCE)" >/dev/null
    rm -rf "$WC_DATA"
}

ensure_odoo
ensure_postgres
command -v git >/dev/null || die "git is needed: whool versions and lists the add-on's files with it"
git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1 || die "$REPO_ROOT is not a git checkout: whool needs one"
untracked=$(git -C "$REPO_ROOT" ls-files --others --exclude-standard -- receivable_dunning)
[ -z "$untracked" ] || log "not in the wheel (whool packages files under git control only; git add them): $untracked"
oca_pin=$(grep -E "^$OCA_DIST==" "$REPO_ROOT/requirements-bench.txt" || true)
[ -n "$oca_pin" ] || die "no pin of $OCA_DIST in requirements-bench.txt"

mkdir -p "$WC_DIR"
drop_db  # left over by an interrupted run
trap 'drop_db || true' EXIT

step "fresh virtualenv $WC_VENV"
rm -rf "$WC_VENV" "$WC_DIST"
python3 -m venv "$WC_VENV"
# setuptools < 82 still ships pkg_resources, which gevent's websocket worker imports (as in the dev virtualenv).
wc_pip install --upgrade pip 'setuptools<82' wheel

step "building the add-on's wheel (whool)"
wc_pip wheel --no-deps --wheel-dir "$WC_DIST" "$REPO_ROOT/receivable_dunning"
mapfile -t wheels < <(find "$WC_DIST" -name '*.whl')
[ ${#wheels[@]} -eq 1 ] || die "expected one wheel in $WC_DIST, found: ${wheels[*]:-none}"
wheel=${wheels[0]}
[[ $(basename "$wheel") =~ ^odoo_addon_receivable_dunning-19\.0\.[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?-py3-none-any\.whl$ ]] \
    || die "unexpected wheel name: $(basename "$wheel")"
requires=$("$WC_PY" - "$wheel" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(name).decode().splitlines():
        if line.startswith("Requires-Dist:"):
            print(line.split(":", 1)[1].strip())
EOF
)
log "$(basename "$wheel") requires: $(echo "$requires" | paste -sd, -)"
for req in 'odoo(==19\.0\.\*|>=19\.0a,<19\.1dev)' 'python-stdnum' 'phonenumbers'; do
    grep -Eqx "$req" <<<"$requires" || die "the wheel's dependencies lack $req"
done
! grep -q '^odoo-addon' <<<"$requires" || die "the wheel depends on other add-on wheels; Odoo core add-ons give none"

step "Odoo 19 into the virtualenv: requirements.txt, then $ODOO_SRC as an editable install"
# A directory of links to $ODOO_SRC: pip writes its build metadata here, not into the Odoo tree. A plain
# (non-editable) install of the tree has no MANIFEST.in to ship base's data files, so editable it is.
rm -rf "$WC_ODOO"
mkdir -p "$WC_ODOO/setup"
cp "$ODOO_SRC/setup.py" "$ODOO_SRC/setup.cfg" "$ODOO_SRC/requirements.txt" "$WC_ODOO/"
cp "$ODOO_SRC/setup/odoo" "$WC_ODOO/setup/"
ln -s "$ODOO_SRC/odoo" "$WC_ODOO/odoo"
wc_pip install -r "$ODOO_SRC/requirements.txt"
# compat mode: a .pth naming the tree, so that `odoo` stays one PEP 420 namespace with site-packages/odoo, where
# the wheels install. setuptools' deprecation notes about Odoo's setup.py go to a log, shown on failure.
if ! wc_pip install --no-build-isolation --config-settings editable_mode=compat \
        -c "$ODOO_SRC/requirements.txt" -e "$WC_ODOO" > "$WC_DIR/pip-odoo.log"; then
    cat "$WC_DIR/pip-odoo.log" >&2
    die "pip install -e $WC_ODOO failed"
fi
[ "$("$WC_PY" -c 'import importlib.metadata as m; print(m.version("odoo"))')" = 19.0 ] \
    || die "the virtualenv's odoo distribution is not 19.0"

step "installing $(basename "$wheel") and $oca_pin"
# `odoo==19.0` as a constraint: satisfied by the Odoo just installed; were it not, pip fails instead of
# fetching some other `odoo`. Odoo's pins stay as they are.
echo "odoo==19.0" > "$WC_DIR/constraints.txt"
wc_pip install -c "$WC_DIR/constraints.txt" -c "$ODOO_SRC/requirements.txt" "$wheel" "$oca_pin"
"$WC_PY" -m pip check >&2 || die "pip check: broken dependencies in $WC_VENV"
site=$("$WC_PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for module in receivable_dunning "$OCA_MODULE"; do
    origin=$(cd "$WC_DIR" && "$WC_PY" -c "import importlib.util as u; print(u.find_spec('odoo.addons.$module').origin)")
    [[ $origin == "$site/odoo/addons/$module/__init__.py" ]] \
        || die "odoo.addons.$module comes from $origin, not from the wheel in $site"
done

step "odoo -i receivable_dunning,$OCA_MODULE --stop-after-init on database $WC_DB (addons path: Odoo's only)"
rm -f "$WC_LOG"
# The virtualenv's `odoo` script, run from outside the repository; --addons-path names Odoo's own addons,
# odoo.addons' namespace adds the installed ones (base's, then those of the wheels).
if ! (cd "$WC_DIR" && "$WC_VENV/bin/odoo" -d "$WC_DB" -i "receivable_dunning,$OCA_MODULE" --stop-after-init \
        --addons-path="$ODOO_SRC/addons" --data-dir="$WC_DATA" --logfile="$WC_LOG" --log-level=info \
        --http-interface=127.0.0.1 --db_host="$DB_HOST" --db_port="$DB_PORT" --db_user="$DB_USER" \
        ${PGPASSWORD:+--db_password="$PGPASSWORD"}); then
    tail -n 40 "$WC_LOG" >&2 || true
    die "odoo -i failed; log: $WC_LOG"
fi
addons_line=$(grep -m1 "addons paths:" "$WC_LOG" || true)
[ -n "$addons_line" ] || die "no 'addons paths' line in $WC_LOG"
grep -qF "$site/odoo/addons" <<<"$addons_line" || die "the wheels' odoo/addons is not in the addons paths: $addons_line"
! grep -qF "$REPO_ROOT" <<<"$addons_line" || die "the repository is in the addons paths: $addons_line"
if grep -E "^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) " "$WC_LOG" >&2; then
    die "errors in the log of the installation ($WC_LOG)"
fi
installed=$(psql_db -d "$WC_DB" -c "SELECT name FROM ir_module_module
    WHERE name IN ('receivable_dunning', '$OCA_MODULE') AND state = 'installed' ORDER BY name" | paste -sd' ' -)
[ "$installed" = "$OCA_MODULE receivable_dunning" ] \
    || die "expected receivable_dunning and $OCA_MODULE installed, found: ${installed:-none} (log: $WC_LOG)"

step "done: receivable_dunning and $OCA_MODULE installed from wheels; database $WC_DB dropped"
