// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni's network configuration on arbitrary bytes, for every
// command: what a runtime, a conflist's author and (through Multus's args
// and the runtime's pod annotations) a pod's author hand the plugin.
// Besides not crashing: an error is one printable line once escaped and
// its JSON encodes; an accepted ADD's pod decision (podSelection istio, the
// runtime's annotations) never throws; DEL never refuses a configuration
// only for what its per-pod sections hold.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "src/cni/config.h"
#include "src/cni/pod_policy.h"
#include "src/cni/pod_source.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

using meshcap::cni::CniError;
using meshcap::cni::Command;

void CheckError(const CniError& e) {
  meshcap::fuzz::AbortUnlessPrintable(e.msg);
  if (e.ToJson("1.0.0").empty()) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)meshcap::cni::ConfigVersionOrNewest(text);
  for (Command c : {Command::kAdd, Command::kDel, Command::kCheck, Command::kGc,
                    Command::kStatus}) {
    std::string version;
    meshcap::cni::CniOr<meshcap::cni::PluginConfig> config =
        meshcap::cni::ParseConfig(text, c, &version);
    if (!config.ok()) {
      CheckError(config.error());
      continue;
    }
    if (c != Command::kAdd) continue;
    // The decision for a pod, from the runtime's annotations only (no
    // kubeconfig is read: a fuzzer must not reach files or the network).
    config->kubeconfig.clear();
    config->cni_agent_run_dir.clear();
    meshcap::cni::CniEnvironment env;
    env.command = c;
    env.container_id = "c1";
    env.ifname = "eth0";
    env.args["K8S_POD_NAMESPACE"] = "ns";
    env.args["K8S_POD_NAME"] = "pod";
    meshcap::cni::ClusterPodSource source(*config, env);
    meshcap::cni::CniOr<meshcap::cni::PodDecision> d = meshcap::cni::DecidePod(
        *config, env, &source,
        [](bool) { return meshcap::cni::CniOr<bool>(false); }, true);
    if (!d.ok()) {
      CheckError(d.error());
    } else if (d->policy.has_value()) {
      (void)d->policy->ToJson();
    }
  }
  return 0;
}
