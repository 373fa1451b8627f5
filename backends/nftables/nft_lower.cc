// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/nft_lower.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <string.h>

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "backends/nftables/nl_transport.h"
#include "src/nft_text.h"

namespace meshcap::nft {

void NftnlDeleter::operator()(nftnl_table* p) const { nftnl_table_free(p); }
void NftnlDeleter::operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
void NftnlDeleter::operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
void NftnlDeleter::operator()(nftnl_set* p) const { nftnl_set_free(p); }

namespace {

// nft's datatype id for inet_service (TYPE_INET_SERVICE), the key type of
// a port set, and its byte order tag in set userdata (BYTEORDER_BIG_ENDIAN).
constexpr uint32_t kInetServiceType = 13;
constexpr uint32_t kBigEndianTag = 2;
// Size of a message's share of the batch buffer we keep free before
// building it; no message of ours comes near.
constexpr size_t kMessageRoom = 64 * 1024;

uint8_t IpProto(L4Proto p) {
  return p == L4Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
}

uint32_t CtStateBit(CtState s) {
  switch (s) {
    case CtState::kInvalid:
      return NF_CT_STATE_INVALID_BIT;
    case CtState::kEstablished:
      return NF_CT_STATE_BIT(IP_CT_ESTABLISHED);
    case CtState::kRelated:
      return NF_CT_STATE_BIT(IP_CT_RELATED);
    case CtState::kNew:
      return NF_CT_STATE_BIT(IP_CT_NEW);
  }
  return 0;
}

// Builds one rule's expressions, remembering where each came from.
class ExprWriter {
 public:
  ExprWriter(nftnl_rule* rule, std::vector<int16_t>* origins)
      : rule_(rule), origins_(origins) {}

  void SetOrigin(int16_t origin) { origin_ = origin; }

