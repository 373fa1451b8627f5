// SPDX-License-Identifier: GPL-2.0-or-later
// ir::PortMatch: `tcp dport 15008`, `udp sport 53`,
// `tcp dport != { 53, 15008 }`. nft proves the protocol first (unless the
// rule already did); several ports are an anonymous constant set:
//   [ meta load l4proto => reg 1 ]
//   [ cmp eq reg 1 0x00000006 ]
//   [ payload load 2b @ transport header + 2 => reg 1 ]
//   [ lookup reg 1 set __set0 0x1 ]
// A port match without ports is the protocol alone (`meta l4proto tcp`).

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/udp.h>

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {
namespace {

// TCP and UDP put their ports at the same offsets.
uint32_t Offset(ir::Direction dir) {
  return dir == ir::Direction::kSource ? offsetof(udphdr, uh_sport)
                                       : offsetof(udphdr, uh_dport);
}

}  // namespace

void Spell(const ir::PortMatch& m, const SpellContext&, std::string& out) {
  const char* proto = m.proto == ir::L4Proto::kTcp ? "tcp" : "udp";
  if (m.ports.empty() && m.set.empty()) {
    absl::StrAppend(&out, "meta l4proto ", proto);
    return;
  }
  absl::StrAppend(&out, proto,
                  m.dir == ir::Direction::kSource ? " sport " : " dport ");
  if (m.negate) out += "!= ";
  if (!m.set.empty()) {
    absl::StrAppend(&out, "@", m.set);
  } else if (m.ports.size() == 1) {
    absl::StrAppend(&out, m.ports[0]);
  } else {
    absl::StrAppend(&out, "{ ", absl::StrJoin(m.ports, ", "), " }");
  }
}

void Encode(const ir::PortMatch& m, RuleEncoder& enc) {
  enc.L4ProtoDependency(m.proto, /*explicit_match=*/false);
  if (!m.set.empty()) {
    enc.Payload(NFT_PAYLOAD_TRANSPORT_HEADER, Offset(m.dir), 2);
    enc.LookupNamed(m.set, m.negate);
    return;
  }
  if (m.ports.empty()) return;
  enc.Payload(NFT_PAYLOAD_TRANSPORT_HEADER, Offset(m.dir), 2);
  if (m.ports.size() == 1) {
    const uint16_t port = htons(m.ports[0]);
    enc.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &port, 2);
    return;
  }
  enc.Lookup(enc.AddPortSet(m), m.negate);
}

bool Decode(ExprCursor& c, ir::PortMatch* out) {
  size_t i = 0;
  std::optional<ir::L4Proto> proto = c.l4proto;
  uint32_t op = 0;
  std::string data;
  if (c.IsMetaLoad(0, NFT_META_L4PROTO) && c.IsCmp(1, &op, &data) &&
      op == NFT_CMP_EQ && data.size() == 1) {
    if (data[0] == IPPROTO_TCP) {
      proto = ir::L4Proto::kTcp;
    } else if (data[0] == IPPROTO_UDP) {
      proto = ir::L4Proto::kUdp;
    } else {
      return false;
    }
    i = 2;
  }
  if (!proto.has_value() || !c.Is(i, "payload")) return false;
  const nftnl_expr* load = c.Peek(i);
  if (AttrU32(load, NFTNL_EXPR_PAYLOAD_BASE) != NFT_PAYLOAD_TRANSPORT_HEADER ||
      AttrU32(load, NFTNL_EXPR_PAYLOAD_LEN) != 2) {
    return false;
  }
  const uint32_t offset = AttrU32(load, NFTNL_EXPR_PAYLOAD_OFFSET);
  if (offset != Offset(ir::Direction::kSource) &&
      offset != Offset(ir::Direction::kDestination)) {
    return false;
  }
  out->proto = *proto;
  out->dir = offset == Offset(ir::Direction::kSource)
                 ? ir::Direction::kSource
                 : ir::Direction::kDestination;
  out->ports.clear();
  out->set.clear();
  std::string set;
  if (c.Is(i + 1, "lookup") && LooksUpNamedSet(c.Peek(i + 1), &set)) {
    out->set = std::move(set);
    out->negate = (AttrU32(c.Peek(i + 1), NFTNL_EXPR_LOOKUP_FLAGS) &
                   NFT_LOOKUP_F_INV) != 0;
  } else if (c.IsCmp(i + 1, &op, &data) && data.size() == 2 &&
             (op == NFT_CMP_EQ || op == NFT_CMP_NEQ)) {
    uint16_t port;
    memcpy(&port, data.data(), 2);
    out->ports.push_back(ntohs(port));
    out->negate = op == NFT_CMP_NEQ;
  } else if (c.Is(i + 1, "lookup")) {
    const nftnl_expr* lookup = c.Peek(i + 1);
    const std::vector<std::string>* keys = c.SetElements(lookup);
    if (keys == nullptr) return false;
    for (const std::string& k : *keys) {
      if (k.size() != 2) return false;
      out->ports.push_back(static_cast<uint16_t>(
          (static_cast<uint8_t>(k[0]) << 8) | static_cast<uint8_t>(k[1])));
    }
    out->negate =
        (AttrU32(lookup, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV) != 0;
  } else {
    return false;
  }
  c.l4proto = *proto;
  c.Advance(i + 2);
  return true;
}

}  // namespace meshcap::nft
