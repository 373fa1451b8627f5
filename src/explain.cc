// SPDX-License-Identifier: GPL-2.0-or-later
//
// The evaluator behind `meshcap explain`: the compiled ir::RuleSet walked
// for one packet as the kernel walks the rules a backend installs.
//
// What it models, and why (tests/system/explain_kernel_test.cc checks each
// point against the kernel with nftrace and real packets):
//   - A hook runs the base chains hooked there in priority order (raw -300,
//     mangle -150, nat -100); conntrack (-200) sits between raw and mangle.
//   - nat chains see only a connection's first packet (ct state new); an
//     untracked or invalid packet has no conntrack entry and so no nat,
//     no ct mark and no ct state but "invalid".
//   - In a chain, rules run in their final order; a rule matches when every
//     match holds, in order. A match reading what the packet does not have
//     (an output interface at prerouting, a socket owner on an arriving
//     packet, a port of the other protocol, an address of the other family)
//     does not hold, negated or not: nft stops the rule there (NFT_BREAK),
//     and iptables allows no such rule.
//   - jump enters a chain and comes back after its end or a return; accept
//     ends the chain's hook for this table; REDIRECT and TPROXY accept; drop
//     ends everything; mark, connmark and zone statements go on.
//   - A base chain's policy is accept.
// Not modelled: the reroute after a route-type chain changes the mark (no
// rule of Istio's reads the output interface after its mangle OUTPUT
// changes a mark), and the second pass of a packet that an output
// REDIRECT sends back in over lo.

#include "meshcap/explain.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/explain_internal.h"
#include "src/json.h"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap {
namespace {

using internal::Quote;

const char* ProtoName(Transport t) {
  return t == Transport::kTcp ? "tcp" : "udp";
}

const char* CtName(ConnState s) {
  switch (s) {
    case ConnState::kNew:
      return "new";
    case ConnState::kEstablished:
      return "established";
    case ConnState::kRelated:
      return "related";
    case ConnState::kInvalid:
      return "invalid";
  }
  return "?";
}

std::string Hex(uint32_t v) { return absl::StrFormat("0x%x", v); }

absl::Status Bad(std::string_view flag, std::string_view value,
                 std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      internal::ToAbsl(flag), ": ", Quote(value), " ", internal::ToAbsl(why)));
}

absl::StatusOr<uint32_t> ParseU32(std::string_view flag, std::string_view s) {
  uint64_t v = 0;
  bool ok = !s.empty();
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    ok = s.size() <= 10;
    for (char c : s.substr(2)) {
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) ok = false;
      v = v * 16 + static_cast<uint64_t>(d < 0 ? 0 : d);
    }
  } else {
    std::optional<uint64_t> d = internal::ParseDecimal(s, 0, 0xffffffffu);
    ok = ok && d.has_value();
    v = d.value_or(0);
  }
  if (!ok || v > 0xffffffffu) {
    return Bad(flag, s, "is not a 32-bit number (decimal or 0x hex)");
  }
  return static_cast<uint32_t>(v);
}

// "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 address.
struct HostPort {
  Cidr addr;
  std::optional<uint16_t> port;
};

absl::StatusOr<HostPort> ParseHostPort(std::string_view flag,
                                       std::string_view s) {
  std::string_view host = s;
  std::optional<std::string_view> port;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) {
      return Bad(flag, s, "has no closing ']' (want [IPv6]:PORT)");
    }
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Bad(flag, s, "is not [IPv6]:PORT");
      port = rest.substr(1);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    const size_t colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.find('/') != std::string_view::npos) {
    return Bad(flag, s, "is a prefix, not one address");
  }
  absl::StatusOr<Cidr> addr = Cidr::Parse(host);
  if (!addr.ok()) return Bad(flag, s, "is not an IP address");
  HostPort out{*addr, std::nullopt};
  if (port.has_value()) {
    std::optional<uint64_t> p = internal::ParseDecimal(*port, 1, 65535);
    if (!p.has_value()) {
      return Bad(
          flag, s,
          absl::StrCat("has port ", Quote(*port), ", not one in 1-65535"));
    }
    out.port = static_cast<uint16_t>(*p);
  }
  return out;
}

