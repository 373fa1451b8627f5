// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/xt_rule.h"

#include <arpa/inet.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshcap::iptnft {
namespace {

// meshcap's tag: user-data item kTagUdataType holding these bytes.
constexpr char kTag[] = "mesh";

// Where iptables-nft loads addresses from (struct iphdr / ipv6hdr).
uint32_t AddressOffset(IpFamily f, ir::Direction dir) {
  const bool src = dir == ir::Direction::kSource;
  if (f == IpFamily::kIpv4) return src ? 12 : 16;
  return src ? 8 : 24;
}

size_t AddressLength(IpFamily f) { return f == IpFamily::kIpv4 ? 4 : 16; }

uint8_t ProtoNumber(ir::L4Proto p) {
  return p == ir::L4Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
}

// A tcp or udp match's port ranges, whichever it is.
struct Ports {
  uint16_t spts[2];
  uint16_t dpts[2];
  bool inv_src;
  bool inv_dst;
  bool plain;  // no tcp flags or options
};

std::optional<Ports> PortsOf(const std::string& name, const void* data,
                             size_t size) {
  Ports p{};
  if (name == "tcp" && size >= sizeof(xt_tcp)) {
    const auto& t = *static_cast<const xt_tcp*>(data);
    memcpy(p.spts, t.spts, sizeof(p.spts));
    memcpy(p.dpts, t.dpts, sizeof(p.dpts));
    p.inv_src = (t.invflags & XT_TCP_INV_SRCPT) != 0;
    p.inv_dst = (t.invflags & XT_TCP_INV_DSTPT) != 0;
    p.plain = t.option == 0 && t.flg_mask == 0 && t.flg_cmp == 0 &&
              (t.invflags & ~(XT_TCP_INV_SRCPT | XT_TCP_INV_DSTPT)) == 0;
    return p;
  }
  if (name == "udp" && size >= sizeof(xt_udp)) {
    const auto& u = *static_cast<const xt_udp*>(data);
    memcpy(p.spts, u.spts, sizeof(p.spts));
    memcpy(p.dpts, u.dpts, sizeof(p.dpts));
    p.inv_src = (u.invflags & XT_UDP_INV_SRCPT) != 0;
    p.inv_dst = (u.invflags & XT_UDP_INV_DSTPT) != 0;
    p.plain = (u.invflags & ~(XT_UDP_INV_SRCPT | XT_UDP_INV_DSTPT)) == 0;
    return p;
  }
  return std::nullopt;
}

// As iptables-nft's tcp_all_zero(): a match of any port (`-m tcp` alone)
// stays an xtables match.
bool AnyPort(const Ports& p) {
  return p.spts[0] == 0 && p.spts[1] == 0xffff && p.dpts[0] == 0 &&
         p.dpts[1] == 0xffff && !p.inv_src && !p.inv_dst;
}

void AddCmp(nftnl_rule* r, bool negate, const void* data, uint32_t len) {
  nftnl_rule_add_expr(r,
                      nftnl::Cmp(negate ? NFT_CMP_NEQ : NFT_CMP_EQ, data, len));
}

std::vector<uint8_t> Padded(const void* data, size_t size) {
  std::vector<uint8_t> out(XT_ALIGN(size), 0);
  if (size > 0) memcpy(out.data(), data, size);
  return out;
}

}  // namespace

// --- NftRuleWriter -----------------------------------------------------------

void NftRuleWriter::SetInterface(ir::Direction dir, const std::string& name,
                                 bool negate) {
  (dir == ir::Direction::kSource ? iif_ : oif_) = Iface{name, negate};
}

void NftRuleWriter::SetAddress(ir::Direction dir, const Cidr& cidr,
                               bool negate) {
  (dir == ir::Direction::kSource ? saddr_ : daddr_) = Addr{cidr, negate};
}

void NftRuleWriter::SetProtocol(ir::L4Proto p) { proto_ = p; }

void NftRuleWriter::Match(const char* name, uint8_t revision, const void* data,
                          size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  matches_.push_back({name, revision, std::vector<uint8_t>(p, p + size)});
}

