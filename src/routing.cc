// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/routing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/crash_point.h"
#include "src/errno_status.h"
#include "src/netlink/nl_attr.h"
#include "src/status_macros.h"

namespace meshcap::internal {
namespace {

constexpr size_t kMessageSize = 512;

const char* FamilyName(int family) {
  return family == AF_INET ? "IPv4" : "IPv6";
}

in6_addr SixAddress() {
  in6_addr six{};
  six.s6_addr[15] = 6;
  return six;
}

// `ip rule add fwmark M[/MASK] [pref P] lookup T proto 109`.
nlmsghdr* RuleMessage(char* buf, uint16_t type, uint16_t flags,
                      const RoutingEntry& e) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* frh = static_cast<fib_rule_hdr*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  const ir::PolicyRouting& r = e.routing;
  frh->family = static_cast<uint8_t>(e.family);
  frh->action = FR_ACT_TO_TBL;
  frh->table = static_cast<uint8_t>(r.table < 256 ? r.table : RT_TABLE_UNSPEC);
  mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
  mnl_attr_put_u32(nlh, FRA_FWMARK, r.mark);
  if (r.mask != ir::kAllBits) mnl_attr_put_u32(nlh, FRA_FWMASK, r.mask);
  if (r.priority != 0) mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
  mnl_attr_put_u8(nlh, FRA_PROTOCOL, kRoutingProtocol);
  return nlh;
}

// `ip route add local default dev lo table T proto 109`.
nlmsghdr* RouteMessage(char* buf, uint16_t type, uint16_t flags,
                       const RoutingEntry& e, uint32_t lo) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  const uint32_t table = e.routing.table;
  rtm->rtm_family = static_cast<uint8_t>(e.family);
  rtm->rtm_table = static_cast<uint8_t>(table < 256 ? table : RT_TABLE_UNSPEC);
  rtm->rtm_protocol = kRoutingProtocol;
  rtm->rtm_scope = RT_SCOPE_HOST;
  rtm->rtm_type = RTN_LOCAL;
  mnl_attr_put_u32(nlh, RTA_TABLE, table);
  mnl_attr_put_u32(nlh, RTA_OIF, lo);
  return nlh;
}

// `ip -6 addr add ::6/128 dev lo proto 109`.
nlmsghdr* AddressMessage(char* buf, uint16_t type, uint16_t flags,
                         uint32_t lo) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* ifa = static_cast<ifaddrmsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = 128;
  ifa->ifa_flags = IFA_F_NODAD;
  ifa->ifa_index = lo;
  const in6_addr six = SixAddress();
  mnl_attr_put(nlh, IFA_LOCAL, sizeof(six), &six);
  mnl_attr_put(nlh, IFA_ADDRESS, sizeof(six), &six);
  mnl_attr_put_u8(nlh, IFA_PROTO, kRoutingProtocol);
  return nlh;
}

bool SameRule(const RoutingEntry& a, const RoutingEntry& b) {
  return a.kind == b.kind && a.family == b.family &&
         a.routing.mark == b.routing.mark && a.routing.mask == b.routing.mask &&
         a.routing.table == b.routing.table &&
         (b.routing.priority == 0 || a.routing.priority == b.routing.priority);
}

// Whether kernel entry `have` gives what `want` asks for.
bool Satisfies(const RoutingEntry& have, const RoutingEntry& want) {
  if (have.kind != want.kind || have.family != want.family) return false;
  switch (want.kind) {
    case RoutingEntry::kRule:
      return SameRule(have, want);
    case RoutingEntry::kRoute:
      return have.routing.table == want.routing.table;
    case RoutingEntry::kAddress:
      return true;
  }
  return false;
}

bool Ipv6DisabledOnLo() {
  std::ifstream in("/proc/sys/net/ipv6/conf/lo/disable_ipv6");
  std::string v;
  return in >> v && v == "1";
}

