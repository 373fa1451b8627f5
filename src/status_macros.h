// SPDX-License-Identifier: GPL-2.0-or-later
// Status helpers. Abseil 20220623 has no ABSL_RETURN_IF_ERROR.

#ifndef MESHCAP_SRC_STATUS_MACROS_H_
#define MESHCAP_SRC_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MESHCAP_STATUS_CONCAT_INNER_(a, b) a##b
#define MESHCAP_STATUS_CONCAT_(a, b) MESHCAP_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function when not OK.
#define MESHCAP_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status meshcap_status_ = (expr);           \
    if (!meshcap_status_.ok()) return meshcap_status_; \
  } while (0)

// `MESHCAP_ASSIGN_OR_RETURN(auto x, F());` declares x from an OK StatusOr, or
// returns its status.
#define MESHCAP_ASSIGN_OR_RETURN(lhs, expr) \
  MESHCAP_ASSIGN_OR_RETURN_IMPL_(           \
      MESHCAP_STATUS_CONCAT_(meshcap_statusor_, __LINE__), lhs, expr)
#define MESHCAP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // MESHCAP_SRC_STATUS_MACROS_H_
