// SPDX-License-Identifier: GPL-2.0-or-later
//
// Whole nftables batches without root: for every case of Istio's nftables
// corpora, the batch meshcap sends into an empty namespace against the one
// `nft -f` itself sends for Istio's golden (testdata/nft_batches, recorded
// by dev/golden/nft-batches.sh). Both are read into what the kernel would
// hold after committing them: every table and chain in order with its
// header flags and attributes, and every chain's rules in their final
// order (appends, head inserts and inserts by NFTA_RULE_POSITION_ID), each
// rule expression by expression with its userdata and the anonymous sets it
// looks up written out in place (flags, key, size, userdata, elements).
// What may differ is only what names a message within its batch: sequence
// numbers, set names and IDs, the order of messages across chains, whether
// a rule lands by appending or inserting, and the `flush table` that
// Istio's script sends before anything exists.

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/nftables/batch.h"
#include "backends/nftables/lower.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/compile/compile.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;

std::string Hex(const void* data, uint32_t len) {
  std::string out;
  const auto* p = static_cast<const uint8_t*>(data);
  for (uint32_t i = 0; i < len; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

template <typename T, typename F>
std::string Snprintf(const T* obj, F f) {
  char buf[8192];
  f(buf, sizeof(buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
  return buf;
}

// What a batch makes, as the kernel would hold it after committing it into
// an empty namespace: tables, chains in creation order, and each chain's
// rules in their final order (appends, head inserts and inserts before or
// after another rule of the batch, by NFTA_RULE_ID), each rule's anonymous
// sets written out where the rule looks them up (their IDs and names are
// the batch's own).
struct Model {
  std::vector<std::string> objects;  // tables and chains, in order
  std::map<std::string, std::vector<std::string>> chains;  // rules, final
  std::vector<uint16_t> others;  // types of any other message
};

Model Build(const std::string& batch) {
  Model m;
  std::map<std::string, std::string> sets;  // "table/name" or id -> text
  std::map<uint32_t, std::string> set_by_id;
  struct Placed {
    std::string text;
    std::optional<uint32_t> id;
  };
  std::map<std::string, std::vector<Placed>> placed;
  int len = static_cast<int>(batch.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data());
       mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
    if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) continue;  // framing
    const uint16_t type = nlh->nlmsg_type & 0xff;
    // The header's request flags (NLM_F_REQUEST and NLM_F_ACK are the
    // transport's, not the object's).
    const std::string flags = absl::StrCat(
        "flags ", nlh->nlmsg_flags & ~(NLM_F_REQUEST | NLM_F_ACK), " ");
    if (type == NFT_MSG_NEWTABLE) {
      nftnl_table* t = nftnl_table_alloc();
      nftnl_table_nlmsg_parse(nlh, t);
      m.objects.push_back(flags + Snprintf(t, nftnl_table_snprintf));
      nftnl_table_free(t);
    } else if (type == NFT_MSG_NEWCHAIN) {
      nftnl_chain* c = nftnl_chain_alloc();
      nftnl_chain_nlmsg_parse(nlh, c);
      m.objects.push_back(flags + Snprintf(c, nftnl_chain_snprintf));
      nftnl_chain_free(c);
    } else if (type == NFT_MSG_NEWSET) {
      nftnl_set* s = nftnl_set_alloc();
      nftnl_set_nlmsg_parse(nlh, s);
      const uint32_t id = nftnl_set_get_u32(s, NFTNL_SET_ID);
      nftnl_set_unset(s, NFTNL_SET_ID);
      std::string text = flags + Snprintf(s, nftnl_set_snprintf);
      if (nftnl_set_is_set(s, NFTNL_SET_USERDATA)) {
        uint32_t n = 0;
        const void* u = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &n);
        text += " userdata " + Hex(u, n);
      }
      set_by_id[id] = text;
      nftnl_set_free(s);
    } else if (type == NFT_MSG_NEWSETELEM) {
      nftnl_set* s = nftnl_set_alloc();
      nftnl_set_elems_nlmsg_parse(nlh, s);
      const uint32_t id = nftnl_set_get_u32(s, NFTNL_SET_ID);
      nftnl_set_unset(s, NFTNL_SET_ID);
      set_by_id[id] += " elements " + flags + Snprintf(s, nftnl_set_snprintf);
      nftnl_set_free(s);
    } else if (type == NFT_MSG_NEWRULE) {
      nftnl_rule* r = nftnl_rule_alloc();
      nftnl_rule_nlmsg_parse(nlh, r);
      // Placement attributes, read from the message.
      std::optional<uint32_t> id, ref_id;
      std::optional<uint64_t> ref_handle;
      const auto* payload_end =
          static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
      for (auto* a = static_cast<const nlattr*>(
               mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
           mnl_attr_ok(a, static_cast<int>(payload_end -
                                           reinterpret_cast<const char*>(a)));
           a = mnl_attr_next(a)) {
        const uint16_t at = mnl_attr_get_type(a);
        if (at == NFTA_RULE_ID) id = ntohl(mnl_attr_get_u32(a));
        if (at == NFTA_RULE_POSITION_ID) ref_id = ntohl(mnl_attr_get_u32(a));
        if (at == NFTA_RULE_POSITION) ref_handle = be64toh(mnl_attr_get_u64(a));
      }
      // Appending or inserting is where the rule lands, compared below.
      std::string text = absl::StrCat(
          "flags ",
          nlh->nlmsg_flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_APPEND), "\n");
      for (nftnl_expr_iter* it = nftnl_expr_iter_create(r);;) {
        nftnl_expr* e = nftnl_expr_iter_next(it);
        if (e == nullptr) {
          nftnl_expr_iter_destroy(it);
          break;
        }
        char buf[1024];
        nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
        const std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        text += "[ " + name + " " + buf + " ]";
        if (name == "lookup") {
          text = std::regex_replace(text, std::regex("set [^ ]+ "), "set ");
          text += " -> {" +
                  set_by_id[nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SET_ID)] +
                  "}";
        }
        text += "\n";
      }
      if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
        uint32_t n = 0;
        const void* u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &n);
        text += "userdata " + Hex(u, n) + "\n";
      }
      const std::string chain =
          std::string(nftnl_rule_get_str(r, NFTNL_RULE_TABLE)) + "/" +
          nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
      nftnl_rule_free(r);
      std::vector<Placed>& v = placed[chain];
      const bool append = (nlh->nlmsg_flags & NLM_F_APPEND) != 0;
      size_t at = append ? v.size() : 0;
      if (ref_id.has_value()) {
        for (size_t k = 0; k < v.size(); ++k) {
          if (v[k].id == ref_id) at = append ? k + 1 : k;
        }
      }
      EXPECT_FALSE(ref_handle.has_value()) << "a batch into an empty namespace";
      v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), Placed{text, id});
    } else {
      m.others.push_back(type);
    }
  }
  for (auto& [chain, v] : placed) {
    for (const Placed& p : v) m.chains[chain].push_back(p.text);
  }
  return m;
}