std::vector<RoutingEntry> Wanted(const ir::RuleSet& rules) {
  std::vector<RoutingEntry> out;
  if (rules.routing.has_value()) {
    std::vector<int> families = {AF_INET};
    if (rules.ipv6) families.push_back(AF_INET6);
    for (int f : families) {
      RoutingEntry rule;
      rule.kind = RoutingEntry::kRule;
      rule.family = f;
      rule.routing = *rules.routing;
      out.push_back(rule);
    }
    // Istio's ambient agent skips the IPv6 route when lo has no IPv6.
    const bool v6_route = rules.ipv6 && !(rules.profile == Profile::kAmbient &&
                                          Ipv6DisabledOnLo());
    for (int f : families) {
      if (f == AF_INET6 && !v6_route) continue;
      RoutingEntry route;
      route.kind = RoutingEntry::kRoute;
      route.family = f;
      route.routing = *rules.routing;
      out.push_back(route);
    }
  }
  if (rules.loopback6) {
    RoutingEntry addr;
    addr.kind = RoutingEntry::kAddress;
    addr.family = AF_INET6;
    out.push_back(addr);
  }
  return out;
}

std::vector<char> Copy(const nlmsghdr* m) {
  const char* p = reinterpret_cast<const char*>(m);
  return std::vector<char>(p, p + m->nlmsg_len);
}

// The kernel's attributes, checked before they are read: a dump message
// is decoded only as far as it is well formed.
bool U32(const nlattr* a, uint32_t* out) {
  if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) return false;
  *out = mnl_attr_get_u32(a);
  return true;
}

bool U8Is(const nlattr* a, uint8_t want) {
  return mnl_attr_validate(a, MNL_TYPE_U8) >= 0 && mnl_attr_get_u8(a) == want;
}

template <typename Header>
const Header* HeaderOf(const nlmsghdr* m) {
  if (m->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(Header)) return nullptr;
  return static_cast<const Header*>(mnl_nlmsg_get_payload(m));
}

}  // namespace

std::optional<RoutingEntry> DecodeRule(const nlmsghdr* m) {
  const auto* h = HeaderOf<fib_rule_hdr>(m);
  if (h == nullptr || h->action != FR_ACT_TO_TBL) return std::nullopt;
  RoutingEntry e;
  e.kind = RoutingEntry::kRule;
  e.family = h->family;
  e.routing.table = h->table;
  bool has_mark = false;
  ForEachAttr(m, sizeof(fib_rule_hdr), [&](const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case FRA_FWMARK:
        has_mark = U32(a, &e.routing.mark) || has_mark;
        break;
      case FRA_FWMASK:
        (void)U32(a, &e.routing.mask);
        break;
      case FRA_TABLE:
        (void)U32(a, &e.routing.table);
        break;
      case FRA_PRIORITY:
        (void)U32(a, &e.routing.priority);
        break;
      case FRA_PROTOCOL:
        e.ours = U8Is(a, kRoutingProtocol);
        break;
    }
  });
  if (!has_mark && !e.ours) return std::nullopt;
  e.message = Copy(m);
  return e;
}

std::optional<RoutingEntry> DecodeRoute(const nlmsghdr* m) {
  const auto* r = HeaderOf<rtmsg>(m);
  if (r == nullptr) return std::nullopt;
  RoutingEntry e;
  e.kind = RoutingEntry::kRoute;
  e.family = r->rtm_family;
  e.ours = r->rtm_protocol == kRoutingProtocol;
  e.routing.table = r->rtm_table;
  ForEachAttr(m, sizeof(rtmsg), [&](const nlattr* a) {
    if (mnl_attr_get_type(a) == RTA_TABLE) (void)U32(a, &e.routing.table);
  });
  const bool local_default = r->rtm_type == RTN_LOCAL && r->rtm_dst_len == 0;
  if (!e.ours && !local_default) return std::nullopt;
  e.message = Copy(m);
  return e;
}

