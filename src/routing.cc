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
#include <time.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/nl_attr.h"
#include "src/status_macros.h"

namespace meshcap::internal {
namespace {

const char* FamilyName(int family) {
  return family == AF_INET ? "IPv4" : "IPv6";
}

absl::Status RtnlError(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(absl::StrCat(
        msg,
        "; policy routing needs CAP_NET_ADMIN in the target network "
        "namespace"));
  }
  if (err == ENETDOWN) {
    return absl::FailedPreconditionError(
        absl::StrCat(msg, "; bring lo up first"));
  }
  return absl::InternalError(msg);
}

class Rtnl {
 public:
  static absl::StatusOr<std::unique_ptr<Rtnl>> Open() {
    mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (s == nullptr) return RtnlError(errno, "cannot open rtnetlink");
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
      const int err = errno;
      mnl_socket_close(s);
      return RtnlError(err, "cannot bind rtnetlink");
    }
    return std::unique_ptr<Rtnl>(new Rtnl(s));
  }
  ~Rtnl() { mnl_socket_close(sock_); }

  // Sends `nlh` and waits for its ack; returns the errno (0 on success).
  int Call(nlmsghdr* nlh) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return errno;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock_, buf, sizeof(buf));
      if (n < 0) return errno;
      const int r = mnl_cb_run(buf, n, seq_, mnl_socket_get_portid(sock_),
                               nullptr, nullptr);
      if (r == MNL_CB_ERROR) return errno;
      if (r == MNL_CB_STOP || r == MNL_CB_OK) return 0;
    }
  }

  // Dumps and calls `fn` for every answer; copies so that `fn` may call.
  int Dump(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& fn) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return errno;
    std::vector<std::vector<char>> answers;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock_, buf, sizeof(buf));
      if (n < 0) return errno;
      const nlmsghdr* m = reinterpret_cast<const nlmsghdr*>(buf);
      int left = static_cast<int>(n);
      bool done = false;
      while (mnl_nlmsg_ok(m, left)) {
        if (m->nlmsg_type == NLMSG_DONE) done = true;
        if (m->nlmsg_type == NLMSG_ERROR) {
          const auto* e =
              static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
          if (e->error != 0) return -e->error;
          done = true;
        }
        if (!done) {
          const char* p = reinterpret_cast<const char*>(m);
          answers.emplace_back(p, p + m->nlmsg_len);
        }
        m = mnl_nlmsg_next(m, &left);
      }
      if (done) break;
    }
    for (const auto& a : answers) {
      fn(reinterpret_cast<const nlmsghdr*>(a.data()));
    }
    return 0;
  }

 private:
  explicit Rtnl(mnl_socket* s)
      : sock_(s), seq_(static_cast<uint32_t>(time(nullptr))) {}
  mnl_socket* sock_;
  uint32_t seq_;
};

// `ip rule add fwmark M lookup T proto meshcap`.
nlmsghdr* RuleMessage(char* buf, uint16_t type, uint16_t flags, int family,
                      const PolicyRouting& r) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* frh = static_cast<fib_rule_hdr*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = static_cast<uint8_t>(family);
  frh->action = FR_ACT_TO_TBL;
  frh->table =
      static_cast<uint8_t>(r.table < 256 ? r.table : 0u);  // 0: RT_TABLE_UNSPEC
  mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
  mnl_attr_put_u32(nlh, FRA_FWMARK, r.mark);
  mnl_attr_put_u8(nlh, FRA_PROTOCOL, kRoutingProtocol);
  return nlh;
}

// `ip route add local default dev lo table T proto meshcap`.
nlmsghdr* RouteMessage(char* buf, uint16_t type, uint16_t flags, int family,
                       uint32_t table, uint32_t lo) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<uint8_t>(family);
  rtm->rtm_table =
      static_cast<uint8_t>(table < 256 ? table : 0u);  // 0: RT_TABLE_UNSPEC
  rtm->rtm_protocol = kRoutingProtocol;
  rtm->rtm_scope = RT_SCOPE_HOST;
  rtm->rtm_type = RTN_LOCAL;
  mnl_attr_put_u32(nlh, RTA_TABLE, table);
  mnl_attr_put_u32(nlh, RTA_OIF, lo);
  return nlh;
}

// `ip -6 addr add ::6/128 dev lo proto meshcap`.
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
  in6_addr six{};
  six.s6_addr[15] = 6;
  mnl_attr_put(nlh, IFA_LOCAL, sizeof(six), &six);
  mnl_attr_put(nlh, IFA_ADDRESS, sizeof(six), &six);
  mnl_attr_put_u8(nlh, IFA_PROTO, kRoutingProtocol);
  return nlh;
}

