// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/capture_state.h"

#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/netns.h"

namespace meshcap::testing {
namespace {

std::string RoutingLines(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find("proto 109") == std::string::npos &&
        line.find("::6/128") == std::string::npos) {
      continue;
    }
    size_t colon = line.find(':');
    if (colon != std::string::npos && colon > 0 &&
        line.find_first_not_of("0123456789") == colon) {
      line = line.substr(colon + 1);
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

CaptureState ReadCaptureState(const std::string& backend) {
  CaptureState s;
  if (backend == "nftables") {
    for (const char* t :
         {"istio-proxy-nat", "istio-proxy-mangle", "istio-proxy-raw",
          "istio-ambient-nat", "istio-ambient-mangle", "istio-ambient-raw"}) {
      CommandResult r =
          Shell(std::string("nft list table inet ") + t + " 2>/dev/null");
      if (r.exit_code == 0) s.tables[t] = r.output;
    }
  } else {
    const bool nft = backend == "iptables-nft";
    for (const char* tool :
         nft ? std::vector<const char*>{"iptables-nft-save",
                                        "ip6tables-nft-save"}
             : std::vector<const char*>{"iptables-legacy-save",
                                        "ip6tables-legacy-save"}) {
      for (const char* t : {"mangle", "nat", "raw"}) {
        // (iptables-nft-save warns on stderr about what it cannot show.)
        std::istringstream in(
            Shell(std::string(tool) + " -t " + t + " 2>/dev/null").output);
        std::string line, text;
        bool ours = false;
        while (std::getline(in, line)) {
          if (line.empty() || line[0] == '#') continue;
          if (line.find("ISTIO") != std::string::npos) ours = true;
          text += line + "\n";
        }
        if (ours) s.tables[std::string(tool) + " " + t] = text;
      }
    }
  }
  s.routing = RoutingLines(
      Shell("ip -4 rule show; ip -6 rule show; ip -4 route show table all; "
            "ip -6 route show table all; ip -6 addr show dev lo")
          .output);
  return s;
}

std::string ToString(const CaptureState& state) {
  std::string out;
  for (const auto& [name, text] : state.tables) {
    out += "== " + name + "\n" + text;
  }
  out += "== routing\n" + state.routing;
  return out;
}

}  // namespace meshcap::testing
