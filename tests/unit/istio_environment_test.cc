// SPDX-License-Identifier: GPL-2.0-or-later
// ApplyIstioEnvironment: Istio's environment, files and defaults for a
// PolicyBuilder, with a fake environment.

#include "meshcap/istio_environment.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class IstioEnvironmentTest : public ::testing::Test {
 protected:
  IstioEnvironment Env() {
    IstioEnvironment env;
    env.getenv = [this](const std::string& n) -> std::optional<std::string> {
      auto it = vars_.find(n);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
    env.resolv_conf = "/fake/resolv.conf";
    env.read_file = [this](const std::string& path,
                           size_t) -> absl::StatusOr<std::string> {
      ++reads_;
      if (path != "/fake/resolv.conf" || resolv_.empty()) {
        return absl::NotFoundError(path);
      }
      return resolv_;
    };
    env.detect_ipv6 = [this](bool dual) {
      detected_dual_ = dual;
      return host_ipv6_;
    };
    env.lookup_uid =
        [this](const std::string& user) -> std::optional<uint32_t> {
      looked_up_ = user;
      if (user == "envoy") return 101;
      return std::nullopt;
    };
    return env;
  }

  absl::StatusOr<CapturePolicy> Build(const IstioInputs& in = {}) {
    PolicyBuilder b;
    absl::Status s = ApplyIstioEnvironment(in, Env(), b);
    if (!s.ok()) return s;
    return b.Build();
  }

  std::map<std::string, std::string> vars_;
  std::string resolv_;
  int reads_ = 0;
  bool host_ipv6_ = false;
  std::optional<bool> detected_dual_;
  std::string looked_up_;
};

TEST_F(IstioEnvironmentTest,
       GivenBeatsTheAdditionalVariableWhichBeatsThePrimary) {
  vars_["REDIRECT_DNS"] = "false";
  vars_["ISTIO_META_DNS_CAPTURE"] = "true";
  vars_["CAPTURE_ALL_DNS"] = "true";
  absl::StatusOr<CapturePolicy> p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->redirect_dns());
  IstioInputs in;
  in.knobs["RedirectDNS"] = {"false", "--redirect-dns"};
  p = Build(in);
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->redirect_dns());
  vars_["PROXY_UID"] = "x";
  EXPECT_THAT(Build(), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("environment variable PROXY_UID")));
}

TEST_F(IstioEnvironmentTest,
       SidecarDetectsIpv6UnlessGivenAndDualStackWidensIt) {
  host_ipv6_ = true;
  vars_["ISTIO_DUAL_STACK"] = "true";
  absl::StatusOr<CapturePolicy> p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->ipv6());
  EXPECT_EQ(detected_dual_, true);
  IstioInputs in;
  in.knobs["EnableIPv6"] = {"false", "--ipv6"};
  detected_dual_.reset();
  p = Build(in);
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->ipv6());
  EXPECT_FALSE(detected_dual_.has_value());
  in.knobs["EnableIPv6"] = {"perhaps", "--ipv6"};
  EXPECT_THAT(Build(in), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("--ipv6: 'perhaps' is not one of "
                                            "auto, true, false")));
}

TEST_F(IstioEnvironmentTest, AmbientReadsTheNodeAgentsVariables) {
  vars_["MESHCAP_PROFILE"] = "ambient";
  vars_["AMBIENT_IPV6"] = "false";
  vars_["REDIRECT_DNS"] = "false";  // the sidecar agent's: not read
  vars_["PROXY_UID"] = "5";         // a sidecar knob's: ignored
  absl::StatusOr<CapturePolicy> p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->profile(), Profile::kAmbient);
  EXPECT_FALSE(p->ipv6());
  EXPECT_TRUE(p->redirect_dns());  // AMBIENT_DNS_CAPTURE's default
  IstioInputs in;
  in.dual_stack = IstioValue{"true", "--dual-stack"};
  EXPECT_THAT(Build(in),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--dual-stack: belongs to the sidecar")));
}

TEST_F(IstioEnvironmentTest, DnsServersComeFromResolvConfOnlyWhenIstioReadsIt) {
  resolv_ =
      "search example\nnameserver 198.51.100.53\nnameserver 2001:db8::53\n";
  absl::StatusOr<CapturePolicy> p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(reads_, 0);  // no DNS capture: not read
  vars_["REDIRECT_DNS"] = "true";
  p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(reads_, 1);
  EXPECT_EQ(p->dns_servers_v4().size(), 1u);
  EXPECT_EQ(p->dns_servers_v6().size(), 1u);
  IstioInputs in;
  in.dns_servers = IstioValue{"203.0.113.53", "--dns-servers"};
  p = Build(in);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(reads_, 1);
  ASSERT_EQ(p->dns_servers_v4().size(), 1u);
  in.dns_servers = IstioValue{"not-an-ip", "--dns-servers"};
  EXPECT_THAT(Build(in), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("--dns-servers: 'not-an-ip'")));
}

TEST_F(IstioEnvironmentTest, TheProxyUidIsEnvoyUsersUnlessGiven) {
  vars_["ENVOY_USER"] = "envoy";
  absl::StatusOr<CapturePolicy> p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(101u));
  vars_.erase("ENVOY_USER");
  p = Build();
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(looked_up_, "istio-proxy");
  EXPECT_THAT(p->proxy_uids(), ElementsAre(1337u));  // no such user
  IstioInputs in;
  in.knobs["ProxyUID"] = {"7", "-u"};
  looked_up_.clear();
  p = Build(in);
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(7u));
  EXPECT_EQ(looked_up_, "");
}

TEST(IstioEnvironmentOnlyVariablesTest, AreTheFlaglessKnobsAndEnvoyUser) {
  EXPECT_THAT(IstioEnvironmentOnlyVariables(),
              ElementsAre("ISTIO_OUTBOUND_OWNER_GROUPS",
                          "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
                          "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "ENVOY_USER"));
}

}  // namespace
}  // namespace meshcap
