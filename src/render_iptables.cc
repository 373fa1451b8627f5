// SPDX-License-Identifier: GPL-2.0-or-later
//
// iptables-restore text, spelled as Istio's iptables builder spells it
// (`BuildV4Restore`/`BuildV6Restore`): tables in alphabetical order, `-N`
// for our chains in first-use order, then the rules as emitted, `COMMIT`.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "meshcap/render.h"
#include "src/ipt_text.h"

namespace meshcap {
namespace {

bool IsBuiltinChain(const std::string& name) {
  return name == "INPUT" || name == "OUTPUT" || name == "FORWARD" ||
         name == "PREROUTING" || name == "POSTROUTING";
}

const char* ProtoName(L4Proto p) { return p == L4Proto::kTcp ? "tcp" : "udp"; }

const char* CtStateName(CtState s) {
  switch (s) {
    case CtState::kInvalid:
      return "INVALID";
    case CtState::kEstablished:
      return "ESTABLISHED";
    case CtState::kRelated:
      return "RELATED";
    case CtState::kNew:
      return "NEW";
  }
  return "?";
}

struct MatchPrinter {
  std::string& out;
  bool& proto_written;

  void Put(std::string_view s) {
    out += ' ';
    out.append(s);
  }
  void operator()(const InterfaceMatch& m) {
    Put(m.dir == Direction::kSource ? "-i" : "-o");
    Put(m.name);
  }
  void operator()(const AddressMatch& m) {
    if (m.negate) Put("!");
    Put(m.dir == Direction::kSource ? "-s" : "-d");
    Put(m.cidr.ToString());
  }
  void operator()(const ProtocolMatch& m) {
    Put("-p");
    Put(ProtoName(m.proto));
    proto_written = true;
  }
  void operator()(const PortMatch& m) {
    if (!proto_written) {
      Put("-p");
      Put(ProtoName(m.proto));
      proto_written = true;
    }
    const bool src = m.dir == Direction::kSource;
    if (m.ports.size() == 1) {
      if (m.negate) Put("!");
      Put(src ? "--sport" : "--dport");
      Put(absl::StrCat(m.ports[0]));
      return;
    }
    Put("-m multiport");
    if (m.negate) Put("!");
    Put(src ? "--sports" : "--dports");
    Put(absl::StrJoin(m.ports, ","));
  }
  void operator()(const OwnerMatch& m) {
    Put("-m owner");
    if (m.negate) Put("!");
    Put(m.kind == OwnerMatch::kUid ? "--uid-owner" : "--gid-owner");
    Put(m.spelling);
  }
  void operator()(const MarkMatch& m) {
    Put("-m mark");
    if (m.negate) Put("!");
    Put(absl::StrCat("--mark ", m.mark));
  }
  void operator()(const ConnmarkMatch& m) {
    Put(absl::StrCat("-m connmark --mark ", m.mark));
  }
  void operator()(const CtStateMatch& m) {
    std::vector<const char*> names;
    for (CtState s : m.states) names.push_back(CtStateName(s));
    Put(absl::StrCat("-m conntrack --ctstate ", absl::StrJoin(names, ",")));
  }
};

struct VerdictPrinter {
  std::string& out;

  void operator()(const JumpVerdict& v) { out += " -j " + v.chain; }
  void operator()(const ReturnVerdict&) { out += " -j RETURN"; }
  void operator()(const AcceptVerdict&) { out += " -j ACCEPT"; }
  void operator()(const DropVerdict&) { out += " -j DROP"; }
  void operator()(const RedirectVerdict& v) {
    absl::StrAppend(&out, " -j REDIRECT ",
                    v.iptables_singular ? "--to-port " : "--to-ports ", v.port);
  }
  void operator()(const TproxyVerdict& v) {
    absl::StrAppend(&out, " -j TPROXY --tproxy-mark ", v.mark,
                    absl::StrFormat("/0x%x", v.mask), " --on-port ", v.port);
  }
  void operator()(const SetMarkVerdict& v) {
    absl::StrAppend(&out, " -j MARK --set-mark ", v.mark);
  }
  void operator()(const ConnmarkSaveVerdict&) {
    out += " -j CONNMARK --save-mark";
  }
  void operator()(const ConnmarkRestoreVerdict&) {
    out += " -j CONNMARK --restore-mark";
  }
  void operator()(const CtZoneVerdict& v) {
    absl::StrAppend(&out, " -j CT --zone ", v.zone);
  }
};

void RenderRule(const RuleEntry& e, std::string& out) {
  if (e.position > 0) {
    absl::StrAppend(&out, "-I ", e.chain, " ", e.position);
  } else {
    absl::StrAppend(&out, "-A ", e.chain);
  }
  const Rule& r = e.rule;
  bool proto_written = false;
  MatchPrinter mp{out, proto_written};
  if (r.iptables_order.empty()) {
    for (const Match& m : r.matches) std::visit(mp, m);
  } else {
    for (uint8_t i : r.iptables_order) std::visit(mp, r.matches.at(i));
  }
  std::visit(VerdictPrinter{out}, r.verdict);
  out += '\n';
}

}  // namespace

namespace internal {

std::string IptablesRuleText(const std::string& chain, const Rule& rule) {
  std::string out;
  RenderRule(RuleEntry{chain, 0, rule}, out);
  out.pop_back();  // the newline
  return out;
}

}  // namespace internal

std::string RenderIptablesRestore(const RuleSet& rules, IpFamily family) {
  if (family == IpFamily::kIpv6 && !rules.ipv6) return "";
  std::vector<const Table*> tables;
  for (const Table& t : rules.tables) tables.push_back(&t);
  std::sort(tables.begin(), tables.end(), [](const Table* a, const Table* b) {
    return std::string_view(TableName(a->kind)) < TableName(b->kind);
  });

  std::string out;
  for (const Table* t : tables) {
    std::vector<const RuleEntry*> entries;
    for (const RuleEntry& e : t->entries)
      if (ScopeHas(e.rule.scope, family)) entries.push_back(&e);
    if (entries.empty()) continue;

    absl::StrAppend(&out, "* ", TableName(t->kind), "\n");
    std::vector<std::string> declared;
    auto declare = [&](const std::string& chain) {
      if (IsBuiltinChain(chain)) return;
      if (std::find(declared.begin(), declared.end(), chain) != declared.end())
        return;
      declared.push_back(chain);
    };
    for (const RuleEntry* e : entries) declare(e->chain);
    for (const RuleEntry* e : entries) {
      if (const auto* j = std::get_if<JumpVerdict>(&e->rule.verdict))
        declare(j->chain);
    }
    for (const std::string& c : declared) absl::StrAppend(&out, "-N ", c, "\n");
    for (const RuleEntry* e : entries) RenderRule(*e, out);
    out += "COMMIT\n";
  }
  return out;
}

std::string RenderIptablesRestore(const RuleSet& rules) {
  return RenderIptablesRestore(rules, IpFamily::kIpv4) +
         RenderIptablesRestore(rules, IpFamily::kIpv6);
}

}  // namespace meshcap