std::string HostPortString(const Cidr& a, uint16_t port) {
  const std::string ip = a.AddressString();
  if (port == 0) return ip;
  return a.family() == IpFamily::kIpv6 ? absl::StrCat("[", ip, "]:", port)
                                       : absl::StrCat(ip, ":", port);
}

// --- The walk ----------------------------------------------------------------

struct Walker {
  Walker(const ir::RuleSet& r, const internal::BackendFactory& b,
         const Packet& p)
      : rules(r), backend(b), packet(p), family(p.dst.family()) {}

  const ir::RuleSet& rules;
  const internal::BackendFactory& backend;
  const Packet& packet;
  IpFamily family;
  Cidr src;
  std::string oif, iif;
  uint32_t uid = 0, gid = 0;
  // State the statements change.
  uint32_t mark = 0;
  uint32_t connmark = 0;
  std::optional<uint16_t> zone;
  // The packet's fate so far.
  std::optional<uint16_t> redirect;
  std::optional<ir::TproxyVerdict> tproxy;
  bool dropped = false;
  int decisive = -1;  // index into path
  std::vector<ExplainStep> path;
  // The table whose chains run (its named sets are what lookups read).
  const ir::Table* table = nullptr;

  bool output() const { return packet.path == PacketPath::kOutput; }
  bool tracked() const { return packet.ct_state != ConnState::kInvalid; }

  // nullopt: the match holds; else why not.
  std::optional<std::string> Fails(const ir::Match& m) const {
    return std::visit([&](const auto& x) { return FailsOne(x); }, m);
  }

  static bool NameMatches(const std::string& pattern, const std::string& name) {
    // iptables' `eth+` and nft's `eth*`: a prefix.
    if (!pattern.empty() && (pattern.back() == '+' || pattern.back() == '*')) {
      return name.compare(0, pattern.size() - 1, pattern, 0,
                          pattern.size() - 1) == 0;
    }
    return pattern == name;
  }

  std::optional<std::string> FailsOne(const ir::InterfaceMatch& m) const {
    const bool in = m.dir == ir::Direction::kSource;
    if (in && output()) {
      return std::string("no input interface: the packet is being sent");
    }
    if (!in && !output()) {
      return std::string("no output interface yet at prerouting");
    }
    const std::string& have = in ? iif : oif;
    if (NameMatches(m.name, have) != m.negate) return std::nullopt;
    return absl::StrCat(in ? "iif is " : "oif is ", have,
                        m.negate ? "" : ", not ", m.negate ? "" : m.name);
  }

  std::optional<std::string> FailsOne(const ir::AddressMatch& m) const {
    if (m.cidr.family() != family) {
      return absl::StrCat("an ",
                          m.cidr.family() == IpFamily::kIpv4 ? "IPv4" : "IPv6",
                          " match; the packet is ",
                          family == IpFamily::kIpv4 ? "IPv4" : "IPv6");
    }
    const bool s = m.dir == ir::Direction::kSource;
    const Cidr& a = s ? src : packet.dst;
    if (!m.set.empty()) {
      const ir::NamedSet* set = table->FindSet(m.set);
      const bool in = set != nullptr && ir::SetHoldsAddress(*set, a);
      if (in != m.negate) return std::nullopt;
      return absl::StrCat(s ? "source " : "destination ", a.AddressString(),
                          in ? " is in " : " is not in ", "set @", m.set);
    }
    const bool in = m.cidr.Contains(a);
    if (in != m.negate) return std::nullopt;
    return absl::StrCat(s ? "source " : "destination ", a.AddressString(),
                        in ? " is in " : " is not in ", m.cidr.ToString());
  }

  std::optional<std::string> FailsOne(const ir::ProtocolMatch& m) const {
    const bool tcp = packet.protocol == Transport::kTcp;
    if ((m.proto == ir::L4Proto::kTcp) == tcp) return std::nullopt;
    return absl::StrCat("protocol is ", ProtoName(packet.protocol));
  }

