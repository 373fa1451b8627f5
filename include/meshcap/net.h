// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: net.h
// -----------------------------------------------------------------------------
//
// This header defines `meshcap::Cidr`, an IPv4 or IPv6 prefix with its host
// bits cleared. It is the only address type in the public API: a single host
// is a full-length prefix (/32 or /128).

#ifndef MESHCAP_NET_H_
#define MESHCAP_NET_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "meshcap/export.h"

namespace meshcap {

enum class IpFamily : uint8_t { kIpv4, kIpv6 };

// Cidr
//
// An address prefix. Construct it with `Cidr::Parse`:
//
//   absl::StatusOr<meshcap::Cidr> c = meshcap::Cidr::Parse("10.0.0.0/8");
//   if (!c.ok()) return c.status();
//   c->ToString();  // "10.0.0.0/8"
//
// `Parse` accepts "a.b.c.d/len", "v6addr/len" and bare addresses (a host
// prefix). Host bits below the prefix length are cleared, as the kernel does;
// the text as given is kept too, because Istio prints addresses in rules the
// way the user wrote them (`Text()`, `PrefixString()`).
class MESHCAP_EXPORT Cidr {
 public:
  // 0.0.0.0/0.
  Cidr() = default;

  // Parses `text`; returns `kInvalidArgument` naming `text` when it is not an
  // address or prefix.
  [[nodiscard]] static absl::StatusOr<Cidr> Parse(std::string_view text);

  // A host prefix (/32 or /128) for a raw address in network byte order.
  static Cidr Ipv4Host(const std::array<uint8_t, 4>& addr);

  IpFamily family() const { return family_; }
  int prefix_len() const { return prefix_len_; }
  // Network byte order; only the first 4 bytes are used for IPv4.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }

  // True for 127.0.0.0/8 (IPv4) and ::1 (IPv6) addresses.
  bool IsLoopback() const;
  // True when `other` lies wholly inside this prefix.
  bool Contains(const Cidr& other) const;

  // "addr/len" with the host bits cleared, the address as inet_ntop(3)
  // prints it: what the kernel holds.
  std::string ToString() const;
  // The address alone, host bits cleared, without "/len".
  std::string AddressString() const;
  // The text `Parse` was given, as given.
  const std::string& Text() const { return text_; }
  // "addr/len" with the host bits as given (Go's netip.Prefix.String()):
  // "10.1.2.3/8", "fd00::1/64".
  std::string PrefixString() const;
  // The address as given, host bits kept, without "/len".
  std::string HostAddressString() const;
  // The same prefix, written as `text` in rules (for addresses Istio spells
  // its own way, such as a DNS server with "/32" appended).
  Cidr WithText(std::string text) const;

  friend bool operator==(const Cidr& a, const Cidr& b) {
    return a.family_ == b.family_ && a.prefix_len_ == b.prefix_len_ &&
           a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const Cidr& a, const Cidr& b) { return !(a == b); }

 private:
  IpFamily family_ = IpFamily::kIpv4;
  int prefix_len_ = 0;
  std::array<uint8_t, 16> bytes_{};  // host bits cleared
  std::array<uint8_t, 16> given_{};  // as given
  std::string text_;
};

}  // namespace meshcap

#endif  // MESHCAP_NET_H_
