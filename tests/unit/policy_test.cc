// SPDX-License-Identifier: GPL-2.0-or-later
//
// PolicyBuilder: defaults, and every kind of bad input yields its specific
// error naming the knob and the value.

#include "meshcap/policy.h"

#include <grp.h>

#include <functional>
#include <set>
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

// Interface names may hold bytes that are not UTF-8 (the fuzzer found the
// JSON dump of one throwing): the JSON shows U+FFFD, while equality and the
// fingerprint keep the bytes, so two such policies never pass for one.
TEST(PolicyBuilderTest, NonUtf8InterfaceNamesStayDistinct) {
  absl::StatusOr<CapturePolicy> a =
      PolicyBuilder().SetExcludeInterfaces("o\xaf").Build();
  absl::StatusOr<CapturePolicy> b =
      PolicyBuilder().SetExcludeInterfaces("o\xbf").Build();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT(a->ToJson(), HasSubstr("o\xef\xbf\xbd"));
  EXPECT_EQ(a->ToJson(), b->ToJson());
  EXPECT_NE(a->fingerprint(), b->fingerprint());
  EXPECT_FALSE(*a == *b);
  EXPECT_TRUE(*a == *PolicyBuilder().SetExcludeInterfaces("o\xaf").Build());
}

TEST(PolicyBuilderTest, FingerprintCoversResolvedGroups) {
  absl::StatusOr<CapturePolicy> a =
      PolicyBuilder().SetOwnerGroupsExclude("0").Build();
  absl::StatusOr<CapturePolicy> b =
      PolicyBuilder().SetOwnerGroupsExclude("root").Build();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(a->fingerprint(), b->fingerprint());  // spelled differently
  EXPECT_NE(a->fingerprint().find("-gid:0;"), std::string::npos);
  EXPECT_NE(b->fingerprint().find("-gid:0;"), std::string::npos);
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
                 "ProxyPort", "'0'"},
        BadInput{"port_too_big", [](B& b) { b.SetInboundCapturePort("65536"); },
                 kInvalid, "InboundCapturePort", "'65536'"},
        BadInput{"port_not_number",
                 [](B& b) { b.SetInboundTunnelPort("http"); }, kInvalid,
                 "InboundTunnelPort", "'http'"},
        BadInput{"port_negative", [](B& b) { b.SetProxyPort("-1"); }, kInvalid,
                 "ProxyPort", "'-1'"},
        BadInput{"port_list_garbage",
                 [](B& b) { b.SetInboundPorts("80,8o80"); }, kInvalid,
                 "InboundPortsInclude", "'8o80'"},
        BadInput{"port_list_range",
                 [](B& b) { b.SetOutboundPortsInclude("1000:2000"); }, kInvalid,
                 "OutboundPortsInclude", "'1000:2000'"},
        BadInput{"port_list_zero",
                 [](B& b) { b.SetInboundPortsExclude("15090,0"); }, kInvalid,
                 "InboundPortsExclude", "'0'"},
        BadInput{"port_list_star", [](B& b) { b.SetOutboundPortsExclude("*"); },
                 kInvalid, "OutboundPortsExclude", "'*'"},
        BadInput{"cidr_malformed",
                 [](B& b) { b.SetOutboundCidrsInclude("10.0.0.0/33"); },
                 kInvalid, "OutboundIPRangesInclude", "'10.0.0.0/33'"},
        BadInput{"cidr_garbage",
                 [](B& b) { b.SetOutboundCidrsInclude("10.0.0.0/8,foo"); },
                 kInvalid, "OutboundIPRangesInclude", "'foo'"},
        BadInput{"exclude_star", [](B& b) { b.SetOutboundCidrsExclude("*"); },
                 kInvalid, "OutboundIPRangesExclude", "'*'"},
        BadInput{"star_mixed",
                 [](B& b) { b.SetOutboundCidrsInclude("*,10.0.0.0/8"); },
                 kInvalid, "OutboundIPRangesInclude", "'*'"},
        BadInput{"dns_v4_wrong_family",
                 [](B& b) { b.SetDnsServersV4("2001:db8::53"); }, kInvalid,
                 "DNSServersV4", "'2001:db8::53'"},
        BadInput{"dns_v6_wrong_family",
                 [](B& b) { b.SetDnsServersV6("198.51.100.53"); }, kInvalid,
                 "DNSServersV6", "'198.51.100.53'"},
        BadInput{"iface_too_long",
                 [](B& b) { b.SetExcludeInterfaces("averyveryverylongname"); },
                 kInvalid, "ExcludeInterfaces",
                 "'averyveryverylongname'"},
        BadInput{"iface_slash", [](B& b) { b.SetKubeVirtInterfaces("eth0/1"); },
                 kInvalid, "RerouteVirtualInterfaces", "'eth0/1'"},
        BadInput{"iface_empty", [](B& b) { b.SetExcludeInterfaces(","); },
                 kInvalid, "ExcludeInterfaces", "empty interface name"},
        BadInput{"iface_wildcard", [](B& b) { b.SetExcludeInterfaces("eth+"); },
                 kInvalid, "ExcludeInterfaces", "'eth+'"},
        BadInput{"uid_out_of_range", [](B& b) { b.SetProxyUids("4294967295"); },
                 kInvalid, "ProxyUID", "'4294967295'"},
        BadInput{"uid_garbage", [](B& b) { b.SetProxyUids("1337,abc"); },
                 kInvalid, "ProxyUID", "'abc'"},
        BadInput{"gid_negative", [](B& b) { b.SetProxyGids("-5"); }, kInvalid,
                 "ProxyGID", "'-5'"},
        BadInput{"unknown_group",
                 [](B& b) { b.SetOwnerGroupsInclude("no-such-group-xyz"); },
                 absl::StatusCode::kNotFound, "OwnerGroupsInclude",
                 "'no-such-group-xyz'"},
        BadInput{"unknown_group_exclude",
                 [](B& b) { b.SetOwnerGroupsExclude("0,no-such-group-xyz"); },
                 absl::StatusCode::kNotFound,
                 "OwnerGroupsExclude", "'no-such-group-xyz'"},
        BadInput{"too_many_groups",
                 [](B& b) {
                   std::string groups;
                   for (int i = 1; i <= 65; ++i)
                     groups += std::to_string(i) + ",";
                   b.SetOwnerGroupsInclude(groups);
                 },
                 kInvalid, "OwnerGroupsInclude", "65 groups"},
        BadInput{"unknown_mode", [](B& b) { b.SetInterceptMode("tproxy"); },
                 kInvalid, "InboundInterceptionMode", "'tproxy'"},
        BadInput{"mark_zero", [](B& b) { b.SetTproxyMark("0"); }, kInvalid,
                 "InboundTProxyMark", "'0'"},
        BadInput{"mark_garbage", [](B& b) { b.SetTproxyMark("0x539"); },
                 kInvalid, "InboundTProxyMark", "'0x539'"},
        BadInput{"route_table_main", [](B& b) { b.SetTproxyRouteTable("254"); },
                 kInvalid, "InboundTProxyRouteTable", "'254'"},
        BadInput{"loopback_not_loopback",
                 [](B& b) { b.SetIpv4LoopbackCidr("10.0.0.1/32"); }, kInvalid,
                 "HostIPv4LoopbackCidr", "'10.0.0.1/32'"},
        BadInput{"loopback_v6", [](B& b) { b.SetIpv4LoopbackCidr("::1/128"); },
                 kInvalid, "HostIPv4LoopbackCidr", "'::1/128'"},
        BadInput{"both_group_lists",
                 [](B& b) {
                   b.SetOwnerGroupsInclude("202").SetOwnerGroupsExclude("888");
                 },
                 kInvalid, "OwnerGroupsExclude", "cannot be combined"},
        BadInput{"ambient_knob_in_sidecar",
                 [](B& b) { b.SetIngressMode(true); }, kInvalid, "IngressMode",
                 "ambient profile"},
        BadInput{"sidecar_knob_in_ambient",
                 [](B& b) {
                   b.SetProfile(Profile::kAmbient).SetProxyPort("15001");
                 },
                 kInvalid, "ProxyPort", "sidecar profile"},
        BadInput{"unknown_profile", [](B& b) { b.Set("Profile", "gateway"); },
                 kInvalid, "Profile", "'gateway'"},
        BadInput{"unknown_key", [](B& b) { b.Set("ProxyPrt", "1"); }, kInvalid,
                 "unknown policy key", "'ProxyPrt'"},
        BadInput{"bad_bool", [](B& b) { b.Set("RedirectDNS", "yes"); },
                 kInvalid, "RedirectDNS", "'yes'"},
        BadInput{"probe_v4_is_v6",
                 [](B& b) {
                   b.SetProfile(Profile::kAmbient).SetProbeSnatIpv4("::1");
                 },
                 kInvalid, "HostProbeSNATAddress", "'::1'"},
        BadInput{"probe_prefix",
                 [](B& b) {
                   b.SetProfile(Profile::kAmbient)
                       .SetProbeSnatIpv4("169.254.7.127/32");
                 },
                 kInvalid, "HostProbeSNATAddress", "prefix"},
        BadInput{"pod_dns_garbage",
                 [](B& b) { b.SetProfile(Profile::kAmbient).SetPodDns("on"); },
                 kInvalid, "DNSProxy", "'on'"},
        BadInput{"control_characters_escaped",
                 [](B& b) { b.SetProxyPort("15\n\x1b[31m01"); }, kInvalid,
                 "ProxyPort", "'15\\n\\x1b[31m01'"}),
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
  EXPECT_THAT(PolicyFromJson(R"([1])"),
              StatusIs(kInvalid, HasSubstr("expected a JSON object")));
  EXPECT_THAT(PolicyFromJson(R"({"ProxyPort": {"a": 1}})"),
              StatusIs(kInvalid, HasSubstr("expected a string or a number")));
}