  std::optional<std::string> FailsOne(const ir::PortMatch& m) const {
    const bool tcp = packet.protocol == Transport::kTcp;
    if ((m.proto == ir::L4Proto::kTcp) != tcp) {
      return absl::StrCat("protocol is ", ProtoName(packet.protocol));
    }
    const bool s = m.dir == ir::Direction::kSource;
    const uint16_t port = s ? packet.src_port : packet.dst_port;
    if (!m.set.empty()) {
      const ir::NamedSet* set = table->FindSet(m.set);
      const bool in = set != nullptr && ir::SetHoldsPort(*set, port);
      if (in != m.negate) return std::nullopt;
      return absl::StrCat(s ? "source port " : "destination port ", port,
                          in ? " is in " : " is not in ", "set @", m.set);
    }
    if (m.ports.empty()) return std::nullopt;
    const bool in =
        std::find(m.ports.begin(), m.ports.end(), port) != m.ports.end();
    if (in != m.negate) return std::nullopt;
    return absl::StrCat(s ? "source port " : "destination port ", port,
                        in ? " is " : " is not ",
                        m.ports.size() == 1 ? "" : "one of ",
                        absl::StrJoin(m.ports, ","));
  }

  std::optional<std::string> FailsOne(const ir::OwnerMatch& m) const {
    if (!output()) return std::string("no local socket: the packet arrives");
    const bool is_uid = m.kind == ir::OwnerMatch::kUid;
    const uint32_t have = is_uid ? uid : gid;
    if ((have == m.id) != m.negate) return std::nullopt;
    return absl::StrCat(is_uid ? "uid is " : "gid is ", have,
                        m.negate ? "" : ", not ",
                        m.negate ? "" : absl::StrCat(m.id));
  }

  std::optional<std::string> FailsOne(const ir::MarkMatch& m) const {
    if (((mark & m.mask) == m.value) != m.negate) return std::nullopt;
    return absl::StrCat("mark is ", Hex(mark),
                        m.negate ? " (matches " : " (want ", Hex(m.value), "/",
                        Hex(m.mask), ")");
  }

  std::optional<std::string> FailsOne(const ir::ConnmarkMatch& m) const {
    if (!tracked()) return std::string("no conntrack entry (invalid)");
    if (((connmark & m.mask) == m.value) != m.negate) return std::nullopt;
    return absl::StrCat("ct mark is ", Hex(connmark),
                        m.negate ? " (matches " : " (want ", Hex(m.value), "/",
                        Hex(m.mask), ")");
  }

  std::optional<std::string> FailsOne(const ir::CtStateMatch& m) const {
    ir::CtState have = ir::CtState::kNew;
    switch (packet.ct_state) {
      case ConnState::kNew:
        have = ir::CtState::kNew;
        break;
      case ConnState::kEstablished:
        have = ir::CtState::kEstablished;
        break;
      case ConnState::kRelated:
        have = ir::CtState::kRelated;
        break;
      case ConnState::kInvalid:
        have = ir::CtState::kInvalid;
        break;
    }
    if (std::find(m.states.begin(), m.states.end(), have) != m.states.end()) {
      return std::nullopt;
    }
    return absl::StrCat("ct state is ", CtName(packet.ct_state));
  }

  std::string TableLabel(const ir::Table& t) const {
    return rules.dialect == ir::Dialect::kNftables ? "inet " + t.name : t.name;
  }

  enum class Flow { kContinue, kReturn, kAccept, kDrop };

