// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/nft_backend.h"

#include <errno.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "backends/nftables/nft_lower.h"
#include "backends/nftables/nft_verify.h"
#include "src/netns.h"
#include "src/nft_text.h"
#include "src/status_macros.h"

namespace meshcap {
namespace nft {
namespace {

// What the kernel's errno means for a message of ours.
absl::Status ExplainError(const Batch& batch, const BatchError& e,
                          const std::string& what) {
  const MessageInfo* m = batch.FindSeq(e.seq);
  const std::string kernel_text =
      e.message.empty() ? ErrnoText(e.error)
                        : absl::StrCat(ErrnoText(e.error), ": ", e.message);
  if (e.error == EPERM || e.error == EACCES) {
    return ErrnoStatus(e.error, what);
  }
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
                         ": the nftables ruleset changed since it was read "
                         "(generation mismatch); nothing was changed"));
      }
      if (e.error == EOPNOTSUPP || e.error == EPROTONOSUPPORT) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel has no nf_tables (", kernel_text, ")"));
      }
      break;
    case MessageInfo::Kind::kChain: {
      const ChainSpec& c = *m->chain->spec;
      if (unsupported && c.is_base()) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel cannot hold base chain ", m->table, "/",
            m->chain->name, " (type ", internal::NftChainTypeName(c.type),
            " hook ", internal::NftHookName(*c.hook), "): ", kernel_text));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the kernel refused chain ", m->table, "/",
                       m->chain->name, ": ", kernel_text));
    } break;
    case MessageInfo::Kind::kRule: {
      const LoweredRule& r = *m->rule;
      std::string where =
          absl::StrCat("rule ", r.position, " of ", m->table, "/", r.chain,
                       " (", internal::NftRuleText(*r.source), ")");
      std::string expr_name;
      for (size_t i = 0; i < m->expr_spans.size(); ++i) {
        const auto [begin, end] = m->expr_spans[i];
        if (e.attr_offset >= begin && e.attr_offset < end) {
          expr_name = OriginText(r, i);
          absl::StrAppend(&where, ", expression ", i + 1, " from `", expr_name,
                          "`");
          break;
        }
      }
      // An unknown chain behind a jump is ENOENT too; only a missing
      // expression type is the kernel's lack.
      const bool is_jump =
          std::holds_alternative<JumpVerdict>(r.source->verdict) &&
          expr_name.rfind("jump ", 0) == 0;
      if (unsupported && !expr_name.empty() && !is_jump) {
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
      absl::StrCat(what, ": the kernel refused the message for table ",
                   m->table.empty() ? "(batch)" : m->table, ": ", kernel_text));
}

class Factory : public BackendFactory {
 public:
  std::string_view Name() const override { return "nftables"; }
  int Priority() const override { return 100; }

  absl::Status Probe(const BackendOptions& options) const override {
    return internal::RunInNetns(options.netns_fd, [] {
      MESHCAP_ASSIGN_OR_RETURN(NetlinkSocket sock, NetlinkSocket::Open());
      absl::StatusOr<uint32_t> gen = sock.GetGeneration();
      if (!gen.ok()) {
        return absl::Status(gen.status().code(),
                            absl::StrCat("nftables: ", gen.status().message()));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::unique_ptr<Backend>> Create(
      const BackendOptions& options) const override {
    MESHCAP_ASSIGN_OR_RETURN(auto backend,
                             NftablesBackend::Create(options.netns_fd));
    return std::unique_ptr<Backend>(std::move(backend));
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<NftablesBackend>> NftablesBackend::Create(
    int netns_fd) {
  std::unique_ptr<NftablesBackend> backend;
  absl::Status s = internal::RunInNetns(netns_fd, [&]() -> absl::Status {
    MESHCAP_ASSIGN_OR_RETURN(NetlinkSocket sock, NetlinkSocket::Open());
    backend.reset(new NftablesBackend(std::move(sock)));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return backend;
}

absl::Status NftablesBackend::Send(const Batch& batch,
                                   const std::string& what) {
  MESHCAP_ASSIGN_OR_RETURN(std::vector<BatchError> errors,
                           sock_.SendBatch(batch.data.get(), batch.size));
  if (errors.empty()) return absl::OkStatus();
  // The kernel goes on checking after the first failure; later errors are
  // often its consequences, so the first one is the cause.
  return ExplainError(batch, errors.front(), what);
}

absl::StatusOr<Batch> NftablesBackend::BuildBatch(const RuleSet& rules) {
  MESHCAP_ASSIGN_OR_RETURN(LoweredRuleSet lowered, Lower(rules));
  // The message records point into `lowered`, which dies here; only the
  // bytes are kept (the benchmark replays them). Apply keeps both.
  Batch batch = BuildApplyBatch(lowered, 1, std::nullopt);
  batch.messages.clear();
  return batch;
}

absl::Status NftablesBackend::Apply(const RuleSet& rules,
                                    const ApplyOptions& options) {
  MESHCAP_ASSIGN_OR_RETURN(LoweredRuleSet lowered, Lower(rules));
  if (options.expected_generation.has_value()) {
    // Kernels before 4.19 ignore NFNL_BATCH_GENID; this check narrows the
    // window there and saves a batch everywhere.
    MESHCAP_ASSIGN_OR_RETURN(uint32_t now, sock_.GetGeneration());
    if (now != *options.expected_generation) {
      return absl::AbortedError(absl::StrCat(
          "nftables apply: the ruleset changed since it was read (generation ",
          *options.expected_generation, ", now ", now,
          "); nothing was changed"));
    }
  }
  const uint32_t first_seq = sock_.NextSeq();
  Batch batch =
      BuildApplyBatch(lowered, first_seq, options.expected_generation);
  sock_.SkipSeq(static_cast<uint32_t>(batch.messages.size()));
  return Send(batch, "nftables apply");
}

absl::Status NftablesBackend::Remove() {
  const uint32_t first_seq = sock_.NextSeq();
  Batch batch = BuildRemoveBatch(first_seq, std::nullopt);
  sock_.SkipSeq(static_cast<uint32_t>(batch.messages.size()));
  return Send(batch, "nftables remove");
}

absl::StatusOr<VerifyReport> NftablesBackend::Verify(const RuleSet& rules) {
  MESHCAP_ASSIGN_OR_RETURN(LoweredRuleSet lowered, Lower(rules));
  return VerifyTables(sock_, lowered);
}

}  // namespace nft

const BackendFactory& NftablesBackendFactory() {
  static const nft::Factory kFactory;
  return kFactory;
}

}  // namespace meshcap
