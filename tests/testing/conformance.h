// SPDX-License-Identifier: GPL-2.0-or-later
// Access to Istio's conformance corpus, copied into tests/conformance/.

#ifndef MESHCAP_TESTS_TESTING_CONFORMANCE_H_
#define MESHCAP_TESTS_TESTING_CONFORMANCE_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace meshcap::testing {

struct ConformanceCase {
  std::string name;
  std::string policy_json;  // base merged with the case's overrides
  std::optional<std::string> iptables_golden;  // path, if any
  std::optional<std::string> nftables_golden;  // path, if any
};

// gtest prints a case by name, not as bytes.
inline void PrintTo(const ConformanceCase& c, std::ostream* os) {
  *os << c.name;
}

// The sidecar corpus directory, tests/conformance/istio.
std::string ConformanceDir();

// All cases of cases.json.
std::vector<ConformanceCase> LoadConformanceCases();

// The ambient corpus directory, tests/conformance/istio-ambient.
std::string AmbientConformanceDir();

// Its cases, each as an ambient policy (Profile plus Istio's AmbientConfig
// and PodLevelOverrides fields).
std::vector<ConformanceCase> LoadAmbientConformanceCases();

// Both corpora, the ambient cases named "ambient_<name>".
std::vector<ConformanceCase> LoadAllConformanceCases();

std::string ReadFileOrDie(const std::string& path);

// The iptables-restore input of an iptables golden: the file without the
// recorded `iptables-save` / `ip6tables-save` command lines.
std::string IptablesGoldenRestoreInput(const std::string& golden_text);

// The golden's iptables-restore input split into its IPv4 and IPv6 parts
// (the IPv6 part starts where a `* table` header repeats).
struct IptablesGoldenParts {
  std::string ipv4;
  std::string ipv6;
};
IptablesGoldenParts SplitIptablesGolden(const std::string& golden_text);

// Creates the groups `java` and `ftp` that the owner-group cases name, when
// they are missing and we are root. Returns false when they are still
// missing.
bool EnsureConformanceGroups();

// Whether a case's policy names one of those groups.
bool NamesConformanceGroups(const std::string& policy_json);

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_CONFORMANCE_H_