void NftRuleWriter::Target(const char* name, uint8_t revision, const void* data,
                           size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  target_ = Ext{name, revision, std::vector<uint8_t>(p, p + size)};
}

void NftRuleWriter::Standard(const std::string& name) { standard_ = name; }

void NftRuleWriter::Finish(nftnl_rule* r, bool tag) {
  // The header, in nft_ipv4_add's / nft_ipv6_add's order.
  auto add_iface = [&](const std::optional<Iface>& i, uint32_t key) {
    if (!i.has_value()) return;
    nftnl_rule_add_expr(r, nftnl::MetaLoad(key));
    // The name and its NUL: an exact name, not a prefix.
    AddCmp(
        r, i->negate, i->name.c_str(),
        static_cast<uint32_t>(
            std::min(i->name.size(), static_cast<size_t>(IFNAMSIZ - 1)) + 1));
  };
  add_iface(iif_, NFT_META_IIFNAME);
  add_iface(oif_, NFT_META_OIFNAME);
  if (proto_.has_value()) {
    nftnl_rule_add_expr(r, nftnl::MetaLoad(NFT_META_L4PROTO));
    const uint8_t n = ProtoNumber(*proto_);
    AddCmp(r, false, &n, 1);
  }
  auto add_addr = [&](const std::optional<Addr>& a, ir::Direction dir) {
    if (!a.has_value()) return;
    const size_t len = AddressLength(family_);
    const int prefix = a->cidr.prefix_len();
    // As iptables: no address and no mask is no match at all.
    if (prefix == 0 && !a->negate) return;
    uint8_t mask[16] = {}, addr[16] = {};
    for (int i = 0; i < prefix; ++i) mask[i / 8] |= 0x80 >> (i % 8);
    for (size_t i = 0; i < len; ++i) addr[i] = a->cidr.bytes()[i] & mask[i];
    // add_addr(): the full bytes of the prefix only, unless it ends inside
    // a byte.
    const bool bitwise = prefix % 8 != 0;
    const auto n = static_cast<uint32_t>(bitwise ? len : prefix / 8);
    nftnl_rule_add_expr(r, nftnl::Payload(NFT_PAYLOAD_NETWORK_HEADER,
                                          AddressOffset(family_, dir), n));
    if (bitwise) {
      static const uint8_t kZero[16] = {};
      nftnl_rule_add_expr(r, nftnl::Bitwise(mask, kZero, n));
    }
    AddCmp(r, a->negate, addr, n);
  };
  add_addr(saddr_, ir::Direction::kSource);
  add_addr(daddr_, ir::Direction::kDestination);

  for (const Ext& m : matches_) {
    if (std::optional<Ports> p = PortsOf(m.name, m.data.data(), m.data.size());
        p.has_value() && m.revision == 0 && p->plain && !AnyPort(*p)) {
      // add_nft_tcpudp(): a load and a compare per side that is not "any".
      auto side = [&](const uint16_t range[2], bool inv, uint32_t offset) {
        if (range[0] == 0 && range[1] == 0xffff && !inv) return;
        nftnl_rule_add_expr(
            r, nftnl::Payload(NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2));
        const uint16_t port = htons(range[0]);
        AddCmp(r, inv, &port, 2);
      };
      side(p->spts, p->inv_src, 0);
      side(p->dpts, p->inv_dst, 2);
      continue;
    }
    if (m.name == "mark" && m.revision == 1 &&
        m.data.size() >= sizeof(xt_mark_mtinfo1)) {
      xt_mark_mtinfo1 mk;
      memcpy(&mk, m.data.data(), sizeof(mk));
      nftnl_rule_add_expr(r, nftnl::MetaLoad(NFT_META_MARK));
      if (mk.mask != 0xffffffff) {
        const uint32_t zero = 0;
        nftnl_rule_add_expr(r, nftnl::Bitwise(&mk.mask, &zero, 4));
      }
      AddCmp(r, mk.invert != 0, &mk.mark, 4);
      continue;
    }
    const std::vector<uint8_t> info = Padded(m.data.data(), m.data.size());
    nftnl_rule_add_expr(r,
                        nftnl::XtMatch(m.name.c_str(), m.revision, info.data(),
                                       static_cast<uint32_t>(info.size())));
  }

  nftnl_expr* counter = nftnl::Counter();
  nftnl_expr_set_u64(counter, NFTNL_EXPR_CTR_BYTES, 0);
  nftnl_expr_set_u64(counter, NFTNL_EXPR_CTR_PACKETS, 0);
  nftnl_rule_add_expr(r, counter);

  if (target_.has_value()) {
    const std::vector<uint8_t> info =
        Padded(target_->data.data(), target_->data.size());
    nftnl_rule_add_expr(
        r, nftnl::XtTarget(target_->name.c_str(), target_->revision,
                           info.data(), static_cast<uint32_t>(info.size())));
  } else if (standard_ == "ACCEPT") {
    nftnl_rule_add_expr(r, nftnl::Verdict(NF_ACCEPT));
  } else if (standard_ == "DROP") {
    nftnl_rule_add_expr(r, nftnl::Verdict(NF_DROP));
  } else if (standard_ == "RETURN") {
    nftnl_rule_add_expr(r, nftnl::Verdict(NFT_RETURN));
  } else if (!standard_.empty()) {
    nftnl_rule_add_expr(r, nftnl::Verdict(NFT_JUMP, &standard_));
  }

  // The protocol the kernel's xtables checks see (0: none).
  nftnl_rule_set_u32(r, NFTNL_RULE_COMPAT_PROTO,
                     proto_.has_value() ? ProtoNumber(*proto_) : 0);
  nftnl_rule_set_u32(r, NFTNL_RULE_COMPAT_FLAGS, 0);

  if (tag) {
    nftnl_udata_buf* buf = nftnl_udata_buf_alloc(16);
    nftnl_udata_put(buf, kTagUdataType, sizeof(kTag) - 1, kTag);
    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(buf),
                        nftnl_udata_buf_len(buf));
    nftnl_udata_buf_free(buf);
  }
}

