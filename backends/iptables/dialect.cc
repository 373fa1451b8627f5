// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables/dialect.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {
namespace {

// Tries each alternative of `Variant` in order; every alternative must
// have a Decode overload (a kind without one does not compile).
template <typename Variant, typename Reader, size_t... I>
std::optional<Variant> DecodeAny(Reader& r, std::index_sequence<I...>) {
  std::optional<Variant> out;
  auto attempt = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.has_value()) return;
    T value{};
    if (Decode(r, &value)) out = std::move(value);
  };
  (attempt(std::type_identity<std::variant_alternative_t<I, Variant>>{}), ...);
  return out;
}

}  // namespace

std::string Hex(uint32_t v) { return absl::StrFormat("0x%x", v); }

const std::vector<std::string>& OurChainNames() {
  static const std::vector<std::string>* const kNames =
      new std::vector<std::string>{
          "ISTIO_DIVERT",      "ISTIO_DROP",     "ISTIO_INBOUND",
          "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT",   "ISTIO_OUTPUT_DNS",
          "ISTIO_PRERT",       "ISTIO_REDIRECT", "ISTIO_TPROXY"};
  return *kNames;
}

bool IsOurChain(const std::string& name) {
  const auto& ours = OurChainNames();
  return std::find(ours.begin(), ours.end(), name) != ours.end();
}

bool IsBuiltinChain(const std::string& name) {
  return name == "PREROUTING" || name == "OUTPUT" || name == "INPUT" ||
         name == "FORWARD" || name == "POSTROUTING";
}

bool IsIstioBuiltinRule(const ir::Rule& rule, ir::TableKind table,
                        const std::string& chain) {
  // The rule's matches by kind (each at most once), in any order.
  const ir::InterfaceMatch* iface = nullptr;
  const ir::AddressMatch* addr = nullptr;
  const ir::ProtocolMatch* proto = nullptr;
  const ir::OwnerMatch* owner = nullptr;
  const ir::MarkMatch* mark = nullptr;
  const ir::ConnmarkMatch* connmark = nullptr;
  for (const ir::Match& m : rule.matches) {
    bool again = false;
    auto take = [&](auto*& slot, const auto& value) {
      if (slot != nullptr) again = true;
      slot = &value;
    };
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ir::InterfaceMatch>) {
            take(iface, x);
          } else if constexpr (std::is_same_v<T, ir::AddressMatch>) {
            take(addr, x);
          } else if constexpr (std::is_same_v<T, ir::ProtocolMatch>) {
            take(proto, x);
          } else if constexpr (std::is_same_v<T, ir::OwnerMatch>) {
            take(owner, x);
          } else if constexpr (std::is_same_v<T, ir::MarkMatch>) {
            take(mark, x);
          } else if constexpr (std::is_same_v<T, ir::ConnmarkMatch>) {
            take(connmark, x);
          } else {
            again = true;  // ports, states: never in these shapes
          }
        },
        m);
    if (again) return false;
  }
  const size_t n = rule.matches.size();
  const bool prerouting = chain == "PREROUTING";
  const bool output = chain == "OUTPUT";
  const bool tcp = proto != nullptr && proto->proto == ir::L4Proto::kTcp;
  const auto out_lo = [&] {
    return iface != nullptr && !iface->negate &&
           iface->dir == ir::Direction::kDestination && iface->name == "lo";
  };
  const bool mangle = table == ir::TableKind::kMangle;
  if (std::holds_alternative<ir::ReturnVerdict>(rule.verdict)) {
    // -i IF / -o IF -j RETURN
    if (n == 1 && iface != nullptr && !iface->negate &&
        table != ir::TableKind::kRaw &&
        ((prerouting && iface->dir == ir::Direction::kSource) ||
         (output && iface->dir == ir::Direction::kDestination))) {
      return true;
    }
    // -p tcp -o lo -m mark --mark M -j RETURN
    return mangle && output && n == 3 && tcp && out_lo() && mark != nullptr &&
           !mark->negate;
  }
  if (std::holds_alternative<ir::SaveConnmarkVerdict>(rule.verdict)) {
    return mangle && prerouting && n == 2 && tcp && mark != nullptr &&
           !mark->negate;
  }
  if (std::holds_alternative<ir::RestoreConnmarkVerdict>(rule.verdict)) {
    return mangle && output && n == 2 && tcp && connmark != nullptr &&
           !connmark->negate;
  }
  if (std::holds_alternative<ir::SetMarkVerdict>(rule.verdict)) {
    return mangle && output && n == 4 && tcp && out_lo() && owner != nullptr &&
           !owner->negate && addr != nullptr && addr->negate &&
           addr->dir == ir::Direction::kDestination &&
           addr->cidr.prefix_len() ==
               (addr->cidr.family() == IpFamily::kIpv4 ? 32 : 128) &&
           addr->cidr.IsLoopback();
  }
  return false;
}

void EncodeRule(const ir::Rule& rule, RuleWriter& w) {
  for (const ir::Match& m : rule.matches) {
    std::visit([&](const auto& x) { Encode(x, w); }, m);
  }
  std::visit([&](const auto& v) { Encode(v, w); }, rule.verdict);
}

std::optional<ir::Rule> DecodeRule(RuleReader& r) {
  if (r.unusual()) return std::nullopt;
  ir::Rule out;
  out.scope =
      r.family() == IpFamily::kIpv4 ? ir::Scope::kIpv4 : ir::Scope::kIpv6;
  while (!r.header_done() || !r.matches_done()) {
    std::optional<ir::Match> m = DecodeAny<ir::Match>(
        r, std::make_index_sequence<std::variant_size_v<ir::Match>>{});
    if (!m.has_value()) return std::nullopt;
    out.matches.push_back(std::move(*m));
  }
  const RuleReader& cr = r;
  std::optional<ir::Verdict> v = DecodeAny<ir::Verdict>(
      cr, std::make_index_sequence<std::variant_size_v<ir::Verdict>>{});
  if (!v.has_value()) return std::nullopt;
  out.verdict = std::move(*v);
  return out;
}

std::string RuleText(const std::string& chain, int position,
                     const ir::Rule& rule, Profile profile,
                     ir::TableKind table) {
  std::string out = position > 0 ? absl::StrCat("-I ", chain, " ", position)
                                 : absl::StrCat("-A ", chain);
  SpellContext ctx;
  ctx.profile = profile;
  ctx.table = table;
  for (const ir::Match& m : rule.matches) {
    std::visit([&](const auto& x) { Spell(x, ctx, out); }, m);
  }
  // The verdict sees the rule's protocol (UDP redirects say --to-port).
  std::visit([&](const auto& v) { Spell(v, ctx, out); }, rule.verdict);
  return out;
}

std::string DescribeRule(RuleReader& r, const std::string& chain,
                         Profile profile, ir::TableKind table) {
  if (std::optional<ir::Rule> rule = DecodeRule(r)) {
    return RuleText(chain, 0, *rule, profile, table);
  }
  return "-A " + chain + " (a rule meshcap does not make; see iptables-save)";
}

}  // namespace meshcap::ipt
