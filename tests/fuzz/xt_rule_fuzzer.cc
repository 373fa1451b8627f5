// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft backend's read-back decoder (backends/iptables_nft/
// xt_rule.h NftRuleReader, then the dialect's per-kind decoders) on
// arbitrary rules, as iptables-nft, nft or anyone else may leave them in
// the ip and ip6 tables: any sequence of the expression types iptables-nft
// makes (and two it does not), each attribute any bytes, nft_compat match
// and target data of any length, any user data. The input encodes the rule
// (xt_fuzz_rule.h); the decoders must describe every rule without crashing
// or reading out of bounds, and a rule that decodes must encode again.

#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/xt_rule.h"
#include "tests/fuzz/xt_fuzz_rule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshcap;  // NOLINT: a fuzz target
  fuzz::XtFuzzRule in = fuzz::XtRuleFromBytes(data, size);
  (void)iptnft::HasTag(in.rule.get());
  (void)iptnft::ExprKey(in.rule.get());
  (void)iptnft::ExprListText(in.rule.get());
  iptnft::NftRuleReader reader(in.family, in.rule.get());
  std::optional<ir::Rule> rule = ipt::DecodeRule(reader);
  iptnft::NftRuleReader again(in.family, in.rule.get());
  (void)ipt::DescribeRule(again, "OUTPUT", Profile::kSidecar,
                          ir::TableKind::kMangle);
  if (rule.has_value()) {
    (void)ipt::RuleText("OUTPUT", 0, *rule, Profile::kAmbient,
                        ir::TableKind::kNat);
    (void)ipt::IsIstioBuiltinRule(*rule, ir::TableKind::kMangle, "OUTPUT");
    nftnl::Ptr<nftnl_rule> back =
        iptnft::LowerRule(*rule, in.family, "nat", "OUTPUT", true);
    (void)iptnft::ExprKey(back.get());
  }
  return 0;
}
