// SPDX-License-Identifier: GPL-2.0-or-later
//
// Real connections through the installed rules, with both backends. A pod
// namespace (this thread's) is joined by a veth pair to a peer namespace:
//   pod  eth0: 198.51.100.2/24, 203.0.113.2/24, 2001:db8::2/64
//   peer eth0: 198.51.100.1/24, 198.51.100.53/24, 203.0.113.1/24,
//              2001:db8::1/64, 2001:db8::53/64
// Listeners stand in for the proxy (15001, 15006), the DNS agent (15053),
// ztunnel (15001, 15006, 15008, 15053, marked 0x539), the app and the peer's
// services.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "meshcap/validate.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;

constexpr int kWaitMs = 2000;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  bool ok() const { return fd >= 0; }
};

struct Endpoint {
  std::string ip;
  uint16_t port;
  bool v6() const { return ip.find(':') != std::string::npos; }
};

sockaddr_storage ToSockaddr(const Endpoint& e, socklen_t* len) {
  sockaddr_storage ss{};
  if (e.v6()) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(e.port);
    inet_pton(AF_INET6, e.ip.c_str(), &a->sin6_addr);
    *len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(e.port);
    inet_pton(AF_INET, e.ip.c_str(), &a->sin_addr);
    *len = sizeof(*a);
  }
  return ss;
}

std::string ToString(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
}

std::string ToString(const Endpoint& e) {
  return e.v6() ? "[" + e.ip + "]:" + std::to_string(e.port)
                : e.ip + ":" + std::to_string(e.port);
}

// Runs `fn` on a thread inside `netns_fd` (-1: this thread's namespace) with
// the given identity (-1: unchanged); the thread ends with `fn`.
void OnThread(int netns_fd, int uid, int gid, const std::function<void()>& fn) {
  std::thread t([&] {
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) return;
    if (gid >= 0 && syscall(SYS_setresgid, gid, gid, gid) != 0) return;
    if (uid >= 0 && syscall(SYS_setresuid, uid, uid, uid) != 0) return;
    fn();
  });
  t.join();
}

