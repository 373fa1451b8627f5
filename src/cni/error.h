// SPDX-License-Identifier: GPL-2.0-or-later
// CNI errors: the error result a plugin prints on stdout (CNI spec 1.1,
// section 5 "Error"), the spec's well-known codes and meshcap-cni's own
// codes (100 and up), and the mapping from meshcap's absl::Status.

#ifndef MESHCAP_SRC_CNI_ERROR_H_
#define MESHCAP_SRC_CNI_ERROR_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/status/status.h"

namespace meshcap::cni {

// The spec's codes (0-99 are reserved for them).
inline constexpr int kErrIncompatibleVersion = 1;
inline constexpr int kErrUnsupportedField = 2;
inline constexpr int kErrUnknownContainer = 3;
inline constexpr int kErrInvalidEnvironment = 4;
inline constexpr int kErrIoFailure = 5;
inline constexpr int kErrDecodingFailure = 6;
inline constexpr int kErrInvalidConfig = 7;
inline constexpr int kErrTryAgainLater = 11;
// STATUS only. 50: "the plugin is not available (i.e. cannot service ADD
// requests)": meshcap-cni's answer both when the backend cannot install
// the capture and when it installs rules that capture nothing (an ADD
// could not give a pod its capture either way). 51, "not available, and
// existing containers in the network may have limited connectivity", is
// never meshcap-cni's: STATUS probes a scratch namespace and learns nothing
// about existing pods, and a capture that does not work leaves their
// traffic flowing past the proxy rather than cut off.
inline constexpr int kErrNotAvailable = 50;
inline constexpr int kErrNotAvailableLimited = 51;

// meshcap-cni's own codes.
// The kernel or the library refused to apply, verify or remove the capture
// (a rule the kernel rejected, an internal error).
inline constexpr int kErrCapture = 100;
// The plugin lacks a privilege (CAP_NET_ADMIN in the pod's namespace,
// CAP_SYS_ADMIN to enter it, write access to the state directory).
inline constexpr int kErrPermission = 101;
// The kernel lacks what the backend or the policy needs (nf_tables, a
// match, TPROXY).
inline constexpr int kErrKernelSupport = 102;
// CHECK: the pod's namespace no longer holds exactly the policy.
inline constexpr int kErrDrift = 103;
// meshcap-cni's records under the state directory could not be written,
// read or removed, or the directory is one meshcap refuses.
inline constexpr int kErrState = 104;
// What the pod is could not be learnt: the Kubernetes API did not answer
// (or refused, or its certificate did not verify), the kubeconfig is
// unusable, or neither the API nor the runtime's annotations are there.
inline constexpr int kErrPodUnknown = 105;

struct CniError {
  int code = 0;
  // Short; `details` has the rest.
  std::string msg;
  std::string details;

  // {"cniVersion": ..., "code": ..., "msg": ..., "details": ...}, one line.
  // `cni_version` is the configuration's version when it is one this
  // plugin supports, else the newest it supports.
  std::string ToJson(std::string_view cni_version) const;
};

// A meshcap Status as a CNI error. `what` says what failed ("applying the
// capture"). A problem with the state directory (src/state_dir.h) is
// kErrState, whatever its code; PERMISSION_DENIED is kErrPermission; a lock
// held past the timeout is kErrTryAgainLater; other UNAVAILABLE is
// kErrKernelSupport; NOT_FOUND and INVALID_ARGUMENT about the namespace are the
// caller's to classify; everything else is kErrCapture.
CniError ErrorFromStatus(const absl::Status& status, std::string_view what);

// Whether `status` says that a lock (meshcap's per-namespace lock or the
// xtables lock) was still held when the wait ended: DEADLINE_EXCEEDED.
bool IsLockTimeout(const absl::Status& status);

// A value or a CNI error.
template <typename T>
class CniOr {
 public:
  CniOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit
  CniOr(CniError error) : v_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const CniError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, CniError> v_;
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_ERROR_H_