TEST(PolicyJsonTest, ErrorsNameTheFileAndTheKey) {
  EXPECT_THAT(PolicyFromJson(R"({"ProxyPort": "99999"})", "pod.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("pod.json: key 'ProxyPort'"),
                                       HasSubstr("'99999'"))));
  EXPECT_THAT(
      PolicyFromJson(R"({"ProxyPort": "1", "ProxyPort": "2"})", "pod.json"),
      StatusIs(kInvalid, HasSubstr("'ProxyPort' is given twice")));
  EXPECT_THAT(PolicyFromJson("{\"ProxyPort\": \"1\"\n,,}", "pod.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("pod.json: not valid JSON"),
                                       HasSubstr("line 2"))));
}

TEST(PolicyJsonTest, AmbientKnobsUseIstiosFieldNames) {
  absl::StatusOr<CapturePolicy> p = PolicyFromJson(
      R"({"Profile": "ambient", "RedirectDNS": false, "EnableIPv6": true,
          "IngressMode": true, "VirtualInterfaces": ["net1", "net2"],
          "DNSProxy": "enabled", "HostProbeSNATAddress": "169.254.7.127",
          "HostProbeV6SNATAddress": "fd16::1"})");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->profile(), Profile::kAmbient);
  EXPECT_TRUE(p->ingress_mode());
  EXPECT_THAT(p->virtual_interfaces(), ElementsAre("net1", "net2"));
  EXPECT_EQ(p->pod_dns(), PodDns::kEnabled);
  EXPECT_TRUE(p->dns_capture_enabled());  // the pod's override wins
  EXPECT_EQ(p->probe_snat_ipv6().HostAddressString(), "fd16::1");
}

