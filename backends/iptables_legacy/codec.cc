// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/codec.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshcap::ipt {
namespace {

ipt_entry* E4(std::vector<uint8_t>& b) {
  return reinterpret_cast<ipt_entry*>(b.data());
}
ip6t_entry* E6(std::vector<uint8_t>& b) {
  return reinterpret_cast<ip6t_entry*>(b.data());
}

int PrefixOf(const uint8_t* mask, size_t len) {
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    for (int b = 7; b >= 0; --b) bits += (mask[i] >> b) & 1;
  }
  return bits;
}

std::optional<Cidr> ToCidr(IpFamily f, const uint8_t* addr,
                           const uint8_t* mask) {
  const size_t len = f == IpFamily::kIpv4 ? 4 : 16;
  // Only what EntryWriter::SetAddress writes: a prefix mask, no host bits.
  const int prefix = PrefixOf(mask, len);
  for (size_t i = 0; i < len; ++i) {
    const int bits = std::clamp(prefix - static_cast<int>(i) * 8, 0, 8);
    const auto want = static_cast<uint8_t>(0xff00 >> bits);
    if (mask[i] != want || (addr[i] & ~want) != 0) return std::nullopt;
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(f == IpFamily::kIpv4 ? AF_INET : AF_INET6, addr, text,
            sizeof(text));
  absl::StatusOr<Cidr> c =
      Cidr::Parse(absl::StrCat(text, "/", PrefixOf(mask, len)));
  if (!c.ok()) return std::nullopt;
  return c->WithText(c->ToString());
}

std::string IfaceName(const char* name) {
  return std::string(name, strnlen(name, IFNAMSIZ));
}

// Whether `name`/`mask` are what EntryWriter::SetInterface writes: an exact
// name (NUL-terminated, printable) whose mask covers it and its NUL, or no
// name and no mask.
bool ExactInterface(const char* name, const unsigned char* mask) {
  const size_t n = strnlen(name, IFNAMSIZ);
  if (n == IFNAMSIZ) return false;
  for (size_t i = 0; i < IFNAMSIZ; ++i) {
    const unsigned char want = n > 0 && i <= n ? 0xff : 0;
    if (mask[i] != want) return false;
    if (i > n && name[i] != '\0') return false;
    if (i < n && (name[i] <= ' ' || name[i] > '~')) return false;
  }
  return true;
}

}  // namespace

// --- EntryWriter -------------------------------------------------------------

EntryWriter::EntryWriter(IpFamily family) : v6_(family == IpFamily::kIpv6) {
  bytes_.assign(v6_ ? sizeof(ip6t_entry) : sizeof(ipt_entry), 0);
  if (v6_) {
    E6(bytes_)->nfcache = kOwnerTag;
  } else {
    E4(bytes_)->nfcache = kOwnerTag;
  }
}

void EntryWriter::SetInterface(ir::Direction dir, const std::string& name,
                               bool negate) {
  const bool in = dir == ir::Direction::kSource;
  char* iface;
  unsigned char* mask;
  if (v6_) {
    iface = in ? E6(bytes_)->ipv6.iniface : E6(bytes_)->ipv6.outiface;
    mask = in ? E6(bytes_)->ipv6.iniface_mask : E6(bytes_)->ipv6.outiface_mask;
    if (negate)
      E6(bytes_)->ipv6.invflags |= in ? IP6T_INV_VIA_IN : IP6T_INV_VIA_OUT;
  } else {
    iface = in ? E4(bytes_)->ip.iniface : E4(bytes_)->ip.outiface;
    mask = in ? E4(bytes_)->ip.iniface_mask : E4(bytes_)->ip.outiface_mask;
    if (negate)
      E4(bytes_)->ip.invflags |= in ? IPT_INV_VIA_IN : IPT_INV_VIA_OUT;
  }
  // As xtables_parse_interface: the name and its NUL must match.
  const size_t n = std::min(name.size(), static_cast<size_t>(IFNAMSIZ - 1));
  memcpy(iface, name.data(), n);
  memset(mask, 0xff, n + 1);
}

