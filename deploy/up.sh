#!/usr/bin/env bash
# Quick start: install what is missing, build, and run `natrium up` (the one-machine stack:
# NATS with JetStream, master, job cache on embedded PGlite, three minions), which pings the
# minions and keeps the stack running until Ctrl-C. Extra arguments go to `natrium up`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "natrium: Node.js 20 or newer is required (https://nodejs.org or your OS packages)" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "natrium: installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/cli/commands/up.js ] || [ -n "$(find contracts services cli -name '*.ts' -newer dist/cli/commands/up.js -print -quit)" ]; then
  echo "natrium: building (npm run build)…"
  npm run build --silent
fi
if [ -z "${NATS_URL:-}" ] && ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "natrium: installing nats-server from the OS packages…"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server
fi
exec node bin/run.js up "$@"
