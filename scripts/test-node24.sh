#!/usr/bin/env bash
# Run a named part of the test suite on Node 24 — by default the "node24 set": test/conformance (every store
# driver, SQLite and PostgreSQL), test/cli (the compiled CLI) and test/server (the HTTP server). Other test
# paths or vitest arguments may be given instead: scripts/test-node24.sh test/engine -t lease
#
# Nothing of the Node 20 set-up changes: Node 24 comes from the npm registry's `node` package (binary and
# headers) into a cache folder, better-sqlite3 is compiled for it there (node-gyp with --nodedir at the
# package's headers: nodejs.org is not needed), and the suite runs in a copy of the repository whose
# node_modules links every package of this checkout's node_modules except better-sqlite3, which is the Node 24
# build. Its own TMPDIR keeps the compiled-CLI builds (test/cli/spawn.ts) apart from the Node 20 runs'.
#
# Environment: SPOOL_NODE24_CACHE (default ~/.cache/spool-node24), SPOOL_NODE24_SPEC (default node@24),
# TEST_DATABASE_URL as for `npm test`. The first run downloads Node (~30 MB) and compiles better-sqlite3
# (a few minutes on two cores); later runs reuse both.
#
# Known (2026-12, Node v24.21.0): with better-sqlite3 12.x, processes that use SQLite abort at a later GC with
# "Assertion failed: (env) != nullptr" in Statement::~Statement (Node 24.19+ ObjectWrap cleanup hooks;
# better-sqlite3 13.x, which needs Node >= 22, no longer derives from ObjectWrap). CLI and server tests that
# spawn processes fail on Node 24 until the dependency moves; pin SPOOL_NODE24_SPEC=node@24.18 to compare.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPOOL_NODE24_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spool-node24}
SPEC=${SPOOL_NODE24_SPEC:-node@24}
if [ "$#" -gt 0 ]; then SUITE=("$@"); else SUITE=(test/conformance test/cli test/server); fi
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
NODEDIR=$(dirname "$(dirname "$(dirname "$(find "$NODE_PREFIX/node_modules" -path '*/include/node/node.h' -print -quit)")")")
[ -f "$NODEDIR/include/node/common.gypi" ] || { log "no Node headers (include/node/common.gypi) in the $SPEC package"; exit 1; }
ABI=$("$NODE24" -p process.versions.modules)

# 2. better-sqlite3 (this checkout's version) compiled for Node 24's ABI, once.
BS_SRC=$(cd "$ROOT/node_modules/better-sqlite3" && pwd -P)
BS_VERSION=$("$NODE24" -p "require('$BS_SRC/package.json').version")
BS_BUILT="$CACHE/better-sqlite3-$BS_VERSION-abi$ABI"
if ! [ -f "$BS_BUILT/build/Release/better_sqlite3.node" ]; then
  NODE_GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
  [ -f "$NODE_GYP" ] || { log "node-gyp not found at $NODE_GYP"; exit 1; }
  log "compiling better-sqlite3 $BS_VERSION for $NODE_VERSION (ABI $ABI) with headers from $NODEDIR"
  rm -rf "$BS_BUILT.tmp"
  cp -R "$BS_SRC" "$BS_BUILT.tmp"
  rm -rf "$BS_BUILT.tmp/build"
  (cd "$BS_BUILT.tmp" && PATH="$(dirname "$NODE24"):$PATH" "$NODE24" "$NODE_GYP" rebuild --release --nodedir="$NODEDIR" --jobs="$(nproc 2>/dev/null || echo 2)" >&2)
  rm -rf "$BS_BUILT.tmp/build/Release/obj.target" "$BS_BUILT.tmp/build/Release/.deps"
  rm -rf "$BS_BUILT"
  mv "$BS_BUILT.tmp" "$BS_BUILT"
fi

# 3. A copy of the repository (tracked and new files, as they are in the working tree) with its own node_modules.
TREE="$CACHE/tree"
rm -rf "$TREE"
mkdir -p "$TREE/node_modules"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$TREE" -xf -
MODULES=$(cd "$ROOT/node_modules" && pwd -P)
for entry in "$MODULES"/* "$MODULES"/.bin; do
  name=$(basename "$entry")
  [ "$name" = better-sqlite3 ] && continue
  ln -s "$entry" "$TREE/node_modules/$name"
done
cp -R "$BS_BUILT" "$TREE/node_modules/better-sqlite3" # a real directory: its require('bindings') resolves in $TREE/node_modules
"$NODE24" -e "new (require('$TREE/node_modules/better-sqlite3'))(':memory:').prepare('select 1').get()" \
  || { log "the Node 24 build of better-sqlite3 does not load"; exit 1; }

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
