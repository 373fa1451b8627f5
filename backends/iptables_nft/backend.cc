// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables/render.h"
#include "backends/iptables_nft/read.h"
#include "backends/iptables_nft/xt_rule.h"
#include "src/crash_point.h"
#include "src/errno_status.h"
#include "src/seq_diff.h"
#include "src/status_macros.h"

namespace meshcap {
namespace iptnft {

using internal::ErrnoStatus;
using internal::ErrnoText;
using internal::NetlinkError;

namespace {

// How often an operation reads and sends again when somebody else
// committed in between (the kernel refuses the batch with ERESTART).
constexpr int kAttempts = 10;

constexpr ir::TableKind kKinds[] = {ir::TableKind::kMangle, ir::TableKind::kNat,
                                    ir::TableKind::kRaw};

// The kernel module that provides xtables extension `name`.
std::string ModuleOf(const std::string& name) {
  if (name == "tcp" || name == "udp") return "xt_tcpudp";
  if (name == "MARK" || name == "mark") return "xt_mark";
  if (name == "CONNMARK" || name == "connmark") return "xt_connmark";
  return "xt_" + name;
}

std::string ExtText(const nftnl_expr* e) {
  const std::string n = nftnl::ExprName(e);
  if (n == "match") {
    return absl::StrCat("xtables match ",
                        nftnl::AttrBytes(e, NFTNL_EXPR_MT_NAME).c_str(),
                        " revision ", nftnl::AttrU32(e, NFTNL_EXPR_MT_REV));
  }
  if (n == "target") {
    return absl::StrCat("xtables target ",
                        nftnl::AttrBytes(e, NFTNL_EXPR_TG_NAME).c_str(),
                        " revision ", nftnl::AttrU32(e, NFTNL_EXPR_TG_REV));
  }
  return n;
}

std::string RuleWhere(const MessageInfo& m) {
  const XtRule& r = *m.rule;
  return absl::StrCat("rule ", r.position, " of ", m.table, " chain ", r.chain,
                      " (",
                      ipt::RuleText(r.chain, 0, *r.source, m.xt_table->profile,
                                    m.xt_table->kind),
                      ")");
}

std::string Plural(size_t n, const char* what) {
  return absl::StrCat(n, " ", what, n == 1 ? "" : "s");
}

// Sends `plans`; on success appends what changed.
absl::Status Send(internal::NetlinkTransport& nl,
                  const std::vector<TablePlan>& plans, uint32_t generation,
                  const std::string& what, std::vector<std::string>* changes) {
  const uint32_t first_seq = nl.ReserveSeq(CountMessages(plans));
  Batch batch = BuildBatch(plans, generation, first_seq);
  MESHCAP_ASSIGN_OR_RETURN(std::vector<NetlinkError> errors,
                           nl.SendBatch(batch.bytes));
  internal::CrashPoint("batch sent");
  // The kernel goes on checking after the first failure; later errors are
  // often its consequences, so the first one is the cause.
  if (!errors.empty()) return ExplainError(nl, batch, errors.front(), what);
  if (changes == nullptr) return absl::OkStatus();
  for (const TablePlan& p : plans) {
    switch (p.action) {
      case TablePlan::Action::kCreate:
        changes->push_back(absl::StrCat("created table ", p.Where()));
        break;
      case TablePlan::Action::kDelete:
        changes->push_back(absl::StrCat("deleted table ", p.Where()));
        break;
      case TablePlan::Action::kEdit: {
        std::vector<std::string> what;
        const size_t chains_added =
            p.new_user_chains.size() + p.new_base_chains.size();
        if (!p.delete_rules.empty()) {
          what.push_back(
              absl::StrCat(Plural(p.delete_rules.size(), "rule"), " removed"));
        }
        if (!p.delete_chains.empty()) {
          what.push_back(absl::StrCat(Plural(p.delete_chains.size(), "chain"),
                                      " removed"));
        }
        if (chains_added > 0) {
          what.push_back(absl::StrCat(Plural(chains_added, "chain"), " added"));
        }
        if (!p.inserts.empty()) {
          what.push_back(
              absl::StrCat(Plural(p.inserts.size(), "rule"), " added"));
        }
        changes->push_back(absl::StrCat("edited table ", p.Where(), ": ",
                                        absl::StrJoin(what, ", ")));
        break;
      }
    }
  }
  return absl::OkStatus();
}

// The differences between `want` (null: nothing of ours) and `have` (null:
// no such table).
void VerifyTable(IpFamily family, ir::TableKind kind, const KTable* have,
                 const XtTable* want, Profile profile,
                 std::vector<Difference>* out) {
  const std::string table =
      absl::StrCat(FamilyName(family), " ", ir::TableKindName(kind));
  std::vector<std::string> names;
  auto add_name = [&](const std::string& c) {
    if (std::find(names.begin(), names.end(), c) == names.end()) {
      names.push_back(c);
    }
  };
  if (want != nullptr) {
    for (const std::string& c : want->user_chains) add_name(c);
    for (const std::string& c : want->base_chains) add_name(c);
  }
  if (have != nullptr) {
    for (const KChain& c : have->chains) {
      if ((!c.base && ipt::IsOurChain(c.name)) ||
          (c.base && ipt::IsBuiltinChain(c.name))) {
        add_name(c.name);
      }
    }
  }
  for (const std::string& chain : names) {
    std::vector<const XtRule*> desired;
    if (want != nullptr) {
      for (size_t i : want->ChainOrder(chain))
        desired.push_back(&want->rules[i]);
    }
    const bool wanted_user =
        want != nullptr &&
        std::find(want->user_chains.begin(), want->user_chains.end(), chain) !=
            want->user_chains.end();
    const bool wanted_base =
        want != nullptr &&
        std::find(want->base_chains.begin(), want->base_chains.end(), chain) !=
            want->base_chains.end();
    const KChain* kc = have != nullptr ? have->Find(chain) : nullptr;
    auto text = [&](const XtRule* r) {
      return ipt::RuleText(chain, 0, *r->source, profile, kind);
    };
    if (kc == nullptr) {
      if (wanted_user) {
        out->push_back({Difference::Kind::kMissing, "chain", table, chain, 0,
                        "-N " + chain, ""});
      }
      for (const XtRule* r : desired) {
        out->push_back({Difference::Kind::kMissing, "rule", table, chain,
                        r->position, text(r), ""});
      }
      continue;
    }
    if (!kc->base && !wanted_user) {
      out->push_back({Difference::Kind::kExtra, "chain", table, chain, 0, "",
                      "-N " + chain});
    }
    if (kc->base && wanted_base && !have->IsBuiltin(*kc)) {
      const BaseChainSpec spec = *BuiltinChain(have->name, chain);
      out->push_back({Difference::Kind::kChanged, "chain", table, chain, 0,
                      absl::StrCat("type ", spec.type, " hook ", spec.hook,
                                   " priority ", spec.priority),
                      absl::StrCat("type ", kc->type, " hook ", kc->hook,
                                   " priority ", kc->priority)});
    }
    std::vector<const nftnl_rule*> actual;
    std::vector<int> actual_pos;
    int pos = 0;
    for (const auto& r : kc->rules) {
      ++pos;
      if (!kc->base || have->IsOurs(*kc, r.get())) {
        actual.push_back(r.get());
        actual_pos.push_back(pos);
      }
    }
    auto text_of_actual = [&](size_t j) {
      NftRuleReader reader(family, actual[j]);
      return ipt::DescribeRule(reader, chain, profile, kind);
    };
    for (const internal::DiffRun& run : internal::AlignSequences(
             desired.size(), actual.size(), [&](size_t i, size_t j) {
               return SameExpressions(desired[i]->rule.get(), actual[j]);
             })) {
      const size_t paired = std::min(run.desired.size(), run.actual.size());
      for (size_t k = 0; k < run.desired.size(); ++k) {
        const XtRule* r = desired[run.desired[k]];
        Difference d;
        d.table = table;
        d.chain = chain;
        d.position = r->position;
        d.desired = text(r);
        d.kind = k < paired ? Difference::Kind::kChanged
                            : Difference::Kind::kMissing;
        if (k < paired) d.actual = text_of_actual(run.actual[k]);
        out->push_back(std::move(d));
      }
      for (size_t k = paired; k < run.actual.size(); ++k) {
        out->push_back({Difference::Kind::kExtra, "rule", table, chain,
                        actual_pos[run.actual[k]], "",
                        text_of_actual(run.actual[k])});
      }
    }
  }
}

// An nfnetlink socket in the calling thread's namespace.
absl::StatusOr<std::unique_ptr<internal::NetlinkSocket>> OpenSocket() {
  return internal::NetlinkSocket::Open(NETLINK_NETFILTER);
}

class Factory : public internal::BackendFactory {
 public:
  std::string_view Name() const override { return "iptables-nft"; }
  // Below legacy iptables: under "auto" meshcap writes native nftables
  // unless a backend already holds rules (legacy first, as Istio).
  int Priority() const override { return 5; }
  ir::Dialect dialect() const override { return ir::Dialect::kIptables; }
  std::string Render(const ir::RuleSet& rules) const override {
    return ipt::Render(rules);
  }
  std::string SpellRule(const ir::RuleSet& rules, const ir::Table& table,
                        const std::string& chain,
                        const ir::Rule& rule) const override {
    return ipt::RuleText(chain, 0, rule, rules.profile, table.kind);
  }