// Whether `family` already has a `fwmark M lookup T` rule, whoever added it.
// The kernel cannot tell: a rule without a priority gets a fresh one each
// time, so NLM_F_EXCL never sees a duplicate.
absl::StatusOr<bool> HasRule(Rtnl& rtnl, int family, const PolicyRouting& r) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETRULE;
  auto* frh = static_cast<fib_rule_hdr*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = static_cast<uint8_t>(family);
  bool found = false;
  const int err = rtnl.Dump(nlh, [&](const nlmsghdr* m) {
    const auto* h = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(m));
    uint32_t mark = 0, table = h->table;
    bool has_mark = false;
    ForEachAttr(m, sizeof(fib_rule_hdr), [&](const nlattr* a) {
      if (mnl_attr_get_type(a) == FRA_FWMARK) {
        mark = mnl_attr_get_u32(a);
        has_mark = true;
      } else if (mnl_attr_get_type(a) == FRA_TABLE) {
        table = mnl_attr_get_u32(a);
      }
    });
    if (has_mark && mark == r.mark && table == r.table &&
        h->action == FR_ACT_TO_TBL) {
      found = true;
    }
  });
  if (err != 0) return RtnlError(err, "cannot list the routing rules");
  return found;
}

absl::StatusOr<uint32_t> Loopback() {
  const unsigned int lo = if_nametoindex("lo");
  if (lo == 0) return RtnlError(errno, "cannot find lo");
  return lo;
}

}  // namespace

absl::StatusOr<RoutingChanges> InstallRouting(const RuleSet& rules) {
  RoutingChanges changes;
  if (!rules.routing.has_value() && !rules.ipv6) return changes;
  MESHCAP_ASSIGN_OR_RETURN(std::unique_ptr<Rtnl> rtnl, Rtnl::Open());
  MESHCAP_ASSIGN_OR_RETURN(uint32_t lo, Loopback());
  char buf[MNL_SOCKET_BUFFER_SIZE];
  auto undo_on_error = [&](absl::Status s) {
    (void)UndoRouting(changes);
    return s;
  };
  if (rules.ipv6) {
    const int err = rtnl->Call(
        AddressMessage(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, lo));
    if (err == 0) {
      changes.added.push_back({RoutingChanges::Item::kAddress, AF_INET6});
    } else if (err != EEXIST) {
      return undo_on_error(RtnlError(err, "cannot add ::6/128 to lo"));
    }
  }
  if (!rules.routing.has_value()) return changes;
  changes.routing = *rules.routing;
  std::vector<int> families = {AF_INET};
  if (rules.ipv6) families.push_back(AF_INET6);
  for (int family : families) {
    absl::StatusOr<bool> exists = HasRule(*rtnl, family, *rules.routing);
    if (!exists.ok()) return undo_on_error(exists.status());
    int err = *exists ? EEXIST
                      : rtnl->Call(RuleMessage(buf, RTM_NEWRULE, NLM_F_CREATE,
                                               family, *rules.routing));
    if (err == 0) {
      changes.added.push_back({RoutingChanges::Item::kRule, family});
    } else if (err != EEXIST) {
      return undo_on_error(RtnlError(
          err,
          absl::StrCat("cannot add the ", FamilyName(family), " rule fwmark ",
                       rules.routing->mark, " lookup ", rules.routing->table)));
    }
    err = rtnl->Call(RouteMessage(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
                                  family, rules.routing->table, lo));
    if (err == 0) {
      changes.added.push_back({RoutingChanges::Item::kRoute, family});
    } else if (err != EEXIST) {
      return undo_on_error(
          RtnlError(err, absl::StrCat("cannot add the ", FamilyName(family),
                                      " route local default dev lo table ",
                                      rules.routing->table)));
    }
  }
  return changes;
}

absl::Status UndoRouting(const RoutingChanges& changes) {
  if (changes.added.empty()) return absl::OkStatus();
  MESHCAP_ASSIGN_OR_RETURN(std::unique_ptr<Rtnl> rtnl, Rtnl::Open());
  MESHCAP_ASSIGN_OR_RETURN(uint32_t lo, Loopback());
  char buf[MNL_SOCKET_BUFFER_SIZE];
  absl::Status result;
  for (auto it = changes.added.rbegin(); it != changes.added.rend(); ++it) {
    nlmsghdr* nlh = nullptr;
    switch (it->kind) {
      case RoutingChanges::Item::kRule:
        nlh = RuleMessage(buf, RTM_DELRULE, 0, it->family, changes.routing);
        break;
      case RoutingChanges::Item::kRoute:
        nlh = RouteMessage(buf, RTM_DELROUTE, 0, it->family,
                           changes.routing.table, lo);
        break;
      case RoutingChanges::Item::kAddress:
        nlh = AddressMessage(buf, RTM_DELADDR, 0, lo);
        break;
    }
    const int err = rtnl->Call(nlh);
    if (err != 0 && err != ENOENT && err != ESRCH && err != EADDRNOTAVAIL &&
        result.ok()) {
      result = RtnlError(err, "cannot undo a routing change");
    }
  }
  return result;
}

