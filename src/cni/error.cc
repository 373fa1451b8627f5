// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/error.h"

#include "nlohmann/json.hpp"
#include "src/state_dir.h"

namespace meshcap::cni {

std::string CniError::ToJson(std::string_view cni_version) const {
  nlohmann::ordered_json doc;
  doc["cniVersion"] = std::string(cni_version);
  doc["code"] = code;
  doc["msg"] = msg;
  if (!details.empty()) doc["details"] = details;
  // Invalid UTF-8 (a path or value quoted from the input) is replaced, not
  // thrown on.
  return doc.dump(-1, ' ', false,
                  nlohmann::ordered_json::error_handler_t::replace);
}

bool IsLockTimeout(const absl::Status& status) {
  // The Engine's namespace lock and the xtables lock, held past the
  // timeout.
  return absl::IsDeadlineExceeded(status);
}

CniError ErrorFromStatus(const absl::Status& status, std::string_view what) {
  CniError e;
  e.details = std::string(status.message());
  if (internal::IsStateError(status)) {
    // Whatever the errno: the records under the state directory (the
    // README's table of codes).
    e.code = kErrState;
    e.msg = std::string(what) + ": the state directory";
  } else if (absl::IsPermissionDenied(status)) {
    e.code = kErrPermission;
    e.msg = std::string(what) + ": permission denied";
  } else if (IsLockTimeout(status)) {
    e.code = kErrTryAgainLater;
    e.msg = std::string(what) + ": a lock is still held; try again later";
  } else if (absl::IsUnavailable(status)) {
    e.code = kErrKernelSupport;
    e.msg = std::string(what) + ": the kernel cannot do it";
  } else {
    e.code = kErrCapture;
    e.msg = std::string(what) + " failed";
  }
  return e;
}

}  // namespace meshcap::cni
