#!/usr/bin/env python3
"""The DaemonSet and ConfigMap of deploy/k8s against what the daemon needs (unit tier; run by
tests/unit/check_k8s_manifests.sh, which renders them and makes the effective configuration).

The paths come from the effective configuration that `enforcerd --check-config` printed for the
image's main file and the example ConfigMap's drop-ins, and the capabilities from the systemd
unit, so a new path or capability in either is a failure here until the manifest follows.
Prints every failure and exits 1 when there is one.
"""
import argparse
import difflib
import json
import posixpath
import re
import sys
import tomllib

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def stale_renders(source, rendered):
    """deploy/k8s/render's output now against the checked-in YAML, as data."""
    for name in ("enforcer.yaml", "configmap-example.yaml"):
        checked_in, fresh = read(f"{source}/deploy/k8s/{name}"), read(f"{rendered}/{name}")
        if yaml.safe_load(checked_in) != yaml.safe_load(fresh):
            diff = difflib.unified_diff(checked_in.splitlines(), fresh.splitlines(),
                                        f"deploy/k8s/{name}", "rendered now", lineterm="")
            print("\n".join(diff))
            failures.append(f"deploy/k8s/{name} is stale: run deploy/k8s/render")


def node_paths(effective_text):
    """The node's paths the daemon uses, {path: (what names it, whether it writes there)}."""
    eff = tomllib.loads(effective_text)
    daemon, network = eff["daemon"], eff["network"]
    paths = {
        daemon["state_dir"]: ("daemon.state_dir", True),
        posixpath.dirname(daemon["control_socket"]): ("daemon.control_socket", True),
        daemon["bpf_pin_dir"]: ("daemon.bpf_pin_dir", True),
        # Empty: the cgroup2 mount in the daemon's own mountinfo, /sys/fs/cgroup on a systemd
        # host; the pod sees the one the DaemonSet mounts there.
        daemon["cgroup_root"] or "/sys/fs/cgroup": ("daemon.cgroup_root", True),
        network["kernel_cmdline"]: ("network.kernel_cmdline", False),
    }
    for x in eff.get("experiment", []):
        if "data_dir" in x:
            paths[x["data_dir"]] = (f'experiment "{x["name"]}" data_dir', True)
    for d in eff.get("device", []):
        paths[d["path"]] = (f'device "{d["path"]}"', False)  # stat only: its major:minor
    for f in re.findall(r"^# value file: (.*)$", effective_text, re.M):
        paths[f] = ("an @ value", False)
    return eff, paths


def unit_capabilities(source):
    unit = read(f"{source}/systemd/enforcerd.service")
    line = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1)
    return sorted(c.removeprefix("CAP_") for c in line.split())


