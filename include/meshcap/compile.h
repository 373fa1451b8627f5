// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: compile.h
// -----------------------------------------------------------------------------
//
// `meshcap::Compile` turns a validated `CapturePolicy` into the
// backend-neutral `RuleSet`. It reproduces Istio's rule generation
// (`istio-iptables` / `istio-nftables` `Run()`): the emission order, the
// insert positions, DNS capture, TPROXY and IPv6 duplication.
//
//   absl::StatusOr<meshcap::CapturePolicy> p = meshcap::PolicyBuilder()
//       .SetOutboundCidrsInclude("*").SetInboundPorts("*").Build();
//   meshcap::RuleSet rules = meshcap::Compile(*p);

#ifndef MESHCAP_COMPILE_H_
#define MESHCAP_COMPILE_H_

#include "meshcap/export.h"
#include "meshcap/policy.h"
#include "meshcap/rule_set.h"

namespace meshcap {

// Compiles `policy`. A built policy is valid, so this cannot fail.
MESHCAP_EXPORT RuleSet Compile(const CapturePolicy& policy);

}  // namespace meshcap

#endif  // MESHCAP_COMPILE_H_
