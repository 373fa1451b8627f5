// SPDX-License-Identifier: GPL-2.0-or-later
// A netlink transport that records every batch and answers the nftables
// backend's questions from memory: the ruleset generation and which of our
// tables exist. For byte-level tests of what the backend sends, without a
// kernel or root (google/nftables' nftest.Recorder).

#ifndef MESHCAP_TESTS_TESTING_FAKE_NETLINK_H_
#define MESHCAP_TESTS_TESTING_FAKE_NETLINK_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "src/netlink/netlink.h"

namespace meshcap::testing {

class RecordingTransport : public internal::NetlinkTransport {
 public:
  struct State {
    uint32_t generation = 1;
    std::set<std::string> tables;      // inet tables that "exist"
    std::vector<std::string> batches;  // every batch sent, as bytes
    int requests = 0;
  };

  explicit RecordingTransport(State* state) : state_(state) {}

  uint32_t ReserveSeq(uint32_t n) override;
  absl::StatusOr<std::vector<internal::NetlinkError>> SendBatch(
      const internal::NetlinkBatch& batch) override;
  absl::Status Request(nlmsghdr* request, const std::string& what,
                       const internal::MessageCallback& on_message) override;

 private:
  State* state_;
  uint32_t seq_ = 1;
};

// The nfnetlink message types of a batch, in order ("NEWTABLE",
// "DELTABLE", "NEWRULE", ...; "BEGIN"/"END" for the batch framing).
std::vector<std::string> MessageTypes(const std::string& batch);

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_FAKE_NETLINK_H_