def check_daemonset(ds, label, want):
    """`want`: what the configuration, the unit and the ConfigMap say the pod needs."""
    check(ds.get("kind") == "DaemonSet", f"{label}: not a DaemonSet")
    tmpl = ds["spec"]["template"]
    pod = tmpl["spec"]
    check(pod.get("hostNetwork") is True,
          f"{label}: hostNetwork is not true (the uplinks' tc hooks)")
    check(pod.get("hostPID") is True,
          f"{label}: hostPID is not true (pods' /proc/PID/ns/net, and {want['proc_paths']})")
    strategy = ds["spec"].get("updateStrategy", {})
    check(strategy.get("type") == "RollingUpdate"
          and strategy.get("rollingUpdate", {}).get("maxUnavailable") == 1,
          f"{label}: updateStrategy is not RollingUpdate with maxUnavailable 1")
    # A clean stop takes well under a second; the kernel tier gives it 5 s before SIGKILL.
    check(pod.get("terminationGracePeriodSeconds", 30) >= 10,
          f"{label}: terminationGracePeriodSeconds below 10 s")

    containers = {c["name"]: c for c in pod["containers"]}
    daemon = [c for c in pod["containers"] if "--config" in c.get("args", [])]
    check(len(daemon) == 1, f"{label}: no single container runs enforcerd --config")
    if len(daemon) != 1:
        return
    daemon = daemon[0]
    args = daemon["args"]

    def arg(flag):
        i = args.index(flag) + 1 if flag in args else len(args)
        return args[i] if i < len(args) else None

    check(arg("--config") == want["main_config"],
          f"{label}: --config is {arg('--config')}, not {want['main_config']} "
          "(where the package installs it)")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = daemon.get("volumeMounts", [])
    config_mounts = [m for m in mounts if "configMap" in volumes.get(m["name"], {})]
    check(len(config_mounts) == 1, f"{label}: the drop-ins' ConfigMap is not mounted once")
    if config_mounts:
        m = config_mounts[0]
        check(m["mountPath"] == arg("--config-dir"),
              f"{label}: the ConfigMap is mounted at {m['mountPath']}, "
              f"--config-dir is {arg('--config-dir')}")
        check(m.get("readOnly") is True, f"{label}: the ConfigMap's mount is not read-only")
        name = volumes[m["name"]]["configMap"]["name"]
        check(name == want["configmap"],
              f"{label}: mounts ConfigMap {name}, not {want['configmap']}")

    probe = daemon.get("livenessProbe", {}).get("exec", {}).get("command", [])
    check(probe[:1] == [f"{want['bindir']}/enforcerctl"] and "status" in probe,
          f"{label}: no liveness probe asks the daemon for its status (the unit's watchdog)")

    # Host paths: each at its own path (the configuration names the node's paths), each one that
    # something in the configuration needs, and every such path mounted.
    host_mounts = []
    for m in mounts:
        v = volumes.get(m["name"], {})
        if "hostPath" not in v:
            continue
        host = v["hostPath"]["path"]
        host_mounts.append((host, m))
        check(m["mountPath"] == host, f"{label}: host path {host} is mounted at {m['mountPath']}")
        check(host.count("/") >= 2 and not host.startswith("/proc"),
              f"{label}: host path {host} is broader than any one the daemon uses")
    for c in pod["containers"]:
        if c is not daemon:
            extra = [m["mountPath"] for m in c.get("volumeMounts", [])
                     if "hostPath" in volumes.get(m["name"], {})]
            check(not extra, f"{label}: container {c['name']} mounts host paths {extra}")
    for path, (what, _) in want["paths"].items():
        if path.startswith("/proc/"):
            continue  # the container's own /proc, of the host's PID namespace (hostPID)
        check(any(under(path, host) for host, _ in host_mounts),
              f"{label}: the daemon uses {path} ({what}) but no host path is mounted there")
    for host, m in host_mounts:
        served = {p: w for p, w in want["paths"].items() if under(p, host)}
        check(served, f"{label}: mounts {host}, which nothing in the configuration names")
        writes = any(w for _, w in served.values())
        check(bool(m.get("readOnly")) != writes or not served,
              f"{label}: {host} is mounted {'read-only' if m.get('readOnly') else 'writable'}, "
              f"the daemon {'writes' if writes else 'only reads'} there")

    # The pins need the BPF file system itself at /sys/fs/bpf (the daemon mounts one there when
    # there is none); Kubernetes allows Bidirectional propagation to privileged containers only.
    sc = daemon.get("securityContext", {})
    privileged = sc.get("privileged") is True
    bpf = [m for host, m in host_mounts if under(want["bpf_pin_dir"], host)]
    check(bpf and bpf[0]["mountPath"] == "/sys/fs/bpf",
          f"{label}: bpf_pin_dir {want['bpf_pin_dir']} is not on a mount of /sys/fs/bpf")
    wanted_propagation = "Bidirectional" if privileged else "HostToContainer"
    check(bpf and bpf[0].get("mountPropagation") == wanted_propagation,
          f"{label}: /sys/fs/bpf's mountPropagation is not {wanted_propagation}")
    if privileged:
        check("capabilities" not in sc, f"{label}: capabilities beside privileged say nothing")
    else:
        caps = sc.get("capabilities", {})
        check(sorted(caps.get("add", [])) == want["capabilities"],
              f"{label}: capabilities {sorted(caps.get('add', []))}, "
              f"not the unit's {want['capabilities']}")
        check(caps.get("drop") == ["ALL"], f"{label}: the other capabilities are not dropped")
        check(all(m.get("mountPropagation") != "Bidirectional" for m in mounts),
              f"{label}: Bidirectional propagation without privileged")

    # Metrics: on loopback in the host's network namespace, so a proxy on the node's address
    # serves them (M-Lab's Prometheus scrapes https pods with its token).
    host, port = want["metrics_listen"].rsplit(":", 1)
    annotations = tmpl["metadata"].get("annotations", {})
    check(annotations.get("prometheus.io/scrape") == "true", f"{label}: no prometheus.io/scrape")
    check(annotations.get("prometheus.io/port") == port,
          f"{label}: prometheus.io/port is not {port}")
    check(host == "127.0.0.1",
          f"{label}: metrics_listen {want['metrics_listen']} is not on loopback")
    proxies = [c for c in containers.values()
               if f"--upstream=http://{want['metrics_listen']}/" in c.get("args", [])]
    check(len(proxies) == 1 and {"containerPort": int(port)} in proxies[0].get("ports", []),
          f"{label}: no container serves {want['metrics_listen']} on the pod's port {port}")
    check(annotations.get("prometheus.io/scheme") == "https",
          f"{label}: prometheus.io/scheme is not https")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", required=True)
    p.add_argument("--rendered", required=True)
    p.add_argument("--effective", required=True)
    p.add_argument("--privileged", required=True)
    a = p.parse_args()

    stale_renders(a.source, a.rendered)
    effective_text = read(a.effective)
    eff, paths = node_paths(effective_text)
    configmap = yaml.safe_load(read(f"{a.source}/deploy/k8s/configmap-example.yaml"))
    check(configmap.get("kind") == "ConfigMap", "configmap-example.yaml: not a ConfigMap")
    for name in configmap["data"]:
        check(re.fullmatch(r"[0-9]{2}-[a-z0-9.-]+\.toml", name),
              f"configmap-example.yaml: {name} is not named NN-name.toml "
              "(drop-ins apply in lexical order)")
        check(f"# read: /etc/enforcer/enforcer.d/{name}" in effective_text,
              f"configmap-example.yaml: {name} was not read (not on a machine of lga03?)")
    packaging = read(f"{a.source}/cmake/packaging.cmake")
    config_dir = re.search(r'set\(ENFORCER_CONFIG_DIR "([^"]+)"', packaging).group(1)
    want = {
        "paths": paths,
        "proc_paths": ", ".join(p for p in paths if p.startswith("/proc/")),
        "bpf_pin_dir": eff["daemon"]["bpf_pin_dir"],
        "metrics_listen": eff["daemon"]["metrics_listen"],
        "main_config": f"{config_dir}/enforcer.toml",
        "bindir": re.search(r"set\(CPACK_PACKAGING_INSTALL_PREFIX ([^)]+)\)", packaging).group(1)
        + "/bin",
        "configmap": configmap["metadata"]["name"],
        "capabilities": unit_capabilities(a.source),
    }
    daemonset = yaml.safe_load(read(f"{a.source}/deploy/k8s/enforcer.yaml"))
    cmake = read(f"{a.source}/CMakeLists.txt")
    version = re.search(r"project\(enforcer VERSION ([0-9.]+)", cmake).group(1)
    images = [c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]]
    check(f"enforcer:{version}" in images, f"enforcer.yaml: no container runs enforcer:{version}")
    check_daemonset(daemonset, "enforcer.yaml", want)
    with open(a.privileged, encoding="utf-8") as f:
        check_daemonset(json.load(f), "enforcer.jsonnet with privileged=true", want)

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if failures:
        return 1
    print(f"ok: deploy/k8s is rendered, its ConfigMap passes --check-config, and the DaemonSet "
          f"mounts {len(paths)} configured paths' host paths with the unit's capabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