  void MetaLoad(uint32_t key) {
    nftnl_expr* e = New("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    Add(e);
  }
  void MetaSet(uint32_t key) {
    nftnl_expr* e = New("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
    Add(e);
  }
  void CtLoad(uint32_t key) {
    nftnl_expr* e = New("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    Add(e);
  }
  void CtSet(uint32_t key) {
    nftnl_expr* e = New("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
    Add(e);
  }
  void Cmp(uint32_t op, const void* data, uint32_t len) {
    nftnl_expr* e = New("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
    Add(e);
  }
  void Payload(uint32_t base, uint32_t offset, uint32_t len) {
    nftnl_expr* e = New("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    Add(e);
  }
  void Bitwise(const void* mask, const void* xor_value, uint32_t len) {
    nftnl_expr* e = New("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_value, len);
    Add(e);
  }
  void Lookup(uint32_t set_id, bool invert) {
    nftnl_expr* e = New("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "__set%d");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
    if (invert)
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    Add(e);
  }
  void Counter() { Add(New("counter")); }
  void Verdict(int code, const std::string* chain = nullptr) {
    nftnl_expr* e = New("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
    if (chain != nullptr) {
      nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain->c_str());
    }
    Add(e);
  }
  void Immediate(const void* data, uint32_t len) {
    nftnl_expr* e = New("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
    nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
    Add(e);
  }
  void Redirect() {
    nftnl_expr* e = New("redir");
    nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
    Add(e);
  }
  void Tproxy(uint32_t family) {
    nftnl_expr* e = New("tproxy");
    nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, family);
    nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_1);
    Add(e);
  }

 private:
  static nftnl_expr* New(const char* name) { return nftnl_expr_alloc(name); }
  void Add(nftnl_expr* e) {
    nftnl_rule_add_expr(rule_, e);
    origins_->push_back(origin_);
  }

  nftnl_rule* rule_;
  std::vector<int16_t>* origins_;
  int16_t origin_ = kOriginVerdict;
};

// Lowers one IR rule the way nft lowers its text.
class RuleLowering {
 public:
  RuleLowering(LoweredTable& table, LoweredRule& out, uint32_t* next_set_id)
      : table_(table),
        out_(out),
        w_(out.rule.get(), &out.expr_origins),
        next_set_id_(next_set_id) {}

  absl::Status Run(const Rule& rule) {
    for (size_t i = 0; i < rule.matches.size(); ++i) {
      w_.SetOrigin(static_cast<int16_t>(i));
      absl::Status s = std::visit(*this, rule.matches[i]);
      if (!s.ok()) return s;
    }
    LowerVerdict(rule);
    return absl::OkStatus();
  }

  absl::Status operator()(const InterfaceMatch& m) {
    if (m.name.empty() || m.name.size() >= IFNAMSIZ) {
      return absl::InvalidArgumentError(absl::StrCat("interface name \"",
                                                     m.name, "\" is not 1 to ",
                                                     IFNAMSIZ - 1, " bytes"));
    }
    std::array<char, IFNAMSIZ> name{};
    memcpy(name.data(), m.name.data(), m.name.size());
    w_.MetaLoad(m.dir == Direction::kSource ? NFT_META_IIFNAME
                                            : NFT_META_OIFNAME);
    w_.Cmp(NFT_CMP_EQ, name.data(), name.size());
    return absl::OkStatus();
  }

  absl::Status operator()(const AddressMatch& m) {
    const bool v4 = m.cidr.family() == IpFamily::kIpv4;
    if (!nfproto_) {
      const uint8_t proto = v4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
      w_.MetaLoad(NFT_META_NFPROTO);
      w_.Cmp(NFT_CMP_EQ, &proto, 1);
      nfproto_ = true;
    }
    const uint32_t addr_len = v4 ? 4 : 16;
    const uint32_t offset = v4 ? (m.dir == Direction::kSource ? 12 : 16)
                               : (m.dir == Direction::kSource ? 8 : 24);
    const int prefix = m.cidr.prefix_len();
    const auto& bytes = m.cidr.bytes();
    const uint32_t op = m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ;
    if (prefix > 0 && prefix % 8 == 0) {
      // A whole-byte prefix: load just those bytes.
      const uint32_t len = static_cast<uint32_t>(prefix / 8);
      w_.Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len);
      w_.Cmp(op, bytes.data(), len);
      return absl::OkStatus();
    }
    std::array<uint8_t, 16> mask{};
    std::array<uint8_t, 16> zero{};
    std::array<uint8_t, 16> value{};
    for (int i = 0; i < prefix; ++i) mask[i / 8] |= 0x80 >> (i % 8);
    for (uint32_t i = 0; i < addr_len; ++i) value[i] = bytes[i] & mask[i];
    w_.Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, addr_len);
    w_.Bitwise(mask.data(), zero.data(), addr_len);
    w_.Cmp(op, value.data(), addr_len);
    return absl::OkStatus();
  }

  absl::Status operator()(const ProtocolMatch& m) {
    L4ProtoDependency(m.proto, /*explicit_match=*/true);
    return absl::OkStatus();
  }

  absl::Status operator()(const PortMatch& m) {
    if (m.ports.empty()) {
      return absl::InvalidArgumentError("a port match needs a port");
    }
    L4ProtoDependency(m.proto, /*explicit_match=*/false);
    w_.Payload(NFT_PAYLOAD_TRANSPORT_HEADER,
               m.dir == Direction::kSource ? 0 : 2, 2);
    if (m.ports.size() == 1) {
      const uint16_t port = htons(m.ports[0]);
      w_.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &port, 2);
      return absl::OkStatus();
    }
    const uint32_t id = (*next_set_id_)++;
    out_.set = table_.sets.size();
    table_.sets.push_back(MakePortSet(id, m.ports));
    w_.Lookup(id, m.negate);
    return absl::OkStatus();
  }

  absl::Status operator()(const OwnerMatch& m) {
    w_.MetaLoad(m.kind == OwnerMatch::kUid ? NFT_META_SKUID : NFT_META_SKGID);
    w_.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &m.id, 4);
    return absl::OkStatus();
  }

  absl::Status operator()(const MarkMatch& m) {
    w_.MetaLoad(NFT_META_MARK);
    w_.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &m.mark, 4);
    return absl::OkStatus();
  }

  absl::Status operator()(const ConnmarkMatch& m) {
    w_.CtLoad(NFT_CT_MARK);
    w_.Cmp(NFT_CMP_EQ, &m.mark, 4);
    return absl::OkStatus();
  }

  absl::Status operator()(const CtStateMatch& m) {
    uint32_t bits = 0;
    for (CtState s : m.states) bits |= CtStateBit(s);
    const uint32_t zero = 0;
    w_.CtLoad(NFT_CT_STATE);
    w_.Bitwise(&bits, &zero, 4);
    w_.Cmp(NFT_CMP_NEQ, &zero, 4);
    return absl::OkStatus();
  }

 private:
  // nft proves the transport protocol before reading a port: an explicit
  // `meta l4proto` does it, and so does an earlier port of that protocol.
  void L4ProtoDependency(L4Proto proto, bool explicit_match) {
    if (!explicit_match && l4proto_ == proto) return;
    const uint8_t p = IpProto(proto);
    w_.MetaLoad(NFT_META_L4PROTO);
    w_.Cmp(NFT_CMP_EQ, &p, 1);
    l4proto_ = proto;
  }

  LoweredSet MakePortSet(uint32_t id, const std::vector<uint16_t>& ports) {
    LoweredSet s;
    s.id = id;
    s.ports = ports;
    s.set.reset(nftnl_set_alloc());
    nftnl_set* set = s.set.get();
    nftnl_set_set_str(set, NFTNL_SET_TABLE, table_.name.c_str());
    nftnl_set_set_str(set, NFTNL_SET_NAME, "__set%d");
    nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_u32(set, NFTNL_SET_FLAGS,
                      NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
    nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, kInetServiceType);
    nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, 2);
    nftnl_set_set_u32(set, NFTNL_SET_ID, id);
    nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE,
                      static_cast<uint32_t>(ports.size()));
    nftnl_udata_buf* ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
    nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, kBigEndianTag);
    nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
                       nftnl_udata_buf_len(ud));
    nftnl_udata_buf_free(ud);
    for (uint16_t port : ports) {
      nftnl_set_elem* e = nftnl_set_elem_alloc();
      const uint16_t key = htons(port);
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
      nftnl_set_elem_add(set, e);
    }
    return s;
  }

