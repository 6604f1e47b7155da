#include "chorus/nano/rep_record.h"

#include <algorithm>

#include "chorus/nano/keys.h"

namespace chorus::nano {

namespace {
constexpr std::string_view kDomain = "chorus-nano representative record v1";
}

std::string rep_record_name(const NetworkParams& network, const PublicKey& account) {
  return "chorus-nano/" + network.name + "/rep/" + to_hex_upper(account);
}

Bytes rep_record_message(const NetworkParams& network, const PublicKey& account,
                         const PublicKey& node, uint64_t seq) {
  Bytes m(kDomain.begin(), kDomain.end());
  m.insert(m.end(), network.magic.begin(), network.magic.end());
  m.insert(m.end(), account.begin(), account.end());
  m.insert(m.end(), node.begin(), node.end());
  for (int shift = 56; shift >= 0; shift -= 8) m.push_back(static_cast<uint8_t>(seq >> shift));
  return m;
}

RepRecord make_rep_record(const PrivateKey& rep, const NetworkParams& network,
                          const PublicKey& node, uint64_t seq) {
  RepRecord r;
  r.account = public_key(rep);
  r.node = node;
  r.seq = seq;
  r.signature = sign(rep, rep_record_message(network, r.account, node, seq));
  return r;
}

Bytes encode_rep_record(const RepRecord& record) {
  Bytes out;
  out.reserve(kRepRecordBytes);
  out.push_back(kRepRecordVersion);
  out.insert(out.end(), record.account.begin(), record.account.end());
  out.insert(out.end(), record.signature.begin(), record.signature.end());
  return out;
}

Result<RepRecord> parse_rep_record(ByteView data, const NetworkParams& network,
                                   const PublicKey& account, const PublicKey& owner, uint64_t seq) {
  if (data.size() != kRepRecordBytes)
    return malformed("representative record: " + std::to_string(data.size()) + " bytes, want " +
                     std::to_string(kRepRecordBytes));
  if (data[0] != kRepRecordVersion)
    return malformed("representative record: version " + std::to_string(data[0]));
  RepRecord r;
  std::copy_n(data.begin() + 1, 32, r.account.begin());
  std::copy_n(data.begin() + 33, 64, r.signature.begin());
  if (r.account != account)
    return auth_failed("representative record: names another account than its key");
  r.node = owner;
  r.seq = seq;
  if (!verify(account, rep_record_message(network, account, owner, seq), r.signature))
    return auth_failed("representative record: the representative's signature does not verify");
  return r;
}

}  // namespace chorus::nano