  absl::Status Probe() const override {
    MESHCAP_ASSIGN_OR_RETURN(auto sock, OpenSocket());
    absl::StatusOr<uint32_t> gen = nftnl::GetGeneration(*sock);
    if (!gen.ok()) return internal::Annotate(gen.status(), "iptables-nft");
    // nft_compat runs the xtables matches and targets; an extension it
    // lacks is an apply's error, naming the module.
    absl::Status s =
        ProbeExtension(*sock, IpFamily::kIpv4, "tcp", 0, /*target=*/false);
    if (absl::IsUnavailable(s) &&
        s.message().find("nft_compat") != std::string_view::npos) {
      return internal::Annotate(s, "iptables-nft");
    }
    if (absl::IsPermissionDenied(s)) return s;
    return absl::OkStatus();
  }

  // Any ip or ip6 table of iptables' names with a rule in it.
  bool HoldsRules() const override {
    absl::StatusOr<std::unique_ptr<internal::NetlinkSocket>> sock =
        OpenSocket();
    if (!sock.ok()) return false;
    absl::StatusOr<KState> state =
        ReadTables(**sock, ReadRules::kAll, [](const std::string& name) {
          return name == "nat" || name == "mangle" || name == "raw" ||
                 name == "filter" || name == "security";
        });
    if (!state.ok()) return false;
    for (const KTable& t : state->tables) {
      for (const KChain& c : t.chains) {
        if (!c.rules.empty()) return true;
      }
    }
    return false;
  }

