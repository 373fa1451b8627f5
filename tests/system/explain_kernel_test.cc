// SPDX-License-Identifier: GPL-2.0-or-later
//
// Explain against the kernel. For every case of the sidecar and ambient
// corpora, on every backend, the rules are applied in a fresh namespace and
// each packet of the probe generator (tests/testing/explain_probes.h) is
// sent for real:
//   - sent packets (output) from a socket whose file has the packet's
//     uid and gid (the owner match reads the socket file's fsuid and fsgid,
//     which setfsuid/setfsgid set for the thread that makes it), with its
//     SO_MARK, bound to its source and, with SO_BINDTODEVICE, its output
//     interface;
//   - arriving packets (prerouting) built byte by byte and handed to the
//     peer end of a veth whose pod end is the packet's input interface (or
//     to lo), so that they come in exactly as given; an established one
//     after a handshake with whoever answers it.
// A table of the test's own marks the probes: at priority -400 it turns
// on nftrace for packets whose TTL (hop limit) is 100 or more, and sets
// the mark a TTL of 100+i stands for on arriving ones; after conntrack
// (-190) a DSCP of k sets the k-th ct mark. At priority 400 (after nat) an
// empty chain on prerouting and postrouting sees the packet as the rules
// left it: its addresses, ports and mark.
//
// Compared, packet by packet:
//   - nf_tables backends (nftables, iptables-nft): the path. The trace
//     events of our tables (each rule that matched, with its verdict, and
//     each base chain's policy) against Explain's matched rules and chain
//     ends, in order.
//   - every backend: the verdict. Where the packet went after the rules
//     (the observing chain's copy of it): to port P of a local address for
//     REDIRECT to P, unchanged with the TPROXY mark for TPROXY, unchanged
//     for a packet that passes, nowhere for DROP; and its final mark.
//   - captured TCP connections that the proxy's listener accepts: the
//     original destination (SO_ORIGINAL_DST) is the one sent.

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netlink.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "libnftnl/trace.h"
#include "meshcap/engine.h"
#include "meshcap/explain.h"
#include "meshcap/policy_json.h"
#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/explain_internal.h"
#include "src/unique_fd.h"
#include "tests/testing/conformance.h"
#include "tests/testing/explain_probes.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;

constexpr int kTraceTtl = 100;

using Fd = internal::UniqueFd;

// --- Packets built byte by byte --------------------------------------------

