// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables dialect's rule model, shared by its two writers (the
// libiptc backend and the iptables-nft one): what each IR kind writes into
// an iptables rule and reads back out of one, at the level iptables itself
// builds rules, before any wire format:
//
//   a header   the input and output interfaces, the addresses and the
//              protocol (`-i`, `-o`, `-s`, `-d`, `-p`);
//   matches    xtables matches by name and revision, with their data (the
//              kernel's xt_* structures, as libxtables fills them);
//   a target   a standard one (ACCEPT, DROP, RETURN, a chain) or an
//              extension by name and revision, with its data.
//
// Each backend maps that to its own wire format: an ipt_entry with its
// matches and target for libiptc (iptables_legacy/codec.h), nftables
// expressions for iptables-nft, native where iptables-nft 1.8.9 translates
// (the header, tcp and udp ports, the mark match) and nft_compat match and
// target expressions elsewhere (iptables_nft/xt_rule.h).
//
// Each kinds/<kind>.cc holds, side by side, for one IR kind:
//   Spell   its `iptables-restore` text, as Istio's generators write it;
//   Encode  what iptables 1.8.9 builds for that text (its revisions);
//   Decode  the reverse, for rules read back from the kernel.
// kinds.h declares them; dispatch is an exhaustive std::visit.

#ifndef MESHCAP_BACKENDS_IPTABLES_RULE_CODEC_H_
#define MESHCAP_BACKENDS_IPTABLES_RULE_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "src/ir/rule_set.h"

namespace meshcap::ipt {

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

// Builds one rule: header fields, then matches in order, then the target.
class RuleWriter {
 public:
  virtual ~RuleWriter() = default;

  virtual IpFamily family() const = 0;
  bool v6() const { return family() == IpFamily::kIpv6; }

  // Header fields.
  virtual void SetInterface(ir::Direction dir, const std::string& name,
                            bool negate) = 0;
  virtual void SetAddress(ir::Direction dir, const Cidr& cidr, bool negate) = 0;
  virtual void SetProtocol(ir::L4Proto p) = 0;
  virtual bool protocol_set() const = 0;

  // An xtables match: `size` bytes of `data` (its xt_* structure).
  virtual void Match(const char* name, uint8_t revision, const void* data,
                     size_t size) = 0;
  template <typename T>
  void Match(const char* name, uint8_t revision, const T& data) {
    Match(name, revision, &data, sizeof(T));
  }
  // A target with data, or a standard one (ACCEPT, DROP, RETURN, a chain).
  virtual void Target(const char* name, uint8_t revision, const void* data,
                      size_t size) = 0;
  template <typename T>
  void Target(const char* name, uint8_t revision, const T& data) {
    Target(name, revision, &data, sizeof(T));
  }
  virtual void Standard(const std::string& name) = 0;
};

// A rule read back, for the decoders: its header fields not yet decoded,
// its matches in order, its target. Each part is handed out once.
class RuleReader {
 public:
  virtual ~RuleReader() = default;

  virtual IpFamily family() const = 0;

  virtual bool TakeInterface(ir::Direction* dir, std::string* name,
                             bool* negate) = 0;
  virtual bool TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate) = 0;
  virtual bool TakeProtocol(ir::L4Proto* proto) = 0;
  // The header's protocol, taken or not.
  virtual std::optional<ir::L4Proto> protocol() const = 0;

  // The next xtables match, when its name and revision are these (its
  // data and size; null otherwise).
  virtual const void* PeekMatch(const char* name, uint8_t revision,
                                size_t* size) const = 0;
  virtual void NextMatch() = 0;
  virtual bool matches_done() const = 0;
  virtual bool header_done() const = 0;
  // The rule holds something meshcap never writes (a goto, a fragment or
  // TOS match, another protocol, a wildcard interface, a non-prefix mask,
  // an expression iptables-nft does not make): it does not decode.
  virtual bool unusual() const = 0;

  // The target: a standard verdict/jump name (or null), or an extension's
  // data when its name and revision are these.
  virtual const char* standard() const = 0;
  virtual const void* Target(const char* name, uint8_t revision,
                             size_t* size) const = 0;
};

// "0x%x".
std::string Hex(uint32_t v);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_RULE_CODEC_H_