  absl::StatusOr<std::unique_ptr<internal::Backend>> Create(
      const internal::BackendOptions&) const override {
    MESHCAP_ASSIGN_OR_RETURN(auto sock, OpenSocket());
    return std::unique_ptr<internal::Backend>(
        new IptablesNftBackend(std::move(sock)));
  }
};

}  // namespace

absl::Status ProbeExtension(internal::NetlinkTransport& nl, IpFamily family,
                            const std::string& name, uint32_t revision,
                            bool target) {
  char buf[256] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* nfg =
      static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<uint8_t>(NfFamily(family));
  nfg->version = NFNETLINK_V0;
  mnl_attr_put_strz(nlh, NFTA_COMPAT_NAME, name.c_str());
  mnl_attr_put_u32(nlh, NFTA_COMPAT_REV, htonl(revision));
  mnl_attr_put_u32(nlh, NFTA_COMPAT_TYPE, htonl(target ? 1 : 0));
  absl::Status s = nl.Request(nlh, "cannot ask the kernel for nft_compat",
                              [](const nlmsghdr*) { return absl::OkStatus(); });
  if (s.ok() || absl::IsPermissionDenied(s)) return s;
  const std::string ext =
      absl::StrCat("xtables ", target ? "target " : "match ", name,
                   " revision ", revision, " (", FamilyName(family), ")");
  // nfnetlink answers EINVAL for a subsystem nobody registered.
  if (absl::IsInvalidArgument(s)) {
    return absl::UnavailableError(
        "the kernel has no nft_compat (module nft_compat, CONFIG_NFT_COMPAT), "
        "which runs the xtables matches and targets of iptables-nft's rules");
  }
  if (absl::IsNotFound(s)) {
    return absl::UnavailableError(absl::StrCat(
        "the kernel has no ", ext, " (module ", ModuleOf(name), ")"));
  }
  if (absl::IsUnavailable(s)) {
    return absl::UnavailableError(absl::StrCat("the kernel's ", ModuleOf(name),
                                               " is older than ", ext, ": ",
                                               s.message()));
  }
  return s;
}

absl::Status ExplainError(internal::NetlinkTransport& nl, const Batch& batch,
                          const NetlinkError& e, const std::string& what) {
  const MessageInfo* m = batch.FindSeq(e.seq);
  const std::string kernel_text =
      e.message.empty() ? ErrnoText(e.error)
                        : absl::StrCat(ErrnoText(e.error), ": ", e.message);
  if (e.error == EPERM || e.error == EACCES) return ErrnoStatus(e.error, what);
  if (m == nullptr) {
    return absl::InternalError(absl::StrCat(
        what, ": the kernel refused message ", e.seq, ": ", kernel_text));
  }
  const bool unsupported =
      e.error == EOPNOTSUPP || e.error == ENOENT || e.error == EAFNOSUPPORT;
  switch (m->kind) {
    case MessageInfo::Kind::kBegin:
      if (e.error == ERESTART) {
        return absl::AbortedError(
            absl::StrCat(what,
                         ": the nf_tables ruleset changed since it was read "
                         "(generation mismatch); nothing was changed"));
      }
      if (e.error == EOPNOTSUPP || e.error == EPROTONOSUPPORT) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel has no nf_tables (", kernel_text, ")"));
      }
      break;
    case MessageInfo::Kind::kTable:
      if (unsupported || e.error == EPROTONOSUPPORT) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel has no nf_tables family for table ", m->table,
            " (", kernel_text, ")"));
      }
      break;
    case MessageInfo::Kind::kChain: {
      std::optional<BaseChainSpec> spec = BuiltinChain(
          std::string(m->table.substr(m->table.find(' ') + 1)), m->chain);
      if (unsupported && spec.has_value() && ipt::IsBuiltinChain(m->chain)) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel cannot hold base chain ", m->chain, " of ",
            m->table, " (type ", spec->type, " hook ", spec->hook, " priority ",
            spec->priority, "; module nft_chain_",
            spec->type == std::string("nat") ? "nat" : "route",
            " for nat and route chains): ", kernel_text));
      }
      break;
    }
    case MessageInfo::Kind::kDeleteChain:
      if (e.error == EBUSY) {
        return absl::FailedPreconditionError(absl::StrCat(
            what, ": cannot delete chain ", m->chain, " of ", m->table,
            ": a rule that is not meshcap's still jumps to it (", kernel_text,
            ")"));
      }
      break;
    case MessageInfo::Kind::kRule: {
      std::string where = RuleWhere(*m);
      const std::vector<const nftnl_expr*> exprs =
          Expressions(m->rule->rule.get());
      const nftnl_expr* bad = nullptr;
      for (size_t i = 0; i < m->expr_spans.size() && i < exprs.size(); ++i) {
        const auto [begin, end] = m->expr_spans[i];
        if (e.attr_offset >= begin && e.attr_offset < end) {
          bad = exprs[i];
          absl::StrAppend(&where, ", expression ", i + 1, " (",
                          ExtText(exprs[i]), ")");
          break;
        }
      }
      if (e.error == ENOENT) {
        // A missing extension (or nft_compat itself): ask the kernel which.
        const IpFamily family = m->xt_table->family;
        for (const nftnl_expr* x : exprs) {
          if (bad != nullptr && x != bad) continue;
          const std::string n = nftnl::ExprName(x);
          if (n != "match" && n != "target") continue;
          const bool target = n == "target";
          absl::Status s = ProbeExtension(
              nl, family,
              nftnl::AttrBytes(x, target ? uint16_t{NFTNL_EXPR_TG_NAME}
                                         : uint16_t{NFTNL_EXPR_MT_NAME})
                  .c_str(),
              nftnl::AttrU32(x, target ? uint16_t{NFTNL_EXPR_TG_REV}
                                       : uint16_t{NFTNL_EXPR_MT_REV}),
              target);
          if (!s.ok()) {
            return internal::Annotate(
                s, absl::StrCat(what, ": the kernel refused ", where));
          }
        }
        const bool jump = ipt::IsOurChain(std::string(
            std::holds_alternative<ir::JumpVerdict>(m->rule->source->verdict)
                ? std::get<ir::JumpVerdict>(m->rule->source->verdict).chain
                : ""));
        if (bad != nullptr && !jump) {
          return absl::UnavailableError(
              absl::StrCat(what, ": the kernel does not support ", where, ": ",
                           kernel_text));
        }
      } else if (unsupported && bad != nullptr) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel does not support ", where, ": ", kernel_text));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the kernel refused ", where, ": ", kernel_text));
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": the kernel refused the message for ",
                   m->table.empty() ? "the batch" : m->table,
                   m->chain.empty() ? "" : absl::StrCat(" chain ", m->chain),
                   ": ", kernel_text));
}