  // Runs `chain` of `t`; kContinue means it ran off its end.
  Flow Run(const ir::Table& t, const std::string& chain, int depth) {
    if (depth > 16) return Flow::kContinue;  // IR never nests this deep
    table = &t;
    std::optional<IpFamily> fam;
    if (rules.dialect == ir::Dialect::kIptables) fam = family;
    const std::vector<const ir::Rule*> list = ir::ResolveChain(t, chain, fam);
    for (size_t i = 0; i < list.size(); ++i) {
      const ir::Rule& r = *list[i];
      ExplainStep step;
      step.table = TableLabel(t);
      step.family = family;
      step.chain = chain;
      step.rule = static_cast<int>(i) + 1;
      step.text = backend.SpellRule(rules, t, chain, r);
      // (iptables: ResolveChain keeps the family's rules. nftables: an inet
      // table's rule applies to both families unless a match or statement
      // of it is one family's, as `ip daddr` or `tproxy ip`.)
      std::optional<std::string> why;
      for (size_t k = 0; !why && k < r.matches.size(); ++k) {
        why = Fails(r.matches[k]);
        if (why) step.failed_match = static_cast<int>(k);
      }
      if (!why && std::holds_alternative<ir::TproxyVerdict>(r.verdict) &&
          !ir::ScopeHas(r.scope, family)) {
        why = family == IpFamily::kIpv4 ? "tproxy of IPv6 on an IPv4 packet"
                                        : "tproxy of IPv4 on an IPv6 packet";
      }
      if (why.has_value()) {
        step.outcome = "no match: " + *why;
        path.push_back(std::move(step));
        continue;
      }
      step.matched = true;
      const size_t at = path.size();
      path.push_back(step);
      Flow f = Apply(t, r.verdict, at, depth);
      if (f == Flow::kReturn && depth == 0) break;  // a base chain's policy
      if (f != Flow::kContinue) return f;
    }
    ExplainStep end;
    end.table = TableLabel(t);
    end.family = family;
    end.chain = chain;
    const ir::ChainSpec* spec = t.FindChain(chain);
    end.outcome = spec != nullptr && spec->is_base() ? "end: policy accept"
                                                     : "end: return";
    path.push_back(std::move(end));
    return Flow::kContinue;
  }

  Flow Apply(const ir::Table& t, const ir::Verdict& v, size_t at, int depth) {
    std::string& outcome = path[at].outcome;
    if (const auto* j = std::get_if<ir::JumpVerdict>(&v)) {
      outcome = "jump " + j->chain;
      Flow f = Run(t, j->chain, depth + 1);
      return f == Flow::kReturn ? Flow::kContinue : f;
    }
    if (std::holds_alternative<ir::ReturnVerdict>(v)) {
      outcome = "return";
      decisive = static_cast<int>(at);
      return Flow::kReturn;
    }
    if (std::holds_alternative<ir::AcceptVerdict>(v)) {
      outcome = "accept";
      decisive = static_cast<int>(at);
      return Flow::kAccept;
    }
    if (std::holds_alternative<ir::DropVerdict>(v)) {
      outcome = "drop";
      decisive = static_cast<int>(at);
      dropped = true;
      return Flow::kDrop;
    }
    if (const auto* r = std::get_if<ir::RedirectVerdict>(&v)) {
      outcome = absl::StrCat("REDIRECT to ", r->port);
      redirect = r->port;
      decisive = static_cast<int>(at);
      return Flow::kAccept;
    }
    if (const auto* tp = std::get_if<ir::TproxyVerdict>(&v)) {
      mark = (mark & ~tp->mask) ^ tp->mark;
      outcome = absl::StrCat("TPROXY to ", tp->port, ", mark set ", Hex(mark));
      tproxy = *tp;
      decisive = static_cast<int>(at);
      return Flow::kAccept;
    }
    if (const auto* m = std::get_if<ir::SetMarkVerdict>(&v)) {
      mark = (mark & ~m->mask) ^ m->value;
      outcome = "mark set " + Hex(mark);
      return Flow::kContinue;
    }
    if (std::holds_alternative<ir::SaveConnmarkVerdict>(v)) {
      if (tracked()) connmark = mark;
      outcome = "ct mark set " + Hex(connmark) + " (from the mark)";
      return Flow::kContinue;
    }
    if (std::holds_alternative<ir::RestoreConnmarkVerdict>(v)) {
      if (tracked()) mark = connmark;
      outcome = "mark set " + Hex(mark) + " (from the ct mark)";
      return Flow::kContinue;
    }
    if (const auto* c = std::get_if<ir::SetConnmarkVerdict>(&v)) {
      if (tracked()) connmark = (connmark & ~c->mask) ^ c->value;
      outcome = "ct mark set " + Hex(connmark);
      return Flow::kContinue;
    }
    if (const auto* z = std::get_if<ir::CtZoneVerdict>(&v)) {
      zone = z->zone;
      outcome = absl::StrCat("ct zone set ", z->zone);
      return Flow::kContinue;
    }
    return Flow::kContinue;
  }

