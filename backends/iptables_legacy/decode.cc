// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/decode.h"

#include <type_traits>
#include <utility>

#include "backends/iptables_legacy/kinds.h"
#include "backends/iptables_legacy/lower.h"

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

std::optional<ir::Rule> DecodeEntry(IpFamily family,
                                    std::span<const uint8_t> entry,
                                    const char* standard) {
  EntryReader r(family, entry, standard);
  if (r.unusual_header()) return std::nullopt;
  ir::Rule out;
  out.scope = family == IpFamily::kIpv4 ? ir::Scope::kIpv4 : ir::Scope::kIpv6;
  while (!r.header_done() || !r.matches_done()) {
    std::optional<ir::Match> m = DecodeAny<ir::Match>(
        r, std::make_index_sequence<std::variant_size_v<ir::Match>>{});
    if (!m.has_value()) return std::nullopt;
    out.matches.push_back(std::move(*m));
  }
  const EntryReader& cr = r;
  std::optional<ir::Verdict> v = DecodeAny<ir::Verdict>(
      cr, std::make_index_sequence<std::variant_size_v<ir::Verdict>>{});
  if (!v.has_value()) return std::nullopt;
  out.verdict = std::move(*v);
  return out;
}

std::string DescribeEntry(IpFamily family, const std::string& chain,
                          std::span<const uint8_t> entry, const char* standard,
                          Profile profile, ir::TableKind table) {
  if (std::optional<ir::Rule> r = DecodeEntry(family, entry, standard)) {
    return RuleText(chain, 0, *r, profile, table);
  }
  return "-A " + chain + " (a rule meshcap does not make; see iptables-save)";
}

}  // namespace meshcap::ipt