void EntryWriter::SetAddress(ir::Direction dir, const Cidr& cidr, bool negate) {
  const bool src = dir == ir::Direction::kSource;
  const auto& b = cidr.bytes();
  uint8_t mask[16] = {};
  for (int i = 0; i < cidr.prefix_len(); ++i) mask[i / 8] |= 0x80 >> (i % 8);
  if (v6_) {
    in6_addr* addr = src ? &E6(bytes_)->ipv6.src : &E6(bytes_)->ipv6.dst;
    in6_addr* msk = src ? &E6(bytes_)->ipv6.smsk : &E6(bytes_)->ipv6.dmsk;
    for (int i = 0; i < 16; ++i) addr->s6_addr[i] = b[i] & mask[i];
    memcpy(msk->s6_addr, mask, 16);
    if (negate)
      E6(bytes_)->ipv6.invflags |= src ? IP6T_INV_SRCIP : IP6T_INV_DSTIP;
  } else {
    uint8_t a[4];
    for (int i = 0; i < 4; ++i) a[i] = b[i] & mask[i];
    memcpy(src ? &E4(bytes_)->ip.src : &E4(bytes_)->ip.dst, a, 4);
    memcpy(src ? &E4(bytes_)->ip.smsk : &E4(bytes_)->ip.dmsk, mask, 4);
    if (negate) E4(bytes_)->ip.invflags |= src ? IPT_INV_SRCIP : IPT_INV_DSTIP;
  }
}

void EntryWriter::SetProtocol(ir::L4Proto p) {
  const uint8_t proto = p == ir::L4Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  if (v6_) {
    E6(bytes_)->ipv6.proto = proto;
    E6(bytes_)->ipv6.flags |= IP6T_F_PROTO;
  } else {
    E4(bytes_)->ip.proto = proto;
  }
  proto_set_ = true;
}

void EntryWriter::Match(const char* name, uint8_t revision, const void* data,
                        size_t size) {
  const size_t total = XT_ALIGN(sizeof(xt_entry_match) + size);
  const size_t at = bytes_.size();
  bytes_.resize(at + total, 0);
  auto* m = reinterpret_cast<xt_entry_match*>(bytes_.data() + at);
  m->u.user.match_size = static_cast<uint16_t>(total);
  strncpy(m->u.user.name, name, sizeof(m->u.user.name) - 1);
  m->u.user.revision = revision;
  memcpy(m->data, data, size);
}

void EntryWriter::Target(const char* name, uint8_t revision, const void* data,
                         size_t size) {
  const size_t total = XT_ALIGN(sizeof(xt_entry_target) + size);
  const size_t at = bytes_.size();
  bytes_.resize(at + total, 0);
  auto* t = reinterpret_cast<xt_entry_target*>(bytes_.data() + at);
  t->u.user.target_size = static_cast<uint16_t>(total);
  strncpy(t->u.user.name, name, sizeof(t->u.user.name) - 1);
  t->u.user.revision = revision;
  memcpy(t->data, data, size);
  Finish(at);
}

void EntryWriter::Standard(const std::string& name) {
  const size_t total = XT_ALIGN(sizeof(xt_standard_target));
  const size_t at = bytes_.size();
  bytes_.resize(at + total, 0);
  auto* t = reinterpret_cast<xt_entry_target*>(bytes_.data() + at);
  t->u.user.target_size = static_cast<uint16_t>(total);
  strncpy(t->u.user.name, name.c_str(), sizeof(t->u.user.name) - 1);
  Finish(at);
}

void EntryWriter::Finish(size_t target_offset) {
  const auto to = static_cast<uint16_t>(target_offset);
  const auto next = static_cast<uint16_t>(bytes_.size());
  if (v6_) {
    E6(bytes_)->target_offset = to;
    E6(bytes_)->next_offset = next;
  } else {
    E4(bytes_)->target_offset = to;
    E4(bytes_)->next_offset = next;
  }
}

// --- EntryReader -------------------------------------------------------------

std::span<const uint8_t> EntryBytes(IpFamily family, const void* entry) {
  const uint16_t size =
      family == IpFamily::kIpv4
          ? static_cast<const ipt_entry*>(entry)->next_offset
          : static_cast<const ip6t_entry*>(entry)->next_offset;
  return {static_cast<const uint8_t*>(entry), size};
}

