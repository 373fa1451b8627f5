// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/lower.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"
#include "backends/nftables/render.h"

namespace meshcap::nft {

namespace {

// nft's datatype id for inet_service (TYPE_INET_SERVICE), the key type of
// a port set, and its byte order tag in set userdata (BYTEORDER_BIG_ENDIAN).
constexpr uint32_t kInetServiceType = 13;
constexpr uint32_t kBigEndianTag = 2;

// What nft 1.0.6 records in an anonymous set's userdata about the key's
// expression (NFTNL_UDATA_SET_KEY_TYPEOF), for `tcp dport { ... }`: a payload
// expression (its EXPR_PAYLOAD, 7) of a protocol (PROTO_DESC_TCP 8,
// PROTO_DESC_UDP 6) and a field (sport 1, dport 2). Learned by recording
// what nft sends (dev/golden/nft-batches.sh); nft_batch_test holds it.
constexpr uint32_t kTypeofPayloadExpr = 7;
constexpr uint32_t kProtoDescTcp = 8;
constexpr uint32_t kProtoDescUdp = 6;
constexpr uint32_t kFieldSport = 1;
constexpr uint32_t kFieldDport = 2;
// Inside the payload's TYPEOF_DATA.
constexpr uint8_t kTypeofPayloadDesc = 0;
constexpr uint8_t kTypeofPayloadField = 1;

void PutPortKeyTypeof(nftnl_udata_buf* ud, const ir::PortMatch& m) {
  nftnl_udata* key = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
  nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, kTypeofPayloadExpr);
  nftnl_udata* data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
  nftnl_udata_put_u32(
      ud, kTypeofPayloadDesc,
      m.proto == ir::L4Proto::kTcp ? kProtoDescTcp : kProtoDescUdp);
  nftnl_udata_put_u32(
      ud, kTypeofPayloadField,
      m.dir == ir::Direction::kSource ? kFieldSport : kFieldDport);
  nftnl_udata_nest_end(ud, data);
  nftnl_udata_nest_end(ud, key);
}

LoweredSet MakePortSet(const std::string& table, uint32_t id,
                       const ir::PortMatch& m) {
  const std::vector<uint16_t>& ports = m.ports;
  LoweredSet s;
  s.id = id;
  s.set.reset(nftnl_set_alloc());
  nftnl_set* set = s.set.get();
  nftnl_set_set_str(set, NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(set, NFTNL_SET_NAME, "__set%d");
  nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_u32(set, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
  nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, kInetServiceType);
  nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, 2);
  nftnl_set_set_u32(set, NFTNL_SET_ID, id);
  nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE,
                    static_cast<uint32_t>(ports.size()));
  nftnl_udata_buf* ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
  nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, kBigEndianTag);
  PutPortKeyTypeof(ud, m);
  nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
                     nftnl_udata_buf_len(ud));
  nftnl_udata_buf_free(ud);
  for (uint16_t port : ports) {
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    const uint16_t key = htons(port);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
    nftnl_set_elem_add(set, e);
    s.keys.emplace_back(reinterpret_cast<const char*>(&key), sizeof(key));
  }
  std::sort(s.keys.begin(), s.keys.end());
  return s;
}

// nft's datatype ids (TYPE_IPADDR, TYPE_IP6ADDR) for address set keys.
constexpr uint32_t kIpv4AddrType = 7;
constexpr uint32_t kIpv6AddrType = 8;
// Element userdata nft writes on an interval that runs to the end of the
// address space (NFTNL_UDATA_SET_ELEM_FLAGS: NFTNL_SET_ELEM_F_INTERVAL_OPEN).
constexpr uint8_t kUdataElemFlags = 1;
constexpr uint32_t kElemIntervalOpen = 1;

uint32_t KeyLen(const ir::NamedSet& set) {
  switch (set.key) {
    case ir::NamedSet::Key::kIpv4:
      return 4;
    case ir::NamedSet::Key::kIpv6:
      return 16;
    case ir::NamedSet::Key::kPort:
      return 2;
  }
  return 0;
}

bool IsInterval(const ir::NamedSet& set) {
  return set.key != ir::NamedSet::Key::kPort;
}

// `key` + 1 as a big-endian number; false when it overflows (all ones).
bool Increment(std::string& key) {
  for (size_t i = key.size(); i-- > 0;) {
    auto b = static_cast<uint8_t>(key[i]);
    key[i] = static_cast<char>(static_cast<uint8_t>(b + 1));
    if (b != 0xff) return true;
  }
  return false;
}

