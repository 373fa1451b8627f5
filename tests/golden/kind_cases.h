// SPDX-License-Identifier: GPL-2.0-or-later
// One IR rule per kind (and per spelling Istio's generators use), named as
// in tests/golden/testdata/xt_kinds.txt: the cases of both iptables
// writers' lowering tests (ipt_lowering_test, iptnft_lowering_test).

#ifndef MESHCAP_TESTS_GOLDEN_KIND_CASES_H_
#define MESHCAP_TESTS_GOLDEN_KIND_CASES_H_

#include <map>
#include <string>

#include "src/compile/builder.h"
#include "src/ir/rule_set.h"

namespace meshcap::testing {

using internal::ConstCidr;
using internal::RuleBuilder;

constexpr auto kTcp = ir::L4Proto::kTcp;
constexpr auto kUdp = ir::L4Proto::kUdp;

struct KindCase {
  Profile profile = Profile::kSidecar;
  ir::Rule rule;
};

inline std::map<std::string, KindCase> Cases() {
  const ir::Verdict ret = ir::ReturnVerdict{};
  const ir::Scope v4 = ir::Scope::kIpv4, v6 = ir::Scope::kIpv6;
  const Profile amb = Profile::kAmbient;
  std::map<std::string, KindCase> m;
  m["iif"] = {{}, RuleBuilder().Iif("eth0").Then(ret)};
  m["oif_not"] = {{}, RuleBuilder().Oif("lo", true).Then(ir::AcceptVerdict{})};
  m["saddr_host"] = {{},
                     RuleBuilder(v4).Src(ConstCidr("127.0.0.6/32")).Then(ret)};
  m["daddr6_not"] = {{},
                     RuleBuilder(v6).Dst(ConstCidr("::1/128"), true).Then(ret)};
  m["daddr_bits"] = {{},
                     RuleBuilder(v4).Dst(ConstCidr("10.0.0.0/12")).Then(ret)};
  m["proto"] = {{}, RuleBuilder().Proto(kTcp).Then(ret)};
  m["dport"] = {{}, RuleBuilder().Dport(kTcp, {15008}).Then(ret)};
  m["sport_udp"] = {{},
                    RuleBuilder().Sport(kUdp, {53}).Then(ir::CtZoneVerdict{1})};
  m["dport_multi_not"] = {
      {}, RuleBuilder().Dport(kTcp, {53, 15008}, true).Then(ret)};
  m["tcp_module"] = {
      amb, RuleBuilder(v4)
               .Src(ConstCidr("169.254.7.127").WithText("169.254.7.127"))
               .Proto(kTcp)
               .PortModule(kTcp)
               .Then(ir::AcceptVerdict{})};
  m["uid"] = {{}, RuleBuilder().Uid(1337).Then(ret)};
  m["gid_not"] = {{}, RuleBuilder().Gid(42, true).Then(ret)};
  m["save_connmark"] = {
      {}, RuleBuilder().Proto(kTcp).Mark(1337).Then(ir::SaveConnmarkVerdict{})};
  m["mark_masked_not"] = {amb, RuleBuilder()
                                   .Proto(kTcp)
                                   .Mark(0x539, 0xfff, true)
                                   .Then(ir::RedirectVerdict{15001})};
  m["set_xmark"] = {amb, RuleBuilder()
                             .Mark(0x539, 0xfff)
                             .Then(ir::SetConnmarkVerdict{0x111, 0xfff})};
  m["restore_connmark"] = {{},
                           RuleBuilder().Proto(kTcp).Connmark(1337).Then(
                               ir::RestoreConnmarkVerdict{})};
  m["restore_connmark_ambient"] = {
      amb,
      RuleBuilder().Connmark(0x111, 0xfff).Then(ir::RestoreConnmarkVerdict{})};
  m["ctstate"] = {{},
                  RuleBuilder()
                      .Proto(kTcp)
                      .Ct({ir::CtState::kRelated, ir::CtState::kEstablished})
                      .Then(ir::JumpVerdict{"ISTIO_DIVERT"})};
  m["jump"] = {{}, RuleBuilder().Then(ir::JumpVerdict{"ISTIO_OUTPUT"})};
  m["drop"] = {{}, RuleBuilder().Then(ir::DropVerdict{})};
  m["redirect6"] = {
      {}, RuleBuilder(v6).Proto(kTcp).Then(ir::RedirectVerdict{15006})};
  m["redirect_udp"] = {{},
                       RuleBuilder(v4)
                           .Dport(kUdp, {53})
                           .Dst(ConstCidr("127.0.0.53/32"))
                           .Then(ir::RedirectVerdict{15053})};
  m["tproxy"] = {{},
                 RuleBuilder(v4)
                     .Dst(ConstCidr("127.0.0.1/32"), true)
                     .Proto(kTcp)
                     .Then(ir::TproxyVerdict{15006, 1337, ir::kAllBits})};
  m["tproxy6"] = {{},
                  RuleBuilder(v6)
                      .Dst(ConstCidr("::1/128"), true)
                      .Proto(kTcp)
                      .Then(ir::TproxyVerdict{15006, 1337, ir::kAllBits})};
  m["set_mark"] = {{},
                   RuleBuilder(v4)
                       .Dst(ConstCidr("127.0.0.1/32"), true)
                       .Proto(kTcp)
                       .Oif("lo")
                       .Uid(1337)
                       .Then(ir::SetMarkVerdict{1338})};
  m["udp_ambient"] = {amb, RuleBuilder()
                               .Oif("lo", true)
                               .Proto(kUdp)
                               .Mark(0x539, 0xfff, true)
                               .Dport(kUdp, {53})
                               .Then(ir::RedirectVerdict{15053})};
  return m;
}

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_GOLDEN_KIND_CASES_H_
