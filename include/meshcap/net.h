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
// prefix). Host bits below the prefix length are cleared, as the kernel does.
class MESHCAP_EXPORT Cidr {
 public:
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

  // "addr/len", the address as inet_ntop(3) prints it.
  std::string ToString() const;
  // The address alone, without "/len".
  std::string AddressString() const;

  friend bool operator==(const Cidr& a, const Cidr& b) {
    return a.family_ == b.family_ && a.prefix_len_ == b.prefix_len_ &&
           a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const Cidr& a, const Cidr& b) { return !(a == b); }

 private:
  Cidr() = default;

  IpFamily family_ = IpFamily::kIpv4;
  int prefix_len_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace meshcap

#endif  // MESHCAP_NET_H_