std::optional<RoutingEntry> DecodeAddress(const nlmsghdr* m) {
  const auto* a = HeaderOf<ifaddrmsg>(m);
  if (a == nullptr || a->ifa_family != AF_INET6 || a->ifa_prefixlen != 128) {
    return std::nullopt;
  }
  const in6_addr six = SixAddress();
  bool is_six = false;
  RoutingEntry e;
  e.kind = RoutingEntry::kAddress;
  e.family = AF_INET6;
  ForEachAttr(m, sizeof(ifaddrmsg), [&](const nlattr* at) {
    const uint16_t type = mnl_attr_get_type(at);
    if ((type == IFA_ADDRESS || type == IFA_LOCAL) &&
        mnl_attr_get_payload_len(at) == sizeof(in6_addr) &&
        memcmp(mnl_attr_get_payload(at), &six, sizeof(six)) == 0) {
      is_six = true;
    } else if (type == IFA_PROTO) {
      e.ours = U8Is(at, kRoutingProtocol);
    }
  });
  if (!is_six) return std::nullopt;
  e.message = Copy(m);
  return e;
}

namespace {}  // namespace

std::string RoutingEntry::ToString() const {
  switch (kind) {
    case kRule: {
      std::string out = absl::StrFormat("ip rule fwmark 0x%x", routing.mark);
      if (routing.mask != ir::kAllBits) {
        absl::StrAppend(&out, absl::StrFormat("/0x%x", routing.mask));
      }
      if (routing.priority != 0)
        absl::StrAppend(&out, " pref ", routing.priority);
      absl::StrAppend(&out, " lookup ", routing.table, " (", FamilyName(family),
                      ")");
      return out;
    }
    case kRoute:
      return absl::StrCat("ip route local default dev lo table ", routing.table,
                          " (", FamilyName(family), ")");
    case kAddress:
      return "ip address ::6/128 dev lo";
  }
  return "?";
}

absl::StatusOr<Routing> Routing::Open() {
  MESHCAP_ASSIGN_OR_RETURN(std::unique_ptr<NetlinkSocket> sock,
                           NetlinkSocket::Open(NETLINK_ROUTE));
  return Routing(std::move(sock));
}

absl::StatusOr<uint32_t> Routing::Loopback() {
  if (lo_ != 0) return lo_;
  const unsigned int lo = if_nametoindex("lo");
  if (lo == 0) return ErrnoStatus(errno, "cannot find lo");
  lo_ = lo;
  return lo_;
}

absl::StatusOr<RoutingPlan> Routing::Plan(const ir::RuleSet* rules) {
  RoutingPlan plan;
  if (rules != nullptr) plan.wanted = Wanted(*rules);
  std::vector<RoutingEntry> have;
  char buf[kMessageSize] = {};

  // Rules of both families.
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETRULE;
  nlh->nlmsg_flags = NLM_F_DUMP;
  auto* frh = static_cast<fib_rule_hdr*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = AF_UNSPEC;
  MESHCAP_RETURN_IF_ERROR(sock_->Request(nlh, "cannot list the routing rules",
                                         [&](const nlmsghdr* m) {
                                           if (auto e = DecodeRule(m))
                                             have.push_back(*std::move(e));
                                           return absl::OkStatus();
                                         }));

  // Local default routes, any table; ours, any.
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_DUMP;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_UNSPEC;
  MESHCAP_RETURN_IF_ERROR(
      sock_->Request(nlh, "cannot list the routes", [&](const nlmsghdr* m) {
        if (auto e = DecodeRoute(m)) have.push_back(*std::move(e));
        return absl::OkStatus();
      }));

  // ::6 on lo.
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_DUMP;
  auto* ifa = static_cast<ifaddrmsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET6;
  absl::Status s =
      sock_->Request(nlh, "cannot list the addresses", [&](const nlmsghdr* m) {
        if (auto e = DecodeAddress(m)) have.push_back(*std::move(e));
        return absl::OkStatus();
      });
  // A kernel without IPv6 has no such address to list.
  if (!s.ok() && !absl::IsUnavailable(s)) return s;

  std::vector<bool> kept(have.size(), false);
  for (const RoutingEntry& w : plan.wanted) {
    bool found = false;
    for (size_t i = 0; i < have.size() && !found; ++i) {
      if (!kept[i] && Satisfies(have[i], w)) {
        kept[i] = true;
        found = true;
      }
    }
    if (!found) plan.add.push_back(w);
  }
  for (size_t i = 0; i < have.size(); ++i) {
    if (have[i].ours && !kept[i]) plan.remove.push_back(std::move(have[i]));
  }
  return plan;
}