  void LowerVerdict(const Rule& rule) {
    w_.SetOrigin(kOriginCounter);
    const auto& v = rule.verdict;
    if (const auto* t = std::get_if<TproxyVerdict>(&v)) {
      w_.SetOrigin(kOriginVerdict);
      const uint16_t port = htons(t->port);
      w_.Immediate(&port, 2);
      w_.Tproxy(rule.scope == Scope::kIpv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
      w_.Immediate(&t->mark, 4);
      w_.MetaSet(NFT_META_MARK);
      w_.SetOrigin(kOriginCounter);
      w_.Counter();
      w_.SetOrigin(kOriginVerdict);
      w_.Verdict(NF_ACCEPT);
      return;
    }
    w_.Counter();
    w_.SetOrigin(kOriginVerdict);
    if (const auto* j = std::get_if<JumpVerdict>(&v)) {
      const std::string chain = NftablesChainName(j->chain);
      w_.Verdict(NFT_JUMP, &chain);
    } else if (std::holds_alternative<ReturnVerdict>(v)) {
      w_.Verdict(NFT_RETURN);
    } else if (std::holds_alternative<AcceptVerdict>(v)) {
      w_.Verdict(NF_ACCEPT);
    } else if (std::holds_alternative<DropVerdict>(v)) {
      w_.Verdict(NF_DROP);
    } else if (const auto* r = std::get_if<RedirectVerdict>(&v)) {
      const uint16_t port = htons(r->port);
      w_.Immediate(&port, 2);
      w_.Redirect();
    } else if (const auto* m = std::get_if<SetMarkVerdict>(&v)) {
      w_.Immediate(&m->mark, 4);
      w_.MetaSet(NFT_META_MARK);
    } else if (std::holds_alternative<ConnmarkSaveVerdict>(v)) {
      w_.MetaLoad(NFT_META_MARK);
      w_.CtSet(NFT_CT_MARK);
    } else if (std::holds_alternative<ConnmarkRestoreVerdict>(v)) {
      w_.CtLoad(NFT_CT_MARK);
      w_.MetaSet(NFT_META_MARK);
    } else if (const auto* z = std::get_if<CtZoneVerdict>(&v)) {
      w_.Immediate(&z->zone, 2);
      w_.CtSet(NFT_CT_ZONE);
    }
  }

  LoweredTable& table_;
  LoweredRule& out_;
  ExprWriter w_;
  uint32_t* next_set_id_;
  bool nfproto_ = false;
  std::optional<L4Proto> l4proto_;
};

// --- Batches -----------------------------------------------------------------

class BatchWriter {
 public:
  explicit BatchWriter(Batch& batch, uint32_t first_seq)
      : batch_(batch), seq_(first_seq) {}

