#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deploy/'s manifests against the binary they run (issue 21).

kubectl cannot reach a cluster here, so this checks what can go wrong
without one: every document parses and is the kind it should be; the RBAC
rules let the service account get pods and namespaces; every flag the
DaemonSet and its preStop hook pass is one `meshcap-cni install --help`
lists; the mounts they name exist; the ConfigMap's plugin configuration is
one the plugin accepts, with the kubeconfig where the installer writes it.
Then it runs the DaemonSet's own command line (without --watch) and its
preStop hook against scratch directories standing in for the host's, with a
flannel configuration, and checks the entry goes in and comes out.

Usage: manifests_test.py --plugin PATH [--manifest deploy/meshcap-cni.yaml]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

FLANNEL = {
    "name": "cbr0",
    "cniVersion": "0.3.1",
    "plugins": [
        {"type": "flannel",
         "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def flag_names(args):
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--manifest", default=os.path.join(
        here, "..", "..", "deploy", "meshcap-cni.yaml"))
    opts = ap.parse_args()

    with open(opts.manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    by_kind = {}
    for d in docs:
        check(isinstance(d, dict) and "apiVersion" in d and "kind" in d
              and "name" in d.get("metadata", {}),
              "a document with apiVersion, kind and metadata.name")
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                 "ConfigMap", "DaemonSet"):
        check(len(by_kind.get(kind, [])) == 1, "one " + kind)
    sa = by_kind["ServiceAccount"][0]
    role = by_kind["ClusterRole"][0]
    binding = by_kind["ClusterRoleBinding"][0]
    cm = by_kind["ConfigMap"][0]
    ds = by_kind["DaemonSet"][0]

    granted = set()
    for rule in role.get("rules", []):
        if "" in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                for v in rule.get("verbs", []):
                    granted.add((r, v))
    check(("pods", "get") in granted, "the role may get pods")
    check(("namespaces", "get") in granted, "the role may get namespaces")
    check(binding["roleRef"]["name"] == role["metadata"]["name"]
          and binding["roleRef"]["kind"] == "ClusterRole",
          "the binding names the role")
    check({"kind": "ServiceAccount", "name": sa["metadata"]["name"],
           "namespace": sa["metadata"]["namespace"]} in binding["subjects"],
          "the binding names the service account")

    spec = ds["spec"]["template"]["spec"]
    check(spec.get("serviceAccountName") == sa["metadata"]["name"],
          "the DaemonSet runs as the service account")
    check(ds["spec"]["selector"]["matchLabels"].items()
          <= ds["spec"]["template"]["metadata"]["labels"].items(),
          "the selector matches the pod template")
    (container,) = spec["containers"]
    command = container["command"] + container["args"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    check(command[1] == "install" and "--watch" in command,
          "the container runs install --watch")
    check(pre_stop[0] == command[0] and pre_stop[1] == "uninstall",
          "preStop runs uninstall")

    help_text = subprocess.run([opts.plugin, "install", "--help"],
                               capture_output=True, text=True)
    check(help_text.returncode == 0, "install --help exits 0")
    for flag in flag_names(command[2:]) + flag_names(pre_stop[2:]):
        check(flag in help_text.stdout, "the binary has " + flag)

    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path, name in mounts.items():
        check(name in volumes, "the mount %s has a volume" % path)

    def flag(args, name):
        for a in args:
            if a.startswith(name + "="):
                return a.split("=", 1)[1]
        return None

    for name in ("--cni-conf-dir", "--cni-bin-dir", "--cni-agent-run-dir"):
        check(flag(command, name) in mounts,
              "%s is a mounted host directory" % name)
        check(flag(pre_stop, name) == flag(command, name),
              "preStop's %s is install's" % name)
    config_file = flag(command, "--plugin-config")
    check(os.path.dirname(config_file) in mounts
          and volumes[mounts[os.path.dirname(config_file)]].get(
              "configMap", {}).get("name") == cm["metadata"]["name"],
          "--plugin-config is the ConfigMap's")
    plugin_config = json.loads(cm["data"][os.path.basename(config_file)])
    check(plugin_config.get("cni_agent_run_dir")
          == flag(command, "--cni-agent-run-dir"),
          "the plugin reads the kubeconfig where the installer writes it")

    # The DaemonSet's command line, for real, on stand-ins for the host.
    scratch = tempfile.mkdtemp(prefix="meshcap-deploy-")
    try:
        mapping = {}
        for path in mounts:
            mapping[path] = os.path.join(scratch, path.strip("/").replace(
                "/", "_"))
            os.makedirs(mapping[path])
        conf_dir = mapping[flag(command, "--cni-conf-dir")]
        with open(os.path.join(conf_dir, "10-flannel.conflist"), "w") as f:
            json.dump(FLANNEL, f, indent=2)
        with open(os.path.join(mapping[os.path.dirname(config_file)],
                               os.path.basename(config_file)), "w") as f:
            f.write(cm["data"][os.path.basename(config_file)])
        sa_dir = os.path.join(scratch, "sa")
        os.makedirs(sa_dir)
        with open(os.path.join(sa_dir, "token"), "w") as f:
            f.write("eyJhbGciOiJSUzI1NiJ9.e30.sig")
        with open(os.path.join(sa_dir, "ca.crt"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nMIIB\n"
                    "-----END CERTIFICATE-----\n")

        def localize(args):
            out = []
            for a in args:
                # What only the long-running form takes.
                if a == "--watch" or a.startswith("--metrics-address="):
                    continue
                if a.startswith("--service-account-dir="):
                    a = "--service-account-dir=" + sa_dir
                elif a.startswith("--plugin-config="):
                    a = "--plugin-config=" + os.path.join(
                        mapping[os.path.dirname(config_file)],
                        os.path.basename(config_file))
                elif a.startswith("--") and "=" in a:
                    name, value = a.split("=", 1)
                    a = name + "=" + mapping.get(value, value)
                out.append(a)
            return out

        # The plugin checks that cni_agent_run_dir is absolute; the
        # scratch one is, the manifest's path is kept in the entry.
        env = dict(os.environ, KUBERNETES_SERVICE_HOST="10.96.0.1",
                   KUBERNETES_SERVICE_PORT="443")
        run = subprocess.run([opts.plugin] + localize(command[1:]),
                             capture_output=True, text=True, env=env)
        check(run.returncode == 0, "the DaemonSet's install runs: " +
              run.stderr.strip().replace("\n", " | "))
        with open(os.path.join(conf_dir, "10-flannel.conflist")) as f:
            installed = json.load(f)
        ours = installed["plugins"][-1]
        check(ours.get("type") == "meshcap-cni", "our entry is last")
        check(all(ours.get(k) == v for k, v in plugin_config.items()),
              "our entry carries the ConfigMap's keys")
        check(installed["plugins"][:-1] == FLANNEL["plugins"],
              "flannel's plugins are kept")
        run_dir = mapping[flag(command, "--cni-agent-run-dir")]
        check(os.path.exists(os.path.join(run_dir, "istio-cni-kubeconfig")),
              "the kubeconfig is written")
        bin_dir = mapping[flag(command, "--cni-bin-dir")]
        check(os.access(os.path.join(bin_dir, "meshcap-cni"), os.X_OK),
              "the binary is installed")
        run = subprocess.run([opts.plugin] + localize(pre_stop[1:]),
                             capture_output=True, text=True, env=env)
        check(run.returncode == 0, "the preStop hook runs: " +
              run.stderr.strip().replace("\n", " | "))
        with open(os.path.join(conf_dir, "10-flannel.conflist")) as f:
            check(json.load(f) == FLANNEL, "uninstall leaves flannel's")
        check(not os.path.exists(os.path.join(bin_dir, "meshcap-cni")),
              "uninstall removes the binary")
    finally:
        shutil.rmtree(scratch)

    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
