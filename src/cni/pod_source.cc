// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/pod_source.h"

#include "absl/strings/str_cat.h"
#include "src/cni/kube_client.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

std::string Arg(const CniEnvironment& env, const char* key) {
  auto it = env.args.find(key);
  return it == env.args.end() ? std::string() : it->second;
}

}  // namespace

ClusterPodSource::ClusterPodSource(const PluginConfig& config,
                                   const CniEnvironment& env)
    : config_(config),
      namespace_(env.PodNamespace()),
      name_(Arg(env, "K8S_POD_NAME")) {}

const std::map<std::string, std::string>* ClusterPodSource::RuntimeAnnotations()
    const {
  return config_.runtime_pod_annotations.has_value()
             ? &*config_.runtime_pod_annotations
             : nullptr;
}

CniOr<std::string> ClusterPodSource::Get(const std::string& path,
                                         const std::string& what) {
  const std::string kubeconfig = config_.KubeconfigPath();
  absl::StatusOr<Kubeconfig> kc = Kubeconfig::Load(kubeconfig);
  if (!kc.ok()) {
    return CniError{
        kErrPodUnknown,
        absl::StrCat("cannot read ", what, ": the kubeconfig is not usable"),
        std::string(kc.status().message())};
  }
  KubeClientOptions o;
  o.budget = config_.kube_api_timeout;
  absl::StatusOr<std::string> body = KubeClient(*std::move(kc), o).Get(path);
  if (!body.ok()) {
    return CniError{
        kErrPodUnknown,
        absl::StrCat("cannot read ", what, " from the Kubernetes API"),
        std::string(body.status().message())};
  }
  return *std::move(body);
}

CniOr<PodInfo> ClusterPodSource::Pod() {
  if (pod_.has_value()) return *pod_;
  const std::string what =
      absl::StrCat("pod ", Quote(namespace_ + "/" + name_));
  if (!config_.KubeconfigPath().empty()) {
    CniOr<std::string> body = Get(PodPath(namespace_, name_), what);
    if (!body.ok()) {
      pod_ = body.error();
    } else {
      absl::StatusOr<PodInfo> pod = PodFromApiJson(*body);
      if (pod.ok()) {
        pod_ = *std::move(pod);
      } else {
        pod_ = CniError{kErrPodUnknown,
                        absl::StrCat("cannot read ", what,
                                     ": the API server's answer is not a pod"),
                        std::string(pod.status().message())};
      }
    }
  } else if (const auto* annotations = RuntimeAnnotations()) {
    pod_ = PodFromRuntimeAnnotations(namespace_, name_, *annotations);
  } else {
    pod_ = CniError{
        kErrPodUnknown,
        absl::StrCat("cannot tell whether Istio injected ", what),
        "there is no kubeconfig (\"kubeconfig\", or \"cni_agent_run_dir\" "
        "holding istio-cni-kubeconfig) and the runtime handed over no pod "
        "annotations (declare \"capabilities\": "
        "{\"io.kubernetes.cri.pod-annotations\": true}); or set "
        "\"podSelection\": \"all\""};
  }
  return *pod_;
}

CniOr<std::map<std::string, std::string>> ClusterPodSource::NamespaceLabels() {
  if (labels_.has_value()) return *labels_;
  const std::string what = absl::StrCat("namespace ", Quote(namespace_));
  if (config_.KubeconfigPath().empty()) {
    labels_ = CniError{kErrPodUnknown,
                       absl::StrCat("cannot read the labels of ", what),
                       "ambient's enablement_selectors need the Kubernetes "
                       "API (a kubeconfig)"};
    return *labels_;
  }
  CniOr<std::string> body = Get(NamespacePath(namespace_), what);
  if (!body.ok()) {
    labels_ = body.error();
    return *labels_;
  }
  absl::StatusOr<std::map<std::string, std::string>> labels =
      NamespaceLabelsFromApiJson(*body);
  if (labels.ok()) {
    labels_ = *std::move(labels);
  } else {
    labels_ = CniError{kErrPodUnknown,
                       absl::StrCat("cannot read ", what,
                                    ": the API server's answer is not one"),
                       std::string(labels.status().message())};
  }
  return *labels_;
}

}  // namespace meshcap::cni