std::string ReadGolden(const std::string& name) {
  std::ifstream in(std::string(MESHCAP_SOURCE_ROOT) +
                   "/tests/golden/testdata/nft_batches/" + name + ".hex");
  std::string hex, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') hex += line;
  }
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

class NftBatchTest : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(NftBatchTest, EveryMessageIsWhatNftSends) {
  const ConformanceCase& c = GetParam();
  if (!c.nftables_golden) GTEST_SKIP() << "no nftables golden";
  if (::meshcap::testing::NamesConformanceGroups(c.policy_json) &&
      !::meshcap::testing::EnsureConformanceGroups()) {
    GTEST_SKIP() << "groups java/ftp missing and not root";
  }
  const std::string golden = ReadGolden(c.name);
  ASSERT_FALSE(golden.empty()) << "run dev/golden/nft-batches.sh";
  const ir::RuleSet rules = internal::Compile(
      ::meshcap::testing::PolicyJson(c.policy_json), ir::Dialect::kNftables);
  absl::StatusOr<nft::LoweredRuleSet> lowered = nft::Lower(rules);
  ASSERT_THAT(lowered, IsOk());
  nft::BatchPlan plan;
  for (const nft::LoweredTable& t : lowered->tables) plan.create.push_back(&t);
  const Model ours = Build(nft::BuildBatch(plan, 1).bytes.Bytes());
  const Model theirs = Build(golden);
  ASSERT_FALSE(theirs.objects.empty());
  // Istio's script flushes its tables first (NFT_MSG_DELRULE by table);
  // into an empty namespace that deletes nothing, and meshcap sends none.
  EXPECT_THAT(theirs.others, ::testing::Each(NFT_MSG_DELRULE));
  EXPECT_THAT(ours.others, ::testing::IsEmpty());
  EXPECT_EQ(ours.objects, theirs.objects);
  EXPECT_EQ(ours.chains, theirs.chains);
}

INSTANTIATE_TEST_SUITE_P(
    Istio, NftBatchTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAllConformanceCases()),
    ::meshcap::testing::CaseName);

}  // namespace
}  // namespace meshcap
