// SPDX-License-Identifier: GPL-2.0-or-later
// ir::AddressMatch: `ip saddr 127.0.0.6/32`, `ip6 daddr != ::1/128`.
// In an inet table nft first proves the family (once per rule):
//   [ meta load nfproto => reg 1 ]
//   [ cmp eq reg 1 0x00000002 ]
// A prefix on a byte boundary loads just its bytes:
//   [ payload load 4b @ network header + 12 => reg 1 ]
//   [ cmp eq reg 1 0x0600007f ]
// any other loads the address and masks it:
//   [ payload load 4b @ network header + 16 => reg 1 ]
//   [ bitwise reg 1 = ( reg 1 & 0x0000ffff ) ^ 0x00000000 ]
//   [ cmp eq reg 1 0x00000a0a ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include <array>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {
namespace {

uint32_t Offset(bool v4, ir::Direction dir) {
  const bool src = dir == ir::Direction::kSource;
  if (v4) return src ? offsetof(iphdr, saddr) : offsetof(iphdr, daddr);
  return src ? offsetof(ip6_hdr, ip6_src) : offsetof(ip6_hdr, ip6_dst);
}

}  // namespace

void Spell(const ir::AddressMatch& m, const SpellContext&, std::string& out) {
  out += m.cidr.family() == IpFamily::kIpv4 ? "ip " : "ip6 ";
  out += m.dir == ir::Direction::kSource ? "saddr " : "daddr ";
  if (m.negate) out += "!= ";
  if (!m.set.empty()) {
    absl::StrAppend(&out, "@", m.set);
    return;
  }
  out += m.cidr.Text();
}

void Encode(const ir::AddressMatch& m, RuleEncoder& enc) {
  const bool v4 = m.cidr.family() == IpFamily::kIpv4;
  enc.NfprotoDependency(m.cidr.family());
  const uint32_t addr_len = v4 ? 4 : 16;
  const uint32_t offset = Offset(v4, m.dir);
  const int prefix = m.cidr.prefix_len();
  const auto& bytes = m.cidr.bytes();
  const uint32_t op = m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ;
  if (!m.set.empty()) {
    enc.Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, addr_len);
    enc.LookupNamed(m.set, m.negate);
    return;
  }
  if (prefix > 0 && prefix % 8 == 0) {
    const auto len = static_cast<uint32_t>(prefix / 8);
    enc.Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len);
    enc.Cmp(op, bytes.data(), len);
    return;
  }
  std::array<uint8_t, 16> mask{}, zero{}, value{};
  for (int i = 0; i < prefix; ++i) mask[i / 8] |= 0x80 >> (i % 8);
  for (uint32_t i = 0; i < addr_len; ++i) value[i] = bytes[i] & mask[i];
  enc.Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, addr_len);
  enc.Bitwise(mask.data(), zero.data(), addr_len);
  enc.Cmp(op, value.data(), addr_len);
}

bool Decode(ExprCursor& c, ir::AddressMatch* out) {
  size_t i = 0;
  std::optional<IpFamily> proven;
  uint32_t op = 0;
  std::string data;
  if (c.IsMetaLoad(0, NFT_META_NFPROTO) && c.IsCmp(1, &op, &data) &&
      op == NFT_CMP_EQ && data.size() == 1 && c.Is(2, "payload")) {
    proven = data[0] == NFPROTO_IPV4 ? IpFamily::kIpv4 : IpFamily::kIpv6;
    i = 2;
  }
  if (!c.Is(i, "payload")) return false;
  const nftnl_expr* load = c.Peek(i);
  if (AttrU32(load, NFTNL_EXPR_PAYLOAD_BASE) != NFT_PAYLOAD_NETWORK_HEADER) {
    return false;
  }
  const uint32_t offset = AttrU32(load, NFTNL_EXPR_PAYLOAD_OFFSET);
  const uint32_t len = AttrU32(load, NFTNL_EXPR_PAYLOAD_LEN);
  bool v4;
  ir::Direction dir;
  if (offset == Offset(true, ir::Direction::kSource) ||
      offset == Offset(true, ir::Direction::kDestination)) {
    v4 = true;
    dir = offset == Offset(true, ir::Direction::kSource)
              ? ir::Direction::kSource
              : ir::Direction::kDestination;
  } else if (offset == Offset(false, ir::Direction::kSource) ||
             offset == Offset(false, ir::Direction::kDestination)) {
    v4 = false;
    dir = offset == Offset(false, ir::Direction::kSource)
              ? ir::Direction::kSource
              : ir::Direction::kDestination;
  } else {
    return false;
  }
  if (proven.has_value() && (*proven == IpFamily::kIpv4) != v4) return false;
  const uint32_t full = v4 ? 4 : 16;
  if (len == 0 || len > full) return false;
  size_t j = i + 1;
  std::string set;
  if (len == full && c.Is(j, "lookup") && LooksUpNamedSet(c.Peek(j), &set)) {
    out->dir = dir;
    out->cidr = *Cidr::Parse(v4 ? "0.0.0.0/0" : "::/0");
    out->negate =
        (AttrU32(c.Peek(j), NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV) != 0;
    out->set = std::move(set);
    c.nfproto_seen = true;
    c.Advance(j + 1);
    return true;
  }
  int prefix = static_cast<int>(len) * 8;
  if (c.Is(j, "bitwise")) {
    if (len != full) return false;
    const std::string mask = AttrBytes(c.Peek(j), NFTNL_EXPR_BITWISE_MASK);
    prefix = 0;
    for (unsigned char b : mask) {
      for (int bit = 7; bit >= 0; --bit) prefix += (b >> bit) & 1;
    }
    ++j;
  }
  if (!c.IsCmp(j, &op, &data) || (op != NFT_CMP_EQ && op != NFT_CMP_NEQ)) {
    return false;
  }
  std::array<uint8_t, 16> addr{};
  for (size_t k = 0; k < data.size() && k < addr.size(); ++k) {
    addr[k] = static_cast<uint8_t>(data[k]);
  }
  char text[64];
  inet_ntop(v4 ? AF_INET : AF_INET6, addr.data(), text, sizeof(text));
  absl::StatusOr<Cidr> cidr = Cidr::Parse(absl::StrCat(text, "/", prefix));
  if (!cidr.ok()) return false;
  out->dir = dir;
  out->cidr = cidr->WithText(cidr->ToString());
  out->negate = op == NFT_CMP_NEQ;
  out->set.clear();
  c.nfproto_seen = true;
  c.Advance(j + 1);
  return true;
}

}  // namespace meshcap::nft
