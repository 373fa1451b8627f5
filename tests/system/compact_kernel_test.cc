// SPDX-License-Identifier: GPL-2.0-or-later
//
// CompactLists against the kernel (nftables, each test in a namespace of
// its own): what apply leaves is what `nft -f` of `meshcap render` leaves;
// a one-CIDR change is a set element update and nothing else; verify sees
// a set's elements; clean removes the sets with the tables; the iptables
// backends refuse the knob and change nothing. The verdicts of real
// packets through the named sets are checked by explain_kernel_test.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/explain.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

std::string ListRuleset() { return ::meshcap::testing::NftListRuleset(); }

void LoadNft(const std::string& text) { ::meshcap::testing::NftLoad(text); }

std::string Describe(const VerifyReport& r) {
  std::string out;
  for (const Difference& d : r.differences) out += d.ToString() + "\n";
  return out;
}

std::unique_ptr<Engine> EngineFor(const char* backend) {
  EngineOptions o;
  o.backend = backend;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

// `n` disjoint /30s of 10.0.0.0/8 starting at the `first`-th, then `n6`
// /64s of 2001:db8::/32.
std::string Ranges(int first, int n, int n6 = 0) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) {
    const int a = i * 4;
    out.push_back(absl::StrCat("10.", (a >> 16) & 255, ".", (a >> 8) & 255, ".",
                               a & 255, "/30"));
  }
  for (int i = 0; i < n6; ++i) {
    out.push_back(absl::StrCat("2001:db8:", i / 256, ":", i % 256, "::/64"));
  }
  return absl::StrJoin(out, ",");
}

std::string Ports(int n, int first) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(first + 3 * i);
  return absl::StrJoin(out, ",");
}

std::string Long(const std::string& exclude) {
  return absl::StrCat(R"({"CompactLists": true, "EnableIPv6": true,
      "InboundPortsInclude": "*", "InboundPortsExclude": ")",
                      Ports(200, 50000), R"(", "OutboundPortsExclude": ")",
                      Ports(1000, 20000), R"(", "OutboundIPRangesExclude": ")",
                      exclude, R"("})");
}

using CompactKernelTest = ::meshcap::testing::NftNetnsTest;

// What meshcap's apply leaves, `nft -f` of its render leaves too (and
// verify finds it exact): for every corpus case with lists, and for long
// lists whose elements take many messages.
TEST_F(CompactKernelTest, NftOfTheRenderEqualsTheApply) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  std::vector<std::pair<std::string, std::string>> policies;
  for (const auto& c : ::meshcap::testing::LoadConformanceCases()) {
    std::string json = c.policy_json;
    json.insert(json.find('{') + 1, "\"CompactLists\":true,");
    policies.emplace_back(c.name, json);
  }
  policies.emplace_back("long", Long(Ranges(0, 3000, 500)));
  size_t with_sets = 0;
  for (const auto& [name, json] : policies) {
    SCOPED_TRACE(name);
    const CapturePolicy p = PolicyJson(json);
    // From an empty ruleset each time: the listing orders tables by birth.
    ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
    ASSERT_THAT(engine->Apply(p), IsOk());
    const std::string applied = ListRuleset();
    with_sets += applied.find("\tset ") != std::string::npos;
    ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
    absl::StatusOr<std::string> script = Render(p, "nftables");
    ASSERT_THAT(script, IsOk());
    LoadNft(*script);
    EXPECT_EQ(ListRuleset(), applied);
    absl::StatusOr<VerifyReport> v = engine->Verify(p);
    ASSERT_THAT(v, IsOk());
    EXPECT_TRUE(v->matches()) << Describe(*v);
    // And the render again over it (its flush) leaves the same.
    LoadNft(*script);
    EXPECT_EQ(ListRuleset(), applied);
    absl::StatusOr<ApplyResult> again = engine->Apply(p);
    ASSERT_THAT(again, IsOk());
    EXPECT_FALSE(again->changed());
  }
  EXPECT_GE(with_sets, 8u);
}

