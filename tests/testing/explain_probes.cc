// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/explain_probes.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <variant>

#include "absl/strings/str_cat.h"
#include "src/explain_internal.h"

namespace meshcap::testing {
namespace {

std::string FamilyName(IpFamily f) {
  return f == IpFamily::kIpv4 ? "ipv4" : "ipv6";
}

Cidr Host(IpFamily f, const std::array<uint8_t, 16>& b) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(f == IpFamily::kIpv4 ? AF_INET : AF_INET6, b.data(), buf,
            sizeof(buf));
  return *Cidr::Parse(buf);
}

Cidr Parse(const char* s) { return *Cidr::Parse(s); }

// Whether the cross-check can send a packet with this address at all.
bool Sendable(const Cidr& a) {
  const auto& b = a.bytes();
  if (a.family() == IpFamily::kIpv4) return b[0] != 0 && b[0] < 224;
  bool zero = true;
  for (int i = 0; i < 16; ++i) zero = zero && b[i] == 0;
  if (zero) return false;
  if (b[0] == 0xff) return false;                           // multicast
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // link-local
  bool mapped = b[10] == 0xff && b[11] == 0xff;
  for (int i = 0; i < 10; ++i) mapped = mapped && b[i] == 0;
  return !mapped;
}

// The first and last addresses of `c`, and the ones just outside it.
std::vector<Cidr> Boundaries(const Cidr& c) {
  const int len = c.family() == IpFamily::kIpv4 ? 4 : 16;
  std::array<uint8_t, 16> first = c.bytes(), last = c.bytes();
  for (int i = c.prefix_len(); i < len * 8; ++i) {
    last[static_cast<size_t>(i / 8)] |= static_cast<uint8_t>(0x80 >> (i % 8));
  }
  std::vector<Cidr> out = {Host(c.family(), first), Host(c.family(), last)};
  // first - 1
  std::array<uint8_t, 16> below = first;
  bool borrow = true;
  for (int i = len - 1; i >= 0 && borrow; --i) {
    borrow = below[static_cast<size_t>(i)] == 0;
    --below[static_cast<size_t>(i)];
  }
  if (!borrow) out.push_back(Host(c.family(), below));
  std::array<uint8_t, 16> above = last;
  bool carry = true;
  for (int i = len - 1; i >= 0 && carry; --i) {
    carry = above[static_cast<size_t>(i)] == 0xff;
    ++above[static_cast<size_t>(i)];
  }
  if (!carry) out.push_back(Host(c.family(), above));
  // One inside, off the edges, for wide prefixes.
  if (c.prefix_len() < len * 8 - 2) {
    std::array<uint8_t, 16> mid = first;
    mid[static_cast<size_t>(len - 1)] |= 0x02;
    out.push_back(Host(c.family(), mid));
  }
  return out;
}

std::vector<uint16_t> PortBoundaries(const std::vector<uint16_t>& ports) {
  std::vector<uint16_t> out;
  for (uint16_t p : ports) {
    out.push_back(p);
    if (p > 1) out.push_back(static_cast<uint16_t>(p - 1));
    if (p < 65535) out.push_back(static_cast<uint16_t>(p + 1));
  }
  return out;
}

template <typename T>
void AddUnique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

struct Pools {
  std::map<IpFamily, std::vector<Cidr>> addrs;
  std::vector<uint16_t> dports, sports;
  std::vector<uint32_t> uids, gids, marks, connmarks;
  std::vector<std::string> ifaces;
};

Pools CollectPools(const ir::RuleSet& rules) {
  Pools p;
  for (const char* a :
       {"198.51.100.2", "203.0.113.77", "127.0.0.1", "127.0.0.6"}) {
    AddUnique(p.addrs[IpFamily::kIpv4], Parse(a));
  }
  for (const char* a : {"2001:db8::2", "2001:db8:77::77", "::1", "::6"}) {
    AddUnique(p.addrs[IpFamily::kIpv6], Parse(a));
  }
  p.dports = {80, 8080};
  p.uids = {0, 1000};
  p.gids = {0, 1000};
  p.marks = {0};
  p.connmarks = {0};
  p.ifaces = ProbeInterfaces(rules);
  p.ifaces.push_back("lo");
  for (const ir::Table& t : rules.tables) {
    for (const ir::RuleEntry& e : t.entries) {
      for (const ir::Match& m : e.rule.matches) {
        if (const auto* a = std::get_if<ir::AddressMatch>(&m)) {
          for (const Cidr& b : Boundaries(a->cidr)) {
            if (Sendable(b)) AddUnique(p.addrs[b.family()], b);
          }
        } else if (const auto* pm = std::get_if<ir::PortMatch>(&m)) {
          for (uint16_t port : PortBoundaries(pm->ports)) {
            AddUnique(pm->dir == ir::Direction::kSource ? p.sports : p.dports,
                      port);
          }
        } else if (const auto* o = std::get_if<ir::OwnerMatch>(&m)) {
          AddUnique(o->kind == ir::OwnerMatch::kUid ? p.uids : p.gids, o->id);
        } else if (const auto* mk = std::get_if<ir::MarkMatch>(&m)) {
          AddUnique(p.marks, mk->value);
          AddUnique(p.marks, mk->value ^ (mk->mask & (~mk->mask + 1)));
        } else if (const auto* cm = std::get_if<ir::ConnmarkMatch>(&m)) {
          AddUnique(p.connmarks, cm->value);
          AddUnique(p.connmarks, cm->value ^ (cm->mask & (~cm->mask + 1)));
        }
      }
    }
  }
  return p;
}

// An IPv6 address in ::/96 other than ::1 (Istio's ::6 among them).
bool Compat(const Cidr& a) {
  if (a.family() != IpFamily::kIpv6) return false;
  for (int i = 0; i < 12; ++i) {
    if (a.bytes()[static_cast<size_t>(i)] != 0) return false;
  }
  return !a.IsLoopback();
}

// Makes `p` sendable: loopback addresses only on lo, and the other way
// round only where a real packet could be (any address may go out lo).
bool MakeSendable(Packet& p) {
  const bool loop =
      p.dst.IsLoopback() || (p.src.has_value() && p.src->IsLoopback());
  if (p.path == PacketPath::kOutput) {
    // A local destination (loopback, the pod's own) leaves by lo whatever
    // the socket is bound to.
    if (loop || p.dst == *Cidr::Parse("198.51.100.2") ||
        p.dst == *Cidr::Parse("2001:db8::2")) {
      p.oif = "lo";
    }
    p.ct_state = ConnState::kNew;
    // IPv6 sends from ::1 only to ::1 (the kernel finds no route else),
    // and neither to nor from the rest of ::/96 (::6 only arrives).
    if (p.dst.family() == IpFamily::kIpv6) {
      if ((p.src.has_value() && p.src->IsLoopback() && !p.dst.IsLoopback()) ||
          (p.src.has_value() && Compat(*p.src))) {
        return false;
      }
      // IPv6 goes out lo only to a local address (the pod's, 2001:db8::2).
      if (p.oif == "lo" && !p.dst.IsLoopback() &&
          p.dst != *Cidr::Parse("2001:db8::2")) {
        return false;
      }
    }
  } else if (loop) {
    p.iif = "lo";
  }
  if (p.ct_state == ConnState::kInvalid) p.connmark = 0;
  // The kernel drops an inbound REDIRECT to ::/96 (but ::1): not sent to.
  if (Compat(p.dst)) return false;
  if (!Sendable(p.dst) || (p.src.has_value() && !Sendable(*p.src))) {
    return false;
  }
  // Established needs a TCP handshake the cross-check makes from outside
  // (through a veth: on lo, nothing would answer a foreign destination).
  if (p.ct_state == ConnState::kEstablished &&
      (p.protocol != Transport::kTcp || p.path != PacketPath::kPrerouting ||
       p.iif == "lo")) {
    p.ct_state = ConnState::kNew;
  }
  if (p.ct_state == ConnState::kRelated) p.ct_state = ConnState::kNew;
  return true;
}

}  // namespace