  void RunHook() {
    const ir::Hook hook = output() ? ir::Hook::kOutput : ir::Hook::kPrerouting;
    struct Base {
      const ir::Table* table;
      const ir::ChainSpec* chain;
    };
    std::vector<Base> bases;
    for (const ir::Table& t : rules.tables) {
      for (const ir::ChainSpec& c : t.chains) {
        if (c.hook == hook) bases.push_back({&t, &c});
      }
    }
    std::stable_sort(bases.begin(), bases.end(),
                     [](const Base& a, const Base& b) {
                       return a.chain->priority < b.chain->priority;
                     });
    for (const Base& b : bases) {
      const bool nat = b.table->kind == ir::TableKind::kNat;
      if (nat && packet.ct_state != ConnState::kNew) {
        ExplainStep skip;
        skip.table = TableLabel(*b.table);
        skip.family = family;
        skip.chain = b.chain->name;
        skip.outcome = absl::StrCat(
            "not run: nat chains see only a "
            "connection's first packet (ct state ",
            CtName(packet.ct_state), ")");
        path.push_back(std::move(skip));
        continue;
      }
      // iptables: IPv6 rules exist only when the set is IPv6 (ip6tables),
      // and a built-in chain without rules of this family does nothing
      // (iptables-nft does not even create it).
      if (rules.dialect == ir::Dialect::kIptables &&
          ((family == IpFamily::kIpv6 && !rules.ipv6) ||
           ir::ResolveChain(*b.table, b.chain->name, family).empty())) {
        continue;
      }
      if (Run(*b.table, b.chain->name, 0) == Flow::kDrop) return;
    }
  }
};

void ToJsonSteps(const std::vector<ExplainStep>& steps, internal::Json& out) {
  out = internal::Json::array();
  for (const ExplainStep& s : steps) {
    internal::Json j;
    j["table"] = s.table;
    j["family"] = s.family == IpFamily::kIpv4 ? "ipv4" : "ipv6";
    j["chain"] = s.chain;
    j["rule"] = s.rule;
    j["text"] = s.text;
    j["matched"] = s.matched;
    j["failedMatch"] = s.failed_match;
    j["outcome"] = s.outcome;
    j["decisive"] = s.decisive;
    out.push_back(std::move(j));
  }
}

}  // namespace

// --- Packet ------------------------------------------------------------------

