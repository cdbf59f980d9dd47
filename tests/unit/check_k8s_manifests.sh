#!/usr/bin/env bash
# unit tier: the Kubernetes manifests of deploy/k8s. About 0.5 s (three jsonnet runs, one
# `enforcerd --check-config`, python).
#   check_k8s_manifests.sh ENFORCERD SOURCE_DIR
# - The jsonnet is as jsonnetfmt lays it out, and the checked-in YAML is what deploy/k8s/render
#   writes now (compared as data: only the contents matter to Kubernetes).
# - The example ConfigMap's drop-ins, as the DaemonSet's pod reads them (the image's main file
#   config/enforcer.toml, then the ConfigMap's files), pass `enforcerd --check-config` on a
#   machine of lga03, where every drop-in applies. The node files they name (the kernel command
#   line, ndt's iface-max-rate) are redirected to test files, and the printout is mapped back.
# - The DaemonSet has the properties the daemon needs (tests/unit/check_k8s_manifests.py), and
#   mounts exactly the host paths that printout names, with the capabilities of the systemd unit.
set -euo pipefail
enforcerd=$1
src=$(cd "$2" && pwd)
# Debian's python3 is the one scripts/install-deps gives python3-yaml to.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v jsonnet >/dev/null && command -v jsonnetfmt >/dev/null ||
  fail "jsonnet is not installed (scripts/install-deps)"
"$python" -c 'import yaml' 2>/dev/null || fail "$python has no yaml module (scripts/install-deps)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

jsonnetfmt --test "$src"/deploy/k8s/*.jsonnet ||
  fail "deploy/k8s/*.jsonnet are not as jsonnetfmt lays them out (jsonnetfmt -i FILE)"
"$src/deploy/k8s/render" "$work"
# The DaemonSet as a privileged container too (its `privileged` parameter), checked alike.
jsonnet -J "$src/deploy/k8s" --tla-str image=enforcer:test --tla-code privileged=true \
  "$src/deploy/k8s/enforcer.jsonnet" >"$work/enforcer-privileged.json"

# A node of lga03, in files: its kernel command line (epoxy.ipv4=, for `index`) and the
# metadata that max-rate.service writes.
node=$work/node
mkdir -p "$node/proc" "$node/var/local/metadata" "$work/enforcer.d"
echo "BOOT_IMAGE=/vmlinuz epoxy.ipv4=198.18.0.2/24,198.18.0.1,8.8.8.8,8.8.4.4" \
  "epoxy.ipv6=2001:db8::2/64,2001:db8::1,2001:4860:4860::8888,2001:4860:4860::8844" \
  >"$node/proc/cmdline"
echo 10000000000 >"$node/var/local/metadata/iface-max-rate"
sed -e "s|\"/proc/cmdline\"|\"$node/proc/cmdline\"|" \
  -e '/^\[daemon\]/a hostname = "mlab2-lga03.mlab-oti.measurement-lab.org"' \
  "$src/config/enforcer.toml" >"$work/enforcer.toml"
"$python" - "$work/configmap-example.yaml" "$work/enforcer.d" "$node" <<'EOF'
import sys, yaml
configmap, out, node = sys.argv[1:]
for name, text in yaml.safe_load(open(configmap))["data"].items():
    open(f"{out}/{name}", "w").write(text.replace('"@/', f'"@{node}/'))
EOF
if ! "$enforcerd" --check-config --config "$work/enforcer.toml" --config-dir "$work/enforcer.d" \
  >"$work/check-config.out" 2>&1; then
  cat "$work/check-config.out"
  fail "the example ConfigMap's drop-ins (deploy/k8s/enforcer.d) do not pass --check-config"
fi
# The printout as the node sees it: its own paths, and the files the pod reads.
sed -e "s|$node/|/|g" -e "s|$work/enforcer.toml|/etc/enforcer/enforcer.toml|g" \
  -e "s|$work/enforcer.d/|/etc/enforcer/enforcer.d/|g" \
  "$work/check-config.out" >"$work/effective.toml"

"$python" "$src/tests/unit/check_k8s_manifests.py" --source "$src" --rendered "$work" \
  --effective "$work/effective.toml" --privileged "$work/enforcer-privileged.json"
