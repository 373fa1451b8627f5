// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/ipt_lower.h"

#include <arpa/inet.h>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_CONNMARK.h>
#include <linux/netfilter/xt_CT.h>
#include <linux/netfilter/xt_MARK.h>
#include <linux/netfilter/xt_TPROXY.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_owner.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <net/if.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace meshcap::ipt {
namespace {

uint8_t IpProto(L4Proto p) {
  return p == L4Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
}

uint16_t CtStateBits(const CtStateMatch& m) {
  uint16_t bits = 0;
  for (CtState s : m.states) {
    switch (s) {
      case CtState::kInvalid:
        bits |= XT_CONNTRACK_STATE_INVALID;
        break;
      case CtState::kEstablished:
        bits |= XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED);
        break;
      case CtState::kRelated:
        bits |= XT_CONNTRACK_STATE_BIT(IP_CT_RELATED);
        break;
      case CtState::kNew:
        bits |= XT_CONNTRACK_STATE_BIT(IP_CT_NEW);
        break;
    }
  }
  return bits;
}

// Builds one entry: the fixed header, then matches, then the target.
class EntryWriter {
 public:
  explicit EntryWriter(IpFamily family) : v6_(family == IpFamily::kIpv6) {
    bytes_.assign(v6_ ? sizeof(ip6t_entry) : sizeof(ipt_entry), 0);
    if (v6_) {
      e6()->nfcache = kOwnerTag;
    } else {
      e4()->nfcache = kOwnerTag;
    }
  }

  void Interface(const InterfaceMatch& m) {
    char* name;
    unsigned char* mask;
    if (v6_) {
      const bool in = m.dir == Direction::kSource;
      name = in ? e6()->ipv6.iniface : e6()->ipv6.outiface;
      mask = in ? e6()->ipv6.iniface_mask : e6()->ipv6.outiface_mask;
    } else {
      const bool in = m.dir == Direction::kSource;
      name = in ? e4()->ip.iniface : e4()->ip.outiface;
      mask = in ? e4()->ip.iniface_mask : e4()->ip.outiface_mask;
    }
    // As xtables_parse_interface: the name and its NUL must match.
    memcpy(name, m.name.data(), m.name.size());
    memset(mask, 0xff, m.name.size() + 1);
  }

  void Address(const AddressMatch& m) {
    const bool src = m.dir == Direction::kSource;
    const auto& b = m.cidr.bytes();
    uint8_t mask[16] = {};
    for (int i = 0; i < m.cidr.prefix_len(); ++i)
      mask[i / 8] |= 0x80 >> (i % 8);
    if (v6_) {
      in6_addr* addr = src ? &e6()->ipv6.src : &e6()->ipv6.dst;
      in6_addr* msk = src ? &e6()->ipv6.smsk : &e6()->ipv6.dmsk;
      for (int i = 0; i < 16; ++i) addr->s6_addr[i] = b[i] & mask[i];
      memcpy(msk->s6_addr, mask, 16);
      if (m.negate) {
        e6()->ipv6.invflags |= src ? IP6T_INV_SRCIP : IP6T_INV_DSTIP;
      }
    } else {
      uint8_t a[4];
      for (int i = 0; i < 4; ++i) a[i] = b[i] & mask[i];
      memcpy(src ? &e4()->ip.src : &e4()->ip.dst, a, 4);
      memcpy(src ? &e4()->ip.smsk : &e4()->ip.dmsk, mask, 4);
      if (m.negate) e4()->ip.invflags |= src ? IPT_INV_SRCIP : IPT_INV_DSTIP;
    }
  }

  void Protocol(L4Proto p) {
    if (v6_) {
      e6()->ipv6.proto = IpProto(p);
      e6()->ipv6.flags |= IP6T_F_PROTO;
    } else {
      e4()->ip.proto = IpProto(p);
    }
  }

  template <typename T>
  void Match(const char* name, uint8_t revision, const T& data) {
    const size_t size = XT_ALIGN(sizeof(xt_entry_match) + sizeof(T));
    const size_t at = bytes_.size();
    bytes_.resize(at + size, 0);
    auto* m = reinterpret_cast<xt_entry_match*>(bytes_.data() + at);
    m->u.user.match_size = static_cast<uint16_t>(size);
    strncpy(m->u.user.name, name, sizeof(m->u.user.name) - 1);
    m->u.user.revision = revision;
    memcpy(m->data, &data, sizeof(T));
  }

  template <typename T>
  void Target(const char* name, uint8_t revision, const T& data,
              size_t size = sizeof(T)) {
    const size_t total = XT_ALIGN(sizeof(xt_entry_target) + size);
    const size_t at = bytes_.size();
    bytes_.resize(at + total, 0);
    auto* t = reinterpret_cast<xt_entry_target*>(bytes_.data() + at);
    t->u.user.target_size = static_cast<uint16_t>(total);
    strncpy(t->u.user.name, name, sizeof(t->u.user.name) - 1);
    t->u.user.revision = revision;
    memcpy(t->data, &data, sizeof(T) < size ? sizeof(T) : size);
    Finish(at);
  }