// A listening (TCP) or bound (UDP) socket at `at`, with SO_MARK `mark`
// unless 0 (sockets it accepts inherit the mark).
Fd Listen(int netns_fd, int type, const Endpoint& at, bool transparent = false,
          uint32_t mark = 0) {
  Fd fd;
  OnThread(netns_fd, -1, -1, [&] {
    Fd s(socket(at.v6() ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0));
    const int on = 1;
    setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (mark != 0 &&
        setsockopt(s.fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
      return;
    }
    if (transparent) {
      setsockopt(s.fd, at.v6() ? SOL_IPV6 : SOL_IP,
                 at.v6() ? IPV6_TRANSPARENT : IP_TRANSPARENT, &on, sizeof(on));
    }
    if (at.v6()) {
      setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    socklen_t len;
    sockaddr_storage a = ToSockaddr(at, &len);
    if (bind(s.fd, reinterpret_cast<sockaddr*>(&a), len) != 0) return;
    if (type == SOCK_STREAM && listen(s.fd, 16) != 0) return;
    fd = std::move(s);
  });
  return fd;
}

// How a TCP connection is made: in `netns_fd` (-1: this thread's), as
// `uid`/`gid` (-1: unchanged), with SO_MARK `mark` (0: none), bound first
// to `from` (transparently, if `transparent`: a foreign address).
struct Dial {
  int netns_fd = -1;
  int uid = -1;
  int gid = -1;
  uint32_t mark = 0;
  const Endpoint* from = nullptr;
  bool transparent = false;
};

// A TCP connection to `to`, made as `d` says; not ok unless it is
// established within kWaitMs.
Fd ConnectWith(const Endpoint& to, const Dial& d) {
  Fd fd;
  OnThread(d.netns_fd, d.uid, d.gid, [&] {
    Fd s(socket(to.v6() ? AF_INET6 : AF_INET,
                SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (d.mark != 0 &&
        setsockopt(s.fd, SOL_SOCKET, SO_MARK, &d.mark, sizeof(d.mark)) != 0) {
      return;
    }
    if (d.from != nullptr) {
      const int on = 1;
      if (d.transparent) {
        setsockopt(s.fd, to.v6() ? SOL_IPV6 : SOL_IP,
                   to.v6() ? IPV6_TRANSPARENT : IP_TRANSPARENT, &on,
                   sizeof(on));
      }
      socklen_t len;
      sockaddr_storage a = ToSockaddr(*d.from, &len);
      if (bind(s.fd, reinterpret_cast<sockaddr*>(&a), len) != 0) return;
    }
    socklen_t len;
    sockaddr_storage a = ToSockaddr(to, &len);
    if (connect(s.fd, reinterpret_cast<sockaddr*>(&a), len) != 0 &&
        errno != EINPROGRESS) {
      return;
    }
    pollfd p{s.fd, POLLOUT, 0};
    int err = 0;
    socklen_t el = sizeof(err);
    if (poll(&p, 1, kWaitMs) != 1 ||
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
      return;
    }
    fd = std::move(s);
  });
  return fd;
}

// A TCP connection to `to`, made in `netns_fd` as `uid`/`gid`.
Fd Connect(const Endpoint& to, int netns_fd = -1, int uid = -1, int gid = -1) {
  Dial d;
  d.netns_fd = netns_fd;
  d.uid = uid;
  d.gid = gid;
  return ConnectWith(to, d);
}

// A TCP connection to `to` from a socket with SO_MARK `mark` (ztunnel's own
// sockets), optionally bound transparently to the foreign address `from`.
Fd ConnectMarked(const Endpoint& to, uint32_t mark,
                 const Endpoint* from = nullptr) {
  Dial d;
  d.mark = mark;
  d.from = from;
  d.transparent = true;
  return ConnectWith(to, d);
}

// A UDP datagram to `to`, sent in `netns_fd` as `uid`.
bool SendUdp(const Endpoint& to, int netns_fd = -1, int uid = -1) {
  bool sent = false;
  OnThread(netns_fd, uid, -1, [&] {
    Fd s(socket(to.v6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_storage a = ToSockaddr(to, &len);
    sent = sendto(s.fd, "q", 1, 0, reinterpret_cast<sockaddr*>(&a), len) == 1;
  });
  return sent;
}

bool Readable(int fd, int ms = kWaitMs) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

// Whether nothing arrives on the open socket `fd` within `ms`. A closed one
// (a listener that failed) is not silent: poll ignores it, which would make
// "got nothing" true of anything.
bool Silent(const Fd& fd, int ms = 50) {
  return fd.ok() && !Readable(fd.fd, ms);
}

uint32_t SocketMark(const Fd& fd) {
  uint32_t mark = 0;
  socklen_t len = sizeof(mark);
  getsockopt(fd.fd, SOL_SOCKET, SO_MARK, &mark, &len);
  return mark;
}

Fd Accept(const Fd& listener, int ms = kWaitMs) {
  if (!Readable(listener.fd, ms)) return Fd();
  return Fd(accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
}

std::string OriginalDst(const Fd& fd, bool v6) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  const int r =
      v6 ? getsockopt(fd.fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len)
         : getsockopt(fd.fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  return r == 0 ? ToString(ss) : std::string("(none: ") + strerror(errno) + ")";
}

std::string LocalAddr(const Fd& fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd.fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ToString(ss);
}

const Endpoint kPeer{"198.51.100.1", 8080};
const Endpoint kPeerOther{"203.0.113.1", 8080};
const Endpoint kPeer6{"2001:db8::1", 8080};
const Endpoint kResolver{"198.51.100.53", 53};

// The pod and its peer, with the proxy's and the peer's listeners; the
// backend under test is the subclass's parameter.
class TrafficFixture : public ::testing::Test {
 protected:
  virtual const char* Backend() const = 0;

  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
    pod_ = std::make_unique<::meshcap::testing::ScopedNetns>();
    if (!pod_->ok()) GTEST_SKIP() << pod_->error();
    peer_ = std::make_unique<::meshcap::testing::DetachedNetns>();
    ASSERT_TRUE(peer_->ok());
    // Distinct ifindexes: two fresh namespaces would give both ends the
    // same one, and linkwatch then takes the carrier change as non-urgent
    // (iflink == ifindex) and delays it up to 1 s, losing the first IPv6
    // neighbour solicitation, so every IPv6 connection waited ~1.1 s.
    Sh("ip link add eth0 index 7 type veth peer name eth0 netns " +
       peer_->path() + " index 9");
    Sh("ip addr add 198.51.100.2/24 dev eth0 && "
       "ip addr add 203.0.113.2/24 dev eth0 && "
       "ip -6 addr add 2001:db8::2/64 dev eth0 nodad && ip link set eth0 up");
    ShPeer(
        "ip addr add 198.51.100.1/24 dev eth0 && "
        "ip addr add 198.51.100.53/24 dev eth0 && "
        "ip addr add 203.0.113.1/24 dev eth0 && "
        "ip -6 addr add 2001:db8::1/64 dev eth0 nodad && "
        "ip -6 addr add 2001:db8::53/64 dev eth0 nodad && "
        "ip link set eth0 up");
    proxy_out_ = Listen(-1, SOCK_STREAM, {"0.0.0.0", 15001});
    proxy_in_ = Listen(-1, SOCK_STREAM, {"0.0.0.0", 15006});
    proxy_out6_ = Listen(-1, SOCK_STREAM, {"::", 15001});
    proxy_in6_ = Listen(-1, SOCK_STREAM, {"::", 15006});
    peer_svc_ = Listen(peer_->fd(), SOCK_STREAM, {"0.0.0.0", 8080});
    peer_svc6_ = Listen(peer_->fd(), SOCK_STREAM, {"::", 8080});
    ASSERT_TRUE(proxy_out_.ok() && proxy_in_.ok() && proxy_out6_.ok() &&
                proxy_in6_.ok() && peer_svc_.ok() && peer_svc6_.ok());
  }

  void TearDown() override {
    engine_.reset();
    peer_.reset();
    pod_.reset();
  }

  void Sh(const std::string& cmd) {
    auto r = ::meshcap::testing::Shell(cmd);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  }
  void ShPeer(const std::string& cmd) {
    auto r = ::meshcap::testing::ShellIn(peer_->fd(), cmd);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  }

  // Applies an Istio Config (JSON) with the backend under test.
  void Apply(const std::string& json) {
    absl::StatusOr<CapturePolicy> p = PolicyFromJson(json);
    ASSERT_THAT(p, IsOk()) << json;
    EngineOptions o;
    o.backend = Backend();
    auto e = Engine::Create(o);
    ASSERT_THAT(e, IsOk());
    engine_ = *std::move(e);
    ASSERT_THAT(engine_->Apply(*p), IsOk());
  }

  // Expects a connection to `to` from the pod to land on the outbound
  // proxy with `to` as its original destination.
  void ExpectCaptured(const Endpoint& to, int uid = -1, int gid = -1) {
    Fd c = Connect(to, -1, uid, gid);
    ASSERT_TRUE(c.ok()) << "connect to " << ToString(to);
    Fd got = Accept(to.v6() ? proxy_out6_ : proxy_out_);
    ASSERT_TRUE(got.ok()) << ToString(to) << " did not reach the proxy";
    EXPECT_EQ(OriginalDst(got, to.v6()), ToString(to));
    EXPECT_TRUE(Silent(to.v6() ? peer_svc6_ : peer_svc_))
        << "the peer saw it too";
  }

  // Expects a connection to `to` from the pod to reach the peer itself.
  void ExpectDirect(const Endpoint& to, int uid = -1, int gid = -1) {
    Fd c = Connect(to, -1, uid, gid);
    ASSERT_TRUE(c.ok()) << "connect to " << ToString(to);
    Fd got = Accept(to.v6() ? peer_svc6_ : peer_svc_);
    ASSERT_TRUE(got.ok()) << ToString(to) << " did not reach the peer";
    EXPECT_TRUE(Silent(to.v6() ? proxy_out6_ : proxy_out_))
        << "the proxy saw it";
  }

  std::unique_ptr<::meshcap::testing::ScopedNetns> pod_;
  std::unique_ptr<::meshcap::testing::DetachedNetns> peer_;
  std::unique_ptr<Engine> engine_;
  Fd proxy_out_, proxy_in_, proxy_out6_, proxy_in6_, peer_svc_, peer_svc6_;
};

class TrafficTest : public TrafficFixture,
                    public ::testing::WithParamInterface<const char*> {
 protected:
  const char* Backend() const override { return GetParam(); }
};

constexpr char kIstioInit[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020", "EnableIPv6": true})";

TEST_P(TrafficTest, OutboundLandsOnTheProxyWithItsOriginalDestination) {
  Apply(kIstioInit);
  ExpectCaptured(kPeer);
  ExpectCaptured(kPeer6);
}

TEST_P(TrafficTest, TheProxyUidAndGidGoDirect) {
  Apply(kIstioInit);
  ExpectDirect(kPeer, /*uid=*/1337, /*gid=*/1337);
  ExpectDirect(kPeer, /*uid=*/4242, /*gid=*/1337);
  ExpectDirect(kPeer6, /*uid=*/1337, /*gid=*/1337);
  ExpectCaptured(kPeer, /*uid=*/4242, /*gid=*/4242);
}

TEST_P(TrafficTest, ExcludedCidrsAndPortsGoDirect) {
  Apply(R"({"OutboundIPRangesInclude": "*",
            "OutboundIPRangesExclude": "203.0.113.0/24",
            "OutboundPortsExclude": "8081"})");
  ExpectDirect(kPeerOther);
  ExpectCaptured(kPeer);
  Fd other = Listen(peer_->fd(), SOCK_STREAM, {"198.51.100.1", 8081});
  ASSERT_TRUE(other.ok());
  Fd c = Connect({"198.51.100.1", 8081});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(Accept(other).ok()) << "port 8081 is excluded";
}

TEST_P(TrafficTest, WithAnIncludeListOnlyListedDestinationsAreCaptured) {
  Apply(R"({"OutboundIPRangesInclude": "203.0.113.0/24"})");
  ExpectCaptured(kPeerOther);
  ExpectDirect(kPeer);
  // Ports are an include list of their own: with no CIDR include, only the
  // listed port is captured (with `*` everything would be).
  Apply(R"({"OutboundIPRangesInclude": "", "OutboundPortsInclude": "8080"})");
  ExpectCaptured(kPeer);
  Fd other = Listen(peer_->fd(), SOCK_STREAM, {"198.51.100.1", 8081});
  ASSERT_TRUE(other.ok());
  Fd c = Connect({"198.51.100.1", 8081});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(Accept(other).ok()) << "only port 8080 is captured";
}

TEST_P(TrafficTest, InboundLandsOnTheInboundPortAndExclusionsReachTheApp) {
  Apply(R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
            "InboundPortsExclude": "9091", "EnableIPv6": true})");
  for (const char* addr : {"198.51.100.2", "2001:db8::2"}) {
    const Endpoint app{addr, 9090};
    Fd c = Connect(app, peer_->fd());
    ASSERT_TRUE(c.ok()) << ToString(app);
    Fd got = Accept(app.v6() ? proxy_in6_ : proxy_in_);
    ASSERT_TRUE(got.ok()) << ToString(app) << " did not reach 15006";
    EXPECT_EQ(OriginalDst(got, app.v6()), ToString(app));
  }
  for (uint16_t port : {9091, 15008}) {
    Fd own = Listen(-1, SOCK_STREAM, {"0.0.0.0", port});
    ASSERT_TRUE(own.ok());
    Fd c = Connect({"198.51.100.2", port}, peer_->fd());
    ASSERT_TRUE(c.ok()) << port;
    EXPECT_TRUE(Accept(own).ok()) << "port " << port << " was captured";
  }
}

TEST_P(TrafficTest, TproxyDeliversToATransparentListenerAndRepliesFlow) {
  Apply(R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
            "EnableIPv6": true})");
  // The inbound port 15006 now belongs to a transparent listener.
  proxy_in_ = Fd();
  Fd tproxy = Listen(-1, SOCK_STREAM, {"0.0.0.0", 15006}, /*transparent=*/true);
  ASSERT_TRUE(tproxy.ok());
  const Endpoint app{"198.51.100.2", 9090};
  Fd c = Connect(app, peer_->fd());
  ASSERT_TRUE(c.ok());
  Fd got = Accept(tproxy);
  ASSERT_TRUE(got.ok()) << "the TPROXY listener got nothing";
  EXPECT_EQ(LocalAddr(got), ToString(app));  // the original destination
  ASSERT_EQ(write(got.fd, "pong", 4), 4);
  ASSERT_TRUE(Readable(c.fd));
  char buf[8] = {};
  EXPECT_EQ(read(c.fd, buf, sizeof(buf)), 4);
  EXPECT_STREQ(buf, "pong");
}

TEST_P(TrafficTest, DnsReachesTheAgentAndTheAgentReachesTheResolver) {
  Apply(R"({"OutboundIPRangesInclude": "*", "RedirectDNS": true,
            "DNSServersV4": "198.51.100.53"})");
  Fd agent_udp = Listen(-1, SOCK_DGRAM, {"0.0.0.0", 15053});
  Fd agent_tcp = Listen(-1, SOCK_STREAM, {"0.0.0.0", 15053});
  Fd resolver = Listen(peer_->fd(), SOCK_DGRAM, kResolver);
  ASSERT_TRUE(agent_udp.ok() && agent_tcp.ok() && resolver.ok());
  ASSERT_TRUE(SendUdp(kResolver));
  EXPECT_TRUE(Readable(agent_udp.fd)) << "UDP 53 did not reach 15053";
  Fd c = Connect(kResolver);
  ASSERT_TRUE(c.ok());
  Fd got = Accept(agent_tcp);
  ASSERT_TRUE(got.ok()) << "TCP 53 did not reach 15053";
  EXPECT_EQ(OriginalDst(got, false), ToString(kResolver));
  // The agent itself (proxy UID) asks upstream.
  ASSERT_TRUE(SendUdp(kResolver, -1, /*uid=*/1337));
  EXPECT_TRUE(Readable(resolver.fd)) << "the agent's query was captured";
}

TEST_P(TrafficTest, AnExcludedInterfaceIsNotCaptured) {
  Apply(R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
            "ExcludeInterfaces": "eth0"})");
  ExpectDirect(kPeer);
  Fd own = Listen(-1, SOCK_STREAM, {"0.0.0.0", 9090});
  ASSERT_TRUE(own.ok());
  Fd c = Connect({"198.51.100.2", 9090}, peer_->fd());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(Accept(own).ok()) << "inbound on eth0 was captured";
}

TEST_P(TrafficTest, ValidateProbePassesAfterApplyAndFailsWithout) {
  // The probe brings its own listeners on 127.0.0.1:15001/15006.
  proxy_out_ = Fd();
  proxy_in_ = Fd();
  ValidateOptions o;
  o.timeout = std::chrono::milliseconds(600);
  EXPECT_THAT(ValidateCapture(o), ::meshcap::testing::StatusIs(
                                      absl::StatusCode::kDeadlineExceeded,
                                      ::testing::HasSubstr("not captured")));
  Apply(kIstioInit);
  o.timeout = std::chrono::milliseconds(5000);
  EXPECT_THAT(ValidateCapture(o), IsOk());
  // And through the namespace's fd, as a node agent would call it.
  o.netns_fd = pod_->fd();
  EXPECT_THAT(ValidateCapture(o), IsOk());
}

INSTANTIATE_TEST_SUITE_P(Backends, TrafficTest,
                         ::testing::Values("nftables", "iptables-legacy",
                                           "iptables-nft"),
                         ::meshcap::testing::BackendName);

// --- Ambient: a stand-in ztunnel inside the pod, per backend and family ---

constexpr uint32_t kZtunnelMark = 0x539;
constexpr char kAmbient[] =
    R"({"Profile": "ambient", "RedirectDNS": true, "EnableIPv6": true,
        "HostProbeSNATAddress": "169.254.7.127",
        "HostProbeV6SNATAddress": "fd16:9254:7127:1337:ffff:ffff:ffff:ffff"})";

