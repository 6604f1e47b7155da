// Writes the seed corpora of the fuzz targets, built from the spec's test
// vectors (spec/vectors/*.json) and the libraries' own encoders, so every
// fuzzer starts from inputs that reach deep into its parser:
//   fuzz_seeds SPEC_DIR OUT_DIR   → OUT_DIR/<target>/<name>
// The seeds are generated at fuzz time (scripts/fuzz.sh), never committed.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chorus/compression/codec.h"
#include "chorus/nano/account.h"
#include "chorus/nano/block.h"
#include "chorus/nano/bootstrap_wire.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/message.h"
#include "chorus/nano/network.h"
#include "chorus/nano/rep_record.h"
#include "chorus/nano/work.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/relay/inm.h"
#include "chorus/web/metrics.h"
#include "ipc_actions.h"
#include "ipc_codec.h"

namespace {

using namespace chorus;
using Json = nlohmann::json;
namespace fs = std::filesystem;

// The state block of the node RPC documentation's block_info example.
constexpr char kStateJson[] = R"({
  "type": "state",
  "account": "nano_1ipx847tk8o46pwxt5qjdbncjqcbwcc1rrmqnkztrfjy5k7z4imsrata9est",
  "previous": "CE898C131AAEE25E05362F247760F8A3ACF34A9796A5AE0D9204E86B0637965E",
  "representative": "nano_1stofnrxuz3cai7ze75o174bpm7scwj9jn3nxsn8ntzg784jf1gzn1jjdkou",
  "balance": "5606157000000000000000000000000000000",
  "link": "5D1AA8A45F8736519D707FCB375976A7F9AF795091021D7E9C7548D6F45DD8D5",
  "link_as_account": "nano_1qato4k7z3spc8gq1zyd8xeqfbzsoxwo36a45ozbrxcatut7up8ohyardu1z",
  "signature": "82D41BC16F313E4B2243D14DFFA2FB04679C540C2095FEE7EAE0F2F26880AD56DD48D87A7CC5DD760C5B2D76EE2C205506AA557BF00B60D8DEE312EC7343A501",
  "work": "8a142e07a10996d5"
})";

class Writer {
 public:
  explicit Writer(fs::path root) : root_(std::move(root)) {}
  void add(const std::string& target, ByteView bytes) {
    fs::create_directories(root_ / target);
    const std::string name = "seed" + std::to_string(++count_[target]);
    std::ofstream out(root_ / target / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (root_ / target / name).string());
  }
  void add(const std::string& target, std::initializer_list<ByteView> parts) {
    Bytes all;
    for (auto p : parts) all.insert(all.end(), p.begin(), p.end());
    add(target, ByteView(all));
  }
  size_t total() const {
    size_t n = 0;
    for (auto& [t, c] : count_) n += c;
    return n;
  }
  size_t targets() const { return count_.size(); }

 private:
  fs::path root_;
  std::map<std::string, int> count_;
};

Json load(const fs::path& spec, const char* name) {
  std::ifstream in(spec / "vectors" / name);
  if (!in) throw std::runtime_error("cannot open " + (spec / "vectors" / name).string());
  return Json::parse(in);
}

