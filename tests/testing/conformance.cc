// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/conformance.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace meshcap::testing {

std::string ConformanceDir() {
  return std::string(MESHCAP_SOURCE_ROOT) + "/tests/conformance/istio";
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ConformanceCase> LoadConformanceCases() {
  std::vector<ConformanceCase> out;
  const std::string dir = ConformanceDir();
  nlohmann::json doc =
      nlohmann::json::parse(ReadFileOrDie(dir + "/cases.json"));
  for (const auto& c : doc["cases"]) {
    nlohmann::json policy = doc["base"];
    for (auto it = c["overrides"].begin(); it != c["overrides"].end(); ++it)
      policy[it.key()] = it.value();
    ConformanceCase cc;
    cc.name = c["name"].get<std::string>();
    cc.policy_json = policy.dump();
    if (c["iptables_golden"].is_string())
      cc.iptables_golden = dir + "/" + c["iptables_golden"].get<std::string>();
    if (c["nftables_golden"].is_string())
      cc.nftables_golden = dir + "/" + c["nftables_golden"].get<std::string>();
    out.push_back(std::move(cc));
  }
  return out;
}

std::string AmbientConformanceDir() {
  return std::string(MESHCAP_SOURCE_ROOT) + "/tests/conformance/istio-ambient";
}

std::vector<ConformanceCase> LoadAllConformanceCases() {
  std::vector<ConformanceCase> out = LoadConformanceCases();
  for (ConformanceCase& c : LoadAmbientConformanceCases()) {
    c.name = "ambient_" + c.name;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ConformanceCase> LoadAmbientConformanceCases() {
  std::vector<ConformanceCase> out;
  const std::string dir = AmbientConformanceDir();
  nlohmann::json doc =
      nlohmann::json::parse(ReadFileOrDie(dir + "/cases.json"));
  for (const auto& c : doc["cases"]) {
    nlohmann::json policy = doc["base"];
    policy["Profile"] = "ambient";
    for (const char* part : {"config", "pod"}) {
      for (auto it = c[part].begin(); it != c[part].end(); ++it) {
        policy[it.key()] = it.value();
      }
    }
    ConformanceCase cc;
    cc.name = c["name"].get<std::string>();
    cc.policy_json = policy.dump();
    cc.iptables_golden = dir + "/iptables/" + cc.name + ".golden";
    cc.nftables_golden = dir + "/nftables/" + cc.name + ".golden";
    out.push_back(std::move(cc));
  }
  return out;
}

std::string IptablesGoldenRestoreInput(const std::string& golden_text) {
  std::istringstream in(golden_text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line == "iptables-save" || line == "ip6tables-save") continue;
    out += line;
    out += '\n';
  }
  return out;
}

IptablesGoldenParts SplitIptablesGolden(const std::string& golden_text) {
  IptablesGoldenParts parts;
  std::istringstream in(IptablesGoldenRestoreInput(golden_text));
  std::string line;
  std::vector<std::string> seen;
  bool v6 = false;
  while (std::getline(in, line)) {
    if (line.rfind("* ", 0) == 0) {
      const std::string table = line.substr(2);
      if (std::find(seen.begin(), seen.end(), table) != seen.end()) v6 = true;
      seen.push_back(table);
    }
    (v6 ? parts.ipv6 : parts.ipv4) += line + "\n";
  }
  return parts;
}

bool EnsureConformanceGroups() {
  for (const char* name : {"java", "ftp"}) {
    if (getgrnam(name) != nullptr) continue;
    if (geteuid() != 0) return false;
    std::string cmd = std::string("groupadd -r ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0 || getgrnam(name) == nullptr)
      return false;
  }
  return true;
}

bool NamesConformanceGroups(const std::string& policy_json) {
  return policy_json.find("java") != std::string::npos ||
         policy_json.find("ftp") != std::string::npos;
}

}  // namespace meshcap::testing