uint32_t SumWords(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

enum class Flags : uint8_t {
  kSyn = TH_SYN,
  kAck = TH_ACK,
  kSynFin = TH_SYN | TH_FIN,  // a combination conntrack calls invalid
};

// The IP packet (no link header) for `p`, TCP with `flags` or UDP (a bad
// checksum when `bad_udp_sum`: conntrack's test of an invalid datagram).
std::vector<uint8_t> BuildPacket(const Packet& p, uint16_t sport, Flags flags,
                                 uint32_t seq, uint8_t ttl, uint8_t dscp,
                                 bool bad_udp_sum) {
  const bool v6 = p.dst.family() == IpFamily::kIpv6;
  const bool tcp = p.protocol == Transport::kTcp;
  std::vector<uint8_t> l4(tcp ? 20 : 9, 0);
  l4[0] = sport >> 8;
  l4[1] = sport & 0xff;
  l4[2] = p.dst_port >> 8;
  l4[3] = p.dst_port & 0xff;
  if (tcp) {
    l4[4] = seq >> 24;
    l4[5] = (seq >> 16) & 0xff;
    l4[6] = (seq >> 8) & 0xff;
    l4[7] = seq & 0xff;
    l4[12] = 5 << 4;
    l4[13] = static_cast<uint8_t>(flags);
    l4[14] = 0xff;
    l4[15] = 0xff;
  } else {
    l4[4] = 0;
    l4[5] = static_cast<uint8_t>(l4.size());
    l4[8] = 'q';
  }
  const size_t alen = v6 ? 16 : 4;
  const uint8_t* src = p.src->bytes().data();
  const uint8_t* dst = p.dst.bytes().data();
  const uint8_t proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
  uint32_t sum = SumWords(src, alen) + SumWords(dst, alen) + proto +
                 static_cast<uint32_t>(l4.size());
  uint16_t csum = Fold(SumWords(l4.data(), l4.size(), sum));
  if (!tcp && csum == 0) csum = 0xffff;
  if (!tcp && bad_udp_sum) csum ^= 0x5a5a;
  const size_t at = tcp ? 16 : 6;
  l4[at] = csum >> 8;
  l4[at + 1] = csum & 0xff;
  std::vector<uint8_t> out;
  if (v6) {
    out.resize(40);
    out[0] = 0x60 | (dscp >> 2);
    out[1] = static_cast<uint8_t>((dscp & 3) << 6);
    out[4] = static_cast<uint8_t>(l4.size() >> 8);
    out[5] = l4.size() & 0xff;
    out[6] = proto;
    out[7] = ttl;
    memcpy(&out[8], src, 16);
    memcpy(&out[24], dst, 16);
  } else {
    out.resize(20);
    out[0] = 0x45;
    out[1] = static_cast<uint8_t>(dscp << 2);
    const size_t total = 20 + l4.size();
    out[2] = static_cast<uint8_t>(total >> 8);
    out[3] = total & 0xff;
    out[6] = 0x40;  // DF
    out[8] = ttl;
    out[9] = proto;
    memcpy(&out[12], src, 4);
    memcpy(&out[16], dst, 4);
    const uint16_t h = Fold(SumWords(out.data(), 20));
    out[10] = h >> 8;
    out[11] = h & 0xff;
  }
  out.insert(out.end(), l4.begin(), l4.end());
  return out;
}

// --- Trace events ------------------------------------------------------------

struct TraceEvent {
  uint32_t type = 0;  // NFT_TRACETYPE_*
  uint32_t family = 0;
  std::string table, chain;
  uint64_t handle = 0;
  int32_t verdict = 0;
  std::string jump;
  std::optional<uint32_t> mark;
  std::string network, transport;  // headers, when dumped
};

class TraceSocket {
 public:
  bool Open() {
    fd_ = Fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    NETLINK_NETFILTER));
    if (!fd_.ok()) return false;
    int buf = 8 << 20;
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    sockaddr_nl a{};
    a.nl_family = AF_NETLINK;
    a.nl_groups = 1u << (NFNLGRP_NFTRACE - 1);
    return bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }

  // Reads what has arrived, waiting up to `ms` for the first message.
  void Read(std::vector<TraceEvent>& out, int ms) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, ms) != 1) return;
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t got = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (got <= 0) return;
      const size_t len = static_cast<size_t>(got);
      for (size_t off = 0; off + sizeof(nlmsghdr) <= len;) {
        const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
        if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > len) break;
        off += NLMSG_ALIGN(h->nlmsg_len);
        if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
            NFNL_MSG_TYPE(h->nlmsg_type) != NFT_MSG_TRACE) {
          continue;
        }
        nftnl_trace* t = nftnl_trace_alloc();
        if (nftnl_trace_nlmsg_parse(h, t) == 0) out.push_back(Convert(t));
        nftnl_trace_free(t);
      }
    }
  }

  // Drops whatever is queued.
  void Drain() {
    std::vector<TraceEvent> ignored;
    Read(ignored, 0);
  }

 private:
  static TraceEvent Convert(const nftnl_trace* t) {
    TraceEvent e;
    e.type = nftnl_trace_get_u32(t, NFTNL_TRACE_TYPE);
    e.family = nftnl_trace_get_u32(t, NFTNL_TRACE_FAMILY);
    if (nftnl_trace_is_set(t, NFTNL_TRACE_TABLE))
      e.table = nftnl_trace_get_str(t, NFTNL_TRACE_TABLE);
    if (nftnl_trace_is_set(t, NFTNL_TRACE_CHAIN))
      e.chain = nftnl_trace_get_str(t, NFTNL_TRACE_CHAIN);
    if (nftnl_trace_is_set(t, NFTNL_TRACE_RULE_HANDLE))
      e.handle = nftnl_trace_get_u64(t, NFTNL_TRACE_RULE_HANDLE);
    if (nftnl_trace_is_set(t, NFTNL_TRACE_VERDICT))
      e.verdict =
          static_cast<int32_t>(nftnl_trace_get_u32(t, NFTNL_TRACE_VERDICT));
    if (nftnl_trace_is_set(t, NFTNL_TRACE_POLICY))
      e.verdict =
          static_cast<int32_t>(nftnl_trace_get_u32(t, NFTNL_TRACE_POLICY));
    if (nftnl_trace_is_set(t, NFTNL_TRACE_JUMP_TARGET))
      e.jump = nftnl_trace_get_str(t, NFTNL_TRACE_JUMP_TARGET);
    if (nftnl_trace_is_set(t, NFTNL_TRACE_MARK))
      e.mark = nftnl_trace_get_u32(t, NFTNL_TRACE_MARK);
    uint32_t len = 0;
    if (nftnl_trace_is_set(t, NFTNL_TRACE_NETWORK_HEADER)) {
      const void* d = nftnl_trace_get_data(t, NFTNL_TRACE_NETWORK_HEADER, &len);
      e.network.assign(static_cast<const char*>(d), len);
    }
    if (nftnl_trace_is_set(t, NFTNL_TRACE_TRANSPORT_HEADER)) {
      const void* d =
          nftnl_trace_get_data(t, NFTNL_TRACE_TRANSPORT_HEADER, &len);
      e.transport.assign(static_cast<const char*>(d), len);
    }
    return e;
  }

  Fd fd_;
};

// Flushes the conntrack table (both families), so that each probe starts a
// connection of its own.
void FlushConntrack() {
  Fd s(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  for (uint8_t family : {AF_INET, AF_INET6}) {
    struct {
      nlmsghdr h;
      nfgenmsg g;
    } req{};
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.g.nfgen_family = family;
    send(s.get(), &req, sizeof(req), 0);
    char buf[512];
    recv(s.get(), buf, sizeof(buf), 0);
  }
}

std::string Sh(const std::string& cmd) {
  auto r = ::meshcap::testing::Shell(cmd);
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  return r.output;
}

std::string HostPort(IpFamily f, const std::string& addr, uint16_t port) {
  return f == IpFamily::kIpv6 ? absl::StrCat("[", addr, "]:", port)
                              : absl::StrCat(addr, ":", port);
}

std::string AddrText(IpFamily f, const uint8_t* b) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(f == IpFamily::kIpv4 ? AF_INET : AF_INET6, b, buf, sizeof(buf));
  return buf;
}