EntryReader::EntryReader(IpFamily family, std::span<const uint8_t> entry,
                         const char* standard)
    : family_(family), standard_(standard) {
  const uint8_t* p = entry.data();
  const size_t header =
      family == IpFamily::kIpv4 ? sizeof(ipt_entry) : sizeof(ip6t_entry);
  if (entry.size() < header) return;
  size_t target_offset = 0, next_offset = 0;
  if (family == IpFamily::kIpv4) {
    const auto* e = reinterpret_cast<const ipt_entry*>(p);
    const ipt_ip& ip = e->ip;
    target_offset = e->target_offset;
    next_offset = e->next_offset;
    constexpr uint8_t kInv =
        IPT_INV_VIA_IN | IPT_INV_VIA_OUT | IPT_INV_SRCIP | IPT_INV_DSTIP;
    unusual_ =
        ip.flags != 0 || (ip.invflags & ~kInv) != 0 ||
        (ip.proto != 0 && ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP) ||
        !ExactInterface(ip.iniface, ip.iniface_mask) ||
        !ExactInterface(ip.outiface, ip.outiface_mask) ||
        (ip.smsk.s_addr == 0 &&
         (ip.src.s_addr != 0 || (ip.invflags & IPT_INV_SRCIP))) ||
        (ip.dmsk.s_addr == 0 &&
         (ip.dst.s_addr != 0 || (ip.invflags & IPT_INV_DSTIP))) ||
        (ip.iniface[0] == '\0' && (ip.invflags & IPT_INV_VIA_IN)) ||
        (ip.outiface[0] == '\0' && (ip.invflags & IPT_INV_VIA_OUT));
    if (ip.smsk.s_addr != 0) {
      addrs_.push_back(
          {ir::Direction::kSource,
           ToCidr(family, reinterpret_cast<const uint8_t*>(&ip.src),
                  reinterpret_cast<const uint8_t*>(&ip.smsk)),
           (ip.invflags & IPT_INV_SRCIP) != 0});
    }
    if (ip.dmsk.s_addr != 0) {
      addrs_.push_back(
          {ir::Direction::kDestination,
           ToCidr(family, reinterpret_cast<const uint8_t*>(&ip.dst),
                  reinterpret_cast<const uint8_t*>(&ip.dmsk)),
           (ip.invflags & IPT_INV_DSTIP) != 0});
    }
    if (ip.iniface[0] != '\0') {
      ifaces_.push_back({ir::Direction::kSource, IfaceName(ip.iniface),
                         (ip.invflags & IPT_INV_VIA_IN) != 0});
    }
    if (ip.outiface[0] != '\0') {
      ifaces_.push_back({ir::Direction::kDestination, IfaceName(ip.outiface),
                         (ip.invflags & IPT_INV_VIA_OUT) != 0});
    }
    if (ip.proto == IPPROTO_TCP) proto_ = ir::L4Proto::kTcp;
    if (ip.proto == IPPROTO_UDP) proto_ = ir::L4Proto::kUdp;
  } else {
    const auto* e = reinterpret_cast<const ip6t_entry*>(p);
    const ip6t_ip6& ip = e->ipv6;
    target_offset = e->target_offset;
    next_offset = e->next_offset;
    static const uint8_t kZero[16] = {};
    constexpr uint8_t kInv =
        IP6T_INV_VIA_IN | IP6T_INV_VIA_OUT | IP6T_INV_SRCIP | IP6T_INV_DSTIP;
    const bool has_proto = (ip.flags & IP6T_F_PROTO) != 0;
    unusual_ =
        (ip.flags & ~IP6T_F_PROTO) != 0 || (ip.invflags & ~kInv) != 0 ||
        (has_proto && ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP) ||
        (!has_proto && ip.proto != 0) ||
        !ExactInterface(ip.iniface, ip.iniface_mask) ||
        !ExactInterface(ip.outiface, ip.outiface_mask) ||
        (memcmp(&ip.smsk, kZero, 16) == 0 &&
         (memcmp(&ip.src, kZero, 16) != 0 || (ip.invflags & IP6T_INV_SRCIP))) ||
        (memcmp(&ip.dmsk, kZero, 16) == 0 &&
         (memcmp(&ip.dst, kZero, 16) != 0 || (ip.invflags & IP6T_INV_DSTIP))) ||
        (ip.iniface[0] == '\0' && (ip.invflags & IP6T_INV_VIA_IN)) ||
        (ip.outiface[0] == '\0' && (ip.invflags & IP6T_INV_VIA_OUT));
    if (memcmp(&ip.smsk, kZero, 16) != 0) {
      addrs_.push_back({ir::Direction::kSource,
                        ToCidr(family, ip.src.s6_addr, ip.smsk.s6_addr),
                        (ip.invflags & IP6T_INV_SRCIP) != 0});
    }
    if (memcmp(&ip.dmsk, kZero, 16) != 0) {
      addrs_.push_back({ir::Direction::kDestination,
                        ToCidr(family, ip.dst.s6_addr, ip.dmsk.s6_addr),
                        (ip.invflags & IP6T_INV_DSTIP) != 0});
    }
    if (ip.iniface[0] != '\0') {
      ifaces_.push_back({ir::Direction::kSource, IfaceName(ip.iniface),
                         (ip.invflags & IP6T_INV_VIA_IN) != 0});
    }
    if (ip.outiface[0] != '\0') {
      ifaces_.push_back({ir::Direction::kDestination, IfaceName(ip.outiface),
                         (ip.invflags & IP6T_INV_VIA_OUT) != 0});
    }
    if (ip.flags & IP6T_F_PROTO) {
      if (ip.proto == IPPROTO_TCP) proto_ = ir::L4Proto::kTcp;
      if (ip.proto == IPPROTO_UDP) proto_ = ir::L4Proto::kUdp;
    }
  }
  next_offset = std::min(next_offset, entry.size());
  target_offset = std::min(target_offset, next_offset);
  for (size_t off = header; off + sizeof(xt_entry_match) <= target_offset;) {
    const auto* m = reinterpret_cast<const xt_entry_match*>(p + off);
    const uint16_t size = m->u.user.match_size;
    // The kernel keeps every part XT_ALIGNed; anything else is malformed.
    if (size < sizeof(xt_entry_match) || XT_ALIGN(size) != size ||
        off + size > target_offset) {
      break;
    }
    matches_.push_back(
        {std::string(m->u.user.name,
                     strnlen(m->u.user.name, sizeof(m->u.user.name))),
         m->u.user.revision, m->data, size - sizeof(xt_entry_match)});
    off += size;
  }
  if (standard_ == nullptr && target_offset >= header &&
      XT_ALIGN(target_offset) == target_offset &&
      target_offset + sizeof(xt_entry_target) <= next_offset) {
    const auto* t = reinterpret_cast<const xt_entry_target*>(p + target_offset);
    target_ = Ext{std::string(t->u.user.name,
                              strnlen(t->u.user.name, sizeof(t->u.user.name))),
                  t->u.user.revision, t->data,
                  next_offset - target_offset - sizeof(xt_entry_target)};
  }
}