// The addresses an ambient test uses, in one family.
struct Family {
  const char* name;
  const char* pod;     // the pod's eth0
  Endpoint peer;       // a service on the peer
  const char* client;  // a remote client (the peer's) ztunnel speaks for
  Endpoint resolver;   // the peer's DNS server
  const char* probe;   // kAmbient's kubelet probe SNAT address
  bool v6() const { return peer.v6(); }
};

void PrintTo(const Family& f, std::ostream* os) { *os << f.name; }

const Family kIpv4{"ipv4",        "198.51.100.2", kPeer,
                   "203.0.113.1", kResolver,      "169.254.7.127"};
const Family kIpv6{"ipv6",
                   "2001:db8::2",
                   kPeer6,
                   "2001:db8::1",
                   {"2001:db8::53", 53},
                   "fd16:9254:7127:1337:ffff:ffff:ffff:ffff"};

class AmbientTrafficTest
    : public TrafficFixture,
      public ::testing::WithParamInterface<std::tuple<const char*, Family>> {
 protected:
  const char* Backend() const override { return std::get<0>(GetParam()); }
  const Family& F() const { return std::get<1>(GetParam()); }

  void SetUp() override {
    TrafficFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // ztunnel's listeners, in both families, set SO_MARK 0x539 as
    // ztunnel's sockets do; the sockets they accept inherit it, so what
    // ztunnel sends back is marked. The fixture's unmarked 15001 and 15006
    // make way for them.
    proxy_out_ = Fd();
    proxy_in_ = Fd();
    proxy_out6_ = Fd();
    proxy_in6_ = Fd();
    for (const char* any : {"0.0.0.0", "::"}) {
      const bool v6 = any[0] == ':';
      (v6 ? proxy_out6_ : proxy_out_) = Ztunnel(SOCK_STREAM, any, 15001);
      (v6 ? proxy_in6_ : proxy_in_) = Ztunnel(SOCK_STREAM, any, 15006);
      hbone_[v6] = Ztunnel(SOCK_STREAM, any, 15008);
      dns_udp_[v6] = Ztunnel(SOCK_DGRAM, any, 15053);
      dns_tcp_[v6] = Ztunnel(SOCK_STREAM, any, 15053);
      app_[v6] = Listen(-1, SOCK_STREAM, {any, 9090});  // the app's own
      ASSERT_TRUE(hbone_[v6].ok() && dns_udp_[v6].ok() && dns_tcp_[v6].ok() &&
                  app_[v6].ok())
          << any;
    }
    ASSERT_TRUE(proxy_out_.ok() && proxy_in_.ok() && proxy_out6_.ok() &&
                proxy_in6_.ok());
  }

  static Fd Ztunnel(int type, const char* any, uint16_t port) {
    return Listen(-1, type, {any, port}, /*transparent=*/false, kZtunnelMark);
  }

  // This family's listeners.
  const Fd& Out() const { return F().v6() ? proxy_out6_ : proxy_out_; }
  const Fd& In() const { return F().v6() ? proxy_in6_ : proxy_in_; }
  const Fd& Hbone() const { return hbone_[F().v6()]; }
  const Fd& DnsUdp() const { return dns_udp_[F().v6()]; }
  const Fd& DnsTcp() const { return dns_tcp_[F().v6()]; }
  const Fd& App() const { return app_[F().v6()]; }

  // A connection from the peer to the pod's `port` lands on `listener`;
  // returns the accepted socket.
  Fd ExpectInboundTo(uint16_t port, const Fd& listener) {
    const Endpoint to{F().pod, port};
    Fd c = Connect(to, peer_->fd());
    EXPECT_TRUE(c.ok()) << ToString(to);
    Fd got = Accept(listener);
    EXPECT_TRUE(got.ok()) << ToString(to) << " went elsewhere";
    return got;
  }

  // The pod's DNS over UDP and TCP lands on ztunnel's 15053.
  void ExpectDnsOnZtunnel() {
    const Endpoint& resolver = F().resolver;
    ASSERT_TRUE(SendUdp(resolver));
    ASSERT_TRUE(Readable(DnsUdp().fd)) << "UDP 53 did not reach 15053";
    char buf[8];
    EXPECT_EQ(recv(DnsUdp().fd, buf, sizeof(buf), 0), 1);
    Fd c = Connect(resolver);
    ASSERT_TRUE(c.ok());
    Fd got = Accept(DnsTcp());
    ASSERT_TRUE(got.ok()) << "TCP 53 did not reach 15053";
    EXPECT_EQ(OriginalDst(got, F().v6()), ToString(resolver));
    EXPECT_TRUE(Silent(Out())) << "TCP 53 reached 15001";
  }

  Fd hbone_[2], dns_udp_[2], dns_tcp_[2], app_[2];  // [v6]
};