TEST(PolicyJsonTest, ToJsonRoundTrips) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder()
                                        .SetInboundPorts("*")
                                        .SetOutboundCidrsInclude("*")
                                        .SetRedirectDns(true)
                                        .SetDnsServersV4("198.51.100.53")
                                        .Build();
  ASSERT_THAT(p, IsOk());
  absl::StatusOr<CapturePolicy> again = PolicyFromJson(p->ToJson());
  ASSERT_THAT(again, IsOk()) << p->ToJson();
  EXPECT_EQ(again->ToJson(), p->ToJson());
  EXPECT_TRUE(again->dns_capture_enabled());
}

TEST(PolicyKnobsTest, EveryKnobIsDescribedOnceWithHelpAndADefault) {
  std::set<std::string> keys, flags;
  for (const KnobInfo& k : PolicyKnobs()) {
    EXPECT_TRUE(keys.insert(k.key).second) << k.key;
    if (k.flag != nullptr) {
      EXPECT_TRUE(flags.insert(k.flag).second) << k.flag;
    }
    EXPECT_GT(std::string(k.help).size(), 10u) << k.key;
    ASSERT_NE(k.default_text, nullptr) << k.key;
    // The default builds.
    PolicyBuilder b;
    if (!k.shared) b.SetProfile(k.profile);
    if (*k.default_text != '\0') b.Set(k.key, k.default_text);
    EXPECT_THAT(b.Build(), IsOk()) << k.key;
  }
  // Istio's istio-iptables flags, short names included.
  for (const char* f :
       {"envoy-port", "inbound-capture-port", "inbound-tunnel-port",
        "proxy-uid", "proxy-gid", "istio-inbound-interception-mode",
        "istio-inbound-ports", "istio-local-exclude-ports",
        "istio-exclude-interfaces", "istio-service-cidr",
        "istio-service-exclude-cidr", "istio-outbound-ports",
        "istio-local-outbound-ports-exclude", "kube-virt-interfaces",
        "istio-inbound-tproxy-mark", "istio-inbound-tproxy-route-table",
        "redirect-dns", "drop-invalid", "capture-all-dns"}) {
    EXPECT_EQ(flags.count(f), 1u) << f;
  }
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