bool EntryReader::TakeInterface(ir::Direction* dir, std::string* name,
                                bool* negate) {
  if (ifaces_.empty()) return false;
  *dir = ifaces_.front().dir;
  *name = ifaces_.front().name;
  *negate = ifaces_.front().negate;
  ifaces_.erase(ifaces_.begin());
  return true;
}

bool EntryReader::TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate) {
  if (addrs_.empty() || !addrs_.front().cidr.has_value()) return false;
  *dir = addrs_.front().dir;
  *cidr = *addrs_.front().cidr;
  *negate = addrs_.front().negate;
  addrs_.erase(addrs_.begin());
  return true;
}

bool EntryReader::TakeProtocol(ir::L4Proto* proto) {
  if (!proto_.has_value() || proto_taken_) return false;
  *proto = *proto_;
  proto_taken_ = true;
  return true;
}

bool EntryReader::header_done() const {
  return ifaces_.empty() && addrs_.empty() &&
         (!proto_.has_value() || proto_taken_);
}

const void* EntryReader::PeekMatch(const char* name, uint8_t revision,
                                   size_t* size) const {
  if (match_ >= matches_.size()) return nullptr;
  const Ext& m = matches_[match_];
  if (m.name != name || m.revision != revision) return nullptr;
  *size = m.size;
  return m.data;
}

const void* EntryReader::Target(const char* name, uint8_t revision,
                                size_t* size) const {
  if (!target_.has_value() || target_->name != name ||
      target_->revision != revision) {
    return nullptr;
  }
  *size = target_->size;
  return target_->data;
}

}  // namespace meshcap::ipt