void Decrement(std::string& key) {
  for (size_t i = key.size(); i-- > 0;) {
    auto b = static_cast<uint8_t>(key[i]);
    key[i] = static_cast<char>(static_cast<uint8_t>(b - 1));
    if (b != 0) return;
  }
}

LoweredNamedSet MakeNamedSet(const std::string& table, uint32_t id,
                             const ir::NamedSet& spec) {
  LoweredNamedSet s;
  s.spec = &spec;
  s.set.reset(nftnl_set_alloc());
  nftnl_set* set = s.set.get();
  nftnl_set_set_str(set, NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(set, NFTNL_SET_NAME, spec.name.c_str());
  nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_u32(set, NFTNL_SET_FLAGS,
                    IsInterval(spec) ? NFT_SET_INTERVAL : 0);
  uint32_t type = kInetServiceType;
  if (spec.key == ir::NamedSet::Key::kIpv4) type = kIpv4AddrType;
  if (spec.key == ir::NamedSet::Key::kIpv6) type = kIpv6AddrType;
  nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, type);
  nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, KeyLen(spec));
  // The kernel wants an id for every set a batch creates.
  nftnl_set_set_u32(set, NFTNL_SET_ID, id);
  nftnl_udata_buf* ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
  nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, kBigEndianTag);
  nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
                     nftnl_udata_buf_len(ud));
  nftnl_udata_buf_free(ud);
  s.elements = CanonicalElements(spec);
  return s;
}

uint32_t HookNumber(ir::Hook h) {
  return h == ir::Hook::kPrerouting ? NF_INET_PRE_ROUTING : NF_INET_LOCAL_OUT;
}

}  // namespace

const std::vector<std::string>& OurTableNames() {
  static const std::vector<std::string>* const kNames =
      new std::vector<std::string>{"istio-proxy-nat",      "istio-proxy-mangle",
                                   "istio-proxy-raw",      "istio-ambient-nat",
                                   "istio-ambient-mangle", "istio-ambient-raw"};
  return *kNames;
}

std::vector<std::string> CanonicalElements(const ir::NamedSet& set) {
  std::vector<std::string> out;
  if (set.key == ir::NamedSet::Key::kPort) {
    for (uint16_t port : set.ports) {
      const uint16_t key = htons(port);
      out.emplace_back(reinterpret_cast<const char*>(&key), 2);
    }
  } else {
    const uint32_t len = KeyLen(set);
    for (const Cidr& c : set.cidrs) {
      std::string first(reinterpret_cast<const char*>(c.bytes().data()), len);
      std::string last = first;
      for (uint32_t bit = static_cast<uint32_t>(c.prefix_len()); bit < len * 8;
           ++bit) {
        last[bit / 8] = static_cast<char>(static_cast<uint8_t>(last[bit / 8]) |
                                          (0x80 >> (bit % 8)));
      }
      out.push_back(first + last);
    }
  }
  // MergePrefixes sorts the prefixes and the policy the ports: usually
  // nothing to do.
  if (!std::is_sorted(out.begin(), out.end())) {
    std::sort(out.begin(), out.end());
  }
  return out;
}

size_t CountElementMessages(const ir::NamedSet& set,
                            const std::vector<std::string>& keys,
                            bool leading) {
  size_t elements = keys.size();
  if (IsInterval(set)) {
    const uint32_t len = KeyLen(set);
    for (const std::string& k : keys) {
      // The end element, unless the interval runs to the end.
      elements += k.compare(len, len, std::string(len, '\xff')) != 0;
    }
    if (leading && !keys.empty() &&
        keys.front().compare(0, len, std::string(len, '\0')) != 0) {
      ++elements;
    }
  }
  return (elements + kElementsPerMessage - 1) / kElementsPerMessage;
}