IptablesNftBackend::IptablesNftBackend(
    std::unique_ptr<internal::NetlinkTransport> transport)
    : nl_(std::move(transport)) {}

absl::Status IptablesNftBackend::Converge(
    const ir::RuleSet* rules, const ApplyOptions& options,
    std::vector<std::string>* changes,
    const std::function<absl::Status()>& before_commit,
    const std::string& what) {
  bool before_commit_ran = false;
  auto run_before_commit = [&]() -> absl::Status {
    if (!before_commit || before_commit_ran) return absl::OkStatus();
    before_commit_ran = true;
    return before_commit();
  };
  // The state a Known records: "-" for nothing of ours, else the rule
  // set's fingerprint (none: never recorded).
  const std::string fingerprint = rules == nullptr ? "-"
                                  : rules->fingerprint.empty()
                                      ? std::string()
                                      : "+" + rules->fingerprint;
  std::optional<XtRuleSet> lowered;
  for (int attempt = 1;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t generation, nftnl::GetGeneration(*nl_));
    if (options.expected_generation.has_value() &&
        generation != *options.expected_generation) {
      return absl::AbortedError(absl::StrCat(
          what, ": the ruleset changed since it was read (generation ",
          *options.expected_generation, ", now ", generation,
          "); nothing was changed"));
    }
    if (known_.has_value() && known_->generation == generation &&
        !fingerprint.empty() && known_->fingerprint == fingerprint) {
      return run_before_commit();
    }
    if (!lowered.has_value()) {
      if (rules != nullptr) {
        MESHCAP_ASSIGN_OR_RETURN(XtRuleSet l, Lower(*rules));
        lowered.emplace(std::move(l));
      } else {
        lowered.emplace();
      }
    }
    absl::StatusOr<KState> state = ReadTables(*nl_);
    if (!state.ok()) {
      if (absl::IsAborted(state.status()) && attempt < kAttempts) continue;
      return state.status();
    }
    MESHCAP_ASSIGN_OR_RETURN(std::vector<TablePlan> plans,
                             PlanTables(*lowered, *state));
    if (plans.empty()) {
      known_ = Known{generation, fingerprint};
      return run_before_commit();
    }
    MESHCAP_RETURN_IF_ERROR(run_before_commit());
    known_.reset();
    absl::Status s = Send(*nl_, plans, generation, what, changes);
    if (absl::IsAborted(s) && !options.expected_generation.has_value() &&
        attempt < kAttempts) {
      continue;  // somebody committed between our read and our batch
    }
    // Our batch carried the generation it was planned at, so it committed
    // there and took the kernel to the next one; the next GETGEN says
    // whether anybody has moved it since.
    if (s.ok()) known_ = Known{generation + 1, fingerprint};
    return s;
  }
}

