// An example of the fleet's drop-ins as the ConfigMap that enforcer.jsonnet mounts at
// /etc/enforcer/enforcer.d (deploy/k8s/render writes configmap-example.yaml from this file). The
// files themselves are in enforcer.d/ beside it, so that they stay TOML to read and to check.
//
// Its name is fixed: the kubelet updates a ConfigMap in place and the daemon follows the change
// without a restart. A name that changes with the contents (M-Lab's configmap.jsonnet) would
// roll the DaemonSet at every change, and each stop is a moment without enforcement.
function(name='enforcer-config', namespace='default')
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name, namespace: namespace },
    data: {
      '10-fleet.toml': importstr 'enforcer.d/10-fleet.toml',
      '20-lga03.toml': importstr 'enforcer.d/20-lga03.toml',
    },
  }