  // Room for one more message at the end of the buffer.
  char* Next() {
    if (batch_.capacity - batch_.size < kMessageRoom) {
      const size_t cap = std::max(batch_.capacity * 2, kMessageRoom * 2);
      std::unique_ptr<char[]> bigger(new char[cap]);
      if (batch_.size > 0) memcpy(bigger.get(), batch_.data.get(), batch_.size);
      batch_.data = std::move(bigger);
      batch_.capacity = cap;
    }
    return batch_.data.get() + batch_.size;
  }
  uint32_t seq() const { return seq_; }

  MessageInfo& Finish(nlmsghdr* nlh, MessageInfo::Kind kind,
                      std::string table = {}) {
    batch_.size += NLMSG_ALIGN(nlh->nlmsg_len);
    MessageInfo info;
    info.kind = kind;
    info.seq = seq_++;
    info.table = std::move(table);
    batch_.messages.push_back(std::move(info));
    return batch_.messages.back();
  }

  void Begin(std::optional<uint32_t> generation) {
    nlmsghdr* nlh = nftnl_batch_begin(Next(), seq_);
    if (generation.has_value()) {
      mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(*generation));
    }
    Finish(nlh, MessageInfo::Kind::kBegin);
  }
  void End() { Finish(nftnl_batch_end(Next(), seq_), MessageInfo::Kind::kEnd); }

  // Creates the table if absent and deletes it: afterwards in the
  // transaction it is gone, whether it existed or not.
  void ResetTable(const std::string& name) {
    NftnlPtr<nftnl_table> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    AddTable(t.get(), name, MessageInfo::Kind::kResetTable);
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(Next(), NFT_MSG_DELTABLE,
                                                NFPROTO_INET, 0, seq_);
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    Finish(nlh, MessageInfo::Kind::kResetTable, name);
  }

  void AddTable(const nftnl_table* t, const std::string& name,
                MessageInfo::Kind kind = MessageInfo::Kind::kTable) {
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(
        Next(), NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_table_nlmsg_build_payload(nlh, t);
    Finish(nlh, kind, name);
  }

  void AddChain(const LoweredTable& table, const LoweredChain& chain) {
    nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(
        Next(), NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_chain_nlmsg_build_payload(nlh, chain.chain.get());
    Finish(nlh, MessageInfo::Kind::kChain, table.name).chain = &chain;
  }

  void AddSet(const LoweredTable& table, const LoweredSet& set) {
    nlmsghdr* nlh = nftnl_set_nlmsg_build_hdr(Next(), NFT_MSG_NEWSET,
                                              NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_set_nlmsg_build_payload(nlh, set.set.get());
    Finish(nlh, MessageInfo::Kind::kSet, table.name);
    nlh = nftnl_set_elem_nlmsg_build_hdr(Next(), NFT_MSG_NEWSETELEM,
                                         NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_set_elems_nlmsg_build_payload(nlh, set.set.get());
    Finish(nlh, MessageInfo::Kind::kSetElements, table.name);
  }

  void AddRule(const LoweredTable& table, const LoweredRule& rule) {
    nlmsghdr* nlh =
        nftnl_rule_nlmsg_build_hdr(Next(), NFT_MSG_NEWRULE, NFPROTO_INET,
                                   NLM_F_CREATE | NLM_F_APPEND, seq_);
    nftnl_rule_nlmsg_build_payload(nlh, rule.rule.get());
    MessageInfo& info = Finish(nlh, MessageInfo::Kind::kRule, table.name);
    info.rule = &rule;
    // Where each expression sits, to place an extended-ack offset.
    const char* base = reinterpret_cast<const char*>(nlh);
    ForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) != NFTA_RULE_EXPRESSIONS) return;
      ForEachNested(attr, [&](const nlattr* elem) {
        const auto begin =
            static_cast<uint32_t>(reinterpret_cast<const char*>(elem) - base);
        info.expr_spans.emplace_back(begin, begin + elem->nla_len);
      });
    });
  }

 private:
  Batch& batch_;
  uint32_t seq_;
};

void ResetOurTables(BatchWriter& w) {
  for (TableKind kind : kOurTables) w.ResetTable(NftablesTableName(kind));
}

}  // namespace