Bytes hex(const Json& v) {
  auto b = from_hex(v.get<std::string>());
  if (!b) throw std::runtime_error("not hex: " + v.dump());
  return *b;
}
Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
Bytes one(uint8_t b) {
  return Bytes{b};
}
Bytes be16(size_t n) {
  return Bytes{static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
}
Bytes chunk(ByteView b) {
  Bytes out = be16(b.size());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}
// A record of overlay_core_fuzz: op 1 = one message record.
Bytes core_message(ByteView m) {
  Bytes out = one(1);
  Bytes c = chunk(m);
  out.insert(out.end(), c.begin(), c.end());
  return out;
}

void overlay_seeds(Writer& w, const Json& ov, const Json& comp) {
  std::vector<Bytes> messages;
  for (const auto& m : ov["messages"]) messages.push_back(hex(m["encoding"]));
  messages.push_back(hex(ov["whisper_e2e"]["message"]));
  messages.push_back(hex(ov["whisper_e2e"]["ack_message"]));
  messages.push_back(hex(ov["peer_exchange"]["message"]));
  messages.push_back(hex(ov["content_shout"]["offer"]));
  messages.push_back(hex(ov["content_shout"]["encoding"]));
  for (const auto& m : ov["streams"]) messages.push_back(hex(m["encoding"]));
  messages.push_back(hex(ov["streams_offer"]));
  messages.push_back(hex(ov["direct"]["encoding"]));
  for (const char* k : {"offer_snappy", "prefer_zlib", "ack_offer", "nack_disabled"})
    messages.push_back(hex(comp[k]["message"]));
  for (const auto& m : messages) w.add("overlay_message_fuzz", m);

  // Handshake: HELLOs to decode, a stranger's whole handshake, real pairs.
  const auto& hs = ov["handshake"];
  w.add("overlay_handshake_fuzz", {one(0), hex(ov["hello"]["encoding"])});
  w.add("overlay_handshake_fuzz", {one(0), hex(hs["responder_hello"])});
  w.add("overlay_handshake_fuzz",
        {one(1), one(103), hex(hs["initiator_hello"]), one(63), hex(hs["initiator_auth"])});
  w.add("overlay_handshake_fuzz", {one(1), one(3), hex(ov["hello"]["encoding"])});
  for (uint8_t flags : {0, 1}) {
    w.add("overlay_handshake_fuzz", {one(2), one(flags), one(flags), be16(7000), one(5), one(0),
                                     be16(0), one(0), one(200), one(200)});
    w.add("overlay_handshake_fuzz", {one(2), one(flags), one(1), be16(0), one(9), one(1), be16(100),
                                     one(0x40), one(7), one(7), one(7)});
  }

  // Frames: the vector streams (key 80..9f) in pieces, and round trips.
  const auto& fr = ov["frames"];
  for (auto [list, cipher] : {std::pair{"frames", 0}, std::pair{"aes256gcm_frames", 1}}) {
    Bytes stream = {0, static_cast<uint8_t>(cipher)};
    Bytes rt = {1, static_cast<uint8_t>(cipher), 0, 0, 0, 0};
    for (const auto& f : fr[list]) {
      Bytes sealed = hex(f["sealed"]);
      for (size_t at = 0; at < sealed.size(); at += 200) {
        const size_t n = std::min<size_t>(200, sealed.size() - at);
        stream.push_back(static_cast<uint8_t>(n - 1));
        stream.insert(stream.end(), sealed.begin() + static_cast<std::ptrdiff_t>(at),
                      sealed.begin() + static_cast<std::ptrdiff_t>(at + n));
      }
      Bytes c = chunk(hex(f["plaintext"]));
      rt.insert(rt.end(), c.begin(), c.end());
    }
    w.add("overlay_frame_fuzz", stream);
    w.add("overlay_frame_fuzz", rt);
    rt[2] = 1;  // and once with a changed byte
    rt[5] = 0x01;
    w.add("overlay_frame_fuzz", rt);
  }

  // Text forms.
  for (const char* a : {"127.0.0.1:7000", "[::1]:7001", "localhost:0", "192.0.2.7:65535"})
    w.add("overlay_text_fuzz", {one(0), text(a)});
  for (const auto& id : ov["identity"]) {
    w.add("overlay_text_fuzz", {one(1), text(id["address"].get<std::string>())});
    w.add("overlay_text_fuzz", {one(1), text(id["public_key"].get<std::string>())});
    w.add("overlay_text_fuzz",
          {one(4), text("chorus-ed25519-seed " + id["seed"].get<std::string>() + "\n")});
  }
  for (auto m : compression::kAllMethods)
    w.add("overlay_text_fuzz", {one(2), text(compression::method_name(m))});
  for (const char* l : {"snappy,zlib", "none", "default", "bz2,gzip,lzma,zlib,snappy"})
    w.add("overlay_text_fuzz", {one(3), text(l)});

  // A link: every vector message in turn, then negotiation and a frame
  // compressed with zlib as the vector's peer sends it.
  // Config 32 | 64: a content-addressed app that validates before forward.
  for (uint8_t config : {0, 16, 32 | 64}) {
    Bytes all = {0, config};
    for (const auto& m : messages) {
      Bytes r = core_message(m);
      all.insert(all.end(), r.begin(), r.end());
    }
    w.add("overlay_core_fuzz", all);
  }
  Bytes zlib_link = {1, 16, 3, 0, 3, 1, 4, 0, 0};  // offer zlib, ack its offer of zlib, time
  Bytes zframe = {0};
  Bytes c = chunk(hex(comp["zlib_frame"]["plaintext"]));
  zframe.insert(zframe.end(), c.begin(), c.end());
  zlib_link.insert(zlib_link.end(), zframe.begin(), zframe.end());
  for (Bytes more : {Bytes{5, 1, 0, 3, 'a', 'b', 'c'}, Bytes{5, 6, 0, 2, 'h', 'i'},
                     Bytes{5, 0, 0, 0}, Bytes{4, 0x40, 0}, Bytes{2, 4, 0, 3, 0, 0, 0}}) {
    zlib_link.insert(zlib_link.end(), more.begin(), more.end());
  }
  w.add("overlay_core_fuzz", zlib_link);
}

void dht_seeds(Writer& w, const Json& dht) {
  for (const auto& m : dht["messages"]) {
    w.add("dht_rpc_fuzz", {one(0), hex(m["hex"])});
    // Round trips of the same bytes as messages, small and large datagrams.
    for (size_t size : {0, 400, 1300}) {
      w.add("dht_datagram_fuzz",
            {be16(size), one(0), one(0), one(0), be16(0), one(0), chunk(hex(m["hex"]))});
    }
  }
  for (const auto& d : dht["datagrams"]) w.add("dht_rpc_fuzz", {one(1), hex(d["datagram"])});
  Bytes big(3000, 'x');
  w.add("dht_datagram_fuzz",
        {be16(20), one(1), one(0), one(0), be16(0), one(0), chunk(big), be16(3), be16(1)});
  w.add("dht_datagram_fuzz",
        {be16(20), one(0), one(1), one(2), be16(77), one(4), chunk(big), be16(2), be16(0)});
  Bytes base = text("the value as it was stored, version one");
  w.add("dht_patch_fuzz", {be16(base.size()), base, text("the value as it is now, version two")});
}

void compression_seeds(Writer& w, const Json& comp, const Json& ov) {
  Bytes zframe = hex(comp["zlib_frame"]["plaintext"]);
  w.add("compression_fuzz", {one(3), ByteView(zframe).subspan(1)});
  Bytes sample = hex(comp["zlib_frame"]["records"]);
  Bytes hello = hex(ov["hello"]["encoding"]);
  for (auto m : compression::kAllMethods) {
    for (const Bytes& in : {sample, hello, Bytes{}}) {
      auto packed = compression::codec_for(m).compress(in);
      if (!packed.ok()) throw std::runtime_error(packed.error().message());
      w.add("compression_fuzz", {one(compression::setting_of(m)), *packed});
    }
  }
}

// nano_ipc_fuzz: a mode byte (see nano_ipc_fuzz.cc), then a client's
// stream: each request type, pipelined requests, a subscription, a stop,
// and the streams the node must refuse.
void ipc_seeds(Writer& w) {
  const nano::NetworkParams& dev = nano::dev_network();
  const std::string genesis = nano::to_hex_upper(ByteView(dev.genesis_hash));
  const std::string account = nano::encode_account(dev.genesis_account);
  auto frame = [](nano::ipc::RequestType type, const google::protobuf::Message& body,
                  uint8_t major = nano::ipc::kMajor) {
    nano::ipc::RequestHeader h;
    h.set_type(type);
    h.set_correlation_id("seed");
    return nano::ipc::encode_frame(h.SerializeAsString(), body.SerializeAsString(), major);
  };
  nano::ipc::AccountInfoRequest info;
  info.set_account(account);
  info.set_representative(true);
  info.set_weight(true);
  nano::ipc::AccountBalanceRequest balance;
  balance.set_account(account);
  nano::ipc::BlockInfoRequest block;
  block.set_hash(genesis);
  nano::ipc::BlocksInfoRequest blocks;
  blocks.add_hashes(genesis);
  blocks.add_hashes(std::string(64, '0'));
  blocks.set_include_not_found(true);
  nano::ipc::ProcessRequest process;
  auto state = nano::block_from_json(nlohmann::ordered_json::parse(kStateJson));
  if (!state.ok()) throw std::runtime_error("kStateJson: " + state.error().message());
  nano::ipc::block_message(state->block, *process.mutable_block());
  nano::ipc::WorkValidateRequest validate;
  validate.set_hash(genesis);
  validate.set_work("0000000000000000");
  validate.set_difficulty("ffffffc000000000");
  nano::ipc::WorkGenerateRequest generate;
  generate.set_hash(genesis);
  nano::ipc::RepresentativesOnlineRequest reps;
  reps.set_weight(true);
  nano::ipc::ConfirmationInfoRequest conf;
  conf.set_hash(genesis);
  nano::ipc::SubscribeConfirmationsRequest sub;
  sub.add_accounts(account);
  const std::vector<std::string> requests = {
      frame(nano::ipc::REQUEST_TYPE_ACCOUNT_INFO, info),
      frame(nano::ipc::REQUEST_TYPE_ACCOUNT_BALANCE, balance),
      frame(nano::ipc::REQUEST_TYPE_BLOCK_INFO, block),
      frame(nano::ipc::REQUEST_TYPE_BLOCKS_INFO, blocks),
      frame(nano::ipc::REQUEST_TYPE_PROCESS, process),
      frame(nano::ipc::REQUEST_TYPE_WORK_VALIDATE, validate),
      frame(nano::ipc::REQUEST_TYPE_WORK_GENERATE, generate),
      frame(nano::ipc::REQUEST_TYPE_PEERS, nano::ipc::PeersRequest()),
      frame(nano::ipc::REQUEST_TYPE_REPRESENTATIVES_ONLINE, reps),
      frame(nano::ipc::REQUEST_TYPE_CONFIRMATION_INFO, conf),
      frame(nano::ipc::REQUEST_TYPE_TELEMETRY, nano::ipc::TelemetryRequest()),
      frame(nano::ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, sub),
      frame(nano::ipc::REQUEST_TYPE_UNSUBSCRIBE_CONFIRMATIONS,
            nano::ipc::UnsubscribeConfirmationsRequest()),
      frame(nano::ipc::REQUEST_TYPE_STOP, nano::ipc::StopRequest())};
  std::string all;
  for (const std::string& r : requests) {
    w.add("nano_ipc_fuzz", {one(63), text(r)});  // whole, answered at once
    all += r;
  }
  w.add("nano_ipc_fuzz", {one(0x80 | 7), text(all)});  // in pieces, answered in reverse
  w.add("nano_ipc_fuzz", {one(0x40 | 63), text(requests[11] + requests[0] + requests[12])});
  // Refused: not IPC, another encoding, another major, a length too long,
  // a header that is no protobuf.
  w.add("nano_ipc_fuzz", {one(63), text("GET / HTTP/1.1\r\n\r\n")});
  w.add("nano_ipc_fuzz", {one(63), text(std::string("N\x02\x01\x00", 4))});
  w.add(
      "nano_ipc_fuzz",
      {one(63), text(frame(nano::ipc::REQUEST_TYPE_TELEMETRY, nano::ipc::TelemetryRequest(), 2))});
  w.add("nano_ipc_fuzz",
        {one(63), text(std::string("N\x01\x01\x00\x00\x00\x00\x00\xff\xff\xff\xff", 12))});
  w.add("nano_ipc_fuzz",
        {one(63), text(nano::ipc::encode_frame("\x0f\xff", "")), text(requests[10])});
}

void nano_seeds(Writer& w, const Json& verify) {
  for (const auto& v : verify) {
    w.add("nano_verify_fuzz", {hex(v["public"]), hex(v["signature"]), hex(v["message"])});
  }
  w.add("nano_fuzz", {one(1), text(kStateJson)});
  auto j = nano::parse_json_text(kStateJson);
  if (!j.ok()) throw std::runtime_error(j.error().message());
  auto b = nano::block_from_json(*j);
  if (!b.ok()) throw std::runtime_error(b.error().message());
  w.add("nano_fuzz", {one(0), nano::serialize_typed_block(b->block)});
  nano::Message publish;
  publish.payload = nano::Publish{b->block};
  auto bytes = nano::serialize_message(publish);
  if (!bytes.ok()) throw std::runtime_error(bytes.error().message());
  w.add("nano_fuzz", {one(2), *bytes});
  nano::Message keepalive;
  bytes = nano::serialize_message(keepalive);
  if (bytes.ok()) w.add("nano_fuzz", {one(2), *bytes});
  // A valid representative record: its account, owner and sequence first.
  nano::PublicKey owner{};
  owner.fill(7);
  const auto rep = nano::make_rep_record(nano::derive_private_key(nano::Seed{}, 1),
                                         nano::dev_network(), owner, 42);
  Bytes seq(8, 0);
  seq[7] = 42;
  w.add("nano_fuzz", {one(3), rep.account, owner, seq, nano::encode_rep_record(rep)});

  w.add("nano_text_fuzz", {one(0), text((*j)["account"].get<std::string>())});
  w.add("nano_text_fuzz",
        {one(0), text("xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3")});
  w.add("nano_text_fuzz", {one(1), text((*j)["balance"].get<std::string>())});
  w.add("nano_text_fuzz", {one(1), text("340282366920938463463374607431768211455")});
  w.add("nano_text_fuzz", {one(2), text("000000000000000000000000000000FF")});
  w.add("nano_text_fuzz", {one(3), text((*j)["work"].get<std::string>())});

  // A genesis send on the dev network, signed and with work: a block the
  // ledger accepts, for the processing and RPC targets to mutate.
  const nano::NetworkParams& dev = nano::dev_network();
  nano::Block send;
  send.account = dev.genesis_account;
  send.previous = dev.genesis_hash;
  send.representative = dev.genesis_account;
  send.balance = dev.genesis_amount - 1000;
  send.link = nano::Hash32{7};
  auto work = nano::generate_work(nano::block_root(send), dev.work.epoch_2);
  if (!work.ok()) throw std::runtime_error(work.error().message());
  send.work = *work;
  const nano::BlockHash h = nano::block_hash(send);
  send.signature = nano::sign(nano::dev_genesis_private_key(), ByteView(h.data(), h.size()));
  Bytes typed = nano::serialize_typed_block(send);
  w.add("nano_process_fuzz", {typed});
  w.add("nano_process_fuzz", {typed, typed});
  const std::string account = (*j)["account"].get<std::string>();
  Json process{{"action", "process"}, {"json_block", true}, {"block", nano::block_to_json(send)}};
  const std::vector<std::string> requests = {
      std::string(R"({"action":"version"})"),
      std::string(R"({"action":"block_count"})"),
      R"({"action":"account_info","account":")" + account +
          R"(","representative":"true","weight":true,"receivable":"1"})",
      R"({"action":"receivable","account":")" + account +
          R"(","count":"10","threshold":"1","source":true})",
      R"({"action":"accounts_balances","accounts":[")" + account + R"("]})",
      R"({"action":"chain","block":")" + nano::to_hex_upper(ByteView(dev.genesis_hash)) +
          R"(","count":5})",
      R"({"action":"work_validate","hash":"0000000000000000000000000000000000000000000000000000000000000001","work":"0000000000000000"})",
      process.dump(),
      R"({"action":"representatives_online","weight":"true","accounts":[")" + account + R"("]})",
      std::string(R"({"action":"confirmation_quorum"})"),
      R"({"action":"confirmation_history","hash":")" +
          nano::to_hex_upper(ByteView(dev.genesis_hash)) + R"("})",
      std::string(R"({"action":"confirmation_active"})"),
      R"({"action":"block_confirm","hash":")" + nano::to_hex_upper(ByteView(dev.genesis_hash)) +
          R"("})",
      R"({"action":"confirmation_info","representatives":"true","json_block":true,"root":")" +
          nano::to_hex_upper(ByteView(dev.genesis_account)) + std::string(64, '0') + R"("})"};
  for (const std::string& req : requests) {
    w.add("nano_rpc_fuzz", {text(req)});
  }
  w.add("nano_bootstrap_fuzz",
        {one(0), nano::serialize_bootstrap_request(nano::FrontiersRequest{{}, 1000})});
  w.add("nano_bootstrap_fuzz", {one(0), nano::serialize_bootstrap_request(nano::ChainRequest{
                                            dev.genesis_account, dev.genesis_hash, 4096})});
  w.add("nano_bootstrap_fuzz",
        {one(1), nano::serialize_frontiers(
                     {{dev.genesis_account, dev.genesis_hash}, {nano::PublicKey{0xff}, h}})});
}