  // ACCEPT, DROP, RETURN or a chain; libiptc fills in the verdict.
  void Standard(const std::string& name) {
    const size_t total = XT_ALIGN(sizeof(xt_standard_target));
    const size_t at = bytes_.size();
    bytes_.resize(at + total, 0);
    auto* t = reinterpret_cast<xt_entry_target*>(bytes_.data() + at);
    t->u.user.target_size = static_cast<uint16_t>(total);
    strncpy(t->u.user.name, name.c_str(), sizeof(t->u.user.name) - 1);
    Finish(at);
  }

  bool is_v6() const { return v6_; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  ipt_entry* e4() { return reinterpret_cast<ipt_entry*>(bytes_.data()); }
  ip6t_entry* e6() { return reinterpret_cast<ip6t_entry*>(bytes_.data()); }

  void Finish(size_t target_offset) {
    const auto to = static_cast<uint16_t>(target_offset);
    const auto next = static_cast<uint16_t>(bytes_.size());
    if (v6_) {
      e6()->target_offset = to;
      e6()->next_offset = next;
    } else {
      e4()->target_offset = to;
      e4()->next_offset = next;
    }
  }

  bool v6_;
  std::vector<uint8_t> bytes_;
};

absl::Status LowerMatch(EntryWriter& w, const Match& match, bool& proto_set) {
  if (const auto* m = std::get_if<InterfaceMatch>(&match)) {
    if (m->name.empty() || m->name.size() >= IFNAMSIZ) {
      return absl::InvalidArgumentError(absl::StrCat(
          "interface name \"", m->name, "\" is not 1 to 15 bytes"));
    }
    w.Interface(*m);
  } else if (const auto* m = std::get_if<AddressMatch>(&match)) {
    w.Address(*m);
  } else if (const auto* m = std::get_if<ProtocolMatch>(&match)) {
    w.Protocol(m->proto);
    proto_set = true;
  } else if (const auto* m = std::get_if<PortMatch>(&match)) {
    if (!proto_set) {
      w.Protocol(m->proto);
      proto_set = true;
    }
    const bool src = m->dir == Direction::kSource;
    if (m->ports.empty() || m->ports.size() > XT_MULTI_PORTS) {
      return absl::InvalidArgumentError(
          absl::StrCat("a port match takes 1 to ", XT_MULTI_PORTS,
                       " ports, not ", m->ports.size()));
    }
    if (m->ports.size() == 1) {
      const uint16_t p = m->ports[0];
      if (m->proto == L4Proto::kTcp) {
        xt_tcp tcp{};
        tcp.spts[1] = tcp.dpts[1] = 0xffff;
        (src ? tcp.spts : tcp.dpts)[0] = p;
        (src ? tcp.spts : tcp.dpts)[1] = p;
        if (m->negate) tcp.invflags = src ? XT_TCP_INV_SRCPT : XT_TCP_INV_DSTPT;
        w.Match("tcp", 0, tcp);
      } else {
        xt_udp udp{};
        udp.spts[1] = udp.dpts[1] = 0xffff;
        (src ? udp.spts : udp.dpts)[0] = p;
        (src ? udp.spts : udp.dpts)[1] = p;
        if (m->negate) udp.invflags = src ? XT_UDP_INV_SRCPT : XT_UDP_INV_DSTPT;
        w.Match("udp", 0, udp);
      }
    } else {
      xt_multiport_v1 mp{};
      mp.flags = src ? XT_MULTIPORT_SOURCE : XT_MULTIPORT_DESTINATION;
      mp.count = static_cast<uint8_t>(m->ports.size());
      for (size_t i = 0; i < m->ports.size(); ++i) mp.ports[i] = m->ports[i];
      mp.invert = m->negate ? 1 : 0;
      w.Match("multiport", 1, mp);
    }
  } else if (const auto* m = std::get_if<OwnerMatch>(&match)) {
    xt_owner_match_info o{};
    const uint8_t bit =
        m->kind == OwnerMatch::kUid ? XT_OWNER_UID : XT_OWNER_GID;
    if (m->kind == OwnerMatch::kUid) {
      o.uid_min = o.uid_max = m->id;
    } else {
      o.gid_min = o.gid_max = m->id;
    }
    o.match = bit;
    o.invert = m->negate ? bit : 0;
    w.Match("owner", 1, o);
  } else if (const auto* m = std::get_if<MarkMatch>(&match)) {
    xt_mark_mtinfo1 mk{};
    mk.mark = m->mark;
    mk.mask = 0xffffffff;
    mk.invert = m->negate ? 1 : 0;
    w.Match("mark", 1, mk);
  } else if (const auto* m = std::get_if<ConnmarkMatch>(&match)) {
    xt_connmark_mtinfo1 cm{};
    cm.mark = m->mark;
    cm.mask = 0xffffffff;
    w.Match("connmark", 1, cm);
  } else if (const auto* m = std::get_if<CtStateMatch>(&match)) {
    xt_conntrack_mtinfo3 ct{};
    ct.match_flags = XT_CONNTRACK_STATE;
    ct.state_mask = CtStateBits(*m);
    w.Match("conntrack", 3, ct);
  }
  return absl::OkStatus();
}

absl::Status LowerVerdict(EntryWriter& w, const Verdict& v) {
  if (const auto* j = std::get_if<JumpVerdict>(&v)) {
    w.Standard(j->chain);
  } else if (std::holds_alternative<ReturnVerdict>(v)) {
    w.Standard("RETURN");
  } else if (std::holds_alternative<AcceptVerdict>(v)) {
    w.Standard("ACCEPT");
  } else if (std::holds_alternative<DropVerdict>(v)) {
    w.Standard("DROP");
  } else if (const auto* r = std::get_if<RedirectVerdict>(&v)) {
    if (w.is_v6()) {
      nf_nat_range range{};
      range.flags = NF_NAT_RANGE_PROTO_SPECIFIED;
      range.min_proto.tcp.port = range.max_proto.tcp.port = htons(r->port);
      w.Target("REDIRECT", 0, range);
    } else {
      nf_nat_ipv4_multi_range_compat mr{};
      mr.rangesize = 1;
      mr.range[0].flags = NF_NAT_RANGE_PROTO_SPECIFIED;
      mr.range[0].min.tcp.port = mr.range[0].max.tcp.port = htons(r->port);
      w.Target("REDIRECT", 0, mr);
    }
  } else if (const auto* t = std::get_if<TproxyVerdict>(&v)) {
    xt_tproxy_target_info_v1 tp{};
    tp.mark_mask = t->mask;
    tp.mark_value = t->mark;
    tp.lport = htons(t->port);
    w.Target("TPROXY", 1, tp);
  } else if (const auto* m = std::get_if<SetMarkVerdict>(&v)) {
    xt_mark_tginfo2 mk{};
    mk.mark = m->mark;
    mk.mask = 0xffffffff;
    w.Target("MARK", 2, mk);
  } else if (std::holds_alternative<ConnmarkSaveVerdict>(v) ||
             std::holds_alternative<ConnmarkRestoreVerdict>(v)) {
    xt_connmark_tginfo2 cm{};
    cm.ctmask = cm.nfmask = 0xffffffff;
    cm.mode = std::holds_alternative<ConnmarkSaveVerdict>(v)
                  ? XT_CONNMARK_SAVE
                  : XT_CONNMARK_RESTORE;
    w.Target("CONNMARK", 2, cm);
  } else if (const auto* z = std::get_if<CtZoneVerdict>(&v)) {
    xt_ct_target_info_v1 ct{};
    ct.zone = z->zone;
    w.Target("CT", 2, ct);
  } else {
    return absl::InvalidArgumentError("unknown verdict");
  }
  return absl::OkStatus();
}

bool IsBuiltin(const std::string& chain) {
  return chain == "PREROUTING" || chain == "OUTPUT" || chain == "INPUT" ||
         chain == "FORWARD" || chain == "POSTROUTING";
}

}  // namespace