std::string RuleKey(const ExplainStep& step, ir::Dialect dialect) {
  return absl::StrCat(
      step.table, "|",
      dialect == ir::Dialect::kIptables ? FamilyName(step.family) : "", "|",
      step.chain, "|", step.rule);
}

std::set<std::string> AllRuleKeys(const ir::RuleSet& rules) {
  std::set<std::string> out;
  const bool ipt = rules.dialect == ir::Dialect::kIptables;
  for (const ir::Table& t : rules.tables) {
    const std::string label = ipt ? t.name : "inet " + t.name;
    for (const ir::ChainSpec& c : t.chains) {
      std::vector<std::pair<std::string, size_t>> lists;
      if (ipt) {
        lists.push_back(
            {"ipv4", ir::ResolveChain(t, c.name, IpFamily::kIpv4).size()});
        if (rules.ipv6) {
          lists.push_back(
              {"ipv6", ir::ResolveChain(t, c.name, IpFamily::kIpv6).size()});
        }
      } else {
        lists.push_back({"", ir::ResolveChain(t, c.name, std::nullopt).size()});
      }
      for (const auto& [fam, n] : lists) {
        for (size_t i = 1; i <= n; ++i) {
          out.insert(absl::StrCat(label, "|", fam, "|", c.name, "|", i));
        }
      }
    }
  }
  return out;
}

