// SPDX-License-Identifier: GPL-2.0-or-later
// A kernel rule's expressions back to IR, with each kind's decoder
// (expr/<kind>.cc): to describe what the kernel holds in nft's words.

#ifndef MESHCAP_BACKENDS_NFTABLES_DECODE_H_
#define MESHCAP_BACKENDS_NFTABLES_DECODE_H_

#include <optional>
#include <string>
#include <vector>

#include "backends/nftables/expr/codec.h"
#include "src/ir/rule_set.h"

struct nftnl_rule;

namespace meshcap::nft {

// The expressions of `rule`, in order.
std::vector<const nftnl_expr*> Expressions(const nftnl_rule* rule);

// The IR rule whose lowering is `rule`'s expressions, or nullopt when some
// expression is not one meshcap makes. Lowering the result gives the same
// expressions (not always the same IR: an explicit `meta l4proto tcp`
// before `tcp dport` decodes as the port match alone).
std::optional<ir::Rule> DecodeRule(const nftnl_rule* rule,
                                   ExprCursor::SetResolver sets);

// `rule` in nft's words: the decoded rule's text, or libnftnl's
// expression dump when it does not decode.
std::string DescribeRule(const nftnl_rule* rule, ExprCursor::SetResolver sets,
                         const SpellContext& ctx);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_DECODE_H_