absl::StatusOr<Packet> Packet::FromFlags(const Flags& f) {
  Packet p;
  if (f.proto.empty() || f.proto == "tcp") {
    p.protocol = Transport::kTcp;
  } else if (f.proto == "udp") {
    p.protocol = Transport::kUdp;
  } else {
    return Bad("--proto", f.proto, "is not a protocol (want tcp or udp)");
  }
  if (f.dst.empty()) {
    return absl::InvalidArgumentError(
        "--dst: missing (want IP:PORT, or [IPv6]:PORT)");
  }
  MESHCAP_ASSIGN_OR_RETURN(HostPort dst, ParseHostPort("--dst", f.dst));
  if (!dst.port.has_value()) {
    return Bad("--dst", f.dst, "has no port (want IP:PORT, or [IPv6]:PORT)");
  }
  p.dst = dst.addr;
  p.dst_port = *dst.port;
  if (!f.src.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(HostPort src, ParseHostPort("--src", f.src));
    if (src.addr.family() != dst.addr.family()) {
      return Bad(
          "--src", f.src,
          absl::StrCat("is ",
                       src.addr.family() == IpFamily::kIpv4 ? "IPv4" : "IPv6",
                       " but --dst ", Quote(f.dst), " is not"));
    }
    p.src = src.addr;
    p.src_port = src.port.value_or(0);
  }
  const bool inbound = !f.iif.empty();
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"--uid", &f.uid},
        {"--gid", &f.gid},
        {"--oif", &f.oif}}) {
    if (inbound && !value->empty()) {
      return Bad(
          name, *value,
          absl::StrCat("describes a locally sent packet, but --iif ",
                       Quote(f.iif), " makes it an arriving one (prerouting)"));
    }
  }
  p.path = inbound ? PacketPath::kPrerouting : PacketPath::kOutput;
  if (inbound && !p.src.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--src: missing; an arriving packet (--iif ", Quote(f.iif),
                     ") needs its source address"));
  }
  for (const auto& [name, value, out] :
       {std::tuple<const char*, const std::string*, std::optional<uint32_t>*>{
            "--uid", &f.uid, &p.uid},
        {"--gid", &f.gid, &p.gid}}) {
    if (value->empty()) continue;
    std::optional<uint64_t> id = internal::ParseDecimal(*value, 0, 0xfffffffeu);
    if (!id.has_value()) {
      return Bad(name, *value, "is not a numeric id (0-4294967294)");
    }
    *out = static_cast<uint32_t>(*id);
  }
  auto iface = [](const char* flag,
                  const std::string& v) -> absl::StatusOr<std::string> {
    if (v.size() > 15 || v.find_first_of("/ \t\n") != std::string::npos ||
        v == "." || v == "..") {
      return Bad(flag, v, "is not an interface name");
    }
    return v;
  };
  MESHCAP_ASSIGN_OR_RETURN(p.oif, iface("--oif", f.oif));
  MESHCAP_ASSIGN_OR_RETURN(p.iif, iface("--iif", f.iif));
  if (!f.mark.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(p.mark, ParseU32("--mark", f.mark));
  }
  if (!f.connmark.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(p.connmark, ParseU32("--connmark", f.connmark));
  }
  if (f.ct_state.empty() || f.ct_state == "new") {
    p.ct_state = ConnState::kNew;
  } else if (f.ct_state == "established") {
    p.ct_state = ConnState::kEstablished;
  } else if (f.ct_state == "related") {
    p.ct_state = ConnState::kRelated;
  } else if (f.ct_state == "invalid") {
    p.ct_state = ConnState::kInvalid;
  } else {
    return Bad("--ct-state", f.ct_state,
               "is not a state (want new, established, related or invalid)");
  }
  if (p.ct_state == ConnState::kInvalid && p.connmark != 0) {
    return Bad("--connmark", f.connmark,
               "needs a conntrack entry, which an invalid packet has not");
  }
  return p;
}

absl::StatusOr<Packet> Packet::FromJson(std::string_view json) {
  MESHCAP_ASSIGN_OR_RETURN(internal::Json doc,
                           internal::ParseJson(json, {.max_bytes = 1 << 16}));
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("packet: not a JSON object");
  }
  Flags f;
  const std::map<std::string, std::string*> keys = {
      {"proto", &f.proto},     {"src", &f.src},   {"dst", &f.dst},
      {"uid", &f.uid},         {"gid", &f.gid},   {"oif", &f.oif},
      {"iif", &f.iif},         {"mark", &f.mark}, {"connmark", &f.connmark},
      {"ctState", &f.ct_state}};
  for (const auto& [key, value] : doc.items()) {
    auto it = keys.find(key);
    if (it == keys.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "packet: unknown key ", Quote(key),
          " (want proto, src, dst, uid, gid, oif, iif, mark, connmark, "
          "ctState)"));
    }
    if (value.is_string()) {
      *it->second = value.get<std::string>();
    } else if (value.is_number_unsigned()) {
      *it->second = std::to_string(value.get<uint64_t>());
    } else if (!value.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "packet: ", Quote(key), " is neither a string nor a number"));
    }
  }
  absl::StatusOr<Packet> p = FromFlags(f);
  if (!p.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("packet: ", p.status().message()));
  }
  return p;
}

