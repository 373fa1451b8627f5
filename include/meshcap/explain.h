// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: explain.h
// -----------------------------------------------------------------------------
//
// Why a packet is or is not captured. `Explain` walks the rules a policy
// compiles to, in the order the kernel evaluates them (hook by hook, base
// chains by priority, jumps and returns), for one packet, and says which
// rules it reached, which one decided, and where the packet goes:
//
//   meshcap::Packet p;
//   p.protocol = meshcap::Transport::kTcp;
//   p.dst = *meshcap::Cidr::Parse("10.96.0.10");
//   p.dst_port = 80;
//   p.uid = 1337;  // the proxy's own traffic
//   absl::StatusOr<meshcap::Explanation> e =
//       meshcap::Explain(policy, p, "nftables");
//   e->captured;   // false
//   e->ToText();   // the path, in Istio's nft spelling, and the verdict
//
// The verdict is what the kernel does with the rules `backend` would
// install; the path is spelled as that backend's Istio generator spells
// its rules. The verdict is the same for every backend but in one case,
// which is Istio's own: an IPv6 packet under a policy without IPv6 (Istio's
// iptables generators then write no ip6tables rules, while the inet tables
// of its nftables generator apply to IPv6 too). It touches no kernel and reads
// no state: the policy and the packet are the whole input. An in-tree
// cross-check compares it with what the kernel does (nftrace and real packets)
// for every conformance case.

#ifndef MESHCAP_EXPLAIN_H_
#define MESHCAP_EXPLAIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/net.h"
#include "meshcap/policy.h"

namespace meshcap {

enum class Transport : uint8_t { kTcp, kUdp };

// Where the packet meets the rules: sent by a local process (the output
// hook), or arriving at the pod (the prerouting hook).
enum class PacketPath : uint8_t { kOutput, kPrerouting };

// The packet's connection-tracking state. nat chains see only a
// connection's first packet (kNew).
enum class ConnState : uint8_t { kNew, kEstablished, kRelated, kInvalid };

struct MESHCAP_EXPORT Packet {
  Transport protocol = Transport::kTcp;
  PacketPath path = PacketPath::kOutput;
  // Host addresses (/32, /128). Without `src`, an output packet's source is
  // the kernel's pick: 127.0.0.1 (::1) for a loopback destination, else an
  // address no source match of the rules names (the pod's own).
  std::optional<Cidr> src;
  Cidr dst;
  // 0: any (the kernel's pick); no rule of Istio's reads it.
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  // Output only: the socket's owner (default 0, root) and the interface it
  // leaves by (default: "lo" for a loopback destination, else "eth0").
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::string oif;
  // Prerouting only: the interface it arrives on (default "eth0").
  std::string iif;
  uint32_t mark = 0;      // the packet's mark (SO_MARK)
  uint32_t connmark = 0;  // its connection's conntrack mark
  ConnState ct_state = ConnState::kNew;

  // Builds a packet from `meshcap explain`'s flag values, each optional
  // but `dst` ("IP:PORT", "[IPv6]:PORT"): "tcp"/"udp", "IP[:PORT]",
  // decimal or 0x ids and marks, "new"/"established"/"related"/"invalid".
  // A packet that cannot happen (an IPv6 source with an IPv4 destination,
  // `uid` or `oif` with `iif`, a port out of range) is kInvalidArgument
  // naming the value.
  struct Flags {
    std::string proto, src, dst, uid, gid, oif, iif, mark, connmark, ct_state;
  };
  [[nodiscard]] static absl::StatusOr<Packet> FromFlags(const Flags& flags);
  // The same from a JSON object with those keys ("proto", "src", "dst",
  // "uid", "gid", "oif", "iif", "mark", "connmark", "ctState"), strings or
  // numbers: the C ABI's and the bindings' form.
  [[nodiscard]] static absl::StatusOr<Packet> FromJson(std::string_view json);

  // "tcp 198.51.100.2 -> 10.96.0.10:80, output, uid 1000 gid 1000, oif eth0"
  std::string ToString() const;
};

// One rule (or a chain's end) the packet reached.
struct MESHCAP_EXPORT ExplainStep {
  // "nat" (iptables) or "inet istio-proxy-nat" (nftables); `family` tells
  // iptables from ip6tables.
  std::string table;
  IpFamily family = IpFamily::kIpv4;
  std::string chain;
  // 1-based position in the chain; 0 for the chain's end (a base chain's
  // policy, or the return from a regular chain).
  int rule = 0;
  // The rule as Istio spells it for the backend; empty for a chain's end.
  std::string text;
  // Whether every match held, so that the rule's statement ran.
  bool matched = false;
  // When not: the 0-based index of the match that did not hold, in the
  // order the kernel evaluates them (-1 when they all held but a statement
  // of the other family, nft's `tproxy ip` on IPv6, stopped the rule).
  int failed_match = -1;
  // What happened: "no match: oif is eth0, not lo", "jump ISTIO_OUTPUT",
  // "return", "accept", "REDIRECT to 15001", "mark set 0x539", ...
  std::string outcome;
  // The rule that decided the packet's fate at this hook.
  bool decisive = false;
};

struct MESHCAP_EXPORT Explanation {
  // Handed to the proxy (or ztunnel, or the DNS agent) by REDIRECT or TPROXY.
  bool captured = false;
  // The port it is handed to, when captured.
  std::optional<uint16_t> port;
  // "REDIRECT", "TPROXY" when captured; "ACCEPT" (passes untouched) or
  // "DROP" otherwise.
  std::string mode;
  // TPROXY: the mark it carries and the route table that delivers it.
  std::optional<uint32_t> tproxy_mark;
  std::optional<uint32_t> route_table;
  // The conntrack zone the rules put its connection in (DNS), if any.
  std::optional<uint16_t> ct_zone;
  // The packet's mark and conntrack mark when it leaves the hook.
  uint32_t mark = 0;
  uint32_t connmark = 0;
  // One line: "captured: REDIRECT to 15001 by -A ISTIO_REDIRECT ..." or
  // "not captured: -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
  // lets it pass".
  std::string summary;
  std::vector<ExplainStep> path;
  std::string backend;
  Packet packet;

  // The path, one line per chain entered and per rule reached, and the
  // summary.
  std::string ToText() const;
  // {"captured": bool, "port": int|null, "mode": "...", "summary": "...",
  //  "tproxyMark", "routeTable", "ctZone", "mark", "connmark",
  //  "backend", "packet": "...", "path": [{"table", "family", "chain",
  //  "rule", "text", "matched", "failedMatch", "outcome", "decisive"}]}
  std::string ToJson() const;
};

// Walks `packet` through the rules `policy` compiles to for `backend`
// (`AvailableBackends()` or "iptables"; the spelling is the backend's, and
// so is the verdict, which differs between backends only as said above).
// kInvalidArgument for an unknown backend or a packet that cannot happen.
[[nodiscard]] MESHCAP_EXPORT absl::StatusOr<Explanation> Explain(
    const CapturePolicy& policy, const Packet& packet,
    std::string_view backend = "nftables");

}  // namespace meshcap

#endif  // MESHCAP_EXPLAIN_H_