// --- NftRuleReader -----------------------------------------------------------

namespace {

// Reads a rule's expressions one by one.
class Cursor {
 public:
  explicit Cursor(const nftnl_rule* r) : exprs_(Expressions(r)) {}

  bool done() const { return i_ >= exprs_.size(); }
  const nftnl_expr* peek(size_t ahead = 0) const {
    return i_ + ahead < exprs_.size() ? exprs_[i_ + ahead] : nullptr;
  }
  std::string name(size_t ahead = 0) const {
    const nftnl_expr* e = peek(ahead);
    return e != nullptr ? nftnl::ExprName(e) : "";
  }
  void skip(size_t n = 1) { i_ += n; }

 private:
  std::vector<const nftnl_expr*> exprs_;
  size_t i_ = 0;
};

bool Reg1Load(const nftnl_expr* e, uint16_t dreg_attr) {
  return nftnl::AttrU32(e, dreg_attr) == NFT_REG_1;
}

// A cmp of reg 1, eq or neq: its data and whether it is neq.
bool ReadCmp(const nftnl_expr* e, std::string* data, bool* neq) {
  if (e == nullptr || nftnl::ExprName(e) != "cmp") return false;
  if (nftnl::AttrU32(e, NFTNL_EXPR_CMP_SREG) != NFT_REG_1) return false;
  const uint32_t op = nftnl::AttrU32(e, NFTNL_EXPR_CMP_OP);
  if (op != NFT_CMP_EQ && op != NFT_CMP_NEQ) return false;
  *neq = op == NFT_CMP_NEQ;
  *data = nftnl::AttrBytes(e, NFTNL_EXPR_CMP_DATA);
  return true;
}

// A bitwise of reg 1 into reg 1 with xor 0 (the only one iptables-nft
// makes): its mask.
bool ReadMask(const nftnl_expr* e, std::string* mask) {
  if (e == nullptr || nftnl::ExprName(e) != "bitwise") return false;
  if (nftnl::AttrU32(e, NFTNL_EXPR_BITWISE_SREG) != NFT_REG_1 ||
      nftnl::AttrU32(e, NFTNL_EXPR_BITWISE_DREG) != NFT_REG_1 ||
      nftnl::AttrU32(e, NFTNL_EXPR_BITWISE_OP) != 0) {
    return false;
  }
  *mask = nftnl::AttrBytes(e, NFTNL_EXPR_BITWISE_MASK);
  const std::string x = nftnl::AttrBytes(e, NFTNL_EXPR_BITWISE_XOR);
  if (mask->size() != nftnl::AttrU32(e, NFTNL_EXPR_BITWISE_LEN)) return false;
  return std::all_of(x.begin(), x.end(), [](char c) { return c == 0; });
}

std::optional<Cidr> CidrOf(IpFamily f, const uint8_t* addr, int prefix) {
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(f == IpFamily::kIpv4 ? AF_INET : AF_INET6, addr, text,
                sizeof(text)) == nullptr) {
    return std::nullopt;
  }
  absl::StatusOr<Cidr> c = Cidr::Parse(absl::StrCat(text, "/", prefix));
  if (!c.ok()) return std::nullopt;
  return c->WithText(c->ToString());
}

}  // namespace