std::vector<std::string> CanonicalFromKernel(
    std::vector<std::pair<std::string, bool>> elements, bool interval,
    uint32_t key_len) {
  std::vector<std::string> out;
  if (!interval) {
    for (auto& [key, end] : elements) out.push_back(std::move(key));
    std::sort(out.begin(), out.end());
    return out;
  }
  // By key; at one key the end of an interval before the start of the
  // next (adjacent intervals are kept apart).
  std::sort(elements.begin(), elements.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return a.second && !b.second;
  });
  std::optional<std::string> open;
  for (auto& [key, end] : elements) {
    if (key.size() != key_len) continue;
    if (!end) {
      if (open.has_value()) out.push_back(*open + std::string(key_len, '\xff'));
      open = key;
      continue;
    }
    if (!open.has_value()) continue;  // nft's leading element
    std::string last = key;
    Decrement(last);
    out.push_back(*open + last);
    open.reset();
  }
  if (open.has_value()) out.push_back(*open + std::string(key_len, '\xff'));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<NftnlPtr<nftnl_set>> ElementMessages(
    const std::string& table, const ir::NamedSet& set,
    const std::vector<std::string>& keys, bool leading) {
  std::vector<NftnlPtr<nftnl_set>> out;
  size_t in_current = kElementsPerMessage;
  auto add = [&](const std::string& key, bool end, bool open) {
    if (in_current == kElementsPerMessage) {
      nftnl_set* s = nftnl_set_alloc();
      nftnl_set_set_str(s, NFTNL_SET_TABLE, table.c_str());
      nftnl_set_set_str(s, NFTNL_SET_NAME, set.name.c_str());
      nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
      out.emplace_back(s);
      in_current = 0;
    }
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key.data(),
                       static_cast<uint32_t>(key.size()));
    if (IsInterval(set)) {
      nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS,
                             end ? NFT_SET_ELEM_INTERVAL_END : 0);
    }
    if (open) {
      nftnl_udata_buf* ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
      nftnl_udata_put_u32(ud, kUdataElemFlags, kElemIntervalOpen);
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
                         nftnl_udata_buf_len(ud));
      nftnl_udata_buf_free(ud);
    }
    nftnl_set_elem_add(out.back().get(), e);
    ++in_current;
  };
  if (!IsInterval(set)) {
    for (const std::string& k : keys) add(k, false, false);
    return out;
  }
  // In ascending order, each interval's start before its end, as nft sends
  // them: the kernel checks each element against its neighbours as it
  // comes.
  const uint32_t len = KeyLen(set);
  // nft's leading element: below the first interval nothing is in.
  if (leading && !keys.empty() &&
      keys.front().compare(0, len, std::string(len, '\0')) != 0) {
    add(std::string(len, '\0'), true, false);
  }
  for (const std::string& key : keys) {
    const std::string first = key.substr(0, len);
    std::string after = key.substr(len);
    const bool to_the_end = !Increment(after);
    add(first, false, to_the_end);
    if (!to_the_end) add(after, true, false);
  }
  return out;
}

std::string ElementText(const std::string& canonical) {
  if (canonical.size() == 2) {
    return absl::StrCat((static_cast<uint8_t>(canonical[0]) << 8) |
                        static_cast<uint8_t>(canonical[1]));
  }
  const size_t len = canonical.size() / 2;
  const int af = len == 4 ? AF_INET : AF_INET6;
  char first[INET6_ADDRSTRLEN] = {}, last[INET6_ADDRSTRLEN] = {};
  inet_ntop(af, canonical.data(), first, sizeof(first));
  inet_ntop(af, canonical.data() + len, last, sizeof(last));
  // A prefix: the first address's trailing zero bits are the last's ones.
  int prefix = static_cast<int>(len * 8);
  while (prefix > 0) {
    const int bit = prefix - 1;
    const auto f = static_cast<uint8_t>(canonical[bit / 8]);
    const auto l = static_cast<uint8_t>(canonical[len + bit / 8]);
    const uint8_t mask = 0x80 >> (bit % 8);
    if ((f & mask) != 0 || (l & mask) == 0) break;
    --prefix;
  }
  bool same_above = true;
  for (int bit = 0; bit < prefix; ++bit) {
    const uint8_t mask = 0x80 >> (bit % 8);
    if ((canonical[bit / 8] & mask) != (canonical[len + bit / 8] & mask)) {
      same_above = false;
    }
  }
  if (same_above) return absl::StrCat(first, "/", prefix);
  return absl::StrCat(first, "-", last);
}

std::string SetTypeText(uint32_t key_type, uint32_t flags) {
  std::string out = "type ";
  switch (key_type) {
    case kIpv4AddrType:
      out += "ipv4_addr";
      break;
    case kIpv6AddrType:
      out += "ipv6_addr";
      break;
    case kInetServiceType:
      out += "inet_service";
      break;
    default:
      absl::StrAppend(&out, "#", key_type);
  }
  if ((flags & NFT_SET_INTERVAL) != 0) out += "; flags interval";
  return out;
}

const LoweredNamedSet* LoweredTable::FindNamedSet(
    const std::string& name) const {
  for (const LoweredNamedSet& s : named_sets) {
    if (s.spec->name == name) return &s;
  }
  return nullptr;
}

