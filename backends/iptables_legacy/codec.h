// SPDX-License-Identifier: GPL-2.0-or-later
//
// What every IR kind needs from the legacy iptables backend, and the tools
// the per-kind files (match/<kind>.cc) share: an entry writer, an entry
// reader for decoding, and the context Istio's spelling quirks depend on.
//
// Each match/<kind>.cc holds, side by side, for one IR kind:
//   Spell   its `iptables-restore` text, as Istio's generators write it;
//   Encode  the ipt_entry / ip6t_entry fields or xtables match/target
//           iptables 1.8.9 builds for that text (its revisions);
//   Decode  the reverse, for entries read back from the kernel.
// kinds.h declares them; dispatch is an exhaustive std::visit.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "src/ir/rule_set.h"

struct xt_entry_match;
struct xt_entry_target;

namespace meshcap::ipt {

// Written into every entry we install (ipt_entry::nfcache, which the kernel
// keeps and ignores and iptables-save does not print): how we recognise our
// own rules in built-in chains later.
inline constexpr uint32_t kOwnerTag = 0x6d657368;  // "mesh"

// Where a rule sits, and what its text has said so far.
struct SpellContext {
  Profile profile = Profile::kSidecar;
  ir::TableKind table = ir::TableKind::kNat;
  // `-p` was written (a port match writes it first otherwise).
  bool proto_written = false;
  // The rule's transport protocol, once known (UDP redirects say
  // `--to-port`).
  std::optional<ir::L4Proto> proto;
};

// Builds one entry: the fixed header, then matches, then the target.
class EntryWriter {
 public:
  explicit EntryWriter(IpFamily family);

  bool v6() const { return v6_; }
  IpFamily family() const { return v6_ ? IpFamily::kIpv6 : IpFamily::kIpv4; }

  // Header fields.
  void SetInterface(ir::Direction dir, const std::string& name, bool negate);
  void SetAddress(ir::Direction dir, const Cidr& cidr, bool negate);
  void SetProtocol(ir::L4Proto p);
  bool protocol_set() const { return proto_set_; }

  // An xtables match: `size` bytes of `data` after the match header.
  void Match(const char* name, uint8_t revision, const void* data, size_t size);
  template <typename T>
  void Match(const char* name, uint8_t revision, const T& data) {
    Match(name, revision, &data, sizeof(T));
  }
  // A target with data, or a standard one (ACCEPT, DROP, RETURN, a chain)
  // whose verdict libiptc fills in.
  void Target(const char* name, uint8_t revision, const void* data,
              size_t size);
  template <typename T>
  void Target(const char* name, uint8_t revision, const T& data) {
    Target(name, revision, &data, sizeof(T));
  }
  void Standard(const std::string& name);

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

class EntryReader {
 public:
  // `entry` is a whole ipt_entry / ip6t_entry; `standard` names a standard
  // target's verdict or jump (libiptc resolves it), else null. Offsets in
  // the entry are trusted only as far as they stay inside `entry`: a
  // malformed entry reads as one with fewer parts (and does not decode).
  EntryReader(IpFamily family, std::span<const uint8_t> entry,
              const char* standard);

  IpFamily family() const { return family_; }

  // Header fields, each handed out once.
  bool TakeInterface(ir::Direction* dir, std::string* name, bool* negate);
  bool TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate);
  bool TakeProtocol(ir::L4Proto* proto);
  // The header's protocol, taken or not.
  std::optional<ir::L4Proto> protocol() const { return proto_; }

  // The next xtables match, when its name and revision are these.
  const void* PeekMatch(const char* name, uint8_t revision, size_t* size) const;
  void NextMatch() { ++match_; }
  bool matches_done() const { return match_ >= matches_.size(); }
  bool header_done() const;
  // The header holds something meshcap never writes (a goto, a fragment or
  // TOS match, another protocol, a wildcard interface, a non-prefix mask,
  // flags without their field): the entry does not decode.
  bool unusual_header() const { return unusual_; }

  // The target: a standard verdict/jump name, or an extension's data.
  const char* standard() const { return standard_; }
  const void* Target(const char* name, uint8_t revision, size_t* size) const;

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

// "0x%x".
std::string Hex(uint32_t v);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_CODEC_H_
