// SPDX-License-Identifier: GPL-2.0-or-later
//
// A pod as the Kubernetes API returns it, on arbitrary bytes, through what
// istio-cni decides for it: the pod object, the injector's status
// annotation read alone (what a runtime hands over), which pods are left
// alone, and NewRedirect's policy. Besides not crashing: errors are one
// printable line, and a policy the mapping accepts either builds or is
// refused with a message, never with an exception.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "src/cni/istio.h"
#include "src/cni/pod.h"
#include "src/cni/pod_policy.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

class Source : public meshcap::cni::PodSource {
 public:
  explicit Source(meshcap::cni::PodInfo pod) : pod_(std::move(pod)) {}
  meshcap::cni::CniOr<meshcap::cni::PodInfo> Pod() override { return pod_; }
  meshcap::cni::CniOr<std::map<std::string, std::string>> NamespaceLabels()
      override {
    return pod_.labels;
  }
  const std::map<std::string, std::string>* RuntimeAnnotations()
      const override {
    return nullptr;
  }

 private:
  meshcap::cni::PodInfo pod_;
};

void CheckLine(const std::string& msg) {
  meshcap::fuzz::AbortUnlessPrintable(msg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The status annotation alone, as a runtime hands it over.
  meshcap::cni::PodInfo annotated = meshcap::cni::PodFromRuntimeAnnotations(
      "ns", "pod", {{"sidecar.istio.io/status", text}});
  (void)meshcap::cni::IstioLeavesAlone(annotated);

  absl::StatusOr<meshcap::cni::PodInfo> pod =
      meshcap::cni::PodFromApiJson(text);
  if (!pod.ok()) {
    CheckLine(std::string(pod.status().message()));
    return 0;
  }
  (void)meshcap::cni::IstioLeavesAlone(*pod);
  (void)meshcap::cni::IsAmbientPod(*pod, pod->labels, {{}});
  std::string version;
  meshcap::cni::CniOr<meshcap::cni::PluginConfig> config =
      meshcap::cni::ParseConfig(
          R"({"cniVersion":"1.0.0","name":"n","type":"meshcap-cni"})",
          meshcap::cni::Command::kAdd, &version);
  if (!config.ok()) abort();
  meshcap::cni::CniEnvironment env;
  env.args["K8S_POD_NAMESPACE"] = "ns";
  env.args["K8S_POD_NAME"] = "pod";
  Source source(*pod);
  meshcap::cni::CniOr<meshcap::cni::PodDecision> d = meshcap::cni::DecidePod(
      *config, env, &source,
      [](bool dual) { return meshcap::cni::CniOr<bool>(dual); }, true);
  if (!d.ok()) {
    CheckLine(d.error().msg);
  } else if (d->policy.has_value()) {
    (void)d->policy->ToJson();
  }
  return 0;
}