std::set<std::string> RulesInUnusedChains(const ir::RuleSet& rules) {
  const bool ipt = rules.dialect == ir::Dialect::kIptables;
  std::vector<std::optional<IpFamily>> families = {std::nullopt};
  if (ipt) {
    families = {IpFamily::kIpv4};
    if (rules.ipv6) families.push_back(IpFamily::kIpv6);
  }
  std::set<std::string> out;
  for (const std::optional<IpFamily>& fam : families) {
    const std::string fam_name = fam.has_value() ? FamilyName(*fam) : "";
    for (const ir::Table& t : rules.tables) {
      std::set<std::string> used;
      std::vector<std::string> work;
      for (const ir::ChainSpec& c : t.chains) {
        if (c.is_base()) work.push_back(c.name);
      }
      while (!work.empty()) {
        const std::string chain = work.back();
        work.pop_back();
        if (!used.insert(chain).second) continue;
        for (const ir::Rule* r : ir::ResolveChain(t, chain, fam)) {
          if (const auto* j = std::get_if<ir::JumpVerdict>(&r->verdict)) {
            work.push_back(j->chain);
          }
        }
      }
      const std::string label = ipt ? t.name : "inet " + t.name;
      for (const ir::ChainSpec& c : t.chains) {
        if (used.count(c.name)) continue;
        const size_t n = ir::ResolveChain(t, c.name, fam).size();
        for (size_t i = 1; i <= n; ++i) {
          out.insert(absl::StrCat(label, "|", fam_name, "|", c.name, "|", i));
        }
      }
    }
  }
  return out;
}

std::vector<std::string> ProbeInterfaces(const ir::RuleSet& rules) {
  std::vector<std::string> out = {"eth0", "podnic"};
  for (const ir::Table& t : rules.tables) {
    for (const ir::RuleEntry& e : t.entries) {
      for (const ir::Match& m : e.rule.matches) {
        if (const auto* i = std::get_if<ir::InterfaceMatch>(&m)) {
          if (i->name != "lo") AddUnique(out, i->name);
        }
      }
    }
  }
  return out;
}

ProbeSet GenerateProbes(const ir::RuleSet& rules,
                        const internal::BackendFactory& backend,
                        uint64_t seed) {
  // The same rule set gets the same packets: computed once per process
  // (the tests ask for each case's probes several times; sanitized builds
  // take seconds per case).
  static auto* const memo = new std::map<std::string, ProbeSet>;
  // (The backend only spells: one dialect's backends get the same packets.)
  const std::string key = absl::StrCat(rules.fingerprint, "\n", seed);
  if (!rules.fingerprint.empty()) {
    if (auto it = memo->find(key); it != memo->end()) return it->second;
  }
  ProbeSet out = GenerateProbesUncached(rules, backend, seed);
  if (!rules.fingerprint.empty()) (*memo)[key] = out;
  return out;
}

