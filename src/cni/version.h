// SPDX-License-Identifier: GPL-2.0-or-later
// CNI protocol versions: which configuration versions meshcap-cni accepts,
// how they compare, and the VERSION command's answer.

#ifndef MESHCAP_SRC_CNI_VERSION_H_
#define MESHCAP_SRC_CNI_VERSION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshcap::cni {

// The newest version, the one errors carry when the configuration's is
// unusable.
inline constexpr std::string_view kNewestVersion = "1.1.0";

// The configuration versions this plugin serves, oldest first: 0.4.0 (the
// first with CHECK) to 1.1.0 (STATUS and GC).
const std::vector<std::string>& SupportedVersions();

struct SemVer {
  int major = 0;
  int minor = 0;
  int patch = 0;

  friend bool operator==(const SemVer&, const SemVer&) = default;
  friend auto operator<=>(const SemVer&, const SemVer&) = default;
};

// "1.0.0" -> {1, 0, 0}. Only MAJOR.MINOR.PATCH with decimal parts (as the
// spec's versions are); nullopt otherwise.
std::optional<SemVer> ParseVersion(std::string_view text);

bool IsSupportedVersion(std::string_view version);

// Whether `version` is `min` or newer; false when either does not parse.
bool VersionAtLeast(std::string_view version, std::string_view min);

// The VERSION command's output: {"cniVersion": <requested>,
// "supportedVersions": [...]}. `requested` empty: the newest.
std::string VersionJson(std::string_view requested);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_VERSION_H_
