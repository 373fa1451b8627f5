// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/render.h"

#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/status_macros.h"

namespace meshcap {

absl::StatusOr<std::string> Render(const CapturePolicy& policy,
                                   std::string_view backend) {
  MESHCAP_ASSIGN_OR_RETURN(const internal::BackendFactory* f,
                           internal::FindSpellingBackend(backend));
  MESHCAP_ASSIGN_OR_RETURN(const ir::RuleSet rules,
                           internal::CompileFor(policy, *f));
  return f->Render(rules);
}

}  // namespace meshcap