NftRuleReader::NftRuleReader(IpFamily family, const nftnl_rule* rule)
    : family_(family) {
  Cursor c(rule);
  const size_t alen = AddressLength(family);
  // What iptables-nft writes, part by part; anything else is unusual.
  while (!c.done() && !unusual_) {
    const std::string n = c.name();
    const nftnl_expr* e = c.peek();
    std::string data;
    bool neq = false;
    const bool can_merge = merge_ports_;
    merge_ports_ = false;
    if (n == "meta" && Reg1Load(e, NFTNL_EXPR_META_DREG)) {
      const uint32_t key = nftnl::AttrU32(e, NFTNL_EXPR_META_KEY);
      if (key == NFT_META_IIFNAME || key == NFT_META_OIFNAME) {
        // An exact name: printable, NUL-terminated, nothing after.
        if (!ReadCmp(c.peek(1), &data, &neq) || data.size() < 2 ||
            data.size() > IFNAMSIZ || data.back() != '\0' ||
            !std::all_of(data.begin(), data.end() - 1,
                         [](char ch) { return ch > ' ' && ch <= '~'; })) {
          unusual_ = true;
          break;
        }
        data.pop_back();
        ifaces_.push_back({key == NFT_META_IIFNAME
                               ? ir::Direction::kSource
                               : ir::Direction::kDestination,
                           data, neq});
        c.skip(2);
        continue;
      }
      if (key == NFT_META_L4PROTO) {
        if (!ReadCmp(c.peek(1), &data, &neq) || neq || data.size() != 1 ||
            proto_.has_value() ||
            (data[0] != IPPROTO_TCP && data[0] != IPPROTO_UDP)) {
          unusual_ = true;
          break;
        }
        proto_ = data[0] == IPPROTO_TCP ? ir::L4Proto::kTcp : ir::L4Proto::kUdp;
        c.skip(2);
        continue;
      }
      if (key == NFT_META_MARK) {
        xt_mark_mtinfo1 mk{};
        mk.mask = 0xffffffff;
        size_t used = 1;
        std::string mask;
        if (ReadMask(c.peek(1), &mask)) {
          if (mask.size() != 4) {
            unusual_ = true;
            break;
          }
          memcpy(&mk.mask, mask.data(), 4);
          ++used;
        }
        if (!ReadCmp(c.peek(used), &data, &neq) || data.size() != 4) {
          unusual_ = true;
          break;
        }
        memcpy(&mk.mark, data.data(), 4);
        mk.invert = neq ? 1 : 0;
        const auto* p = reinterpret_cast<const uint8_t*>(&mk);
        matches_.push_back(
            {"mark", 1, std::vector<uint8_t>(p, p + sizeof(mk))});
        c.skip(used + 1);
        continue;
      }
      unusual_ = true;
      break;
    }
    if (n == "payload" && Reg1Load(e, NFTNL_EXPR_PAYLOAD_DREG)) {
      const uint32_t base = nftnl::AttrU32(e, NFTNL_EXPR_PAYLOAD_BASE);
      const uint32_t offset = nftnl::AttrU32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
      const uint32_t len = nftnl::AttrU32(e, NFTNL_EXPR_PAYLOAD_LEN);
      if (base == NFT_PAYLOAD_NETWORK_HEADER) {
        ir::Direction dir;
        if (offset == AddressOffset(family, ir::Direction::kSource)) {
          dir = ir::Direction::kSource;
        } else if (offset ==
                   AddressOffset(family, ir::Direction::kDestination)) {
          dir = ir::Direction::kDestination;
        } else {
          unusual_ = true;
          break;
        }
        if (len == 0 || len > alen) {
          unusual_ = true;
          break;
        }
        size_t used = 1;
        int prefix = static_cast<int>(len) * 8;
        std::string mask;
        if (ReadMask(c.peek(1), &mask)) {
          // Only a prefix mask over the whole address, ending inside a byte.
          if (len != alen || mask.size() != alen) {
            unusual_ = true;
            break;
          }
          prefix = 0;
          bool ended = false;
          for (size_t i = 0; i < alen && !unusual_; ++i) {
            const auto m = static_cast<uint8_t>(mask[i]);
            for (int b = 7; b >= 0; --b) {
              const bool bit = (m >> b) & 1;
              if (bit && ended) unusual_ = true;
              if (!bit) ended = true;
              if (bit) ++prefix;
            }
          }
          if (unusual_ || prefix % 8 == 0) {
            unusual_ = true;
            break;
          }
          ++used;
        }
        if (!ReadCmp(c.peek(used), &data, &neq) || data.size() != len) {
          unusual_ = true;
          break;
        }
        uint8_t addr[16] = {};
        memcpy(addr, data.data(), len);
        for (size_t i = 0; i < alen; ++i) {
          const auto m = static_cast<uint8_t>(
              0xff00 >> std::clamp(prefix - static_cast<int>(i) * 8, 0, 8));
          if ((addr[i] & ~m) != 0) unusual_ = true;
        }
        std::optional<Cidr> cidr =
            unusual_ ? std::nullopt : CidrOf(family, addr, prefix);
        if (!cidr.has_value()) {
          unusual_ = true;
          break;
        }
        addrs_.push_back({dir, *cidr, neq});
        c.skip(used + 1);
        continue;
      }
      if (base == NFT_PAYLOAD_TRANSPORT_HEADER && len == 2 &&
          (offset == 0 || offset == 2) && proto_.has_value()) {
        if (!ReadCmp(c.peek(1), &data, &neq) || data.size() != 2) {
          unusual_ = true;
          break;
        }
        uint16_t port;
        memcpy(&port, data.data(), 2);
        port = ntohs(port);
        // Both sides of one match come as two loads in a row (sport first).
        const bool src = offset == 0;
        Ext* prev = nullptr;
        if (!src && can_merge) prev = &matches_.back();
        if (*proto_ == ir::L4Proto::kTcp) {
          xt_tcp t{};
          if (prev != nullptr) {
            memcpy(&t, prev->data.data(), sizeof(t));
          } else {
            t.spts[1] = t.dpts[1] = 0xffff;
          }
          uint16_t* range = src ? t.spts : t.dpts;
          range[0] = range[1] = port;
          if (neq) t.invflags |= src ? XT_TCP_INV_SRCPT : XT_TCP_INV_DSTPT;
          const auto* p = reinterpret_cast<const uint8_t*>(&t);
          if (prev != nullptr) {
            prev->data.assign(p, p + sizeof(t));
          } else {
            matches_.push_back(
                {"tcp", 0, std::vector<uint8_t>(p, p + sizeof(t))});
          }
        } else {
          xt_udp u{};
          if (prev != nullptr) {
            memcpy(&u, prev->data.data(), sizeof(u));
          } else {
            u.spts[1] = u.dpts[1] = 0xffff;
          }
          uint16_t* range = src ? u.spts : u.dpts;
          range[0] = range[1] = port;
          if (neq) u.invflags |= src ? XT_UDP_INV_SRCPT : XT_UDP_INV_DSTPT;
          const auto* p = reinterpret_cast<const uint8_t*>(&u);
          if (prev != nullptr) {
            prev->data.assign(p, p + sizeof(u));
          } else {
            matches_.push_back(
                {"udp", 0, std::vector<uint8_t>(p, p + sizeof(u))});
          }
        }
        // A source port may be followed by its match's destination port.
        merge_ports_ = src && prev == nullptr;
        c.skip(2);
        continue;
      }
      unusual_ = true;
      break;
    }
    if (n == "match") {
      const std::string info = nftnl::AttrBytes(e, NFTNL_EXPR_MT_INFO);
      const uint32_t rev = nftnl::AttrU32(e, NFTNL_EXPR_MT_REV);
      if (rev > 0xff) {
        unusual_ = true;
        break;
      }
      matches_.push_back({nftnl::AttrBytes(e, NFTNL_EXPR_MT_NAME).c_str(),
                          static_cast<uint8_t>(rev),
                          std::vector<uint8_t>(info.begin(), info.end())});
      c.skip();
      continue;
    }
    if (n == "counter") {
      c.skip();
      continue;
    }
    if (n == "immediate" &&
        nftnl::AttrU32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT &&
        c.peek(1) == nullptr) {
      const auto code =
          static_cast<int32_t>(nftnl::AttrU32(e, NFTNL_EXPR_IMM_VERDICT));
      if (code == NF_ACCEPT) {
        standard_ = "ACCEPT";
      } else if (code == NF_DROP) {
        standard_ = "DROP";
      } else if (code == NFT_RETURN) {
        standard_ = "RETURN";
      } else if (code == NFT_JUMP) {
        jump_ = nftnl::AttrBytes(e, NFTNL_EXPR_IMM_CHAIN).c_str();
        standard_ = jump_;
        if (standard_.empty()) unusual_ = true;
      } else {
        unusual_ = true;  // a goto, a queue, a continue
      }
      c.skip();
      continue;
    }
    if (n == "target" && c.peek(1) == nullptr) {
      const std::string info = nftnl::AttrBytes(e, NFTNL_EXPR_TG_INFO);
      const uint32_t rev = nftnl::AttrU32(e, NFTNL_EXPR_TG_REV);
      if (rev > 0xff) {
        unusual_ = true;
        break;
      }
      target_ = Ext{nftnl::AttrBytes(e, NFTNL_EXPR_TG_NAME).c_str(),
                    static_cast<uint8_t>(rev),
                    std::vector<uint8_t>(info.begin(), info.end())};
      c.skip();
      continue;
    }
    unusual_ = true;
  }
  // A rule without a verdict (iptables' rule without -j) is not ours.
  if (standard_.empty() && !target_.has_value()) unusual_ = true;
}

