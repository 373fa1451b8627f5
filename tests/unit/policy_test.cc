// SPDX-License-Identifier: GPL-2.0-or-later
//
// PolicyBuilder: defaults, and every kind of bad input yields its specific
// error naming the knob and the value.

#include "meshcap/policy.h"

#include <grp.h>

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/policy_json.h"
#include "tests/testing/conformance.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PolicyBuilderTest, DefaultsAreIstios) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder().Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->proxy_port(), 15001);
  EXPECT_EQ(p->inbound_capture_port(), 15006);
  EXPECT_EQ(p->inbound_tunnel_port(), 15008);
  EXPECT_THAT(p->proxy_uids(), ElementsAre(1337u));
  EXPECT_THAT(p->proxy_gids(), ElementsAre(1337u));
  EXPECT_EQ(p->intercept_mode(), InterceptMode::kRedirect);
  EXPECT_EQ(p->tproxy_mark(), 1337u);
  EXPECT_EQ(p->tproxy_route_table(), 133u);
  EXPECT_TRUE(p->inbound_ports().empty());
  EXPECT_TRUE(p->outbound_cidrs_include().empty());
  EXPECT_FALSE(p->owner_groups_include().has_value());
  EXPECT_EQ(p->ipv4_loopback_cidr().ToString(), "127.0.0.1/32");
  EXPECT_FALSE(p->ipv6());
  EXPECT_FALSE(p->dns_capture_enabled());
}

TEST(PolicyBuilderTest, GidsDefaultToUids) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder().SetProxyUids("3,4").Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_gids(), ElementsAre(3u, 4u));
}

TEST(PolicyBuilderTest, ListsFollowIstiosSplit) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder()
                                        .SetInboundPorts("4000,5000")
                                        .SetInboundPortsExclude("6000,7000,")
                                        .SetOutboundCidrsInclude("10.1.2.3/8")
                                        .Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(4000, 5000));
  EXPECT_THAT(p->inbound_ports_exclude(), ElementsAre(6000, 7000));
  ASSERT_EQ(p->outbound_cidrs_include().cidrs.size(), 1u);
  EXPECT_EQ(p->outbound_cidrs_include().cidrs[0].ToString(), "10.0.0.0/8");
}

TEST(PolicyBuilderTest, DnsNeedsServersOrCaptureAll) {
  absl::StatusOr<CapturePolicy> off =
      PolicyBuilder().SetRedirectDns(true).Build();
  ASSERT_THAT(off, IsOk());
  EXPECT_FALSE(off->dns_capture_enabled());
  absl::StatusOr<CapturePolicy> on = PolicyBuilder()
                                         .SetRedirectDns(true)
                                         .SetDnsServersV4("10.96.0.10")
                                         .Build();
  ASSERT_THAT(on, IsOk());
  EXPECT_TRUE(on->dns_capture_enabled());
}

struct BadInput {
  const char* name;
  std::function<void(PolicyBuilder&)> set;
  absl::StatusCode code;
  const char* knob;
  const char* value;
};

class PolicyBuilderErrorTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(PolicyBuilderErrorTest, NamesKnobAndValue) {
  PolicyBuilder b;
  GetParam().set(b);
  EXPECT_THAT(b.Build(),
              StatusIs(GetParam().code, AllOf(HasSubstr(GetParam().knob),
                                              HasSubstr(GetParam().value))));
}