TEST_F(CompactKernelTest, AOneCidrChangeIsASetElementUpdate) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  const std::string base = Ranges(0, 10000);
  ASSERT_THAT(engine->Apply(PolicyJson(Long(base))), IsOk());
  const std::string chains =
      Sh("nft -a list chain inet istio-proxy-nat istio-output").output;

  // One more range.
  const std::string more = base + ",192.0.2.0/24";
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(Long(more)));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ElementsAre("updated set inet istio-proxy-nat "
                          "outbound-exclude-v4: 1 element(s) added, 0 "
                          "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(Long(more)))->matches());
  // The rules are the same rules (same handles).
  EXPECT_EQ(Sh("nft -a list chain inet istio-proxy-nat istio-output").output,
            chains);
  EXPECT_THAT(Sh("nft get element inet istio-proxy-nat outbound-exclude-v4 "
                 "'{ 192.0.2.7 }'")
                  .output,
              HasSubstr("192.0.2.0/24"));

  // A range that holds 64 of the others replaces them.
  const std::string wider = more + ",10.0.0.0/24";
  r = engine->Apply(PolicyJson(Long(wider)));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ElementsAre("updated set inet istio-proxy-nat "
                          "outbound-exclude-v4: 1 element(s) added, 64 "
                          "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(Long(wider)))->matches());

  // And back: the 64 return, the wide one goes; a port leaves its set.
  std::string back = Long(base);
  back.replace(back.find("20000,"), 6, "");
  r = engine->Apply(PolicyJson(back));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ::testing::UnorderedElementsAre(
                              "updated set inet istio-proxy-nat "
                              "outbound-exclude-v4: 64 element(s) added, 2 "
                              "removed",
                              "updated set inet istio-proxy-nat "
                              "outbound-ports-exclude: 0 element(s) added, 1 "
                              "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(back))->matches());
  EXPECT_EQ(Sh("nft -a list chain inet istio-proxy-nat istio-output").output,
            chains);

  // The same again sends nothing: the generation stays.
  const uint32_t gen = engine->Verify(PolicyJson(back))->generation;
  r = engine->Apply(PolicyJson(back));
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed());
  EXPECT_EQ(engine->Verify(PolicyJson(back))->generation, gen);
}

// Random edits of a list whose ranges nest, touch and repeat (in a small
// space, so that they do): each apply leaves exactly the policy (verify),
// the same elements `nft -f` of the render leaves, and sends element edits
// only.
TEST_F(CompactKernelTest, RandomListEditsAreElementUpdatesThatLandExactly) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(23);
  auto random_range = [&] {
    const int len = std::uniform_int_distribution<int>(27, 32)(rng);
    const uint32_t addr =
        std::uniform_int_distribution<uint32_t>(0, 0x1fff)(rng);
    return absl::StrCat("10.0.", addr >> 8, ".", addr & 255, "/", len);
  };
  std::vector<std::string> list;
  for (int i = 0; i < 150; ++i) list.push_back(random_range());
  auto policy = [&] {
    return PolicyJson(
        absl::StrCat(R"({"CompactLists": true, "OutboundIPRangesExclude": ")",
                     absl::StrJoin(list, ","), R"("})"));
  };
  ASSERT_THAT(engine->Apply(policy()), IsOk());
  size_t element_updates = 0;
  for (int step = 0; step < 40; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const int edits = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int e = 0; e < edits; ++e) {
      if (!list.empty() && rng() % 2 == 0) {
        list.erase(list.begin() + static_cast<long>(rng() % list.size()));
      } else {
        list.push_back(random_range());
      }
    }
    const CapturePolicy p = policy();
    absl::StatusOr<ApplyResult> r = engine->Apply(p);
    ASSERT_THAT(r, IsOk());
    for (const std::string& c : r->changes) {
      EXPECT_THAT(c, HasSubstr("updated set inet istio-proxy-nat "
                               "outbound-exclude-v4"));
      ++element_updates;
    }
    absl::StatusOr<VerifyReport> v = engine->Verify(p);
    ASSERT_THAT(v, IsOk());
    ASSERT_TRUE(v->matches()) << Describe(*v);
    if (step % 10 == 9) {
      const std::string set =
          Sh("nft list set inet istio-proxy-nat outbound-exclude-v4").output;
      absl::StatusOr<std::string> script = Render(p, "nftables");
      ASSERT_THAT(script, IsOk());
      ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
      LoadNft(*script);
      EXPECT_EQ(
          Sh("nft list set inet istio-proxy-nat outbound-exclude-v4").output,
          set);
    }
  }
  EXPECT_GT(element_updates, 30u);
  std::printf("random list edits: 40 applies, %zu set element updates\n",
              element_updates);
}