// relay_fuzz: whole INMs, and operations split on 0xff (see relay_fuzz.cc):
// a client digit, then a channel digit (0 lobby, 1 club, 2 news, 3 café).
void relay_seeds(Writer& w) {
  relay::Inm msg;
  msg.source = "b";
  msg.destination = "*";
  msg.type = "message";
  msg.nonce = "b:1";
  msg.data = {{"channel", "lobby"}, {"message", {{"text", "hi"}}}, {"nonce", 7}, {"seq", 1}};
  relay::Inm reserve;
  reserve.source = "b";
  reserve.destination = "*";
  reserve.type = "command";
  reserve.nonce = "b#1";
  reserve.data = {{"command", "reserve-channel"},
                  {"channel", "club"},
                  {"hash", std::string(64, 'a')},  // relay_fuzz hashes its own way
                  {"token", 3}};
  relay::Inm unreserve = reserve;
  unreserve.data = {{"command", "unreserve-channel"}, {"channel", "club"}, {"token", 3}};
  relay::Inm hello = reserve;
  hello.destination = "a";
  hello.data = {{"command", "hello"}, {"ws", "127.0.0.1:8080"}};
  const relay::Inm answer = hello.response("a", true, {{"nodes", Json::array()}});
  for (const relay::Inm* m :
       std::initializer_list<const relay::Inm*>{&msg, &reserve, &unreserve, &hello, &answer})
    w.add("relay_fuzz", text(m->to_json()));

  auto ops = [&](const std::vector<std::string>& list) {
    Bytes out;
    for (const std::string& op : list) {
      if (!out.empty()) out.push_back(0xff);
      out.insert(out.end(), op.begin(), op.end());
    }
    w.add("relay_fuzz", out);
  };
  auto client = [](char c, const Json& j) { return std::string("c") + c + j.dump(); };
  // Subscribe, the lookup's answer, sends, lists, a network command.
  ops({client('0', {{"command", "subscribe"},
                    {"data", {{"topic", "lobby"}, {"password", "pw"}}},
                    {"nonce", 1}}),
       client('1', {{"command", "subscribe"}, {"data", {{"topic", "lobby"}}}, {"nonce", "n"}}),
       "k1",
       client('0', {{"command", "send"},
                    {"data", {{"channel", "lobby"}, {"message", "hi"}}},
                    {"nonce", 2}}),
       client('1', {{"command", "list"}, {"nonce", 3}}),
       client('2', {{"command", "node-stats"}, {"data", {{"node", "b"}}}, {"nonce", 4}}), "a1",
       client('3', {{"command", "get-latency"}, {"nonce", 5}}), "a0no such node",
       client('0', {{"command", "unsubscribe"}, {"data", {{"topic", "lobby"}}}, {"nonce", 6}}),
       "c3{bad", "x1"});
  // An op with a raw byte (a sequence number or token) inside.
  auto op = [](const char* head, uint8_t b, const char* tail = "") {
    return head + std::string(1, static_cast<char>(b)) + tail;
  };
  // INMs from another node (m, source digit, channel digit, seq byte), out of
  // order, a gap given up on.
  ops({"s000", "s100", "k0", op("m00", 1, "one"), op("m00", 3, "three"), op("m00", 2, "two"),
       op("m00", 5, "five"), op("m10", 1, "other"), "t2000", op("m00", 4, "four"),
       op("m00", 6, "six"), "t5000"});
  // Reservations (r/R, source, channel, token byte, password digit): learned,
  // subscribed to with its password, released with a subscriber left (opened
  // again), then the channel empties.
  ops({op("r01", 5, "1"), "s011", "s110", op("R01", 5), op("k", 9), "x0", op("r01", 4, "0"),
       op("R01", 9)});
  // Passwords given as text, a wrong hash, a failed lookup.
  ops({"s012secret", "s112secret", "s212wrong", op("K", 2), "s023", "fdht down \xc3", "w02never",
       "w01hi", "u01"});
  // Whole INMs as text.
  ops({"s000", "k1", "i" + msg.to_json(), "i" + reserve.to_json(), "i" + unreserve.to_json(),
       "i" + hello.to_json(), "t100"});
  // Bad requests until the client is closed; a flood over the rate.
  std::vector<std::string> bad = {"c0",
                                  "c0[]",
                                  "c0{}",
                                  R"(c0{"command":7})",
                                  R"(c0{"command":"send","data":1})",
                                  R"(c0{"command":"x"})"};
  for (int i = 0; i < 30; ++i) bad.push_back(client('1', {{"command", "list"}}));
  ops(bad);
}

}  // namespace