ProbeSet GenerateProbesUncached(const ir::RuleSet& rules,
                                const internal::BackendFactory& backend,
                                uint64_t seed) {
  ProbeSet out;
  out.rules = AllRuleKeys(rules);
  const Pools pools = CollectPools(rules);
  std::mt19937_64 rng(seed);
  auto pick = [&](const auto& v) -> const auto& {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  std::set<std::string> seen_targets;
  std::set<std::string> seen_packets;
  // Explains `p`; keeps it when it reaches a target no packet reached, or
  // always when `force` (a boundary). Returns the explanation's steps.
  auto consider = [&](Packet p, bool force) -> std::vector<ExplainStep> {
    if (!MakeSendable(p)) return {};
    const std::string id = p.ToString() + ":" + std::to_string(p.src_port);
    if (seen_packets.count(id)) return {};
    ++out.tried;
    absl::StatusOr<Explanation> e = internal::ExplainRules(rules, backend, p);
    if (!e.ok()) return {};
    bool fresh = force;
    for (const ExplainStep& s : e->path) {
      if (s.rule == 0) continue;
      const std::string key = RuleKey(s, rules.dialect);
      const std::string target =
          s.matched ? "M" + key : absl::StrCat("F", key, "#", s.failed_match);
      if (seen_targets.insert(target).second) fresh = true;
    }
    if (fresh) {
      seen_packets.insert(id);
      out.packets.push_back(p);
      for (const ExplainStep& s : e->path) {
        if (s.rule == 0) continue;
        (s.matched ? out.matched : out.unmatched)
            .insert(RuleKey(s, rules.dialect));
      }
    }
    return e->path;
  };
  auto random_packet = [&]() {
    Packet p;
    const bool v6 = std::uniform_int_distribution<int>(0, 2)(rng) == 0;
    const IpFamily fam = v6 ? IpFamily::kIpv6 : IpFamily::kIpv4;
    p.protocol = std::uniform_int_distribution<int>(0, 2)(rng) == 0
                     ? Transport::kUdp
                     : Transport::kTcp;
    p.path = std::uniform_int_distribution<int>(0, 1)(rng) == 0
                 ? PacketPath::kOutput
                 : PacketPath::kPrerouting;
    p.dst = pick(pools.addrs.at(fam));
    p.src = pick(pools.addrs.at(fam));
    p.dst_port = pick(pools.dports);
    if (!pools.sports.empty() &&
        std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
      p.src_port = pick(pools.sports);
    }
    p.mark = pick(pools.marks);
    p.connmark = pick(pools.connmarks);
    const std::string& nic = pick(pools.ifaces);
    if (p.path == PacketPath::kOutput) {
      p.uid = pick(pools.uids);
      p.gid = pick(pools.gids);
      p.oif = nic;
    } else {
      p.iif = nic;
      const int ct = std::uniform_int_distribution<int>(0, 5)(rng);
      p.ct_state = ct == 0   ? ConnState::kEstablished
                   : ct == 1 ? ConnState::kInvalid
                             : ConnState::kNew;
    }
    return p;
  };
  constexpr int kSamples = 6000;
  for (int i = 0; i < kSamples; ++i) consider(random_packet(), false);
  // Rare paths: keep sampling while a rule of a chain packets enter is
  // still unreached.
  const std::set<std::string> unused = RulesInUnusedChains(rules);
  auto unreached = [&] {
    for (const std::string& r : out.rules) {
      if (!unused.count(r) && !out.matched.count(r) && !out.unmatched.count(r))
        return true;
    }
    return false;
  };
  for (int i = 0; i < 20 * kSamples && unreached(); i += 100) {
    for (int k = 0; k < 100; ++k) consider(random_packet(), false);
  }

  // Directed: for each rule no packet matched yet, random packets bent to
  // satisfy its matches (the rules before it may still take them).
  std::map<std::string, const ir::Rule*> by_key;
  for (const ir::Table& t : rules.tables) {
    const bool ipt = rules.dialect == ir::Dialect::kIptables;
    const std::string label = ipt ? t.name : "inet " + t.name;
    for (const ir::ChainSpec& c : t.chains) {
      for (const IpFamily fam : {IpFamily::kIpv4, IpFamily::kIpv6}) {
        if (ipt && fam == IpFamily::kIpv6 && !rules.ipv6) continue;
        std::optional<IpFamily> f;
        if (ipt) f = fam;
        const std::vector<const ir::Rule*> list =
            ir::ResolveChain(t, c.name, f);
        for (size_t i = 0; i < list.size(); ++i) {
          by_key[absl::StrCat(label, "|", ipt ? FamilyName(fam) : "", "|",
                              c.name, "|", i + 1)] = list[i];
        }
      }
    }
  }
  auto other = [&](const auto& pool, auto avoid) {
    for (int k = 0; k < 8; ++k) {
      auto v = pick(pool);
      if (!avoid(v)) return v;
    }
    return pick(pool);
  };
  for (const auto& [key, rule] : by_key) {
    if (unused.count(key)) continue;
    for (int attempt = 0; attempt < 300 && !out.matched.count(key); ++attempt) {
      Packet p = random_packet();
      IpFamily fam = p.dst.family();
      for (const ir::Match& m : rule->matches) {
        if (const auto* a = std::get_if<ir::AddressMatch>(&m)) {
          fam = a->cidr.family();
        }
      }
      if (rule->scope == ir::Scope::kIpv4) fam = IpFamily::kIpv4;
      if (rule->scope == ir::Scope::kIpv6) fam = IpFamily::kIpv6;
      if (p.dst.family() != fam) {
        p.dst = pick(pools.addrs.at(fam));
        p.src = pick(pools.addrs.at(fam));
      }
      for (const ir::Match& m : rule->matches) {
        if (const auto* i = std::get_if<ir::InterfaceMatch>(&m)) {
          const std::string name =
              i->negate
                  ? other(pools.ifaces,
                          [&](const std::string& n) { return n == i->name; })
                  : i->name;
          if (i->dir == ir::Direction::kSource) {
            p.path = PacketPath::kPrerouting;
            p.iif = name;
            p.oif.clear();
            p.uid.reset();
            p.gid.reset();
          } else {
            p.path = PacketPath::kOutput;
            p.oif = name;
            p.iif.clear();
            p.ct_state = ConnState::kNew;
            if (!p.uid) p.uid = pick(pools.uids);
            if (!p.gid) p.gid = pick(pools.gids);
          }
        } else if (const auto* a = std::get_if<ir::AddressMatch>(&m)) {
          const Cidr v = other(pools.addrs.at(fam), [&](const Cidr& c) {
            return a->cidr.Contains(c) == a->negate;
          });
          (a->dir == ir::Direction::kSource ? *p.src : p.dst) = v;
        } else if (const auto* pr = std::get_if<ir::ProtocolMatch>(&m)) {
          p.protocol = pr->proto == ir::L4Proto::kTcp ? Transport::kTcp
                                                      : Transport::kUdp;
        } else if (const auto* pm = std::get_if<ir::PortMatch>(&m)) {
          p.protocol = pm->proto == ir::L4Proto::kTcp ? Transport::kTcp
                                                      : Transport::kUdp;
          if (pm->ports.empty()) continue;
          const bool src = pm->dir == ir::Direction::kSource;
          auto in = [&](uint16_t v) {
            return std::find(pm->ports.begin(), pm->ports.end(), v) !=
                   pm->ports.end();
          };
          const uint16_t v =
              pm->negate ? other(src && !pools.sports.empty() ? pools.sports
                                                              : pools.dports,
                                 in)
                         : pm->ports[std::uniform_int_distribution<size_t>(
                               0, pm->ports.size() - 1)(rng)];
          (src ? p.src_port : p.dst_port) = v;
        } else if (const auto* o = std::get_if<ir::OwnerMatch>(&m)) {
          p.path = PacketPath::kOutput;
          p.iif.clear();
          if (p.oif.empty()) p.oif = pick(pools.ifaces);
          p.ct_state = ConnState::kNew;
          const bool uid = o->kind == ir::OwnerMatch::kUid;
          const uint32_t v = o->negate
                                 ? other(uid ? pools.uids : pools.gids,
                                         [&](uint32_t x) { return x == o->id; })
                                 : o->id;
          (uid ? p.uid : p.gid) = v;
          if (!p.uid) p.uid = pick(pools.uids);
          if (!p.gid) p.gid = pick(pools.gids);
        } else if (const auto* mk = std::get_if<ir::MarkMatch>(&m)) {
          p.mark = other(pools.marks, [&](uint32_t x) {
            return ((x & mk->mask) == mk->value) == mk->negate;
          });
        } else if (const auto* cm = std::get_if<ir::ConnmarkMatch>(&m)) {
          p.connmark = other(pools.connmarks, [&](uint32_t x) {
            return ((x & cm->mask) == cm->value) == cm->negate;
          });
        } else if (const auto* ct = std::get_if<ir::CtStateMatch>(&m)) {
          const ir::CtState want =
              ct->states[std::uniform_int_distribution<size_t>(
                  0, ct->states.size() - 1)(rng)];
          p.ct_state =
              want == ir::CtState::kEstablished || want == ir::CtState::kRelated
                  ? ConnState::kEstablished
              : want == ir::CtState::kInvalid ? ConnState::kInvalid
                                              : ConnState::kNew;
          if (p.ct_state != ConnState::kNew) {
            p.path = PacketPath::kPrerouting;
            p.oif.clear();
            p.uid.reset();
            p.gid.reset();
            if (p.iif.empty()) p.iif = pick(pools.ifaces);
          }
        }
      }
      if (p.path == PacketPath::kPrerouting && p.iif.empty()) {
        p.iif = pick(pools.ifaces);
      }
      consider(p, false);
    }
  }

  // Boundaries at the rule that reads them: each kept packet that reaches
  // a rule with an address or port match is sent again with that match's
  // boundary values.
  const std::vector<Packet> kept = out.packets;
  std::set<std::string> done;
  for (const Packet& base : kept) {
    absl::StatusOr<Explanation> e =
        internal::ExplainRules(rules, backend, base);
    if (!e.ok()) continue;
    for (const ExplainStep& s : e->path) {
      if (s.rule == 0 || !done.insert(RuleKey(s, rules.dialect)).second) {
        continue;
      }
      const ir::Table* table = nullptr;
      for (const ir::Table& t : rules.tables) {
        const std::string label =
            rules.dialect == ir::Dialect::kIptables ? t.name : "inet " + t.name;
        if (label == s.table) table = &t;
      }
      if (table == nullptr) continue;
      std::optional<IpFamily> fam;
      if (rules.dialect == ir::Dialect::kIptables) fam = s.family;
      const std::vector<const ir::Rule*> list =
          ir::ResolveChain(*table, s.chain, fam);
      const ir::Rule& r = *list[static_cast<size_t>(s.rule - 1)];
      for (const ir::Match& m : r.matches) {
        if (const auto* a = std::get_if<ir::AddressMatch>(&m)) {
          if (a->cidr.family() != base.dst.family()) continue;
          for (const Cidr& b : Boundaries(a->cidr)) {
            Packet p = base;
            (a->dir == ir::Direction::kSource ? *p.src : p.dst) = b;
            consider(p, true);
          }
        } else if (const auto* pm = std::get_if<ir::PortMatch>(&m)) {
          for (uint16_t port : PortBoundaries(pm->ports)) {
            Packet p = base;
            (pm->dir == ir::Direction::kSource ? p.src_port : p.dst_port) =
                port;
            consider(p, true);
          }
        }
      }
    }
  }
  return out;
}

}  // namespace meshcap::testing