using B = PolicyBuilder;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    Bad, PolicyBuilderErrorTest,
    ::testing::Values(
        BadInput{"port_zero", [](B& b) { b.SetProxyPort("0"); }, kInvalid,
                 "envoy-port", "'0'"},
        BadInput{"port_too_big", [](B& b) { b.SetInboundCapturePort("65536"); },
                 kInvalid, "inbound-capture-port", "'65536'"},
        BadInput{"port_not_number",
                 [](B& b) { b.SetInboundTunnelPort("http"); }, kInvalid,
                 "inbound-tunnel-port", "'http'"},
        BadInput{"port_negative", [](B& b) { b.SetProxyPort("-1"); }, kInvalid,
                 "envoy-port", "'-1'"},
        BadInput{"port_list_garbage",
                 [](B& b) { b.SetInboundPorts("80,8o80"); }, kInvalid,
                 "istio-inbound-ports", "'8o80'"},
        BadInput{"port_list_range",
                 [](B& b) { b.SetOutboundPortsInclude("1000:2000"); }, kInvalid,
                 "istio-outbound-ports", "'1000:2000'"},
        BadInput{"port_list_zero",
                 [](B& b) { b.SetInboundPortsExclude("15090,0"); }, kInvalid,
                 "istio-local-exclude-ports", "'0'"},
        BadInput{"port_list_star", [](B& b) { b.SetOutboundPortsExclude("*"); },
                 kInvalid, "istio-local-outbound-ports-exclude", "'*'"},
        BadInput{"cidr_malformed",
                 [](B& b) { b.SetOutboundCidrsInclude("10.0.0.0/33"); },
                 kInvalid, "istio-service-cidr", "'10.0.0.0/33'"},
        BadInput{"cidr_garbage",
                 [](B& b) { b.SetOutboundCidrsInclude("10.0.0.0/8,foo"); },
                 kInvalid, "istio-service-cidr", "'foo'"},
        BadInput{"exclude_star", [](B& b) { b.SetOutboundCidrsExclude("*"); },
                 kInvalid, "istio-service-exclude-cidr", "'*'"},
        BadInput{"star_mixed",
                 [](B& b) { b.SetOutboundCidrsInclude("*,10.0.0.0/8"); },
                 kInvalid, "istio-service-cidr", "'*'"},
        BadInput{"dns_v4_wrong_family",
                 [](B& b) { b.SetDnsServersV4("2001:db8::53"); }, kInvalid,
                 "dns-servers-v4", "'2001:db8::53'"},
        BadInput{"dns_v6_wrong_family",
                 [](B& b) { b.SetDnsServersV6("198.51.100.53"); }, kInvalid,
                 "dns-servers-v6", "'198.51.100.53'"},
        BadInput{"iface_too_long",
                 [](B& b) { b.SetExcludeInterfaces("averyveryverylongname"); },
                 kInvalid, "istio-exclude-interfaces",
                 "'averyveryverylongname'"},
        BadInput{"iface_slash", [](B& b) { b.SetKubeVirtInterfaces("eth0/1"); },
                 kInvalid, "kube-virt-interfaces", "'eth0/1'"},
        BadInput{"iface_empty", [](B& b) { b.SetExcludeInterfaces(","); },
                 kInvalid, "istio-exclude-interfaces", "empty interface name"},
        BadInput{"iface_wildcard", [](B& b) { b.SetExcludeInterfaces("eth+"); },
                 kInvalid, "istio-exclude-interfaces", "'eth+'"},
        BadInput{"uid_out_of_range", [](B& b) { b.SetProxyUids("4294967295"); },
                 kInvalid, "proxy-uid", "'4294967295'"},
        BadInput{"uid_garbage", [](B& b) { b.SetProxyUids("1337,abc"); },
                 kInvalid, "proxy-uid", "'abc'"},
        BadInput{"gid_negative", [](B& b) { b.SetProxyGids("-5"); }, kInvalid,
                 "proxy-gid", "'-5'"},
        BadInput{"unknown_group",
                 [](B& b) { b.SetOwnerGroupsInclude("no-such-group-xyz"); },
                 absl::StatusCode::kNotFound, "ISTIO_OUTBOUND_OWNER_GROUPS",
                 "'no-such-group-xyz'"},
        BadInput{"unknown_group_exclude",
                 [](B& b) { b.SetOwnerGroupsExclude("0,no-such-group-xyz"); },
                 absl::StatusCode::kNotFound,
                 "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", "'no-such-group-xyz'"},
        BadInput{"too_many_groups",
                 [](B& b) {
                   std::string groups;
                   for (int i = 1; i <= 65; ++i)
                     groups += std::to_string(i) + ",";
                   b.SetOwnerGroupsInclude(groups);
                 },
                 kInvalid, "ISTIO_OUTBOUND_OWNER_GROUPS", "65 groups"},
        BadInput{"unknown_mode", [](B& b) { b.SetInterceptMode("tproxy"); },
                 kInvalid, "istio-inbound-interception-mode", "'tproxy'"},
        BadInput{"mark_zero", [](B& b) { b.SetTproxyMark("0"); }, kInvalid,
                 "istio-inbound-tproxy-mark", "'0'"},
        BadInput{"mark_garbage", [](B& b) { b.SetTproxyMark("0x539"); },
                 kInvalid, "istio-inbound-tproxy-mark", "'0x539'"},
        BadInput{"route_table_main", [](B& b) { b.SetTproxyRouteTable("254"); },
                 kInvalid, "istio-inbound-tproxy-route-table", "'254'"},
        BadInput{"loopback_not_loopback",
                 [](B& b) { b.SetIpv4LoopbackCidr("10.0.0.1/32"); }, kInvalid,
                 "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "'10.0.0.1/32'"},
        BadInput{"loopback_v6", [](B& b) { b.SetIpv4LoopbackCidr("::1/128"); },
                 kInvalid, "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "'::1/128'"}),
    [](const ::testing::TestParamInfo<BadInput>& info) {
      return std::string(info.param.name);
    });

TEST(PolicyBuilderTest, GroupNamesResolveOnceAndKeepTheirSpelling) {
  if (!::meshcap::testing::EnsureConformanceGroups())
    GTEST_SKIP() << "group 'java' missing and not root";
  absl::StatusOr<CapturePolicy> p =
      PolicyBuilder().SetOwnerGroupsInclude("java,202").Build();
  ASSERT_THAT(p, IsOk());
  ASSERT_TRUE(p->owner_groups_include().has_value());
  const auto& g = *p->owner_groups_include();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].spelling, "java");
  EXPECT_EQ(g[0].gid, static_cast<uint32_t>(getgrnam("java")->gr_gid));
  EXPECT_EQ(g[1].spelling, "202");
  EXPECT_EQ(g[1].gid, 202u);
}

TEST(PolicyJsonTest, RejectsUnknownKeysAndBadTypes) {
  EXPECT_THAT(PolicyFromJson(R"({"ProxyPrt": "1"})"),
              StatusIs(kInvalid, HasSubstr("'ProxyPrt'")));
  EXPECT_THAT(PolicyFromJson(R"({"EnableIPv6": "yes"})"),
              StatusIs(kInvalid, HasSubstr("'EnableIPv6'")));
  EXPECT_THAT(PolicyFromJson("{"), StatusIs(kInvalid, HasSubstr("JSON")));
  EXPECT_THAT(PolicyFromJson(R"({"ProxyPort": 0})"),
              StatusIs(kInvalid, HasSubstr("'0'")));
}

TEST(PolicyJsonTest, AcceptsNumbersAndArrays) {
  absl::StatusOr<CapturePolicy> p = PolicyFromJson(
      R"({"ProxyPort": 15002, "InboundPortsInclude": [80, 443],
          "DNSServersV4": ["198.51.100.53"], "RedirectDNS": true})");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->proxy_port(), 15002);
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(80, 443));
  EXPECT_TRUE(p->dns_capture_enabled());
}

}  // namespace
}  // namespace meshcap