TEST_P(AmbientTrafficTest, AppOutboundLandsOnZtunnelWithItsDestination) {
  Apply(kAmbient);
  ExpectCaptured(F().peer);
}

TEST_P(AmbientTrafficTest, InboundLandsOnThePlaintextPortButHboneDoesNot) {
  Apply(kAmbient);
  Fd got = ExpectInboundTo(9090, In());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(OriginalDst(got, F().v6()), ToString(Endpoint{F().pod, 9090}));
  EXPECT_EQ(SocketMark(got), kZtunnelMark) << "accepted without the mark";
  EXPECT_TRUE(Silent(App())) << "the app saw it too";
  // HBONE reaches ztunnel's 15008 itself; redirected, 15006 would have it.
  EXPECT_TRUE(ExpectInboundTo(15008, Hbone()).ok());
  EXPECT_TRUE(Silent(In())) << "HBONE was redirected to 15006";
}

TEST_P(AmbientTrafficTest, ZtunnelsOwnMarkedConnectionsGoDirect) {
  Apply(kAmbient);
  const Endpoint& to = F().peer;
  Fd c = ConnectMarked(to, kZtunnelMark);
  ASSERT_TRUE(c.ok()) << ToString(to);
  EXPECT_TRUE(Accept(to.v6() ? peer_svc6_ : peer_svc_).ok())
      << ToString(to) << ": ztunnel's own connection was captured";
  EXPECT_TRUE(Silent(Out()));
}

