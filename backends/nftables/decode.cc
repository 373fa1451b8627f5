// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/decode.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <string.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/nftables/expr/kinds.h"
#include "backends/nftables/lower.h"

namespace meshcap::nft {
namespace {

// Tries each alternative of `Variant` in order; every alternative must
// have a Decode overload (a kind without one does not compile).
template <typename Variant, typename... Extra, size_t... I>
std::optional<Variant> DecodeAny(ExprCursor& c, std::index_sequence<I...>,
                                 Extra*... extra) {
  std::optional<Variant> out;
  auto attempt = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.has_value()) return;
    T value{};
    if (Decode(c, &value, extra...)) out = std::move(value);
  };
  (attempt(std::type_identity<std::variant_alternative_t<I, Variant>>{}), ...);
  return out;
}

}  // namespace

std::vector<const nftnl_expr*> Expressions(const nftnl_rule* rule) {
  std::vector<const nftnl_expr*> out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule);
  while (const nftnl_expr* e = nftnl_expr_iter_next(it)) out.push_back(e);
  nftnl_expr_iter_destroy(it);
  return out;
}

std::optional<ir::Rule> DecodeRule(const nftnl_rule* rule,
                                   ExprCursor::SetResolver sets) {
  ExprCursor c(Expressions(rule), std::move(sets));
  ir::Rule out;
  out.scope = ir::Scope::kBoth;
  for (;;) {
    // The rest may be the verdict already.
    const size_t at = c.pos();
    bool counter = false;
    std::optional<ir::Verdict> v = DecodeAny<ir::Verdict>(
        c, std::make_index_sequence<std::variant_size_v<ir::Verdict>>{},
        &counter);
    if (v.has_value() && c.done()) {
      out.verdict = std::move(*v);
      out.counter = counter;
      break;
    }
    c.Rewind(at);
    std::optional<ir::Match> m = DecodeAny<ir::Match>(
        c, std::make_index_sequence<std::variant_size_v<ir::Match>>{});
    if (!m.has_value()) return std::nullopt;
    if (const auto* a = std::get_if<ir::AddressMatch>(&*m)) {
      out.scope = a->cidr.family() == IpFamily::kIpv4 ? ir::Scope::kIpv4
                                                      : ir::Scope::kIpv6;
    }
    out.matches.push_back(std::move(*m));
  }
  // A TPROXY statement names its family.
  if (std::holds_alternative<ir::TproxyVerdict>(out.verdict)) {
    for (const nftnl_expr* e : Expressions(rule)) {
      const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
      if (name != nullptr && strcmp(name, "tproxy") == 0) {
        out.scope = AttrU32(e, NFTNL_EXPR_TPROXY_FAMILY) == NFPROTO_IPV6
                        ? ir::Scope::kIpv6
                        : ir::Scope::kIpv4;
      }
    }
  }
  return out;
}

std::string DescribeRule(const nftnl_rule* rule, ExprCursor::SetResolver sets,
                         const SpellContext& ctx) {
  if (std::optional<ir::Rule> r = DecodeRule(rule, sets)) {
    SpellContext c = ctx;
    c.scope = r->scope;
    return RuleText(*r, c);
  }
  std::vector<std::string> parts;
  char buf[512];
  for (const nftnl_expr* e : Expressions(rule)) {
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    parts.push_back(
        absl::StrCat("[ ", name != nullptr ? name : "?", " ", buf, "]"));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace meshcap::nft
