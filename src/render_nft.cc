// SPDX-License-Identifier: GPL-2.0-or-later
//
// The `nft -f` transaction of Istio's nftables backend (`executeCommands`):
// per table `add table`, `flush table`, `add chain` for chains with rules,
// then the rules, each with a counter before its verdict. An insert into a
// chain that holds fewer rules than its index becomes an append, as Istio's
// `addIstioTableRules` does.

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/render.h"
#include "src/nft_text.h"

namespace meshcap {
namespace {

const char* ProtoName(L4Proto p) { return p == L4Proto::kTcp ? "tcp" : "udp"; }

const char* CtStateName(CtState s) {
  switch (s) {
    case CtState::kInvalid:
      return "invalid";
    case CtState::kEstablished:
      return "established";
    case CtState::kRelated:
      return "related";
    case CtState::kNew:
      return "new";
  }
  return "?";
}

struct MatchPrinter {
  std::string& out;

  void Put(std::string_view s) {
    out += ' ';
    out.append(s);
  }
  void operator()(const InterfaceMatch& m) {
    Put(m.dir == Direction::kSource ? "iifname" : "oifname");
    Put(m.name);
  }
  void operator()(const AddressMatch& m) {
    Put(m.cidr.family() == IpFamily::kIpv4 ? "ip" : "ip6");
    Put(m.dir == Direction::kSource ? "saddr" : "daddr");
    if (m.negate) Put("!=");
    Put(m.cidr.ToString());
  }
  void operator()(const ProtocolMatch& m) {
    Put("meta l4proto");
    Put(ProtoName(m.proto));
  }
  void operator()(const PortMatch& m) {
    Put(ProtoName(m.proto));
    Put(m.dir == Direction::kSource ? "sport" : "dport");
    if (m.negate) Put("!=");
    if (m.ports.size() == 1) {
      Put(absl::StrCat(m.ports[0]));
    } else {
      Put(absl::StrCat("{ ", absl::StrJoin(m.ports, ", "), " }"));
    }
  }
  void operator()(const OwnerMatch& m) {
    if (m.nft_meta_keyword) Put("meta");
    Put(m.kind == OwnerMatch::kUid ? "skuid" : "skgid");
    if (m.negate) Put("!=");
    Put(m.spelling);
  }
  void operator()(const MarkMatch& m) {
    Put("mark");
    if (m.negate) Put("!=");
    Put(absl::StrCat(m.mark));
  }
  void operator()(const ConnmarkMatch& m) {
    Put(absl::StrCat("ct mark ", m.mark));
  }
  void operator()(const CtStateMatch& m) {
    std::vector<const char*> names;
    for (CtState s : m.states) names.push_back(CtStateName(s));
    Put(absl::StrCat("ct state ", absl::StrJoin(names, ",")));
  }
};

struct VerdictPrinter {
  std::string& out;
  Scope scope;

  void operator()(const JumpVerdict& v) {
    out += " counter jump " + NftablesChainName(v.chain);
  }
  void operator()(const ReturnVerdict&) { out += " counter return"; }
  void operator()(const AcceptVerdict&) { out += " counter accept"; }
  void operator()(const DropVerdict&) { out += " counter drop"; }
  void operator()(const RedirectVerdict& v) {
    absl::StrAppend(&out, " counter redirect to :", v.port);
  }
  void operator()(const TproxyVerdict& v) {
    absl::StrAppend(&out, " tproxy ", scope == Scope::kIpv6 ? "ip6" : "ip",
                    " to :", v.port, " meta mark set ", v.mark,
                    " counter accept");
  }
  void operator()(const SetMarkVerdict& v) {
    absl::StrAppend(&out, " counter meta mark set ", v.mark);
  }
  void operator()(const ConnmarkSaveVerdict&) {
    out += " counter ct mark set mark";
  }
  void operator()(const ConnmarkRestoreVerdict&) {
    out += " counter meta mark set ct mark";
  }
  void operator()(const CtZoneVerdict& v) {
    absl::StrAppend(&out, " counter ct zone set ", v.zone);
  }
};

}  // namespace

namespace internal {

const char* NftHookName(Hook h) {
  return h == Hook::kPrerouting ? "prerouting" : "output";
}

const char* NftChainTypeName(ChainType t) {
  switch (t) {
    case ChainType::kFilter:
      return "filter";
    case ChainType::kNat:
      return "nat";
    case ChainType::kRoute:
      return "route";
  }
  return "filter";
}

std::string NftMatchText(const Match& match) {
  std::string out;
  std::visit(MatchPrinter{out}, match);
  return out.substr(1);
}

std::string NftVerdictText(const Verdict& verdict, Scope scope) {
  std::string out;
  std::visit(VerdictPrinter{out, scope}, verdict);
  return out.substr(1);
}

std::string NftRuleText(const Rule& rule) {
  std::string out;
  MatchPrinter mp{out};
  for (const Match& m : rule.matches) std::visit(mp, m);
  std::visit(VerdictPrinter{out, rule.scope}, rule.verdict);
  return out.substr(1);
}

std::map<std::string, std::vector<const Rule*>> NftChainRules(
    const Table& table) {
  std::map<std::string, std::vector<const Rule*>> chains;
  for (const RuleEntry& e : table.entries) {
    std::vector<const Rule*>& rules = chains[e.chain];
    const size_t index = e.position > 0 ? e.position - 1 : rules.size();
    if (e.position > 0 && !rules.empty() && index < rules.size()) {
      rules.insert(rules.begin() + index, &e.rule);
    } else {
      rules.push_back(&e.rule);
    }
  }
  return chains;
}

}  // namespace internal

std::string RenderNftables(const RuleSet& rules) {
  std::string out;
  for (const Table& t : rules.tables) {
    const std::string table = NftablesTableName(t.kind);
    absl::StrAppend(&out, "add table inet ", table, "\n");
    absl::StrAppend(&out, "flush table inet ", table, "\n");
    for (const ChainSpec& c : t.chains) {
      absl::StrAppend(&out, "add chain inet ", table, " ",
                      NftablesChainName(c.name));
      if (c.is_base()) {
        absl::StrAppend(&out, " { type ", internal::NftChainTypeName(c.type),
                        " hook ", internal::NftHookName(*c.hook), " priority ",
                        c.priority, " ; }");
      }
      out += '\n';
    }
    std::map<std::string, int> count;
    for (const RuleEntry& e : t.entries) {
      int& n = count[e.chain];
      const int index = e.position - 1;
      const std::string chain = NftablesChainName(e.chain);
      if (e.position > 0 && n > 0 && index < n) {
        absl::StrAppend(&out, "insert rule inet ", table, " ", chain, " index ",
                        index);
      } else {
        absl::StrAppend(&out, "add rule inet ", table, " ", chain);
      }
      out += ' ';
      out += internal::NftRuleText(e.rule);
      out += '\n';
      ++n;
    }
  }
  return out;
}

}  // namespace meshcap