const LoweredTable* LoweredRuleSet::Find(const std::string& name) const {
  for (const LoweredTable& t : tables) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

void LowerRule(LoweredTable& table, LoweredRule& out, uint32_t* next_set_id) {
  const ir::Rule& rule = *out.source;
  out.rule.reset(nftnl_rule_alloc());
  nftnl_rule_set_str(out.rule.get(), NFTNL_RULE_TABLE, table.name().c_str());
  nftnl_rule_set_str(out.rule.get(), NFTNL_RULE_CHAIN, out.chain.c_str());
  nftnl_rule_set_u32(out.rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  RuleEncoder enc(out.rule.get(), &out.expr_origins, rule.scope,
                  [&](const ir::PortMatch& m) {
                    const uint32_t id = (*next_set_id)++;
                    out.sets.push_back(table.sets.size());
                    table.sets.push_back(MakePortSet(table.name(), id, m));
                    return id;
                  });
  for (size_t i = 0; i < rule.matches.size(); ++i) {
    enc.SetOrigin(static_cast<int16_t>(i));
    std::visit([&](const auto& m) { Encode(m, enc); }, rule.matches[i]);
  }
  enc.SetOrigin(kOriginVerdict);
  std::visit([&](const auto& v) { Encode(v, rule.counter, enc); },
             rule.verdict);
}

absl::StatusOr<LoweredRuleSet> Lower(const ir::RuleSet& rules) {
  LoweredRuleSet out;
  out.source = &rules;
  uint32_t next_set_id = 1;
  out.tables.reserve(rules.tables.size());
  for (const ir::Table& t : rules.tables) {
    LoweredTable& lt = out.tables.emplace_back();
    lt.source = &t;
    lt.profile = rules.profile;
    lt.table.reset(nftnl_table_alloc());
    nftnl_table_set_str(lt.table.get(), NFTNL_TABLE_NAME, t.name.c_str());
    nftnl_table_set_u32(lt.table.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);

    lt.chains.reserve(t.chains.size());
    for (const ir::ChainSpec& c : t.chains) {
      LoweredChain& lc = lt.chains.emplace_back();
      lc.spec = &c;
      lc.chain.reset(nftnl_chain_alloc());
      nftnl_chain* ch = lc.chain.get();
      nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, t.name.c_str());
      nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c.name.c_str());
      nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
      if (c.is_base()) {
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, HookNumber(*c.hook));
        nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c.priority);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, ChainTypeName(c.type));
      }
    }
    lt.named_sets.reserve(t.sets.size());
    for (const ir::NamedSet& set : t.sets) {
      lt.named_sets.push_back(MakeNamedSet(t.name, next_set_id++, set));
    }
    for (const ir::RuleEntry& e : t.entries) {
      if (t.FindChain(e.chain) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("a rule of table ", t.name, " is in chain ", e.chain,
                         ", which the table does not declare"));
      }
      for (const ir::Match& m : e.rule.matches) {
        const std::string* set = nullptr;
        if (const auto* a = std::get_if<ir::AddressMatch>(&m)) set = &a->set;
        if (const auto* p = std::get_if<ir::PortMatch>(&m)) set = &p->set;
        if (set != nullptr && !set->empty() && t.FindSet(*set) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("a rule of ", t.name, "/", e.chain, " looks up set ",
                           *set, ", which the table does not declare"));
        }
      }
    }
    lt.rules.reserve(t.entries.size());
    for (const LoweredChain& lc : lt.chains) {
      int position = 0;
      for (const ir::Rule* rule :
           ir::ResolveChain(t, lc.spec->name, std::nullopt)) {
        LoweredRule& lr = lt.rules.emplace_back();
        lr.chain = lc.spec->name;
        lr.position = ++position;
        lr.source = rule;
        lr.context =
            SpellContext{rules.profile, t.kind, lc.spec->name, rule->scope};
        LowerRule(lt, lr, &next_set_id);
      }
    }
  }
  return out;
}

std::string OriginText(const LoweredRule& rule, size_t expr) {
  const int16_t origin = rule.expr_origins.at(expr);
  std::string out;
  if (origin >= 0) {
    std::visit([&](const auto& m) { Spell(m, rule.context, out); },
               rule.source->matches[origin]);
    return out;
  }
  if (origin == kOriginCounter) return "counter";
  std::visit([&](const auto& v) { Spell(v, rule.context, false, out); },
             rule.source->verdict);
  return out;
}

std::string RuleText(const ir::Rule& rule, const SpellContext& ctx) {
  std::string out;
  for (const ir::Match& m : rule.matches) {
    std::visit([&](const auto& x) { Spell(x, ctx, out); }, m);
    out += ' ';
  }
  std::visit([&](const auto& v) { Spell(v, ctx, rule.counter, out); },
             rule.verdict);
  return out;
}

}  // namespace meshcap::nft