bool NftRuleReader::TakeInterface(ir::Direction* dir, std::string* name,
                                  bool* negate) {
  if (ifaces_.empty()) return false;
  *dir = ifaces_.front().dir;
  *name = ifaces_.front().name;
  *negate = ifaces_.front().negate;
  ifaces_.erase(ifaces_.begin());
  return true;
}

bool NftRuleReader::TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate) {
  if (addrs_.empty()) return false;
  *dir = addrs_.front().dir;
  *cidr = addrs_.front().cidr;
  *negate = addrs_.front().negate;
  addrs_.erase(addrs_.begin());
  return true;
}

bool NftRuleReader::TakeProtocol(ir::L4Proto* proto) {
  if (!proto_.has_value() || proto_taken_) return false;
  *proto = *proto_;
  proto_taken_ = true;
  return true;
}

bool NftRuleReader::header_done() const {
  return ifaces_.empty() && addrs_.empty() &&
         (!proto_.has_value() || proto_taken_);
}

const void* NftRuleReader::PeekMatch(const char* name, uint8_t revision,
                                     size_t* size) const {
  if (match_ >= matches_.size()) return nullptr;
  const Ext& m = matches_[match_];
  if (m.name != name || m.revision != revision) return nullptr;
  *size = m.data.size();
  return m.data.data();
}