const std::vector<std::string>& OurChainNames() {
  static const std::vector<std::string> kNames = {
      "ISTIO_DIVERT", "ISTIO_DROP",       "ISTIO_INBOUND",  "ISTIO_IN_REDIRECT",
      "ISTIO_OUTPUT", "ISTIO_OUTPUT_DNS", "ISTIO_REDIRECT", "ISTIO_TPROXY"};
  return kNames;
}

absl::StatusOr<std::vector<LoweredTable>> Lower(const RuleSet& rules,
                                                IpFamily family) {
  std::vector<LoweredTable> out;
  for (const Table& t : rules.tables) {
    LoweredTable lt;
    lt.kind = t.kind;
    lt.family = family;
    for (const ChainSpec& c : t.chains) {
      const std::vector<const Rule*> chain_rules =
          ResolveChain(t, c.name, family);
      if (!IsBuiltin(c.name) && !chain_rules.empty()) {
        lt.user_chains.push_back(c.name);
      }
      int position = 0;
      for (const Rule* r : chain_rules) {
        EntryWriter w(family);
        bool proto_set = false;
        std::vector<size_t> order;
        if (r->iptables_order.empty()) {
          for (size_t i = 0; i < r->matches.size(); ++i) order.push_back(i);
        } else {
          order.assign(r->iptables_order.begin(), r->iptables_order.end());
        }
        absl::Status s;
        for (size_t i : order) {
          s = LowerMatch(w, r->matches[i], proto_set);
          if (!s.ok()) break;
        }
        if (s.ok()) s = LowerVerdict(w, r->verdict);
        ++position;
        if (!s.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("rule ", position, " of ", TableName(t.kind), "/",
                           c.name, ": ", s.message()));
        }
        LoweredEntry& e = lt.entries.emplace_back();
        e.chain = c.name;
        e.position = position;
        e.source = r;
        e.bytes = w.Take();
      }
    }
    if (!lt.entries.empty()) out.push_back(std::move(lt));
  }
  return out;
}

}  // namespace meshcap::ipt