// Real connections through generated long lists whose ranges nest, touch
// and repeat, IPv4 and IPv6: the pod's eth0 leads to a peer namespace that
// answers every address of 10.0.0.0/8 and 2001:db8::/40 with a reset, and
// the proxy's port listens in the pod. A connection to the first, last,
// just-before and just-after address of every range either lands on the
// proxy (captured) or is refused by the peer (passed), and that must be
// what Explain says Istio's linear form does with it.
TEST_F(CompactKernelTest, RealConnectionsAtEveryBoundaryGetTheLinearVerdict) {
  ::meshcap::testing::DetachedNetns peer;
  ASSERT_TRUE(peer.ok());
  ASSERT_EQ(
      Sh(absl::StrCat(
             "ip link add eth0 type veth peer name eth0p netns ", peer.path(),
             " && ip addr add 198.51.100.2/24 dev eth0 && ip -6 addr add "
             "2001:db8:ffff:ffff::2/64 dev eth0 nodad && ip link set eth0 up "
             "&& ip route add default via 198.51.100.1 && ip -6 route add "
             "default via 2001:db8:ffff:ffff::1"))
          .exit_code,
      0);
  ASSERT_EQ(::meshcap::testing::ShellIn(
                peer.fd(),
                "ip link set lo up && ip link set eth0p up && ip addr add "
                "198.51.100.1/24 dev eth0p && ip -6 addr add "
                "2001:db8:ffff:ffff::1/64 dev eth0p nodad && ip route add "
                "local 10.0.0.0/8 dev lo && ip -6 route add local "
                "2001:db8::/40 dev lo table local")
                .exit_code,
            0);
  // The proxy.
  const int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  const int off = 0;
  setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  sockaddr_in6 at{};
  at.sin6_family = AF_INET6;
  at.sin6_port = htons(15001);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof(at)), 0);
  ASSERT_EQ(listen(listener, 4096), 0);

  // Ranges under 10.1.0.0/16 and 2001:db8:1::/48, in small spaces so that
  // they nest and touch; some repeated.
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  std::vector<std::string> v4, v6;
  for (int i = 0; i < 250; ++i) {
    v4.push_back(absl::StrCat("10.1.", pick(0, 31), ".", pick(0, 255), "/",
                              pick(24, 32)));
    if (i % 9 == 0) v4.push_back(v4[pick(0, static_cast<int>(v4.size()) - 1)]);
  }
  for (int i = 0; i < 80; ++i) {
    v6.push_back(absl::StrCat("2001:db8:1:", absl::Hex(pick(0, 15)), "::",
                              absl::Hex(pick(0, 0xffff)), "/", pick(116, 128)));
  }
  std::vector<std::string> all = v4;
  all.insert(all.end(), v6.begin(), v6.end());
  const std::string json = absl::StrCat(
      R"({"EnableIPv6": true, "OutboundIPRangesInclude": "*",
          "OutboundPortsExclude": "81,82", "OutboundIPRangesExclude": ")",
      absl::StrJoin(all, ","), R"("})");
  const CapturePolicy linear = PolicyJson(json);
  std::string compact_json = json;
  compact_json.insert(1, "\"CompactLists\": true, ");
  const CapturePolicy compact = PolicyJson(compact_json);
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(compact), IsOk());

  // Boundary addresses of every range.
  std::vector<Cidr> dsts;
  for (const std::string& text : all) {
    const Cidr c = *Cidr::Parse(text);
    const bool is4 = c.family() == IpFamily::kIpv4;
    const int bits = is4 ? 32 : 128, len = is4 ? 4 : 16;
    std::array<uint8_t, 16> first = c.bytes(), last = c.bytes();
    for (int b = c.prefix_len(); b < bits; ++b) {
      last[b / 8] |= 0x80 >> (b % 8);
    }
    auto step = [&](std::array<uint8_t, 16> a, int delta) {
      for (int i = len - 1; i >= 0; --i) {
        const int v = a[i] + delta;
        a[i] = static_cast<uint8_t>(v & 0xff);
        if (v >= 0 && v <= 0xff) break;
      }
      return a;
    };
    for (const auto& a : {first, last, step(first, -1), step(last, 1)}) {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(is4 ? AF_INET : AF_INET6, a.data(), buf, sizeof(buf));
      dsts.push_back(*Cidr::Parse(buf));
    }
  }
  size_t captured = 0, passed = 0, differ = 0;
  for (const Cidr& dst : dsts) {
    Packet p;
    p.dst = dst;
    p.dst_port = 80;
    absl::StatusOr<Explanation> want = Explain(linear, p, "nftables");
    ASSERT_THAT(want, IsOk());
    const bool is4 = dst.family() == IpFamily::kIpv4;
    const int s =
        socket(is4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    sockaddr_storage to{};
    socklen_t to_len;
    if (is4) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&to);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(80);
      memcpy(&sin->sin_addr, dst.bytes().data(), 4);
      to_len = sizeof(*sin);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(80);
      memcpy(&sin6->sin6_addr, dst.bytes().data(), 16);
      to_len = sizeof(*sin6);
    }
    // A reset or a connection: either comes at once (a second is plenty).
    const timeval timeout{1, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    const bool connected =
        connect(s, reinterpret_cast<sockaddr*>(&to), to_len) == 0;
    const int err = errno;
    close(s);
    if (connected) {
      const int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) close(c);
    } else {
      EXPECT_EQ(err, ECONNREFUSED) << dst.ToString() << " " << want->summary;
    }
    (connected ? captured : passed)++;
    if (connected != want->captured && ++differ <= 5) {
      ADD_FAILURE() << dst.ToString() << ": the kernel "
                    << (connected ? "captured" : "passed")
                    << " it; the linear form: " << want->summary;
    }
  }
  close(listener);
  EXPECT_EQ(differ, 0u);
  EXPECT_GT(captured, 100u);
  EXPECT_GT(passed, 100u);
  std::printf(
      "compact lists traffic: %zu connections at the boundaries of %zu "
      "ranges (IPv4 and IPv6, nested, adjacent, repeated): %zu captured, "
      "%zu passed, %zu differ from Istio's form\n",
      dsts.size(), all.size(), captured, passed, differ);
}

