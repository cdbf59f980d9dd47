// enforcerd on every physical M-Lab machine, as a DaemonSet (node-exporter's pattern: host
// network, host PIDs, metrics on 127.0.0.1 behind kube-rbac-proxy). deploy/k8s/render writes
// enforcer.yaml from this file; docs/operations.md (Kubernetes) says what each part is for.
//
// The daemon works on the node's own paths, and its configuration names them, so each host
// path is mounted at the same path in the container, and only those the configuration needs
// (tests/unit/check_k8s_manifests.sh holds the two together).
function(
  image,  // enforcer:<version>, from scripts/build-image
  proxyImage='quay.io/brancz/kube-rbac-proxy:v0.15.0',
  namespace='default',
  configMap='enforcer-config',
  // true: a privileged container, with /sys/fs/bpf mounted Bidirectional (Kubernetes allows
  // that propagation to privileged containers only), for nodes where no BPF filesystem is
  // mounted at boot: the one the daemon then mounts must reach the host to outlive the pod.
  privileged=false,
  // The [[device]] paths of the configuration (io.max takes their major:minor): a container
  // sees none of the node's disks unless they are mounted.
  devices=[],
)
  local name = 'enforcer';
  local configDir = '/etc/enforcer/enforcer.d';
  // The port of daemon.metrics_listen in the image's config/enforcer.toml (127.0.0.1:9724).
  local metricsPort = 9724;

  local hostDir(volume, path, type, mount={}) = {
    volume: { name: volume, hostPath: { path: path, type: type } },
    mount: { name: volume, mountPath: path } + mount,
  };
  local dirs = [
    // bpf_pin_dir's file system. The pins are made on the host's BPF file system, so they
    // outlive the pod (a daemon that crashed is adopted by the next one) whatever the
    // propagation; HostToContainer still shows a file system mounted there later.
    hostDir('bpffs',
            '/sys/fs/bpf',
            'Directory',
            { mountPropagation: if privileged then 'Bidirectional' else 'HostToContainer' }),
    // cgroup_root (found from /proc/self/mountinfo): the pods' limits, and the cgroups the
    // cgroup_skb programs attach to. The host's whole tree, not the pod's cgroup namespace.
    hostDir('cgroup', '/sys/fs/cgroup', 'Directory'),
    // The experiments' data_dir file system (XFS with prjquota): project ids and quotas.
    hostDir('data', '/cache/data', 'Directory'),
    // `@` values of the drop-ins (ndt's iface-max-rate), written by the node's own services.
    hostDir('metadata', '/var/local/metadata', 'Directory', { readOnly: true }),
    // state_dir: overrides, the window snapshot, the audit log, the lock against a second daemon.
    hostDir('state', '/var/lib/enforcer', 'DirectoryOrCreate'),
    // control_socket's directory: enforcerctl on the node reaches the daemon there.
    hostDir('run', '/run/enforcer', 'DirectoryOrCreate'),
  ] + [
    hostDir('device' + std.strReplace(path, '/', '-'), path, 'BlockDevice', { readOnly: true })
    for path in devices
  ];

  // What systemd/enforcerd.service grants (CapabilityBoundingSet), for the same reasons: BPF
  // programs and maps (BPF, PERFMON), tc and cgroup BPF (NET_ADMIN), setns into pods' network
  // namespaces and quotactl (SYS_ADMIN), other users' /proc/PID/ns (SYS_PTRACE: pause containers
  // and experiments run as other users), project ids on files it does not own (FOWNER), the
  // socket's group (CHOWN), cgroup and data files (DAC_OVERRIDE), map memory on older kernels
  // (IPC_LOCK, SYS_RESOURCE).
  local capabilities = [
    'BPF',
    'PERFMON',
    'NET_ADMIN',
    'SYS_ADMIN',
    'SYS_PTRACE',
    'FOWNER',
    'CHOWN',
    'DAC_OVERRIDE',
    'IPC_LOCK',
    'SYS_RESOURCE',
  ];
  local securityContext =
    { runAsUser: 0, readOnlyRootFilesystem: true } +
    if privileged then { privileged: true } else {
      capabilities: { add: capabilities, drop: ['ALL'] },
      // The runtime's AppArmor profile forbids writes below /sys/fs/bpf (the pins) and reading
      // other processes' namespaces; its seccomp profile differs between runtime versions in the
      // syscalls it lets through (quotactl_fd, taken where the container has no node for the
      // data disk). The capabilities above are what bounds the daemon.
      appArmorProfile: { type: 'Unconfined' },
      seccompProfile: { type: 'Unconfined' },
    };

  {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: name, namespace: namespace },
    spec: {
      selector: { matchLabels: { workload: name } },
      // One machine at a time. The old pod's stop leaves its datapath enforcing every experiment's
      // allocation (daemon.on_stop = "hold"), and the new pod adopts it.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: {
          labels: { workload: name },
          annotations: {
            'prometheus.io/scrape': 'true',
            // Served by kube-rbac-proxy: M-Lab's Prometheus scrapes https pods with its token.
            'prometheus.io/scheme': 'https',
            'prometheus.io/port': std.toString(metricsPort),
          },
        },
        spec: {
          // The uplinks' tc hooks and the host-network experiments live in the host's network
          // namespace; the pods' processes (cgroup.procs, /proc/PID/ns/net) in its PID namespace,
          // which makes the container's own /proc the host's for every path the daemon reads.
          hostNetwork: true,
          hostPID: true,
          nodeSelector: { 'mlab/type': 'physical' },
          // Enforcement goes on while a machine is in lame-duck mode.
          tolerations: [{ key: 'lame-duck', operator: 'Exists', effect: 'NoSchedule' }],
          serviceAccountName: 'kube-rbac-proxy',
          // A stop (SIGTERM) finishes the tick under way and writes windows.snapshot: well under a
          // second. The margin covers a slow disk's fsync.
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: name,
              image: image,
              args: ['--config', '/etc/enforcer/enforcer.toml', '--config-dir', configDir],
              securityContext: securityContext,
              // The systemd unit's watchdog: a daemon whose event loop stops answering on the
              // control socket is restarted (killed after the grace period, so the next one
              // adopts its pinned datapath and enforcement goes on).
              livenessProbe: {
                exec: { command: ['/usr/bin/enforcerctl', '--timeout', '10s', 'status'] },
                initialDelaySeconds: 30,
                periodSeconds: 30,
                timeoutSeconds: 15,
                failureThreshold: 3,
              },
              resources: {
                // About 6 MiB with M-Lab's ten experiments (docs/performance.md); the limit is
                // the systemd unit's MemoryMax. No CPU limit: a throttled daemon ticks late.
                requests: { cpu: '50m', memory: '64Mi' },
                limits: { memory: '512Mi' },
              },
              volumeMounts: [d.mount for d in dirs] + [
                // The drop-ins; a ConfigMap update reaches the daemon in place (the kubelet
                // swaps `..data`), without a restart.
                { name: 'config', mountPath: configDir, readOnly: true },
              ],
            },
            {
              name: 'kube-rbac-proxy',
              image: proxyImage,
              args: [
                '--logtostderr',
                '--secure-listen-address=$(IP):' + metricsPort,
                '--upstream=http://127.0.0.1:' + metricsPort + '/',
              ],
              env: [{ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              ports: [{ containerPort: metricsPort }],
              securityContext: { capabilities: { drop: ['ALL'] } },
              resources: {
                requests: { cpu: '10m', memory: '20Mi' },
                limits: { cpu: '20m', memory: '40Mi' },
              },
            },
          ],
          volumes: [d.volume for d in dirs] + [
            { name: 'config', configMap: { name: configMap } },
          ],
        },
      },
    },
  }
