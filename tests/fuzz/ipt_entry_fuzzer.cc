// SPDX-License-Identifier: GPL-2.0-or-later
//
// The legacy backend's read-back parser on arbitrary entries, as another
// tool may leave them in our chains. Byte 0 picks the family, byte 1 the
// standard target libiptc would report (none, RETURN, ACCEPT, DROP, a
// jump); the rest is the entry. Besides not crashing or reading outside
// the entry: whatever decodes re-lowers to an entry that decodes to the
// same rule.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "backends/iptables_legacy/decode.h"
#include "backends/iptables_legacy/lower.h"

namespace {

using meshcap::IpFamily;
namespace ipt = meshcap::ipt;
namespace ir = meshcap::ir;

const char* Standard(uint8_t b) {
  switch (b % 5) {
    case 1:
      return "RETURN";
    case 2:
      return "ACCEPT";
    case 3:
      return "DROP";
    case 4:
      return "ISTIO_OUTPUT";
    default:
      return nullptr;
  }
}

std::string Text(const ir::Rule& r) {
  return ipt::RuleText("C", 0, r, meshcap::Profile::kSidecar,
                       ir::TableKind::kNat);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const IpFamily family = data[0] & 1 ? IpFamily::kIpv6 : IpFamily::kIpv4;
  const char* standard = Standard(data[1]);
  // The kernel hands out 8-byte aligned entries; so does this copy (and
  // only its `size - 2` bytes are addressable to the parser).
  std::vector<uint64_t> storage((size - 2 + 7) / 8 + 1);
  auto* bytes = reinterpret_cast<uint8_t*>(storage.data());
  memcpy(bytes, data + 2, size - 2);
  const std::span<const uint8_t> entry(bytes, size - 2);

  std::optional<ir::Rule> rule = ipt::DecodeEntry(family, entry, standard);
  (void)ipt::DescribeEntry(family, "C", entry, standard,
                           meshcap::Profile::kSidecar, ir::TableKind::kNat);
  if (!rule.has_value()) return 0;
  const std::vector<uint8_t> again = ipt::LowerRule(*rule, family);
  // A standard target is left for libiptc to fill in: hand the same name.
  std::optional<ir::Rule> back = ipt::DecodeEntry(family, again, standard);
  if (!back.has_value() || Text(*back) != Text(*rule)) {
    fprintf(stderr, "decoded: %s\nround trip: %s\n", Text(*rule).c_str(),
            back.has_value() ? Text(*back).c_str() : "(does not decode)");
    abort();
  }
  return 0;
}