std::string OriginText(const LoweredRule& rule, size_t expr) {
  const int16_t origin = rule.expr_origins.at(expr);
  if (origin >= 0) return internal::NftMatchText(rule.source->matches[origin]);
  if (origin == kOriginCounter) return "counter";
  std::string text =
      internal::NftVerdictText(rule.source->verdict, rule.source->scope);
  // NftVerdictText starts with "counter " except for TPROXY.
  return text.rfind("counter ", 0) == 0 ? text.substr(8) : text;
}

const MessageInfo* Batch::FindSeq(uint32_t seq) const {
  for (const MessageInfo& m : messages) {
    if (m.seq == seq) return &m;
  }
  return nullptr;
}

absl::StatusOr<LoweredRuleSet> Lower(const RuleSet& rules) {
  LoweredRuleSet out;
  uint32_t next_set_id = 1;
  out.tables.reserve(rules.tables.size());
  for (const Table& t : rules.tables) {
    LoweredTable& lt = out.tables.emplace_back();
    lt.kind = t.kind;
    lt.name = NftablesTableName(t.kind);
    lt.table.reset(nftnl_table_alloc());
    nftnl_table_set_str(lt.table.get(), NFTNL_TABLE_NAME, lt.name.c_str());
    nftnl_table_set_u32(lt.table.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);

    lt.chains.reserve(t.chains.size());
    for (const ChainSpec& c : t.chains) {
      LoweredChain& lc = lt.chains.emplace_back();
      lc.spec = &c;
      lc.name = NftablesChainName(c.name);
      lc.chain.reset(nftnl_chain_alloc());
      nftnl_chain* ch = lc.chain.get();
      nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, lt.name.c_str());
      nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, lc.name.c_str());
      nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
      if (c.is_base()) {
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM,
                            *c.hook == Hook::kPrerouting ? NF_INET_PRE_ROUTING
                                                         : NF_INET_LOCAL_OUT);
        nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c.priority);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE,
                            internal::NftChainTypeName(c.type));
      }
    }

    const auto chain_rules = internal::NftChainRules(t);
    for (const auto& [chain, _] : chain_rules) {
      if (t.FindChain(chain) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("a rule of table ", TableName(t.kind), " is in chain ",
                         chain, ", which it does not declare"));
      }
    }
    size_t total = 0;
    for (const auto& [_, v] : chain_rules) total += v.size();
    lt.rules.reserve(total);
    for (const LoweredChain& lc : lt.chains) {
      auto it = chain_rules.find(lc.spec->name);
      if (it == chain_rules.end()) continue;
      int position = 0;
      for (const Rule* rule : it->second) {
        LoweredRule& lr = lt.rules.emplace_back();
        lr.chain = lc.name;
        lr.position = ++position;
        lr.source = rule;
        lr.rule.reset(nftnl_rule_alloc());
        nftnl_rule_set_str(lr.rule.get(), NFTNL_RULE_TABLE, lt.name.c_str());
        nftnl_rule_set_str(lr.rule.get(), NFTNL_RULE_CHAIN, lc.name.c_str());
        nftnl_rule_set_u32(lr.rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
        absl::Status s = RuleLowering(lt, lr, &next_set_id).Run(*rule);
        if (!s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rule ", position, " of ", lt.name, "/", lc.name, " (",
              internal::NftRuleText(*rule), "): ", s.message()));
        }
      }
    }
  }
  return out;
}

Batch BuildApplyBatch(const LoweredRuleSet& lowered, uint32_t first_seq,
                      std::optional<uint32_t> generation) {
  Batch batch;
  BatchWriter w(batch, first_seq);
  w.Begin(generation);
  ResetOurTables(w);
  for (const LoweredTable& t : lowered.tables) {
    w.AddTable(t.table.get(), t.name);
    for (const LoweredChain& c : t.chains) w.AddChain(t, c);
    for (const LoweredRule& r : t.rules) {
      if (r.set.has_value()) w.AddSet(t, t.sets[*r.set]);
      w.AddRule(t, r);
    }
  }
  w.End();
  return batch;
}

Batch BuildRemoveBatch(uint32_t first_seq, std::optional<uint32_t> generation) {
  Batch batch;
  BatchWriter w(batch, first_seq);
  w.Begin(generation);
  ResetOurTables(w);
  w.End();
  return batch;
}

}  // namespace meshcap::nft
