// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/render.h"

#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/status_macros.h"

namespace meshcap {

absl::StatusOr<std::string> Render(const CapturePolicy& policy,
                                   std::string_view backend) {
  // "iptables" (istio-iptables' choice of binary) renders the same text
  // whichever it picks.
  if (backend == "iptables") {
    backend = internal::FindBackend("iptables-legacy").ok() ? "iptables-legacy"
                                                            : "iptables-nft";
  }
  MESHCAP_ASSIGN_OR_RETURN(const internal::BackendFactory* f,
                           internal::FindBackend(backend));
  return f->Render(internal::Compile(policy, f->dialect()));
}

}  // namespace meshcap