TEST_F(CompactKernelTest, VerifySeesEachSetElementAndApplyRepairsIt) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  const CapturePolicy p = PolicyJson(Long(Ranges(0, 100, 10)));
  ASSERT_THAT(engine->Apply(p), IsOk());
  ASSERT_EQ(Sh("nft add element inet istio-proxy-nat outbound-exclude-v4 "
               "'{ 203.0.113.0/25 }'; nft delete element inet "
               "istio-proxy-nat outbound-exclude-v6 '{ 2001:db8:0:3::/64 }'")
                .exit_code,
            0);
  absl::StatusOr<VerifyReport> v = engine->Verify(p);
  ASSERT_THAT(v, IsOk());
  std::vector<std::string> diffs;
  for (const Difference& d : v->differences) diffs.push_back(d.ToString());
  EXPECT_THAT(diffs, ::testing::UnorderedElementsAre(
                         "extra set element in "
                         "istio-proxy-nat/outbound-exclude-v4: "
                         "203.0.113.0/25",
                         "missing set element in "
                         "istio-proxy-nat/outbound-exclude-v6: "
                         "2001:db8:0:3::/64"));
  absl::StatusOr<ApplyResult> r = engine->Apply(p);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ::testing::UnorderedElementsAre(
                  "updated set inet istio-proxy-nat outbound-exclude-v4: 0 "
                  "element(s) added, 1 removed",
                  "updated set inet istio-proxy-nat outbound-exclude-v6: 1 "
                  "element(s) added, 0 removed"));
  EXPECT_TRUE(engine->Verify(p)->matches());
  // A set of another type is no element edit: the table is replaced.
  ASSERT_EQ(Sh("nft delete rule inet istio-proxy-nat istio-output handle $(nft "
               "-a list chain inet istio-proxy-nat istio-output | grep "
               "'@outbound-ports-exclude' | head -1 | sed 's/.*handle //') "
               "&& nft delete rule inet istio-proxy-nat istio-output handle "
               "$(nft -a list chain inet istio-proxy-nat istio-output | grep "
               "'@outbound-ports-exclude' | sed 's/.*handle //') && nft "
               "delete set inet istio-proxy-nat outbound-ports-exclude && nft "
               "add set inet istio-proxy-nat outbound-ports-exclude '{ type "
               "ipv4_addr; }'")
                .exit_code,
            0);
  v = engine->Verify(p);
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->matches());
  EXPECT_THAT(Describe(*v),
              HasSubstr("changed set in "
                        "istio-proxy-nat/outbound-ports-exclude"));
  r = engine->Apply(p);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ElementsAre("replaced table inet istio-proxy-nat"));
  EXPECT_TRUE(engine->Verify(p)->matches());
  // Clean takes the sets with the tables.
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(ListRuleset(), "");
}

TEST_F(CompactKernelTest, TheIptablesBackendsRefuseItAndChangeNothing) {
  const std::string linear =
      R"({"OutboundIPRangesExclude": "10.0.0.0/8,192.0.2.0/24"})";
  const std::string compact =
      R"({"CompactLists": true, "OutboundIPRangesExclude": "10.0.0.0/8,192.0.2.0/24"})";
  for (const char* backend : {"iptables-legacy", "iptables-nft"}) {
    SCOPED_TRACE(backend);
    absl::StatusOr<std::unique_ptr<Engine>> e = [&] {
      EngineOptions o;
      o.backend = backend;
      return Engine::Create(o);
    }();
    if (!e.ok()) continue;  // not built
    ASSERT_THAT((*e)->Apply(PolicyJson(linear)), IsOk());
    const std::string save =
        Sh(std::string(backend) + "-save | grep -v '^#'").output;
    const std::string nft = ListRuleset();
    absl::StatusOr<ApplyResult> r = (*e)->Apply(PolicyJson(compact));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("CompactLists"));
    EXPECT_THAT(r.status().message(), HasSubstr(backend));
    EXPECT_EQ(Sh(std::string(backend) + "-save | grep -v '^#'").output, save);
    EXPECT_EQ(ListRuleset(), nft);
    EXPECT_EQ((*e)->Verify(PolicyJson(compact)).status().code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_THAT((*e)->Remove(), IsOk());
  }
}

}  // namespace
}  // namespace meshcap
