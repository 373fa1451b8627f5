// SPDX-License-Identifier: GPL-2.0-or-later
// Built from the installed headers and find_package(meshcap).

#include <meshcap/meshcap.h>

#include <cstdio>

int main() {
  absl::StatusOr<meshcap::CapturePolicy> policy =
      meshcap::PolicyBuilder()
          .SetOutboundCidrsInclude("*")
          .SetInboundPorts("*")
          .Build();
  if (!policy.ok()) return 1;
  absl::StatusOr<std::string> text = meshcap::Render(*policy, "nftables");
  if (!text.ok()) return 2;
  std::fputs(text->c_str(), stdout);
  std::printf("c++ consumer: version %s\n", MESHCAP_VERSION);
  return 0;
}
