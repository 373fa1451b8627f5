// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/fake_netlink.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <memory>

namespace meshcap::testing {

uint32_t RecordingTransport::ReserveSeq(uint32_t n) {
  const uint32_t first = seq_;
  seq_ += n;
  return first;
}

absl::StatusOr<std::vector<internal::NetlinkError>>
RecordingTransport::SendBatch(const internal::NetlinkBatch& batch) {
  state_->batches.push_back(batch.Bytes());
  // A committed batch that changes something moves the generation on, as
  // the kernel's does.
  ++state_->generation;
  return std::vector<internal::NetlinkError>{};
}

absl::Status RecordingTransport::Request(
    nlmsghdr* request, const std::string&,
    const internal::MessageCallback& on_message) {
  ++state_->requests;
  const uint16_t type = request->nlmsg_type & 0xff;
  char buf[1024] = {};
  if (type == NFT_MSG_GETGEN) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN;
    mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg));
    mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(state_->generation));
    return on_message(nlh);
  }
  if (type == NFT_MSG_GETTABLE) {
    for (const std::string& name : state_->tables) {
      std::unique_ptr<nftnl_table, void (*)(const nftnl_table*)> t(
          nftnl_table_alloc(), nftnl_table_free);
      nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
      nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
      nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_NEWTABLE,
                                                  NFPROTO_INET, NLM_F_MULTI, 0);
      nftnl_table_nlmsg_build_payload(nlh, t.get());
      if (absl::Status s = on_message(nlh); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Chains, sets and rules of tables that "exist": none in this fake.
  return absl::OkStatus();
}

std::vector<std::string> MessageTypes(const std::string& batch) {
  std::vector<std::string> out;
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data());
  int left = static_cast<int>(batch.size());
  while (mnl_nlmsg_ok(nlh, left)) {
    if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN) {
      out.push_back("BEGIN");
    } else if (nlh->nlmsg_type == NFNL_MSG_BATCH_END) {
      out.push_back("END");
    } else {
      switch (nlh->nlmsg_type & 0xff) {
        case NFT_MSG_NEWTABLE:
          out.push_back("NEWTABLE");
          break;
        case NFT_MSG_DELTABLE:
          out.push_back("DELTABLE");
          break;
        case NFT_MSG_NEWCHAIN:
          out.push_back("NEWCHAIN");
          break;
        case NFT_MSG_NEWSET:
          out.push_back("NEWSET");
          break;
        case NFT_MSG_NEWSETELEM:
          out.push_back("NEWSETELEM");
          break;
        case NFT_MSG_NEWRULE:
          out.push_back("NEWRULE");
          break;
        default:
          out.push_back("?");
      }
    }
    nlh = mnl_nlmsg_next(nlh, &left);
  }
  return out;
}

}  // namespace meshcap::testing