const void* NftRuleReader::Target(const char* name, uint8_t revision,
                                  size_t* size) const {
  if (!target_.has_value() || target_->name != name ||
      target_->revision != revision) {
    return nullptr;
  }
  *size = target_->data.size();
  return target_->data.data();
}

// --- Helpers -----------------------------------------------------------------

bool HasTag(const nftnl_rule* rule) {
  if (!nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA)) return false;
  uint32_t len = 0;
  const auto* p = static_cast<const uint8_t*>(
      nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len));
  // Items are {u8 type, u8 len, data}.
  for (uint32_t off = 0; p != nullptr && off + 2 <= len;) {
    const uint8_t type = p[off], n = p[off + 1];
    if (off + 2 + n > len) return false;
    if (type == kTagUdataType && n == sizeof(kTag) - 1 &&
        memcmp(p + off + 2, kTag, n) == 0) {
      return true;
    }
    off += 2 + n;
  }
  return false;
}

std::vector<const nftnl_expr*> Expressions(const nftnl_rule* rule) {
  std::vector<const nftnl_expr*> out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(const_cast<nftnl_rule*>(rule));
  if (it == nullptr) return out;
  while (nftnl_expr* e = nftnl_expr_iter_next(it)) out.push_back(e);
  nftnl_expr_iter_destroy(it);
  return out;
}