std::string Packet::ToString() const {
  std::string out = absl::StrCat(
      ProtoName(protocol), " ",
      src.has_value() ? HostPortString(*src, src_port) : "(pod address)",
      " -> ", HostPortString(dst, dst_port), ", ");
  if (path == PacketPath::kOutput) {
    absl::StrAppend(&out, "output, uid ", uid.value_or(0), " gid ",
                    gid.value_or(0), ", oif ",
                    oif.empty() ? (dst.IsLoopback() ? "lo" : "eth0") : oif);
  } else {
    absl::StrAppend(&out, "prerouting, iif ", iif.empty() ? "eth0" : iif);
  }
  absl::StrAppend(&out, ", mark ", Hex(mark));
  if (connmark != 0) absl::StrAppend(&out, ", ct mark ", Hex(connmark));
  absl::StrAppend(&out, ", ct ", CtName(ct_state));
  return out;
}

// --- Explain -----------------------------------------------------------------

absl::StatusOr<Explanation> Explain(const CapturePolicy& policy,
                                    const Packet& packet,
                                    std::string_view backend) {
  MESHCAP_ASSIGN_OR_RETURN(const internal::BackendFactory* f,
                           internal::FindSpellingBackend(backend));
  if (packet.dst_port == 0) {
    return absl::InvalidArgumentError("packet: the destination port is 0");
  }
  if (packet.src.has_value() && packet.src->family() != packet.dst.family()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "packet: source ", packet.src->AddressString(), " and destination ",
        packet.dst.AddressString(), " are of different families"));
  }
  if (packet.path == PacketPath::kPrerouting &&
      (packet.uid.has_value() || packet.gid.has_value() ||
       !packet.oif.empty())) {
    return absl::InvalidArgumentError(
        "packet: an arriving packet (prerouting) has no uid, gid or output "
        "interface");
  }
  if (packet.path == PacketPath::kOutput && !packet.iif.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "packet: a sent packet (output) has no input interface, but iif is ",
        Quote(packet.iif)));
  }
  MESHCAP_ASSIGN_OR_RETURN(const ir::RuleSet rules,
                           internal::CompileFor(policy, *f));
  return internal::ExplainRules(rules, *f, packet);
}

