// SPDX-License-Identifier: GPL-2.0-or-later
//
// The command line on arbitrary arguments: the input, split at NUL bytes,
// is argv after the program name (meshcap or, when the first byte is odd,
// istio-iptables); after a 0x01 byte comes the text every file read (a
// --policy file, resolv.conf) returns. The environment is empty but for
// the lookups a parse may make, which all fail. Parsing and building the
// policy must not crash; errors must escape to one printable line.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "src/cli/flags.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

void CheckPrintable(const absl::Status& s) {
  meshcap::fuzz::AbortUnlessPrintable(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool istio = (data[0] & 1) != 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string file;
  if (size_t sep = text.find('\x01'); sep != std::string::npos) {
    file = text.substr(sep + 1);
    text.resize(sep);
  }
  std::vector<std::string> args = {istio ? "istio-iptables" : "meshcap"};
  size_t start = 0;
  while (start <= text.size() && args.size() < 64) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    args.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  meshcap::cli::Environment env;
  env.getenv = [](const std::string&) { return std::nullopt; };
  env.detect_ipv6 = [](bool) { return false; };
  env.lookup_uid = [](const std::string&) { return std::nullopt; };
  env.read_file = [&file](const std::string&,
                          size_t limit) -> absl::StatusOr<std::string> {
    if (file.size() > limit) return absl::InvalidArgumentError("too large");
    return file;
  };
  env.resolv_conf = "/fuzz/resolv.conf";
  absl::StatusOr<meshcap::cli::Invocation> inv = meshcap::cli::ParseCommandLine(
      args,
      istio ? meshcap::cli::Mode::kIstioIptables : meshcap::cli::Mode::kMeshcap,
      env);
  if (!inv.ok()) {
    CheckPrintable(inv.status());
    return 0;
  }
  if (!inv->needs_policy || !inv->early_output.empty()) return 0;
  absl::StatusOr<meshcap::CapturePolicy> policy =
      meshcap::cli::BuildPolicy(*inv);
  if (!policy.ok()) CheckPrintable(policy.status());
  return 0;
}