absl::Status IptablesNftBackend::Apply(
    const ir::RuleSet& rules, const ApplyOptions& options,
    std::vector<std::string>* changes,
    const std::function<absl::Status()>& before_commit) {
  return Converge(&rules, options, changes, before_commit,
                  "iptables-nft apply");
}

absl::Status IptablesNftBackend::Remove(std::vector<std::string>* changes) {
  return Converge(nullptr, ApplyOptions(), changes, {}, "iptables-nft remove");
}

absl::Status IptablesNftBackend::Verify(const ir::RuleSet& rules,
                                        VerifyReport* report) {
  MESHCAP_ASSIGN_OR_RETURN(XtRuleSet want, Lower(rules));
  for (int attempt = 1;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t generation, nftnl::GetGeneration(*nl_));
    absl::StatusOr<KState> state = ReadTables(*nl_);
    if (!state.ok()) {
      if (absl::IsAborted(state.status()) && attempt < kAttempts) continue;
      return state.status();
    }
    // The dumps are one per object kind: a commit between them could give
    // a view the kernel never held. The generation tells.
    MESHCAP_ASSIGN_OR_RETURN(uint32_t after, nftnl::GetGeneration(*nl_));
    if (after != generation && attempt < kAttempts) continue;
    std::vector<Difference> diffs;
    for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      for (ir::TableKind kind : kKinds) {
        VerifyTable(family, kind, state->Find(family, ir::TableKindName(kind)),
                    want.Find(family, kind), rules.profile, &diffs);
      }
    }
    report->generation = generation;
    for (Difference& d : diffs) report->differences.push_back(std::move(d));
    return absl::OkStatus();
  }
}

absl::StatusOr<bool> IptablesNftBackend::HoldsOurs() {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<KState> state = ReadTables(*nl_);
    if (!state.ok()) {
      if (absl::IsAborted(state.status()) && attempt < kAttempts) continue;
      return state.status();
    }
    for (const KTable& t : state->tables) {
      if (t.HoldsOurs()) return true;
    }
    return false;
  }
}

}  // namespace iptnft

namespace internal {

void RegisterIptablesNftBackend(std::vector<const BackendFactory*>& out) {
  static const iptnft::Factory kFactory;
  out.push_back(&kFactory);
}

}  // namespace internal
}  // namespace meshcap