absl::Status Routing::Add(const std::vector<RoutingEntry>& entries,
                          std::vector<std::string>* changes) {
  if (entries.empty()) return absl::OkStatus();
  MESHCAP_ASSIGN_OR_RETURN(uint32_t lo, Loopback());
  std::vector<RoutingEntry> added;
  for (const RoutingEntry& e : entries) {
    char buf[kMessageSize] = {};
    nlmsghdr* nlh = nullptr;
    switch (e.kind) {
      case RoutingEntry::kRule:
        nlh = RuleMessage(buf, RTM_NEWRULE, NLM_F_CREATE, e);
        break;
      case RoutingEntry::kRoute:
        nlh = RouteMessage(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, e, lo);
        break;
      case RoutingEntry::kAddress:
        nlh = AddressMessage(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, lo);
        break;
    }
    absl::StatusOr<NetlinkError> r = sock_->Call(nlh);
    int err = r.ok() ? r->error : 0;
    if (!r.ok() || (err != 0 && err != EEXIST)) {
      absl::Status why =
          r.ok() ? ErrnoStatus(err, absl::StrCat("cannot add ", e.ToString()))
                 : r.status();
      if (err == ENETDOWN) {
        why = absl::FailedPreconditionError(
            absl::StrCat(why.message(), "; bring lo up first"));
      }
      // Take back what this call added, newest first.
      std::vector<RoutingEntry> undo(added.rbegin(), added.rend());
      (void)Remove(undo, nullptr);
      return why;
    }
    RoutingEntry done = e;
    done.ours = true;
    added.push_back(std::move(done));
    if (changes != nullptr) changes->push_back("added " + e.ToString());
    CrashPoint("routing added");
  }
  return absl::OkStatus();
}

absl::Status Routing::Remove(const std::vector<RoutingEntry>& entries,
                             std::vector<std::string>* changes) {
  absl::Status result;
  for (const RoutingEntry& e : entries) {
    std::vector<char> msg;
    if (!e.message.empty()) {
      msg = e.message;
    } else {
      MESHCAP_ASSIGN_OR_RETURN(uint32_t lo, Loopback());
      msg.assign(kMessageSize, 0);
      switch (e.kind) {
        case RoutingEntry::kRule:
          RuleMessage(msg.data(), RTM_DELRULE, 0, e);
          break;
        case RoutingEntry::kRoute:
          RouteMessage(msg.data(), RTM_DELROUTE, 0, e, lo);
          break;
        case RoutingEntry::kAddress:
          AddressMessage(msg.data(), RTM_DELADDR, 0, lo);
          break;
      }
    }
    auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
    nlh->nlmsg_type = e.kind == RoutingEntry::kRule    ? RTM_DELRULE
                      : e.kind == RoutingEntry::kRoute ? RTM_DELROUTE
                                                       : RTM_DELADDR;
    nlh->nlmsg_flags = 0;
    absl::StatusOr<NetlinkError> r = sock_->Call(nlh);
    const int err = r.ok() ? r->error : 0;
    if (!r.ok()) {
      if (result.ok()) result = r.status();
      continue;
    }
    if (err != 0 && err != ENOENT && err != ESRCH && err != EADDRNOTAVAIL) {
      if (result.ok()) {
        result = ErrnoStatus(err, absl::StrCat("cannot remove ", e.ToString()));
      }
      continue;
    }
    if (err == 0 && changes != nullptr) {
      changes->push_back("removed " + e.ToString());
    }
    CrashPoint("routing removed");
  }
  return result;
}

std::vector<Difference> RoutingDifferences(const RoutingPlan& plan) {
  std::vector<Difference> out;
  for (const RoutingEntry& e : plan.add) {
    Difference d;
    d.kind = Difference::Kind::kMissing;
    d.object = e.kind == RoutingEntry::kAddress ? "address" : "routing entry";
    d.desired = e.ToString();
    out.push_back(std::move(d));
  }
  for (const RoutingEntry& e : plan.remove) {
    Difference d;
    d.kind = Difference::Kind::kExtra;
    d.object = e.kind == RoutingEntry::kAddress ? "address" : "routing entry";
    d.actual = absl::StrCat(e.ToString(), " (added by meshcap)");
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace meshcap::internal
