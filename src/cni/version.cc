// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/version.h"

#include <charconv>

#include "nlohmann/json.hpp"

namespace meshcap::cni {

const std::vector<std::string>& SupportedVersions() {
  static const auto* const kVersions =
      new std::vector<std::string>{"0.4.0", "1.0.0", "1.1.0"};
  return *kVersions;
}

std::optional<SemVer> ParseVersion(std::string_view text) {
  int parts[3] = {0, 0, 0};
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    // No signs, no leading blanks, at most 9 digits.
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    const char* start = p;
    const auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc() || next - start > 9) return std::nullopt;
    p = next;
  }
  if (p != end) return std::nullopt;
  return SemVer{parts[0], parts[1], parts[2]};
}

bool IsSupportedVersion(std::string_view version) {
  for (const std::string& v : SupportedVersions()) {
    if (v == version) return true;
  }
  return false;
}

bool VersionAtLeast(std::string_view version, std::string_view min) {
  const std::optional<SemVer> v = ParseVersion(version);
  const std::optional<SemVer> m = ParseVersion(min);
  return v.has_value() && m.has_value() && *v >= *m;
}

std::string VersionJson(std::string_view requested) {
  nlohmann::ordered_json doc;
  doc["cniVersion"] =
      std::string(requested.empty() ? kNewestVersion : requested);
  doc["supportedVersions"] = SupportedVersions();
  return doc.dump(-1, ' ', false,
                  nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace meshcap::cni
