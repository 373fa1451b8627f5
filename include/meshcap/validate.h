// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: validate.h
// -----------------------------------------------------------------------------
//
// Istio's validation probe (`istio-iptables --run-validation`): proves that
// the rules in a namespace really capture traffic. It listens where the
// proxy would (127.0.0.1 on the outbound and inbound capture ports), dials
// 127.0.0.6 on the probe port as the proxy's UID and GID, and succeeds when
// a listener accepts that connection with the probe port as its original
// destination (SO_ORIGINAL_DST). The proxy's own traffic to a 127.0.0.x
// address other than 127.0.0.1 is what the rules send to the inbound port.

#ifndef MESHCAP_VALIDATE_H_
#define MESHCAP_VALIDATE_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "meshcap/export.h"

namespace meshcap {

struct ValidateOptions {
  // The namespace to probe, as in EngineOptions; neither: the caller's.
  std::string netns_path;
  int netns_fd = -1;
  uint16_t outbound_port = 15001;
  uint16_t inbound_port = 15006;
  uint16_t probe_port = 15002;
  // The client runs with these (only its own thread changes identity).
  uint32_t uid = 1337;
  uint32_t gid = 1337;
  // IPv6: listen on ::1 and dial ::6 instead.
  bool ipv6 = false;
  std::chrono::milliseconds timeout{5000};
};

// OK when the probe connection was captured. kDeadlineExceeded when nothing
// captured it in time (the message says what the client saw),
// kFailedPrecondition when the listeners cannot bind (a proxy already runs),
// kPermissionDenied when the identity cannot be taken.
[[nodiscard]] MESHCAP_EXPORT absl::Status ValidateCapture(
    const ValidateOptions& options);

}  // namespace meshcap

#endif  // MESHCAP_VALIDATE_H_
