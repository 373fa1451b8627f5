// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/errno_status.h"

#include <errno.h>
#include <string.h>

#include "absl/strings/str_cat.h"

namespace meshcap::internal {
namespace {

absl::string_view V(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(strerror(err), " (", name != nullptr ? name : "?", ")");
}

absl::Status ErrnoStatus(int err, std::string_view what,
                         std::string_view privilege) {
  std::string msg = absl::StrCat(V(what), ": ", ErrnoText(err));
  switch (err) {
    case EPERM:
    case EACCES:
      if (!privilege.empty()) absl::StrAppend(&msg, "; ", V(privilege));
      return absl::PermissionDeniedError(msg);
    case ENOENT:
    case ESRCH:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
    case EOPNOTSUPP:
    case ENOPROTOOPT:
      return absl::UnavailableError(
          absl::StrCat(msg, "; the kernel lacks this feature"));
    case EAGAIN:
    case EBUSY:
    case EINTR:
      return absl::UnavailableError(msg);
    case EINVAL:
    case EISDIR:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case ERANGE:
    case E2BIG:
    case EMSGSIZE:
      return absl::InvalidArgumentError(msg);
    case ENOMEM:
    case ENOBUFS:
    case ENOSPC:
      return absl::ResourceExhaustedError(msg);
    case ENETDOWN:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  absl::Status out(s.code(), absl::StrCat(V(context), ": ", s.message()));
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

}  // namespace meshcap::internal