TEST_P(AmbientTrafficTest, RepliesToWhatZtunnelDeliveredComeBackToIt) {
  // ztunnel hands an inbound connection to the app in the client's name
  // (transparent, marked 0x539). The app's replies, addressed to the
  // remote client (a peer address: it would reset them), must come back to
  // ztunnel: the connmark is restored on them and table 100 delivers them
  // locally.
  Apply(kAmbient);
  const Endpoint client{F().client, 40001};
  Fd z = ConnectMarked({F().pod, 9090}, kZtunnelMark, &client);
  ASSERT_TRUE(z.ok()) << "the handshake's reply did not come back to ztunnel";
  Fd got = Accept(App());
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(write(got.fd, "pong", 4), 4);
  ASSERT_TRUE(Readable(z.fd));
  char buf[8] = {};
  EXPECT_EQ(read(z.fd, buf, sizeof(buf)), 4);
  EXPECT_STREQ(buf, "pong");
}

TEST_P(AmbientTrafficTest, DnsOverUdpAndTcpReachesZtunnel) {
  Apply(kAmbient);
  ExpectDnsOnZtunnel();
  // ztunnel's own query, from its (marked) 15053 socket, goes upstream.
  Fd resolver = Listen(peer_->fd(), SOCK_DGRAM, F().resolver);
  ASSERT_TRUE(resolver.ok());
  socklen_t len;
  sockaddr_storage to = ToSockaddr(F().resolver, &len);
  ASSERT_EQ(
      sendto(DnsUdp().fd, "q", 1, 0, reinterpret_cast<sockaddr*>(&to), len), 1);
  EXPECT_TRUE(Readable(resolver.fd)) << "ztunnel's own query was captured";
  EXPECT_TRUE(Silent(DnsUdp())) << "ztunnel's own query came back to it";
}