bool SameExpressions(const nftnl_rule* a, const nftnl_rule* b) {
  const std::vector<const nftnl_expr*> ea = Expressions(a);
  const std::vector<const nftnl_expr*> eb = Expressions(b);
  if (ea.size() != eb.size()) return false;
  for (size_t i = 0; i < ea.size(); ++i) {
    if (!nftnl::ExprEqual(ea[i], eb[i])) return false;
  }
  return true;
}

std::string ExprKey(const nftnl_rule* rule) {
  std::string out;
  for (const nftnl_expr* e : Expressions(rule)) {
    const std::string n = nftnl::ExprName(e);
    absl::StrAppend(&out, "[ ", n);
    // Counter values move; every other attribute is the rule's.
    for (uint16_t type = NFTNL_EXPR_BASE;
         n != "counter" && type < NFTNL_EXPR_BASE + 16; ++type) {
      const std::string v = nftnl::AttrBytes(e, type);
      if (std::all_of(v.begin(), v.end(), [](char c) { return c == 0; })) {
        continue;
      }
      absl::StrAppend(&out, " ", type - NFTNL_EXPR_BASE, "=");
      for (char ch : v) {
        absl::StrAppend(&out,
                        absl::StrFormat("%02x", static_cast<uint8_t>(ch)));
      }
    }
    out += " ]\n";
  }
  return out;
}

std::string ExprListText(const nftnl_rule* rule) {
  std::string out;
  for (const nftnl_expr* e : Expressions(rule)) {
    const std::string n = nftnl::ExprName(e);
    char buf[512];
    buf[0] = '\0';
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    absl::StrAppend(&out, "[ ", n, " ", buf, "]");
    if (n == "match" || n == "target") {
      const std::string info =
          nftnl::AttrBytes(e, n == "match" ? uint16_t{NFTNL_EXPR_MT_INFO}
                                           : uint16_t{NFTNL_EXPR_TG_INFO});
      absl::StrAppend(&out, " info ");
      for (char ch : info) {
        absl::StrAppend(&out,
                        absl::StrFormat("%02x", static_cast<uint8_t>(ch)));
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace meshcap::iptnft
