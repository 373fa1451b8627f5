// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/pod.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Json;
using internal::Quote;

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

absl::StatusOr<std::string> String(const Json& v, const std::string& where) {
  if (!v.is_string()) {
    return Bad(where, absl::StrCat("expected a string, got ", v.type_name()));
  }
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxFieldBytes) {
    return Bad(where, absl::StrCat("has ", s.size(), " bytes, more than ",
                                   kMaxFieldBytes));
  }
  return s;
}

// A map of strings (labels, annotations); null or absent: empty.
absl::StatusOr<std::map<std::string, std::string>> StringMap(
    const Json* v, const std::string& where) {
  std::map<std::string, std::string> out;
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_object()) {
    return Bad(where, absl::StrCat("expected an object, got ", v->type_name()));
  }
  for (auto it = v->begin(); it != v->end(); ++it) {
    MESHCAP_ASSIGN_OR_RETURN(
        out[it.key()],
        String(it.value(),
               absl::StrCat(where, ".", internal::Escape(it.key()))));
  }
  return out;
}

const Json* Member(const Json& v, std::string_view key) {
  return internal::GetMember(v, key);
}

// An optional int64 field; null or absent: nullopt.
absl::StatusOr<std::optional<int64_t>> OptionalInt(const Json* v,
                                                   const std::string& where) {
  if (v == nullptr || v->is_null()) return std::optional<int64_t>();
  if (!v->is_number_integer() ||
      (v->is_number_unsigned() &&
       v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    return Bad(where, absl::StrCat("expected a whole number, got ",
                                   internal::Escape(v->dump())));
  }
  return std::optional<int64_t>(v->get<int64_t>());
}

// One container of spec.initContainers or spec.containers.
absl::Status ReadContainer(const Json& c, const std::string& where,
                           PodInfo& pod) {
  if (!c.is_object()) {
    return Bad(where, absl::StrCat("expected an object, got ", c.type_name()));
  }
  const Json* name_v = Member(c, "name");
  if (name_v == nullptr) return Bad(where, "has no name");
  MESHCAP_ASSIGN_OR_RETURN(std::string name, String(*name_v, where + ".name"));
  pod.containers.insert(name);
  if (name != "istio-proxy") return absl::OkStatus();
  // As istio-cni's ExtractPodInfo: env with literal values (valueFrom reads
  // as ""), `proxy <type>` args, the container's own securityContext.
  if (const Json* env = Member(c, "env"); env != nullptr && !env->is_null()) {
    if (!env->is_array()) return Bad(where + ".env", "expected an array");
    for (size_t i = 0; i < env->size(); ++i) {
      const std::string w = absl::StrCat(where, ".env[", i, "]");
      const Json& e = (*env)[i];
      const Json* n = Member(e, "name");
      if (n == nullptr) return Bad(w, "has no name");
      MESHCAP_ASSIGN_OR_RETURN(std::string key, String(*n, w + ".name"));
      std::string value;
      if (const Json* val = Member(e, "value");
          val != nullptr && !val->is_null()) {
        MESHCAP_ASSIGN_OR_RETURN(value, String(*val, w + ".value"));
      }
      pod.proxy_env[key] = std::move(value);
    }
  }
  if (const Json* args = Member(c, "args");
      args != nullptr && !args->is_null()) {
    if (!args->is_array()) return Bad(where + ".args", "expected an array");
    std::vector<std::string> list;
    for (size_t i = 0; i < args->size(); ++i) {
      MESHCAP_ASSIGN_OR_RETURN(
          list.emplace_back(),
          String((*args)[i], absl::StrCat(where, ".args[", i, "]")));
    }
    if (list.size() >= 2 && list[0] == "proxy") pod.proxy_type = list[1];
  }
  if (const Json* sc = Member(c, "securityContext");
      sc != nullptr && !sc->is_null()) {
    if (!sc->is_object()) {
      return Bad(where + ".securityContext", "expected an object");
    }
    // Istio assigns both, set or not: a later istio-proxy entry overrides.
    MESHCAP_ASSIGN_OR_RETURN(pod.proxy_uid,
                             OptionalInt(Member(*sc, "runAsUser"),
                                         where + ".securityContext.runAsUser"));
    MESHCAP_ASSIGN_OR_RETURN(
        pod.proxy_gid, OptionalInt(Member(*sc, "runAsGroup"),
                                   where + ".securityContext.runAsGroup"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObject(std::string_view json, const char* kind) {
  absl::StatusOr<Json> doc =
      internal::ParseJson(json, {.max_bytes = kMaxPodBytes, .max_depth = 64});
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the API server's ", kind,
                     " is not readable: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the API server's ", kind, " is not an object: ", doc->type_name()));
  }
  return doc;
}

}  // namespace

absl::StatusOr<PodInfo> PodFromApiJson(std::string_view json) {
  MESHCAP_ASSIGN_OR_RETURN(Json doc, ParseObject(json, "pod"));
  PodInfo pod;
  const Json* meta = Member(doc, "metadata");
  if (meta == nullptr || !meta->is_object()) {
    return Bad("pod", "has no metadata");
  }
  if (const Json* ns = Member(*meta, "namespace")) {
    MESHCAP_ASSIGN_OR_RETURN(pod.namespace_name,
                             String(*ns, "metadata.namespace"));
  }
  if (const Json* name = Member(*meta, "name")) {
    MESHCAP_ASSIGN_OR_RETURN(pod.name, String(*name, "metadata.name"));
  }
  MESHCAP_ASSIGN_OR_RETURN(
      pod.labels, StringMap(Member(*meta, "labels"), "metadata.labels"));
  MESHCAP_ASSIGN_OR_RETURN(
      pod.annotations,
      StringMap(Member(*meta, "annotations"), "metadata.annotations"));
  const Json* spec = Member(doc, "spec");
  if (spec == nullptr || !spec->is_object()) return Bad("pod", "has no spec");
  if (const Json* hn = Member(*spec, "hostNetwork");
      hn != nullptr && !hn->is_null()) {
    if (!hn->is_boolean()) return Bad("spec.hostNetwork", "expected a boolean");
    pod.host_network = hn->get<bool>();
  }
  // Init containers first, then the others, as istio-cni walks them.
  for (const char* list : {"initContainers", "containers"}) {
    const Json* cs = Member(*spec, list);
    if (cs == nullptr || cs->is_null()) continue;
    if (!cs->is_array()) {
      return Bad(absl::StrCat("spec.", list), "expected an array");
    }
    for (size_t i = 0; i < cs->size(); ++i) {
      MESHCAP_RETURN_IF_ERROR(ReadContainer(
          (*cs)[i], absl::StrCat("spec.", list, "[", i, "]"), pod));
    }
  }
  return pod;
}

absl::StatusOr<std::map<std::string, std::string>> NamespaceLabelsFromApiJson(
    std::string_view json) {
  MESHCAP_ASSIGN_OR_RETURN(Json doc, ParseObject(json, "namespace"));
  const Json* meta = Member(doc, "metadata");
  if (meta == nullptr || !meta->is_object()) {
    return Bad("namespace", "has no metadata");
  }
  return StringMap(Member(*meta, "labels"), "metadata.labels");
}

PodInfo PodFromRuntimeAnnotations(
    std::string namespace_name, std::string name,
    std::map<std::string, std::string> annotations) {
  PodInfo pod;
  pod.namespace_name = std::move(namespace_name);
  pod.name = std::move(name);
  pod.annotations = std::move(annotations);
  pod.spec_known = false;
  pod.containers_known = false;
  // The injector's status lists what it added (pkg/kube/inject:
  // SidecarInjectionStatus); istio-cni itself only checks that the
  // annotation is there, so a value that is not that JSON says nothing.
  auto status = pod.annotations.find("sidecar.istio.io/status");
  if (status == pod.annotations.end()) return pod;
  absl::StatusOr<Json> doc = internal::ParseJson(
      status->second, {.max_bytes = kMaxFieldBytes, .max_depth = 8});
  if (!doc.ok() || !doc->is_object()) return pod;
  std::set<std::string> names;
  bool listed = false;
  for (const char* key : {"initContainers", "containers"}) {
    const Json* list = Member(*doc, key);
    if (list == nullptr || list->is_null()) continue;
    if (!list->is_array()) return pod;
    listed = true;
    for (const Json& n : *list) {
      if (!n.is_string()) return pod;
      names.insert(n.get<std::string>());
    }
  }
  if (listed) {
    pod.containers = std::move(names);
    pod.containers_known = true;
  }
  return pod;
}

bool LabelSelector::Matches(
    const std::map<std::string, std::string>& labels) const {
  for (const Requirement& r : requirements) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool listed = has && std::find(r.values.begin(), r.values.end(),
                                         it->second) != r.values.end();
    switch (r.op) {
      case Requirement::Op::kIn:
        if (!listed) return false;
        break;
      case Requirement::Op::kNotIn:
        if (listed) return false;
        break;
      case Requirement::Op::kExists:
        if (!has) return false;
        break;
      case Requirement::Op::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

absl::StatusOr<LabelSelector> ParseLabelSelector(const Json& v,
                                                 const std::string& where) {
  LabelSelector s;
  if (v.is_null()) return s;
  if (!v.is_object()) return Bad(where, "expected a label selector object");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string w = absl::StrCat(where, ".", internal::Escape(it.key()));
    if (it.key() == "matchLabels") {
      MESHCAP_ASSIGN_OR_RETURN(auto labels, StringMap(&it.value(), w));
      for (auto& [key, value] : labels) {
        s.requirements.push_back(
            {key, LabelSelector::Requirement::Op::kIn, {value}});
      }
    } else if (it.key() == "matchExpressions") {
      if (!it.value().is_array()) return Bad(w, "expected an array");
      for (size_t i = 0; i < it.value().size(); ++i) {
        const Json& e = it.value()[i];
        const std::string we = absl::StrCat(w, "[", i, "]");
        LabelSelector::Requirement r;
        const Json* key = Member(e, "key");
        const Json* op = Member(e, "operator");
        if (key == nullptr || op == nullptr) {
          return Bad(we, "needs \"key\" and \"operator\"");
        }
        MESHCAP_ASSIGN_OR_RETURN(r.key, String(*key, we + ".key"));
        MESHCAP_ASSIGN_OR_RETURN(std::string op_name,
                                 String(*op, we + ".operator"));
        using Op = LabelSelector::Requirement::Op;
        static constexpr std::pair<const char*, Op> kOps[] = {
            {"In", Op::kIn},
            {"NotIn", Op::kNotIn},
            {"Exists", Op::kExists},
            {"DoesNotExist", Op::kDoesNotExist}};
        bool known = false;
        for (const auto& [name, value] : kOps) {
          if (op_name == name) {
            r.op = value;
            known = true;
          }
        }
        if (!known) {
          return Bad(we + ".operator",
                     absl::StrCat("unknown operator ", Quote(op_name),
                                  " (In, NotIn, Exists, DoesNotExist)"));
        }
        if (const Json* values = Member(e, "values");
            values != nullptr && !values->is_null()) {
          if (!values->is_array())
            return Bad(we + ".values", "expected an array");
          for (size_t j = 0; j < values->size(); ++j) {
            MESHCAP_ASSIGN_OR_RETURN(
                r.values.emplace_back(),
                String((*values)[j], absl::StrCat(we, ".values[", j, "]")));
          }
        }
        // As metav1.LabelSelectorAsSelector: In and NotIn need values,
        // Exists and DoesNotExist take none.
        const bool set_op = r.op == Op::kIn || r.op == Op::kNotIn;
        if (set_op == r.values.empty()) {
          return Bad(we, set_op ? "In and NotIn need values"
                                : "Exists and DoesNotExist take no values");
        }
        s.requirements.push_back(std::move(r));
      }
    } else {
      return Bad(w, "unknown field (matchLabels, matchExpressions)");
    }
  }
  return s;
}

absl::StatusOr<std::vector<EnablementSelector>> ParseEnablementSelectors(
    const Json& v, const std::string& where) {
  std::vector<EnablementSelector> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return Bad(where, "expected an array of selectors");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string w = absl::StrCat(where, "[", i, "]");
    const Json& e = v[i];
    if (!e.is_object()) return Bad(w, "expected an object");
    EnablementSelector sel;
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it.key() == "podSelector") {
        MESHCAP_ASSIGN_OR_RETURN(
            sel.pod, ParseLabelSelector(it.value(), w + ".podSelector"));
      } else if (it.key() == "namespaceSelector") {
        MESHCAP_ASSIGN_OR_RETURN(
            sel.ns, ParseLabelSelector(it.value(), w + ".namespaceSelector"));
      } else {
        return Bad(absl::StrCat(w, ".", internal::Escape(it.key())),
                   "unknown field (podSelector, namespaceSelector)");
      }
    }
    out.push_back(std::move(sel));
  }
  return out;
}

}  // namespace meshcap::cni