// What the observing chain saw of a packet.
struct Seen {
  bool seen = false;
  std::string dst;  // "addr:port" as the rules left it
  std::string src;
  uint32_t mark = 0;
  bool dst_local = false;  // loopback, or an address of the pod
};

struct Totals {
  size_t cases = 0, packets = 0, paths = 0, verdicts = 0, original_dst = 0,
         rules = 0, rules_hit = 0, rules_unused = 0, established = 0,
         stride = 1;
  // CompactLists (nftables): cases whose compact form differs, and the
  // packets sent through it (the linear form's probes).
  size_t compact_cases = 0, compact_packets = 0;
  std::set<std::string> backends;
};

Totals& GlobalTotals() {
  static Totals t;
  return t;
}

class ExplainKernelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("ip") ||
        !::meshcap::testing::HaveProgram("nft")) {
      GTEST_SKIP() << "no ip or nft";
    }
    if (!internal::FindBackend(GetParam()).ok()) {
      GTEST_SKIP() << GetParam() << " is not built";
    }
    ASSERT_TRUE(::meshcap::testing::EnsureConformanceGroups());
    pod_ = std::make_unique<::meshcap::testing::ScopedNetns>();
    if (!pod_->ok()) GTEST_SKIP() << pod_->error();
    peer_ = std::make_unique<::meshcap::testing::DetachedNetns>();
    ASSERT_TRUE(peer_->ok());
  }

  void TearDown() override {
    listeners_.clear();
    peer_.reset();
    pod_.reset();
  }

  // The pod's interfaces: lo, and a veth per name with its peer end in the
  // peer namespace. Every one has addresses (an inbound REDIRECT needs
  // one), an on-link default route for sent packets bound to it, and a
  // rule that delivers what arrives on it locally (so that a connection to
  // any address can be answered).
  void MakeInterfaces(const std::vector<std::string>& names) {
    Sh("ip link set lo up");
    Sh("sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1 "
       "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 "
       "net.ipv4.conf.all.accept_local=1");
    Sh("ip route add local default dev lo table 100 && "
       "ip -6 route add local default dev lo table 100");
    int i = 0;
    for (const std::string& name : names) {
      const std::string peer = absl::StrCat("p", i);
      const std::string mac = absl::StrFormat("02:00:00:00:01:%02x", i + 1);
      Sh(absl::StrCat("ip link add ", name, " index ", 20 + i, " address ", mac,
                      " type veth peer name ", peer, " netns ", peer_->path(),
                      " index ", 60 + i));
      const std::string v4 = i == 0 ? "198.51.100.2/24"
                                    : absl::StrCat("203.0.113.", 10 + i, "/32");
      const std::string v6 =
          i == 0 ? "2001:db8::2/64" : absl::StrCat("2001:db8:1:", i, "::2/64");
      Sh(absl::StrCat("ip addr add ", v4, " dev ", name, " && ip -6 addr add ",
                      v6, " dev ", name, " nodad && ip link set ", name,
                      " up && ip route add default dev ", name, " metric ",
                      100 + i, " && ip -6 route add default dev ", name,
                      " metric ", 100 + i, " && ip rule add iif ", name,
                      " lookup 100 && ip -6 rule add iif ", name,
                      " lookup 100 && sysctl -qw net.ipv4.conf.", name,
                      ".rp_filter=0"));
      ASSERT_EQ(
          ::meshcap::testing::ShellIn(peer_->fd(), "ip link set " + peer +
                                                       " up && ip link set "
                                                       "lo up")
              .exit_code,
          0);
      ifindex_[name] = 20 + i;
      peer_ifindex_[name] = 60 + i;
      macs_[name] = mac;
      ++i;
    }
  }

  // The test's table: trace and mark probes, observe them after the rules.
  void MakeObserver(const std::vector<uint32_t>& marks,
                    const std::vector<uint32_t>& connmarks) {
    std::string nft =
        "table inet meshcap-xcheck {\n"
        " chain pre_first { type filter hook prerouting priority -400; }\n"
        " chain out_first { type filter hook output priority -400; }\n"
        " chain pre_ct { type filter hook prerouting priority -190; }\n"
        " chain out_ct { type filter hook output priority -190; }\n"
        " chain pre_last { type filter hook prerouting priority 400; }\n"
        " chain post_last { type filter hook postrouting priority 400; }\n"
        "}\n";
    for (size_t i = 0; i < marks.size(); ++i) {
      const int ttl = kTraceTtl + static_cast<int>(i);
      absl::StrAppend(&nft,
                      "add rule inet meshcap-xcheck pre_first meta l4proto { "
                      "tcp, udp } ip ttl ",
                      ttl, " meta mark set ", marks[i], " meta nftrace set 1\n",
                      "add rule inet meshcap-xcheck pre_first meta l4proto { "
                      "tcp, udp } ip6 hoplimit ",
                      ttl, " meta mark set ", marks[i],
                      " meta nftrace set 1\n");
    }
    absl::StrAppend(&nft,
                    "add rule inet meshcap-xcheck out_first meta l4proto { "
                    "tcp, udp } ip ttl >= ",
                    kTraceTtl, " meta nftrace set 1\n",
                    "add rule inet meshcap-xcheck out_first meta l4proto { "
                    "tcp, udp } ip6 hoplimit >= ",
                    kTraceTtl, " meta nftrace set 1\n");
    for (size_t k = 1; k < connmarks.size(); ++k) {
      for (const char* chain : {"pre_ct", "out_ct"}) {
        absl::StrAppend(&nft, "add rule inet meshcap-xcheck ", chain,
                        " ip dscp ", k, " ct mark set ", connmarks[k], "\n",
                        "add rule inet meshcap-xcheck ", chain, " ip6 dscp ", k,
                        " ct mark set ", connmarks[k], "\n");
      }
    }
    const std::string path = "/tmp/meshcap-xcheck.nft";
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(nft.c_str(), f);
    fclose(f);
    Sh("nft delete table inet meshcap-xcheck 2>/dev/null; nft -f " + path);
  }

  // A listener on `port` of every address, both families, transparent (so
  // that TPROXY finds it); kept for the test.
  void Listen(uint16_t port) {
    if (listening_.count(port)) return;
    listening_.insert(port);
    for (int family : {AF_INET, AF_INET6}) {
      Fd s(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      const int on = 1;
      setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      setsockopt(s.get(), family == AF_INET ? SOL_IP : SOL_IPV6,
                 family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT, &on,
                 sizeof(on));
      sockaddr_storage ss{};
      socklen_t len;
      if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        len = sizeof(*a);
      } else {
        setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        len = sizeof(*a);
      }
      if (bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
          listen(s.get(), 64) == 0) {
        listeners_[{port, family}] = std::move(s);
      }
    }
  }

  void Unlisten(uint16_t port) {
    listening_.erase(port);
    listeners_.erase({port, AF_INET});
    listeners_.erase({port, AF_INET6});
  }

  // Sends `p` from a socket of its own (output).
  void SendOutput(const Packet& p, uint16_t sport, uint8_t dscp, Fd* keep) {
    std::thread t([&] {
      const bool v6 = p.dst.family() == IpFamily::kIpv6;
      setfsgid(p.gid.value_or(0));
      setfsuid(p.uid.value_or(0));
      Fd s(socket(v6 ? AF_INET6 : AF_INET,
                  (p.protocol == Transport::kTcp ? SOCK_STREAM : SOCK_DGRAM) |
                      SOCK_CLOEXEC | SOCK_NONBLOCK,
                  0));
      setfsuid(0);
      setfsgid(0);
      if (!s.ok()) return;
      const int on = 1;
      const int ttl = kTraceTtl;
      const int tos = dscp << 2;
      setsockopt(s.get(), SOL_SOCKET, SO_MARK, &p.mark, sizeof(p.mark));
      // An earlier probe's connection from the same port may linger.
      setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      const linger abort{1, 0};
      setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
      // (IPv6 finds no route to a local address bound to lo: the routing
      // table takes it there by itself.)
      const std::string oif = p.oif.empty() ? "eth0" : p.oif;
      if (!(v6 && oif == "lo")) {
        setsockopt(s.get(), SOL_SOCKET, SO_BINDTODEVICE, oif.c_str(),
                   static_cast<socklen_t>(oif.size()));
      }
      sockaddr_storage from{}, to{};
      socklen_t len;
      if (v6) {
        setsockopt(s.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
        setsockopt(s.get(), IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
        setsockopt(s.get(), IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof(on));
        setsockopt(s.get(), SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof(on));
        auto* a = reinterpret_cast<sockaddr_in6*>(&from);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(sport);
        memcpy(&a->sin6_addr, p.src->bytes().data(), 16);
        auto* b = reinterpret_cast<sockaddr_in6*>(&to);
        b->sin6_family = AF_INET6;
        b->sin6_port = htons(p.dst_port);
        memcpy(&b->sin6_addr, p.dst.bytes().data(), 16);
        len = sizeof(sockaddr_in6);
      } else {
        setsockopt(s.get(), IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
        setsockopt(s.get(), IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
        setsockopt(s.get(), IPPROTO_IP, IP_FREEBIND, &on, sizeof(on));
        setsockopt(s.get(), SOL_IP, IP_TRANSPARENT, &on, sizeof(on));
        auto* a = reinterpret_cast<sockaddr_in*>(&from);
        a->sin_family = AF_INET;
        a->sin_port = htons(sport);
        memcpy(&a->sin_addr, p.src->bytes().data(), 4);
        auto* b = reinterpret_cast<sockaddr_in*>(&to);
        b->sin_family = AF_INET;
        b->sin_port = htons(p.dst_port);
        memcpy(&b->sin_addr, p.dst.bytes().data(), 4);
        len = sizeof(sockaddr_in);
      }
      if (bind(s.get(), reinterpret_cast<sockaddr*>(&from), len) != 0) {
        ADD_FAILURE() << "bind " << p.ToString() << ": " << strerror(errno);
        return;
      }
      if (p.protocol == Transport::kTcp) {
        if (connect(s.get(), reinterpret_cast<sockaddr*>(&to), len) != 0 &&
            errno != EINPROGRESS) {
          ADD_FAILURE() << "connect " << p.ToString() << ": "
                        << strerror(errno);
        }
      } else if (sendto(s.get(), "q", 1, 0, reinterpret_cast<sockaddr*>(&to),
                        len) != 1) {
        ADD_FAILURE() << "sendto " << p.ToString() << ": " << strerror(errno);
      }
      *keep = std::move(s);
    });
    t.join();
  }

  // Hands `ip` to the pod as arriving on `iif`: from the veth's peer end
  // (in the peer namespace) or on lo.
  void Inject(const std::string& iif, const std::vector<uint8_t>& ip, bool v6) {
    const bool lo = iif == "lo";
    auto send = [&] {
      Fd s(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_ll a{};
      a.sll_family = AF_PACKET;
      a.sll_protocol = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
      a.sll_ifindex = lo ? 1  // lo is always 1
                         : peer_ifindex_.at(iif);
      a.sll_halen = 6;
      if (!lo) {
        unsigned int m[6];
        sscanf(macs_.at(iif).c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2],
               &m[3], &m[4], &m[5]);
        for (int i = 0; i < 6; ++i) a.sll_addr[i] = static_cast<uint8_t>(m[i]);
      }
      if (sendto(s.get(), ip.data(), ip.size(), 0,
                 reinterpret_cast<sockaddr*>(&a),
                 sizeof(a)) != static_cast<ssize_t>(ip.size())) {
        ADD_FAILURE() << "inject on " << iif << ": " << strerror(errno);
      }
    };
    if (lo) {
      send();
      return;
    }
    std::thread t([&] {
      if (setns(peer_->fd(), CLONE_NEWNET) != 0) return;
      send();
    });
    t.join();
  }

  std::unique_ptr<::meshcap::testing::ScopedNetns> pod_;
  std::unique_ptr<::meshcap::testing::DetachedNetns> peer_;
  std::map<std::string, int> ifindex_, peer_ifindex_;
  std::map<std::string, std::string> macs_;
  std::set<uint16_t> listening_;
  std::map<std::pair<uint16_t, int>, Fd> listeners_;
};

// The explain steps the kernel reports: each matched rule, and each base
// chain's end.
struct Expected {
  std::string table, chain;
  int rule = 0;  // 0: the policy
  std::string verdict;
};

std::string VerdictClass(const ExplainStep& s) {
  const std::string& o = s.outcome;
  if (o.rfind("jump", 0) == 0) return "jump";
  if (o == "return") return "return";
  if (o == "drop") return "drop";
  if (o == "accept" || o.rfind("REDIRECT", 0) == 0 ||
      o.rfind("TPROXY", 0) == 0) {
    return "accept";
  }
  return "continue";
}

std::string VerdictClass(int32_t v) {
  switch (v) {
    case NF_ACCEPT:
      return "accept";
    case NF_DROP:
      return "drop";
    case NFT_JUMP:
    case NFT_GOTO:
      return "jump";
    case NFT_RETURN:
      return "return";
    case NFT_CONTINUE:
      return "continue";
  }
  return absl::StrCat("verdict ", v);
}

TEST_P(ExplainKernelTest, ExplainAgreesWithTheKernelOnEveryProbe) {
  const std::string backend = GetParam();
  const internal::BackendFactory* factory = *internal::FindBackend(backend);
  const bool traced = backend != "iptables-legacy";
  const auto cases = ::meshcap::testing::LoadAllConformanceCases();

  // Everything the probes of all cases need, made once.
  std::vector<std::string> ifaces;
  std::vector<uint32_t> marks = {0}, connmarks = {0};
  struct CaseProbes {
    const ::meshcap::testing::ConformanceCase* c;
    CapturePolicy policy;
    ir::RuleSet rules;
    ::meshcap::testing::ProbeSet probes;
    bool compact = false;
  };
  std::vector<CaseProbes> all;
  // MESHCAP_EXPLAIN_STRIDE=k checks every k-th case only (dev/sanitize.sh:
  // the sanitized run is for memory safety, the ordinary one checks all).
  const char* stride_env = getenv("MESHCAP_EXPLAIN_STRIDE");
  const size_t stride =
      stride_env != nullptr && atoi(stride_env) > 1 ? atoi(stride_env) : 1;
  for (size_t ci = 0; ci < cases.size(); ci += stride) {
    const auto& c = cases[ci];
    absl::StatusOr<CapturePolicy> policy = PolicyFromJson(c.policy_json);
    ASSERT_THAT(policy, IsOk()) << c.name;
    CaseProbes cp{
        &c, *policy, internal::Compile(*policy, factory->dialect()), {}};
    cp.probes = ::meshcap::testing::GenerateProbes(cp.rules, *factory);
    for (const std::string& i : ::meshcap::testing::ProbeInterfaces(cp.rules)) {
      if (std::find(ifaces.begin(), ifaces.end(), i) == ifaces.end()) {
        ifaces.push_back(i);
      }
    }
    for (const Packet& p : cp.probes.packets) {
      if (std::find(marks.begin(), marks.end(), p.mark) == marks.end()) {
        marks.push_back(p.mark);
      }
      if (std::find(connmarks.begin(), connmarks.end(), p.connmark) ==
          connmarks.end()) {
        connmarks.push_back(p.connmark);
      }
    }
    // CompactLists on nftables: the same case with its lists as named sets,
    // sent the linear form's probes (the boundaries of every list entry);
    // explain_test proves Explain gives both forms the same verdict on
    // them, this that the kernel agrees.
    if (backend == "nftables") {
      std::string json = c.policy_json;
      const size_t brace = json.find('{');
      ASSERT_NE(brace, std::string::npos);
      json.insert(brace + 1, "\"CompactLists\":true,");
      absl::StatusOr<CapturePolicy> compact = PolicyFromJson(json);
      ASSERT_THAT(compact, IsOk()) << c.name;
      ir::RuleSet rules = internal::Compile(*compact, factory->dialect());
      if (factory->Render(rules) != factory->Render(cp.rules)) {
        CaseProbes cc{&c, *compact, std::move(rules), cp.probes, true};
        cc.probes.rules = ::meshcap::testing::AllRuleKeys(cc.rules);
        all.push_back(std::move(cp));
        all.push_back(std::move(cc));
        continue;
      }
    }
    all.push_back(std::move(cp));
  }
  ASSERT_LT(marks.size(), 150u);
  ASSERT_LT(connmarks.size(), 64u);
  MakeInterfaces(ifaces);
  MakeObserver(marks, connmarks);
  for (uint16_t port : {15001, 15006}) Listen(port);
  TraceSocket trace;
  ASSERT_TRUE(trace.Open());

  EngineOptions eo;
  eo.backend = backend;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(eo);
  ASSERT_THAT(engine, IsOk());

  Totals& totals = GlobalTotals();
  totals.backends.insert(backend);
  totals.stride = stride;
  uint16_t next_sport = 20000;
  uint32_t seq = 1000;
  for (CaseProbes& cp : all) {
    SCOPED_TRACE(cp.c->name + (cp.compact ? " (CompactLists)" : ""));
    if (cp.compact) {
      ++totals.compact_cases;
      totals.compact_packets += cp.probes.packets.size();
    }
    ASSERT_THAT((*engine)->Apply(cp.policy), IsOk());
    // Rule handles, in chain order, per "family table chain".
    std::map<std::string, std::map<uint64_t, int>> handles;
    if (traced) {
      const std::string listing = Sh("nft -a list ruleset");
      std::string family, table, chain;
      int index = 0;
      for (absl::string_view line : absl::StrSplit(listing, '\n')) {
        std::vector<absl::string_view> w =
            absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
        if (w.size() >= 3 && w[0] == "table") {
          family = std::string(w[1]);
          table = std::string(w[2]);
          chain.clear();
        } else if (!w.empty() && w[0] == "set") {
          chain.clear();  // a named set's handle is no rule's
        } else if (w.size() >= 2 && w[0] == "chain") {
          chain = std::string(w[1]);
          index = 0;
        } else if (w.size() >= 2 && w[w.size() - 2] == "handle" &&
                   !chain.empty() &&
                   line.find("type ") == absl::string_view::npos) {
          handles[family + " " + table + " " + chain]
                 [std::stoull(std::string(w.back()))] = ++index;
        }
      }
    }
    std::set<std::string> hit;
    for (const Packet& probe : cp.probes.packets) {
      Packet p = probe;
      if (!p.src.has_value()) continue;
      const bool v6 = p.dst.family() == IpFamily::kIpv6;
      const IpFamily fam = p.dst.family();
      uint16_t sport = p.src_port;
      if (sport == 0) {
        sport = next_sport++;
        if (next_sport > 39999) next_sport = 20000;
      }
      p.src_port = sport;
      // The test's own listener may hold the source port: closed for this
      // packet.
      const bool reopen =
          p.path == PacketPath::kOutput && listening_.count(sport) > 0;
      if (reopen) Unlisten(sport);
      absl::StatusOr<Explanation> e =
          internal::ExplainRules(cp.rules, *factory, p);
      ASSERT_THAT(e, IsOk());
      const std::string what = p.ToString() + " sport " + std::to_string(sport);
      const size_t mark_index = static_cast<size_t>(
          std::find(marks.begin(), marks.end(), p.mark) - marks.begin());
      const uint8_t dscp = static_cast<uint8_t>(
          std::find(connmarks.begin(), connmarks.end(), p.connmark) -
          connmarks.begin());
      const uint8_t ttl = static_cast<uint8_t>(kTraceTtl + mark_index);

      FlushConntrack();
      trace.Drain();
      Fd keep;
      if (p.path == PacketPath::kOutput) {
        SendOutput(p, sport, dscp, &keep);
      } else {
        if (p.ct_state == ConnState::kEstablished) {
          // A handshake first (not traced), answered by whoever the
          // connection lands on.
          Listen(p.dst_port);
          Packet syn = p;
          Inject(p.iif,
                 BuildPacket(syn, sport, Flags::kSyn, seq, 64, dscp, false),
                 v6);
          std::this_thread::sleep_for(std::chrono::milliseconds(3));
          trace.Drain();
          ++totals.established;
        }
        Inject(
            p.iif,
            BuildPacket(p, sport,
                        p.ct_state == ConnState::kInvalid       ? Flags::kSynFin
                        : p.ct_state == ConnState::kEstablished ? Flags::kAck
                                                                : Flags::kSyn,
                        p.ct_state == ConnState::kEstablished ? seq + 1 : seq,
                        ttl, dscp, p.ct_state == ConnState::kInvalid),
            v6);
      }
      seq += 1000;

      // Events up to the observing chain's (or 60 ms without it: dropped).
      std::vector<TraceEvent> events;
      const std::string last_chain =
          p.path == PacketPath::kOutput ? "post_last" : "pre_last";
      auto done = [&] {
        for (const TraceEvent& ev : events) {
          if (ev.table == "meshcap-xcheck" && ev.chain == last_chain) {
            return true;
          }
        }
        return false;
      };
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
      while (!done() && std::chrono::steady_clock::now() < deadline) {
        trace.Read(events, 5);
      }

      // The verdict.
      Seen seen;
      for (const TraceEvent& ev : events) {
        if (ev.table != "meshcap-xcheck" || ev.chain != last_chain) continue;
        if (ev.network.empty()) continue;
        seen.seen = true;
        const uint8_t* n = reinterpret_cast<const uint8_t*>(ev.network.data());
        const uint8_t* t =
            reinterpret_cast<const uint8_t*>(ev.transport.data());
        const uint16_t dport = ev.transport.size() >= 4
                                   ? static_cast<uint16_t>(t[2] << 8 | t[3])
                                   : 0;
        const std::string daddr = AddrText(fam, n + (v6 ? 24 : 16));
        seen.dst = HostPort(fam, daddr, dport);
        seen.mark = ev.mark.value_or(0);
        break;
      }
      const std::string sent = HostPort(fam, p.dst.AddressString(), p.dst_port);
      // An established packet goes where its connection's first packet
      // went (nat chains saw only that one): the handshake's SYN, unmarked.
      const Explanation* landing = &*e;
      absl::StatusOr<Explanation> first;
      if (p.ct_state == ConnState::kEstablished) {
        Packet syn = p;
        syn.ct_state = ConnState::kNew;
        syn.mark = 0;
        first = internal::ExplainRules(cp.rules, *factory, syn);
        ASSERT_THAT(first, IsOk());
        landing = &*first;
      }
      std::string want;
      if (e->mode == "DROP") {
        EXPECT_FALSE(seen.seen) << what
                                << ": explain says dropped, but the "
                                   "kernel let it through to "
                                << seen.dst;
      } else {
        EXPECT_TRUE(seen.seen)
            << cp.c->name << " " << backend << ": " << what
            << ": the kernel dropped it; explain says " << e->summary;
        if (!seen.seen) {
          // (Compared above.)
        } else if (landing->mode == "REDIRECT") {
          EXPECT_NE(seen.dst, sent) << what << ": " << e->summary;
          EXPECT_TRUE(
              absl::EndsWith(seen.dst, absl::StrCat(":", *landing->port)))
              << cp.c->name << " " << backend << ": " << what
              << ": the kernel sent it to " << seen.dst << "; explain says "
              << e->summary;
        } else {
          EXPECT_EQ(seen.dst, sent)
              << cp.c->name << " " << backend << ": " << what
              << ": explain says " << e->summary << "\n"
              << e->ToText();
        }
        if (seen.seen) {
          EXPECT_EQ(seen.mark, e->mark)
              << cp.c->name << " " << backend << ": " << what
              << ": the mark differs; explain says " << e->summary;
        }
      }
      ++totals.verdicts;
      ++totals.packets;

      // The original destination of a captured TCP connection.
      if (p.path == PacketPath::kOutput && p.protocol == Transport::kTcp &&
          e->mode == "REDIRECT" && (p.oif == "lo" || p.oif.empty())) {
        auto it = listeners_.find({*e->port, v6 ? AF_INET6 : AF_INET});
        // Only a connection that completed reaches the listener (one from
        // a foreign source, or bound to another device, cannot).
        pollfd out{keep.get(), POLLOUT, 0};
        int err = -1;
        socklen_t el = sizeof(err);
        const bool connected =
            keep.ok() && poll(&out, 1, 20) == 1 &&
            getsockopt(keep.get(), SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
            err == 0;
        if (it != listeners_.end() && connected) {
          pollfd pf{it->second.get(), POLLIN, 0};
          if (poll(&pf, 1, 200) == 1) {
            Fd got(accept4(it->second.get(), nullptr, nullptr, SOCK_CLOEXEC));
            sockaddr_storage ss{};
            socklen_t len = sizeof(ss);
            const int r =
                v6 ? getsockopt(got.get(), SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss,
                                &len)
                   : getsockopt(got.get(), SOL_IP, SO_ORIGINAL_DST, &ss, &len);
            ASSERT_EQ(r, 0) << what;
            const uint8_t* a =
                v6 ? reinterpret_cast<const uint8_t*>(
                         &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                   : reinterpret_cast<const uint8_t*>(
                         &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
            const uint16_t port =
                ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
            EXPECT_EQ(HostPort(fam, AddrText(fam, a), port), sent) << what;
            ++totals.original_dst;
          }
        }
      }
      for (auto& [key, l] : listeners_) {
        // Whatever else was accepted is closed.
        for (;;) {
          Fd extra(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
          if (!extra.ok()) break;
        }
      }

      if (reopen) Listen(sport);

      // The path.
      for (const ExplainStep& s : e->path) {
        if (s.rule > 0) {
          hit.insert(::meshcap::testing::RuleKey(s, cp.rules.dialect));
        }
      }
      if (!traced) continue;
      std::vector<std::string> want_path, got_path;
      for (const ExplainStep& s : e->path) {
        if (s.outcome.rfind("not run", 0) == 0) continue;
        if (s.rule == 0) {
          if (s.outcome == "end: policy accept") {
            want_path.push_back(absl::StrCat(s.table, " ", s.chain, " policy"));
          }
          continue;
        }
        if (!s.matched) continue;
        want_path.push_back(absl::StrCat(s.table, " ", s.chain, " ", s.rule,
                                         " ", VerdictClass(s)));
      }
      for (const TraceEvent& ev : events) {
        if (ev.table == "meshcap-xcheck") {
          if (ev.chain == last_chain) break;
          continue;
        }
        const std::string fam_name = ev.family == NFPROTO_INET   ? "inet"
                                     : ev.family == NFPROTO_IPV4 ? "ip"
                                                                 : "ip6";
        const std::string label = cp.rules.dialect == ir::Dialect::kNftables
                                      ? "inet " + ev.table
                                      : ev.table;
        if (ev.type == NFT_TRACETYPE_POLICY) {
          // A base chain without rules (iptables-nft keeps one that an
          // earlier case's policy made) does nothing: not compared.
          if (!handles.count(fam_name + " " + ev.table + " " + ev.chain)) {
            continue;
          }
          got_path.push_back(absl::StrCat(label, " ", ev.chain, " policy"));
        } else if (ev.type == NFT_TRACETYPE_RULE && ev.handle != 0) {
          // (A rule event without a handle is the kernel noting that it
          // resumes the calling chain after a jump.)
          const auto& h = handles[fam_name + " " + ev.table + " " + ev.chain];
          auto it = h.find(ev.handle);
          got_path.push_back(
              absl::StrCat(label, " ", ev.chain, " ",
                           it == h.end() ? absl::StrCat("handle ", ev.handle)
                                         : absl::StrCat(it->second),
                           " ", VerdictClass(ev.verdict)));
        }
      }
      EXPECT_EQ(absl::StrJoin(got_path, "\n"), absl::StrJoin(want_path, "\n"))
          << cp.c->name << " " << backend << ": " << what
          << ": the kernel's path (first) differs from explain's\n"
          << e->ToText();
      ++totals.paths;
    }
    // Every rule of a chain packets enter was reached by a packet sent.
    const std::set<std::string> unused =
        ::meshcap::testing::RulesInUnusedChains(cp.rules);
    for (const std::string& r : cp.probes.rules) {
      if (unused.count(r)) {
        ++totals.rules_unused;
      } else {
        EXPECT_TRUE(hit.count(r)) << cp.c->name << " " << backend
                                  << ": no packet sent exercised " << r;
      }
    }
    totals.rules += cp.probes.rules.size();
    totals.rules_hit += hit.size();
    ++totals.cases;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ExplainKernelTest,
                         ::testing::Values("nftables", "iptables-nft",
                                           "iptables-legacy"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

class PrintTotals : public ::testing::Environment {
 public:
  void TearDown() override {
    const Totals& t = GlobalTotals();
    std::printf(
        "explain cross-check%s: %zu case-backend runs (%s): %zu packets sent "
        "(%zu established after a handshake), 0 disagreements unless "
        "reported above: %zu verdicts and %zu paths (nftrace, nf_tables "
        "backends) compared with the kernel, %zu original destinations read "
        "back; %zu of %zu rules exercised (the other %zu are in chains "
        "nothing jumps to); CompactLists: %zu cases on nftables, %zu of "
        "the packets above sent through their named sets\n",
        t.stride > 1 ? absl::StrCat(" (one case in ", t.stride, ")").c_str()
                     : "",
        t.cases, absl::StrJoin(t.backends, ", ").c_str(), t.packets,
        t.established, t.verdicts, t.paths, t.original_dst, t.rules_hit,
        t.rules, t.rules_unused, t.compact_cases, t.compact_packets);
  }
};

const auto* const kTotals =
    ::testing::AddGlobalTestEnvironment(new PrintTotals);

}  // namespace
}  // namespace meshcap
