#!/usr/bin/env bash
# Run a named part of the test suite on Node 24 — by default the "Node 24 set" (NODE24_SET below: store
# conformance on SQLite and PostgreSQL, the storage tests, the CLI, the server's core files). Other test paths
# or vitest arguments may be given instead: scripts/test-node24.sh test/engine -t lease
#
# Nothing of the Node 20 set-up changes: Node 24 comes from the npm registry's `node` package into a cache
# folder, with the SQLite driver it loads — better-sqlite3 13 under the optional alias `better-sqlite3-napi`
# (Node-API, prebuilt in the package; see src/storage/sqlite/driver.ts for why Node >= 22 does not load 12.x)
# — and the suite runs in a copy of the repository whose node_modules links this checkout's packages plus that
# one. Its own TMPDIR keeps the compiled-CLI builds (test/cli/spawn.ts) apart from the Node 20 runs'.
#
# Environment: SPOOL_NODE24_CACHE (default ~/.cache/spool-node24), SPOOL_NODE24_SPEC (default node@24),
# TEST_DATABASE_URL as for `npm test`. The first run downloads Node (~30 MB) and the driver; later runs reuse
# both.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPOOL_NODE24_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spool-node24}
SPEC=${SPOOL_NODE24_SPEC:-node@24}
# The Node 24 set: the store conformance suite on both stores, the storage tests (which driver loads), the CLI,
# and the server's process-level and core API files (a real `spool serve`, HTTP enqueue/status, queues, leases,
# body limits, shutdown). Kept to about four minutes on two cores so CI stays short; any path can be given.
NODE24_SET=(test/conformance/ test/storage/ test/cli/
  test/server/serve.test.ts test/server/serve-http.test.ts test/server/npm-start.test.ts test/server/jobs-api.test.ts
  test/server/queues-api.test.ts test/server/leases.test.ts test/server/body-limit.test.ts test/server/close.test.ts)
if [ "$#" -gt 0 ]; then SUITE=("$@"); else SUITE=("${NODE24_SET[@]}"); fi
log() { echo "test-node24: $*" >&2; }
started=$(date +%s)
mkdir -p "$CACHE"

# 1. Node 24 from the npm registry (the `node` package installs node-<platform>-<arch> with bin/ and include/).
NODE_PREFIX="$CACHE/node"
NODE24="$NODE_PREFIX/node_modules/node/bin/node"
if ! [ -x "$NODE24" ] || ! "$NODE24" -v | grep -q '^v24\.'; then
  log "installing $SPEC into $NODE_PREFIX"
  rm -rf "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-save --loglevel=error "$SPEC" >&2
fi
NODE_VERSION=$("$NODE24" -v)
case "$NODE_VERSION" in v24.*) ;; *) log "expected Node 24, got $NODE_VERSION from $SPEC"; exit 1 ;; esac

# 2. The SQLite driver Node 24 loads: better-sqlite3 13 (Node-API, prebuilt binaries inside the package), the
#    optional dependency `better-sqlite3-napi` (src/storage/sqlite/driver.ts). npm on Node 20 skips it (its
#    engines say Node >= 22), so it is installed here with Node 24 running npm, at the version the lock names.
NAPI_VERSION=$("$NODE24" -p "require('$ROOT/package-lock.json').packages['node_modules/better-sqlite3-napi'].version")
NAPI_PREFIX="$CACHE/napi-$NAPI_VERSION"
if ! [ -f "$NAPI_PREFIX/node_modules/better-sqlite3-napi/package.json" ]; then
  log "installing better-sqlite3-napi (better-sqlite3 $NAPI_VERSION) for $NODE_VERSION"
  rm -rf "$NAPI_PREFIX"
  PATH="$(dirname "$NODE24"):$PATH" npm install --prefix "$NAPI_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
    "better-sqlite3-napi@npm:better-sqlite3@$NAPI_VERSION" >&2
fi

# 3. A copy of the repository (tracked and new files, as they are in the working tree) with its own node_modules.
TREE="$CACHE/tree"
rm -rf "$TREE"
mkdir -p "$TREE/node_modules"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$TREE" -xf -
MODULES=$(cd "$ROOT/node_modules" && pwd -P)
for entry in "$MODULES"/* "$MODULES"/.bin; do
  ln -s "$entry" "$TREE/node_modules/$(basename "$entry")"
done
for entry in "$NAPI_PREFIX"/node_modules/*; do
  name=$(basename "$entry")
  [ -e "$TREE/node_modules/$name" ] || ln -s "$entry" "$TREE/node_modules/$name"
done
(cd "$TREE" && "$NODE24" -e "new (require('better-sqlite3-napi'))(':memory:').prepare('select 1').get()") \
  || { log "better-sqlite3-napi does not load on $NODE_VERSION"; exit 1; }

# 4. The suite, with Node 24 first on PATH (children that run `node` or `npx` get it too) and a private TMPDIR.
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/spool-node24-XXXXXX")
chmod 1777 "$RUN_TMP" # as /tmp: private PostgreSQL clusters run as the postgres user
trap 'rm -rf "$RUN_TMP"' EXIT
log "running ${SUITE[*]} on $NODE_VERSION (set-up took $(($(date +%s) - started)) s)"
set +e
(cd "$TREE" && PATH="$(dirname "$NODE24"):$PATH" TMPDIR="$RUN_TMP" "$NODE24" node_modules/vitest/vitest.mjs run "${SUITE[@]}")
status=$?
set -e
log "$NODE_VERSION: ${SUITE[*]} exited $status after $(($(date +%s) - started)) s"
exit $status