namespace internal {

absl::StatusOr<Explanation> ExplainRules(const ir::RuleSet& rules,
                                         const BackendFactory& backend,
                                         const Packet& packet) {
  const BackendFactory* f = &backend;
  Walker w(rules, *f, packet);
  const bool v6 = w.family == IpFamily::kIpv6;
  if (packet.src.has_value()) {
    w.src = *packet.src;
  } else if (packet.dst.IsLoopback()) {
    w.src = *Cidr::Parse(v6 ? "::1" : "127.0.0.1");
  } else {
    // The pod's own address: in the documentation range, which no rule of
    // a policy names unless its user did.
    w.src = *Cidr::Parse(v6 ? "2001:db8:ffff::1" : "192.0.2.1");
  }
  w.oif = packet.oif.empty() ? (packet.dst.IsLoopback() ? "lo" : "eth0")
                             : packet.oif;
  w.iif = packet.iif.empty() ? "eth0" : packet.iif;
  w.uid = packet.uid.value_or(0);
  w.gid = packet.gid.value_or(0);
  w.mark = packet.mark;
  w.connmark = packet.connmark;
  w.RunHook();

  Explanation e;
  e.backend = std::string(f->Name());
  e.packet = packet;
  e.mark = w.mark;
  e.connmark = w.connmark;
  e.ct_zone = w.zone;
  if (w.decisive >= 0) w.path[static_cast<size_t>(w.decisive)].decisive = true;
  std::string by, via;
  if (w.decisive >= 0) {
    const ExplainStep& d = w.path[static_cast<size_t>(w.decisive)];
    by = absl::StrCat("`", d.text, "` (", d.table, " ", d.chain, ", rule ",
                      d.rule, ")");
    // The jump that led there, when the deciding rule is in a chain of
    // its own (istio-redirect): the rule that picked the packet.
    for (int i = w.decisive - 1; i >= 0; --i) {
      const ExplainStep& j = w.path[static_cast<size_t>(i)];
      if (j.matched && j.outcome == "jump " + d.chain && j.table == d.table) {
        via = absl::StrCat(", reached by `", j.text, "` (", j.chain, ", rule ",
                           j.rule, ")");
        break;
      }
    }
  }
  if (w.dropped) {
    e.mode = "DROP";
    e.summary = absl::StrCat("not captured: dropped by ", by);
  } else if (w.tproxy.has_value()) {
    e.captured = true;
    e.mode = "TPROXY";
    e.port = w.tproxy->port;
    e.tproxy_mark = w.mark;
    if (rules.routing.has_value() &&
        (w.mark & rules.routing->mask) == rules.routing->mark) {
      e.route_table = rules.routing->table;
    }
    e.summary = absl::StrCat("captured: TPROXY to port ", w.tproxy->port,
                             " with mark ", Hex(w.mark));
    if (e.route_table.has_value()) {
      absl::StrAppend(&e.summary, ", delivered locally by route table ",
                      *e.route_table);
    }
    absl::StrAppend(&e.summary, ", by ", by, via);
  } else if (w.redirect.has_value()) {
    e.captured = true;
    e.mode = "REDIRECT";
    e.port = w.redirect;
    e.summary = absl::StrCat("captured: REDIRECT to port ", *w.redirect);
    if (packet.dst_port == 53) absl::StrAppend(&e.summary, " (DNS)");
    if (w.zone.has_value()) {
      absl::StrAppend(&e.summary, ", conntrack zone ", *w.zone);
    }
    absl::StrAppend(&e.summary, ", by ", by, via);
  } else {
    e.mode = "ACCEPT";
    e.summary = w.decisive >= 0
                    ? absl::StrCat("not captured: ", by, " lets it pass")
                    : "not captured: no rule captures it; it reaches the "
                      "end of every chain";
    if (w.zone.has_value()) {
      absl::StrAppend(&e.summary, " (conntrack zone ", *w.zone, ")");
    }
  }
  e.path = std::move(w.path);
  return e;
}

}  // namespace internal

std::string Explanation::ToText() const {
  std::string out = absl::StrCat(packet.ToString(), " (", backend, ")\n");
  std::string at;
  for (const ExplainStep& s : path) {
    const std::string here = absl::StrCat(
        s.family == IpFamily::kIpv6 && s.table.rfind("inet ", 0) != 0
            ? "ip6tables -t "
        : s.table.rfind("inet ", 0) == 0 ? ""
                                         : "iptables -t ",
        s.table, " ", s.chain);
    if (here != at) {
      absl::StrAppend(&out, here, "\n");
      at = here;
    }
    if (s.rule == 0) {
      absl::StrAppend(&out, "    ", s.outcome, "\n");
      continue;
    }
    absl::StrAppend(&out, absl::StrFormat("  %2d ", s.rule), s.text, "\n",
                    "       ", s.decisive ? "=> " : "-> ", s.outcome, "\n");
  }
  absl::StrAppend(&out, summary, "\n");
  return out;
}

std::string Explanation::ToJson() const {
  internal::Json j;
  j["captured"] = captured;
  j["port"] = port.has_value() ? internal::Json(*port) : internal::Json();
  j["mode"] = mode;
  j["summary"] = summary;
  j["tproxyMark"] =
      tproxy_mark.has_value() ? internal::Json(*tproxy_mark) : internal::Json();
  j["routeTable"] =
      route_table.has_value() ? internal::Json(*route_table) : internal::Json();
  j["ctZone"] =
      ct_zone.has_value() ? internal::Json(*ct_zone) : internal::Json();
  j["mark"] = mark;
  j["connmark"] = connmark;
  j["backend"] = backend;
  j["packet"] = packet.ToString();
  ToJsonSteps(path, j["path"]);
  return j.dump(-1, ' ', false, internal::Json::error_handler_t::replace);
}

}  // namespace meshcap