TEST_P(AmbientTrafficTest, APodWithDnsDisabledSendsDnsStraightOut) {
  Apply(R"({"Profile": "ambient", "RedirectDNS": true, "EnableIPv6": true,
            "DNSProxy": "disabled"})");
  Fd resolver = Listen(peer_->fd(), SOCK_DGRAM, F().resolver);
  ASSERT_TRUE(resolver.ok());
  ASSERT_TRUE(SendUdp(F().resolver));
  EXPECT_TRUE(Readable(resolver.fd)) << "UDP 53 was captured";
  EXPECT_TRUE(Silent(DnsUdp())) << "UDP 53 reached 15053";
  // TCP 53 is then outbound TCP like any other.
  ExpectCaptured(F().resolver);
  EXPECT_TRUE(Silent(DnsTcp())) << "TCP 53 reached 15053";
}

TEST_P(AmbientTrafficTest, APodWithDnsEnabledHasItCapturedWhenGlobalIsOff) {
  // Globally off: DNS goes straight out.
  Apply(R"({"Profile": "ambient", "RedirectDNS": false, "EnableIPv6": true})");
  Fd resolver = Listen(peer_->fd(), SOCK_DGRAM, F().resolver);
  ASSERT_TRUE(resolver.ok());
  ASSERT_TRUE(SendUdp(F().resolver));
  EXPECT_TRUE(Readable(resolver.fd)) << "UDP 53 was captured";
  EXPECT_TRUE(Silent(DnsUdp())) << "UDP 53 reached 15053";
  // The pod's override turns it on.
  Apply(R"({"Profile": "ambient", "RedirectDNS": false, "EnableIPv6": true,
            "DNSProxy": "enabled"})");
  ExpectDnsOnZtunnel();
}