// metrics_text_fuzz: what MetricsText writes (every kind of family, escapes,
// special values), and the odd lines other exporters write.
void metrics_seeds(Writer& w) {
  web::MetricsText m;
  m.counter("chorus_overlay_frames_total", "Frames.", 12, {{"direction", "in"}});
  m.counter("chorus_overlay_frames_total", "", 3e12, {{"direction", "out"}});
  m.gauge("g", "a \"quoted\"\nhelp", 0.25, {{"reason", "back\\slash \"q\"\nnl"}});
  m.gauge("inf", "", 1.0 / 0.0);
  m.histogram("rpc_seconds", "Latency.", {0.001, 0.1}, {1, 2, 3}, 0.5, {{"action", "get"}});
  web::append_process_metrics(m);
  w.add("metrics_text_fuzz", text(m.text()));
  w.add("metrics_text_fuzz", text("a 1 1700000000000\nb{} -Inf\nc{x=\"1\",} NaN\r\n\n# c\n"));
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seeds SPEC_DIR OUT_DIR\n";
    return 2;
  }
  try {
    if (!nano::init_crypto()) throw std::runtime_error("libsodium did not initialise");
    const fs::path spec = argv[1];
    Writer w(argv[2]);
    const Json ov = load(spec, "overlay.json");
    const Json comp = load(spec, "compression.json");
    overlay_seeds(w, ov, comp);
    dht_seeds(w, load(spec, "dht.json"));
    compression_seeds(w, comp, ov);
    nano_seeds(w, load(spec, "nano_verify.json"));
    relay_seeds(w);
    ipc_seeds(w);
    metrics_seeds(w);
    // Scenario files: the examples next to spec/.
    const fs::path scenarios = spec.parent_path() / "swarm" / "scenarios";
    if (fs::is_directory(scenarios)) {
      for (const auto& f : fs::directory_iterator(scenarios)) {
        std::ifstream in(f.path(), std::ios::binary);
        const std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        w.add("scenario_fuzz", text(t));
      }
    }
    std::cout << "fuzz_seeds: " << w.total() << " seeds for " << w.targets() << " targets in "
              << argv[2] << "\n";
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
