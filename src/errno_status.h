// SPDX-License-Identifier: GPL-2.0-or-later
// The one mapping from an errno to an absl::Status in meshcap.

#ifndef MESHCAP_SRC_ERRNO_STATUS_H_
#define MESHCAP_SRC_ERRNO_STATUS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace meshcap::internal {

// What EPERM/EACCES means for most of meshcap's kernel calls.
inline constexpr std::string_view kNeedsNetAdmin =
    "meshcap needs CAP_NET_ADMIN in the target network namespace";

// "Operation not permitted (EPERM)".
std::string ErrnoText(int err);

// `what: <ErrnoText>[; <hint>]` with the code that fits the errno:
//   EPERM, EACCES                     -> kPermissionDenied (hint: `privilege`)
//   ENOENT, ESRCH                     -> kNotFound
//   EEXIST                            -> kAlreadyExists
//   EAFNOSUPPORT, EPROTONOSUPPORT,
//   EOPNOTSUPP, ENOPROTOOPT           -> kUnavailable (the kernel lacks it)
//   EAGAIN, EBUSY, EINTR              -> kUnavailable
//   EINVAL, ERANGE, E2BIG, EMSGSIZE,
//   EISDIR, ENOTDIR, ELOOP,
//   ENAMETOOLONG                      -> kInvalidArgument
//   ENOMEM, ENOBUFS, ENOSPC           -> kResourceExhausted
//   ENETDOWN                          -> kFailedPrecondition
//   anything else                     -> kInternal
[[nodiscard]] absl::Status ErrnoStatus(
    int err, std::string_view what,
    std::string_view privilege = kNeedsNetAdmin);

// Prefixes a status's message with `context: `, keeping its code and
// payloads.
[[nodiscard]] absl::Status Annotate(const absl::Status& s,
                                    std::string_view context);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_ERRNO_STATUS_H_
