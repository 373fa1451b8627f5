// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/net.h"

#include <arpa/inet.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/text.h"

namespace meshcap {

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", internal::ToAbsl(text),
                     "' is not a valid CIDR: ", internal::ToAbsl(why)));
  };
  std::string addr(text);
  Cidr c;
  c.text_ = std::string(text);
  std::optional<uint64_t> len;
  size_t slash = addr.find('/');
  if (slash != std::string::npos) {
    std::string_view len_text = std::string_view(addr).substr(slash + 1);
    len = internal::ParseDecimal(len_text, 0, 128);
    if (!len) return invalid("bad prefix length");
    addr.resize(slash);
  }
  if (inet_pton(AF_INET, addr.c_str(), c.bytes_.data()) == 1) {
    c.family_ = IpFamily::kIpv4;
    if (len && *len > 32) return invalid("IPv4 prefix length above 32");
    c.prefix_len_ = len ? static_cast<int>(*len) : 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes_.data()) == 1) {
    c.family_ = IpFamily::kIpv6;
    c.prefix_len_ = len ? static_cast<int>(*len) : 128;
  } else {
    return invalid("not an IPv4 or IPv6 address");
  }
  c.given_ = c.bytes_;
  // Clear host bits.
  int total = c.family_ == IpFamily::kIpv4 ? 4 : 16;
  for (int i = 0; i < total; ++i) {
    int bits_here = c.prefix_len_ - i * 8;
    if (bits_here >= 8) continue;
    c.bytes_[i] &=
        bits_here <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits_here));
  }
  return c;
}

Cidr Cidr::Ipv4Host(const std::array<uint8_t, 4>& addr) {
  Cidr c;
  c.family_ = IpFamily::kIpv4;
  c.prefix_len_ = 32;
  for (int i = 0; i < 4; ++i) c.bytes_[i] = addr[i];
  c.given_ = c.bytes_;
  c.text_ = c.AddressString();
  return c;
}

bool Cidr::IsLoopback() const {
  if (family_ == IpFamily::kIpv4) return bytes_[0] == 127;
  for (int i = 0; i < 15; ++i)
    if (bytes_[i] != 0) return false;
  return bytes_[15] == 1;
}

bool Cidr::Contains(const Cidr& other) const {
  if (other.family_ != family_ || other.prefix_len_ < prefix_len_) return false;
  for (int i = 0; i * 8 < prefix_len_; ++i) {
    int bits = prefix_len_ - i * 8;
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((bytes_[i] & mask) != (other.bytes_[i] & mask)) return false;
  }
  return true;
}

std::string Cidr::AddressString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family_ == IpFamily::kIpv4 ? AF_INET : AF_INET6, bytes_.data(), buf,
            sizeof buf);
  return buf;
}

std::string Cidr::ToString() const {
  return absl::StrCat(AddressString(), "/", prefix_len_);
}

std::string Cidr::HostAddressString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family_ == IpFamily::kIpv4 ? AF_INET : AF_INET6, given_.data(), buf,
            sizeof buf);
  return buf;
}

std::string Cidr::PrefixString() const {
  return absl::StrCat(HostAddressString(), "/", prefix_len_);
}

Cidr Cidr::WithText(std::string text) const {
  Cidr c = *this;
  c.text_ = std::move(text);
  return c;
}

}  // namespace meshcap
