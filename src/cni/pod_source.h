// SPDX-License-Identifier: GPL-2.0-or-later
// The pod's facts for DecidePod, from where a node has them: the
// Kubernetes API, when a kubeconfig is configured (as istio-cni reads it),
// else the annotations the runtime hands over
// (runtimeConfig["io.kubernetes.cri.pod-annotations"], containerd 1.5 and
// later, CRI-O). Each is read once, and only when asked for.

#ifndef MESHCAP_SRC_CNI_POD_SOURCE_H_
#define MESHCAP_SRC_CNI_POD_SOURCE_H_

#include <map>
#include <optional>
#include <string>

#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/cni/pod_policy.h"

namespace meshcap::cni {

class ClusterPodSource : public PodSource {
 public:
  ClusterPodSource(const PluginConfig& config, const CniEnvironment& env);

  // kErrPodUnknown naming the pod and the API (or saying that there is
  // neither an API nor annotations to read it from).
  CniOr<PodInfo> Pod() override;
  CniOr<std::map<std::string, std::string>> NamespaceLabels() override;
  const std::map<std::string, std::string>* RuntimeAnnotations() const override;

 private:
  CniOr<std::string> Get(const std::string& path, const std::string& what);

  const PluginConfig& config_;
  std::string namespace_;
  std::string name_;
  std::optional<CniOr<PodInfo>> pod_;
  std::optional<CniOr<std::map<std::string, std::string>>> labels_;
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_POD_SOURCE_H_