TEST_P(AmbientTrafficTest, KubeletProbesFromTheSnatAddressReachTheApp) {
  Apply(kAmbient);
  const std::string ip = F().v6() ? "ip -6 " : "ip -4 ";
  const std::string host = std::string(F().probe) + (F().v6() ? "/128" : "/32");
  ShPeer(ip + "addr add " + host + " dev eth0" + (F().v6() ? " nodad" : ""));
  Sh(ip + "route add " + host + " dev eth0");
  // From the probe address, inbound is not redirected to ztunnel.
  const Endpoint from{F().probe, 0};
  Dial d;
  d.netns_fd = peer_->fd();
  d.from = &from;
  Fd probe = ConnectWith({F().pod, 9090}, d);
  ASSERT_TRUE(probe.ok()) << "the probe could not connect";
  EXPECT_TRUE(Accept(App()).ok()) << "the probe did not reach the app";
  EXPECT_TRUE(Silent(In())) << "the probe was redirected";
}

TEST_P(AmbientTrafficTest, IngressModeLeavesInboundAlone) {
  Apply(R"({"Profile": "ambient", "IngressMode": true, "EnableIPv6": true})");
  EXPECT_TRUE(ExpectInboundTo(9090, App()).ok());
  EXPECT_TRUE(Silent(In())) << "inbound was redirected to 15006";
  // Outbound is still captured.
  ExpectCaptured(F().peer);
}

TEST_P(AmbientTrafficTest, SwitchingProfilesIsOneApply) {
  Apply(kAmbient);
  Apply(kIstioInit);
  EXPECT_TRUE(engine_->Verify(*PolicyFromJson(kIstioInit))->matches());
  ExpectCaptured(F().peer);
  ExpectDirect(F().peer, /*uid=*/1337, /*gid=*/1337);
  Apply(kAmbient);
  EXPECT_TRUE(engine_->Verify(*PolicyFromJson(kAmbient))->matches());
  // Ambient capture is in force and the sidecar's is gone: ambient does not
  // exempt the proxy's UID, so it lands on 15001 too.
  ExpectCaptured(F().peer);
  ExpectCaptured(F().peer, /*uid=*/1337, /*gid=*/1337);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, AmbientTrafficTest,
    ::testing::Combine(::testing::Values("nftables", "iptables-legacy",
                                         "iptables-nft"),
                       ::testing::Values(kIpv4, kIpv6)),
    [](const ::testing::TestParamInfo<std::tuple<const char*, Family>>& info) {
      return ::meshcap::testing::TestName(std::get<0>(info.param)) + "_" +
             std::get<1>(info.param).name;
    });

}  // namespace
}  // namespace meshcap
