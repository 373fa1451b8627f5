// SPDX-License-Identifier: GPL-2.0-or-later
//
// The libiptc writer of the iptables dialect (backends/iptables/
// rule_codec.h): rules as ipt_entry / ip6t_entry blobs, header fields in
// the entry itself, matches and the target as xt_entry_match and
// xt_entry_target with their data, as libxtables builds them.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "backends/iptables/rule_codec.h"
#include "src/ir/rule_set.h"

struct xt_entry_match;
struct xt_entry_target;

namespace meshcap::ipt {

// Written into every entry we install (ipt_entry::nfcache, which the kernel
// keeps and ignores and iptables-save does not print): how we recognise our
// own rules in built-in chains later.
inline constexpr uint32_t kOwnerTag = 0x6d657368;  // "mesh"

// Builds one entry: the fixed header, then matches, then the target.
class EntryWriter final : public RuleWriter {
 public:
  explicit EntryWriter(IpFamily family);

  IpFamily family() const override {
    return v6_ ? IpFamily::kIpv6 : IpFamily::kIpv4;
  }

  void SetInterface(ir::Direction dir, const std::string& name,
                    bool negate) override;
  void SetAddress(ir::Direction dir, const Cidr& cidr, bool negate) override;
  void SetProtocol(ir::L4Proto p) override;
  bool protocol_set() const override { return proto_set_; }

  using RuleWriter::Match;
  using RuleWriter::Target;
  // An xtables match: `size` bytes of `data` after the match header.
  void Match(const char* name, uint8_t revision, const void* data,
             size_t size) override;
  // A target with data, or a standard one (ACCEPT, DROP, RETURN, a chain)
  // whose verdict libiptc fills in.
  void Target(const char* name, uint8_t revision, const void* data,
              size_t size) override;
  void Standard(const std::string& name) override;

  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  void Finish(size_t target_offset);

  bool v6_;
  bool proto_set_ = false;
  std::vector<uint8_t> bytes_;
};

// An entry read back (or built), for the decoders: its header fields not
// yet decoded, its matches in order, its target.
// A kernel entry (from libiptc) as bytes: its header's next_offset long.
std::span<const uint8_t> EntryBytes(IpFamily family, const void* entry);

class EntryReader final : public RuleReader {
 public:
  // `entry` is a whole ipt_entry / ip6t_entry; `standard` names a standard
  // target's verdict or jump (libiptc resolves it), else null. Offsets in
  // the entry are trusted only as far as they stay inside `entry`: a
  // malformed entry reads as one with fewer parts (and does not decode).
  EntryReader(IpFamily family, std::span<const uint8_t> entry,
              const char* standard);

  IpFamily family() const override { return family_; }

  bool TakeInterface(ir::Direction* dir, std::string* name,
                     bool* negate) override;
  bool TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate) override;
  bool TakeProtocol(ir::L4Proto* proto) override;
  std::optional<ir::L4Proto> protocol() const override { return proto_; }

  const void* PeekMatch(const char* name, uint8_t revision,
                        size_t* size) const override;
  void NextMatch() override { ++match_; }
  bool matches_done() const override { return match_ >= matches_.size(); }
  bool header_done() const override;
  // The header holds something meshcap never writes (a goto, a fragment or
  // TOS match, another protocol, a wildcard interface, a non-prefix mask,
  // flags without their field).
  bool unusual() const override { return unusual_; }

  const char* standard() const override { return standard_; }
  const void* Target(const char* name, uint8_t revision,
                     size_t* size) const override;

 private:
  struct Ext {
    std::string name;
    uint8_t revision;
    const uint8_t* data;
    size_t size;
  };

  IpFamily family_;
  const char* standard_;
  // Header fields still to hand out.
  struct Iface {
    ir::Direction dir;
    std::string name;
    bool negate;
  };
  std::vector<Iface> ifaces_;
  struct Addr {
    ir::Direction dir;
    std::optional<Cidr> cidr;
    bool negate;
  };
  std::vector<Addr> addrs_;
  std::optional<ir::L4Proto> proto_;
  bool proto_taken_ = false;
  bool unusual_ = false;
  std::vector<Ext> matches_;
  size_t match_ = 0;
  std::optional<Ext> target_;
};

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_