absl::Status RemoveRouting(const RuleSet* keep) {
  MESHCAP_ASSIGN_OR_RETURN(std::unique_ptr<Rtnl> rtnl, Rtnl::Open());
  const std::optional<PolicyRouting> want =
      keep != nullptr ? keep->routing : std::nullopt;
  std::vector<std::vector<char>> doomed;
  auto keep_copy = [&](const nlmsghdr* m, uint16_t del_type) {
    const char* p = reinterpret_cast<const char*>(m);
    std::vector<char> copy(p, p + m->nlmsg_len);
    auto* h = reinterpret_cast<nlmsghdr*>(copy.data());
    h->nlmsg_type = del_type;
    h->nlmsg_flags = 0;
    doomed.push_back(std::move(copy));
  };
  char buf[MNL_SOCKET_BUFFER_SIZE];
  for (int family : {AF_INET, AF_INET6}) {
    // Rules of ours.
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETRULE;
    auto* frh = static_cast<fib_rule_hdr*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    frh->family = static_cast<uint8_t>(family);
    int err = rtnl->Dump(nlh, [&](const nlmsghdr* m) {
      uint8_t proto = 0;
      uint32_t mark = 0, table = 0;
      ForEachAttr(m, sizeof(fib_rule_hdr), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
          case FRA_PROTOCOL:
            proto = mnl_attr_get_u8(a);
            break;
          case FRA_FWMARK:
            mark = mnl_attr_get_u32(a);
            break;
          case FRA_TABLE:
            table = mnl_attr_get_u32(a);
            break;
        }
      });
      if (proto != kRoutingProtocol) return;
      const bool wanted = want.has_value() && want->mark == mark &&
                          want->table == table &&
                          (family == AF_INET || keep->ipv6);
      if (!wanted) keep_copy(m, RTM_DELRULE);
    });
    if (err != 0 && err != EAFNOSUPPORT) {
      return RtnlError(err, "cannot list the routing rules");
    }
    // Routes of ours.
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETROUTE;
    auto* rtm =
        static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = static_cast<uint8_t>(family);
    err = rtnl->Dump(nlh, [&](const nlmsghdr* m) {
      const auto* r = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(m));
      if (r->rtm_protocol != kRoutingProtocol) return;
      uint32_t table = r->rtm_table;
      ForEachAttr(m, sizeof(rtmsg), [&](const nlattr* a) {
        if (mnl_attr_get_type(a) == RTA_TABLE) table = mnl_attr_get_u32(a);
      });
      const bool wanted = want.has_value() && want->table == table &&
                          (family == AF_INET || keep->ipv6);
      if (!wanted) keep_copy(m, RTM_DELROUTE);
    });
    if (err != 0 && err != EAFNOSUPPORT) {
      return RtnlError(err, "cannot list the routes");
    }
  }
  // The ::6 address, if ours and no longer wanted.
  if (keep == nullptr || !keep->ipv6) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETADDR;
    auto* ifa = static_cast<ifaddrmsg*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET6;
    const int err = rtnl->Dump(nlh, [&](const nlmsghdr* m) {
      uint8_t proto = 0;
      ForEachAttr(m, sizeof(ifaddrmsg), [&](const nlattr* a) {
        if (mnl_attr_get_type(a) == IFA_PROTO) proto = mnl_attr_get_u8(a);
      });
      if (proto == kRoutingProtocol) keep_copy(m, RTM_DELADDR);
    });
    if (err != 0 && err != EAFNOSUPPORT) {
      return RtnlError(err, "cannot list the addresses");
    }
  }
  for (std::vector<char>& m : doomed) {
    const int err = rtnl->Call(reinterpret_cast<nlmsghdr*>(m.data()));
    if (err != 0 && err != ENOENT && err != ESRCH && err != EADDRNOTAVAIL) {
      return RtnlError(err, "cannot remove a routing entry of ours");
    }
  }
  return absl::OkStatus();
}

}  // namespace meshcap::internal
