#include "chorus/nano/network.h"

#include <cstdlib>
#include <cstring>

#include "chorus/nano/account.h"

namespace chorus::nano {
namespace {

// The genesis open blocks exactly as nano-node ships them (source = account
// = representative = the genesis key).
constexpr const char* kDevGenesis = R"({
  "type": "open",
  "source": "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0",
  "representative": "xrb_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo",
  "account": "xrb_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo",
  "work": "7b42a00ee91d5810",
  "signature": "ECDA914373A2F0CA1296475BAEE40500A7F0A7AD72A5A80C81D7FAB7F6C802B2CC7DB50F5DD0FB25B2EF11761FA7344A158DD5A700B21BD47DE5BD0F63153A02"
})";
constexpr const char* kLiveGenesis = R"({
  "type": "open",
  "source": "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA",
  "representative": "xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
  "account": "xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
  "work": "62f05417dd3fb691",
  "signature": "9F0C933C8ADE004D808EA1985FA746A7E95BA2A38F867640F53EC8F180BDFE9E2C1268DEAD7C2664F356E37ABA362BC58E46DBA03E523A7B5A19E4B6EB12BB02"
})";
constexpr const char* kDevGenesisPrivate =
    "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4";
constexpr const char* kLiveEpoch2Signer =
    "nano_3qb6o6i1tkzr6jwr5s7eehfxwg9x6eemitdinbpi7u8bjjwsgqfj4wzser3x";

// An epoch link: the ASCII message, zero-padded to 32 bytes.
Hash32 epoch_link(const char* message) {
  Hash32 link{};
  std::memcpy(link.data(), message, std::strlen(message));
  return link;
}

// The constants are compiled in; a failure here is a bug in this file.
Block genesis_from(const char* json) {
  auto j = parse_json_text(json);
  auto parsed = j ? block_from_json(*j) : Result<ParsedBlock>(j.error());
  if (!parsed) std::abort();
  return parsed->block;
}

NetworkParams make(std::string name, char letter, const char* genesis_json, WorkThresholds work,
                   const PublicKey& epoch_2_signer) {
  NetworkParams p;
  p.name = std::move(name);
  p.magic = {'R', static_cast<uint8_t>(letter)};
  p.genesis = genesis_from(genesis_json);
  p.genesis_hash = block_hash(p.genesis);
  p.genesis_account = p.genesis.account;
  p.genesis_amount = kAmountMax;
  p.work = work;
  p.epochs = {EpochInfo{Epoch::k1, epoch_link("epoch v1 block"), p.genesis_account},
              EpochInfo{Epoch::k2, epoch_link("epoch v2 block"), epoch_2_signer}};
  p.protocol_version = 0x15;
  p.protocol_version_min = 0x14;
  return p;
}

}  // namespace

std::optional<Epoch> NetworkParams::epoch_of_link(const Hash32& link) const {
  for (const EpochInfo& e : epochs)
    if (e.link == link) return e.epoch;
  return std::nullopt;
}

PrivateKey dev_genesis_private_key() {
  return *parse_hex_fixed<32>(kDevGenesisPrivate, "dev genesis key");
}

const NetworkParams& dev_network() {
  static const NetworkParams p = [] {
    const Block g = genesis_from(kDevGenesis);
    // Very low thresholds, as nano-node's dev network has them.
    return make("dev", 'A', kDevGenesis,
                WorkThresholds{0xfe00000000000000ULL, 0xffc0000000000000ULL, 0xf000000000000000ULL},
                g.account);
  }();
  return p;
}

const NetworkParams& live_network() {
  static const NetworkParams p = [] {
    auto signer = decode_account(kLiveEpoch2Signer);
    if (!signer) std::abort();
    return make("live", 'C', kLiveGenesis,
                WorkThresholds{0xffffffc000000000ULL, 0xfffffff800000000ULL, 0xfffffe0000000000ULL},
                *signer);
  }();
  return p;
}

const NetworkParams* network_by_name(std::string_view name) {
  if (name == "dev") return &dev_network();
  if (name == "live") return &live_network();
  return nullptr;
}

}  // namespace chorus::nano
