// Prints spec/vectors/overlay.json: the overlay's wire test vectors.
//
//   build-unit/bin/overlay_vector_gen > spec/vectors/overlay.json
//
// Every byte string here is built by hand from the layouts in
// spec/overlay.md with raw libsodium calls, not with the overlay's encoders,
// so the unit tests that load the file check the code against the spec
// rather than against itself. All inputs are fixed: the output never changes.
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "chorus/base/bytes.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace {

using chorus::Bytes;
using chorus::ByteView;
using chorus::to_hex;
using Json = nlohmann::ordered_json;
using Seed = std::array<uint8_t, 32>;

// ---- a tiny big-endian appender, independent of overlay/wire.h
struct Out {
  Bytes b;
  Out& u8(uint64_t v) {
    b.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Out& be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Out& raw(ByteView v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  Out& str(std::string_view s) { return raw(chorus::as_bytes(s)); }
};

// A libsodium call that cannot fail on these fixed inputs; stop loudly if it does.
void check(int rc) {
  if (rc != 0) {
    std::fputs("vector_gen: libsodium call failed\n", stderr);
    std::exit(1);
  }
}

Seed seed_of(uint8_t start) {
  Seed s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(start + i);
  return s;
}

struct Keys {
  std::array<uint8_t, 32> pk{};
  std::array<uint8_t, 64> sk{};
};

Keys ed25519(const Seed& seed) {
  Keys k;
  crypto_sign_seed_keypair(k.pk.data(), k.sk.data(), seed.data());
  return k;
}

std::array<uint8_t, 32> blake2b(ByteView data, size_t out_len = 32) {
  std::array<uint8_t, 32> h{};
  crypto_generichash(h.data(), out_len, data.data(), data.size(), nullptr, 0);
  return h;
}

std::string base32(ByteView data) {
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string hex(ByteView b) {
  return to_hex(b);
}
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return to_hex(ByteView(a.data(), N));
}

Json identity_vector(const Seed& seed) {
  Keys k = ed25519(seed);
  std::array<uint8_t, 4> sum{};
  crypto_generichash(sum.data(), sum.size(), k.pk.data(), k.pk.size(), nullptr, 0);
  Out text;
  text.raw(k.pk).raw(sum);
  std::array<uint8_t, 32> x{};
  check(crypto_sign_ed25519_pk_to_curve25519(x.data(), k.pk.data()));
  Json j;
  j["seed"] = hex(seed);
  j["public_key"] = hex(k.pk);
  j["checksum"] = hex(sum);
  j["address"] = "ch" + base32(text.b);
  j["dht_id"] = hex(blake2b(k.pk));
  j["x25519_public"] = hex(x);
  return j;
}

// BLAKE2b-256("chorus/network/v1" ‖ network id): what HELLO carries.
std::array<uint8_t, 32> network_tag(std::string_view network_id) {
  Out o;
  o.str("chorus/network/v1").str(network_id);
  return blake2b(o.b);
}

Bytes hello(uint8_t version, uint8_t flags, ByteView static_key, ByteView eph, uint16_t port,
            std::string_view network_id = "") {
  Out o;
  o.str("CHRS")
      .u8(version)
      .u8(flags)
      .raw(static_key)
      .raw(eph)
      .be(port, 2)
      .raw(network_tag(network_id));
  return o.b;
}

Bytes auth_message(char role, const std::array<uint8_t, 32>& transcript) {
  Out o;
  o.str("chorus/handshake/auth/v1").u8(static_cast<uint8_t>(role)).raw(transcript);
  return o.b;
}

std::array<uint8_t, 64> sign(const Keys& k, ByteView m) {
  std::array<uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, m.data(), m.size(), k.sk.data());
  return sig;
}

// Both sides with fixed seeds; `i_flags` / `r_flags` are the HELLO flags.
Json handshake_vector(uint8_t i_flags, uint8_t r_flags) {
  const Seed is = seed_of(0x00), rs = seed_of(0x20);
  const uint64_t i_random = 1001, r_random = 2002;
  const uint16_t i_port = 0, r_port = 7001;
  Keys ik = ed25519(is), rk = ed25519(rs);
  // The ephemeral seed is the first 32 bytes a seeded Random yields; a
  // reimplementation takes the seed bytes from this file instead.
  Seed ie{}, re{};
  chorus::overlay::Random(i_random).fill(ie.data(), ie.size());
  chorus::overlay::Random(r_random).fill(re.data(), re.size());
  std::array<uint8_t, 32> ie_pk{}, ie_sk{}, re_pk{}, re_sk{};
  check(crypto_kx_seed_keypair(ie_pk.data(), ie_sk.data(), ie.data()));
  check(crypto_kx_seed_keypair(re_pk.data(), re_sk.data(), re.data()));
  Bytes hi = hello(2, i_flags, ik.pk, ie_pk, i_port);
  Bytes hr = hello(2, r_flags, rk.pk, re_pk, r_port);
  Out t;
  t.str("chorus/handshake/v1").raw(hi).raw(hr);
  auto transcript = blake2b(t.b);
  Bytes ia = auth_message('I', transcript), ra = auth_message('R', transcript);
  auto isig = sign(ik, ia), rsig = sign(rk, ra);
  std::array<uint8_t, 32> irx{}, itx{}, rrx{}, rtx{};
  check(crypto_kx_client_session_keys(irx.data(), itx.data(), ie_pk.data(), ie_sk.data(),
                                      re_pk.data()));
  check(crypto_kx_server_session_keys(rrx.data(), rtx.data(), re_pk.data(), re_sk.data(),
                                      ie_pk.data()));

  Json j;
  j["initiator_seed"] = hex(is);
  j["responder_seed"] = hex(rs);
  j["initiator_random_seed"] = i_random;
  j["responder_random_seed"] = r_random;
  j["initiator_flags"] = i_flags;
  j["responder_flags"] = r_flags;
  j["cipher"] = (i_flags & r_flags & 1) ? "aes256gcm" : "chacha20poly1305";
  j["initiator_listen_port"] = i_port;
  j["responder_listen_port"] = r_port;
  j["network_id"] = "";  // the default network, on both sides
  j["network"] = hex(network_tag(""));
  j["initiator_ephemeral_seed"] = hex(ie);
  j["responder_ephemeral_seed"] = hex(re);
  j["initiator_ephemeral_public"] = hex(ie_pk);
  j["responder_ephemeral_public"] = hex(re_pk);
  j["initiator_hello"] = hex(hi);
  j["responder_hello"] = hex(hr);
  j["transcript_hash"] = hex(transcript);
  j["initiator_auth_message"] = hex(ia);
  j["responder_auth_message"] = hex(ra);
  j["initiator_auth"] = hex(isig);
  j["responder_auth"] = hex(rsig);
  j["initiator_rx"] = hex(irx);
  j["initiator_tx"] = hex(itx);
  j["responder_rx"] = hex(rrx);
  j["responder_tx"] = hex(rtx);
  return j;
}

Bytes record_list(std::initializer_list<Bytes> messages) {
  Out o;
  o.u8(0);  // codec: none
  for (const Bytes& m : messages) o.be(m.size(), 4).raw(m);
  return o.b;
}

// aes: AES-256-GCM instead of ChaCha20-Poly1305-IETF (same nonce, AD and tag size).
Bytes seal(const std::array<uint8_t, 32>& key, uint64_t counter, ByteView plain, bool aes = false) {
  Out o;
  const uint64_t len = plain.size() + crypto_aead_chacha20poly1305_IETF_ABYTES;
  o.be(len, 4);
  std::array<uint8_t, 12> nonce{};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
  Bytes c(len);
  unsigned long long clen = 0;
  if (aes) {
    if (crypto_aead_aes256gcm_is_available() != 1) {
      std::fputs("vector_gen: this CPU has no AES-256-GCM; run it on one that has\n", stderr);
      std::exit(1);
    }
    crypto_aead_aes256gcm_encrypt(c.data(), &clen, plain.data(), plain.size(), o.b.data(), 4,
                                  nullptr, nonce.data(), key.data());
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt(c.data(), &clen, plain.data(), plain.size(),
                                              o.b.data(), 4, nullptr, nonce.data(), key.data());
  }
  o.raw(c);
  return o.b;
}

Json message_vector(std::string name, uint8_t opcode, uint32_t id, Json fields, const Bytes& body) {
  Out o;
  o.u8(opcode).be(id, 4).raw(body);
  Json j;
  j["name"] = std::move(name);
  j["opcode"] = opcode;
  j["id"] = id;
  j["fields"] = std::move(fields);
  j["encoding"] = hex(o.b);
  return j;
}

Bytes message_bytes(uint8_t opcode, uint32_t id, const Bytes& body) {
  Out o;
  o.u8(opcode).be(id, 4).raw(body);
  return o.b;
}

}  // namespace

int main() {
  if (sodium_init() < 0) return 1;
  Json root;
  root["description"] =
      "Chorus overlay wire vectors (spec/overlay.md). Generated by tests/unit/vector_gen.cc; "
      "byte strings are lower-case hex, u64 values fit in 53 bits.";

  // ---- identities
  Json ids = Json::array();
  for (uint8_t start : {0x00, 0x20, 0x40, 0x60}) ids.push_back(identity_vector(seed_of(start)));
  root["identity"] = ids;

  // ---- HELLO on its own
  {
    Keys k = ed25519(seed_of(0x00));
    std::array<uint8_t, 32> eph{};
    for (size_t i = 0; i < eph.size(); ++i) eph[i] = static_cast<uint8_t>(0xe0 + i);
    Json j;
    j["version"] = 2;
    j["flags"] = 0;
    j["static_key"] = hex(k.pk);
    j["ephemeral_key"] = hex(eph);
    j["listen_port"] = 7000;
    j["network_id"] = "nano/live";
    j["network"] = hex(network_tag("nano/live"));
    j["encoding"] = hex(hello(2, 0, k.pk, eph, 7000, "nano/live"));
    root["hello"] = j;
  }

  root["handshake"] = handshake_vector(0, 0);
  // Both offer AES-256-GCM (HELLO flag 1): the flags are in the transcript.
  root["handshake_aes"] = handshake_vector(1, 1);

  // ---- messages, one per opcode and an unknown one
  const Keys origin = ed25519(seed_of(0x40));
  Json msgs = Json::array();
  {
    Bytes data(32);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0x10 + i);
    msgs.push_back(
        message_vector("ACK", 0, 7, {{"acked", 6}, {"data", hex(data)}}, Out().u8(6).raw(data).b));
  }
  {
    Bytes data{3, 1};
    std::string reason = "unsupported option";
    msgs.push_back(message_vector(
        "NACK", 1, 8, {{"acked", 3}, {"code", 3}, {"reason", reason}, {"data", hex(data)}},
        Out().u8(3).u8(3).u8(reason.size()).str(reason).raw(data).b));
  }
  msgs.push_back(message_vector("PING", 2, 0x01020304, Json::object(), {}));
  msgs.push_back(message_vector("SET_CONNECTION_OPT", 3, 9, {{"option", 0}, {"setting", 4}},
                                Out().u8(0).u8(4).b));
  {
    const uint16_t app = 0x0102;
    const uint64_t shout_id = 0x0011223344556677ULL;
    Bytes payload = Out().str("hello, swarm").b;
    Bytes signing =
        Out().str("chorus/shout/v1").be(app, 2).raw(origin.pk).be(shout_id, 8).raw(payload).b;
    auto sig = sign(origin, signing);
    msgs.push_back(message_vector(
        "SHOUT", 4, 0,
        {{"app", app},
         {"hops_left", 16},
         {"origin_seed", hex(seed_of(0x40))},
         {"origin", hex(origin.pk)},
         {"shout_id", shout_id},
         {"payload", hex(payload)},
         {"signing_bytes", hex(signing)},
         {"signature", hex(sig)}},
        Out().be(app, 2).u8(16).raw(origin.pk).be(shout_id, 8).raw(sig).raw(payload).b));
  }
  {
    const uint64_t speak_id = 0x0008090a0b0c0d0eULL;
    Bytes payload = Out().str("to my neighbours").b;
    msgs.push_back(
        message_vector("SPEAK", 5, 11,
                       {{"app", 7},
                        {"flags", 1},
                        {"hops_left", 16},
                        {"origin", hex(origin.pk)},
                        {"speak_id", speak_id},
                        {"payload", hex(payload)}},
                       Out().be(7, 2).u8(1).u8(16).raw(origin.pk).be(speak_id, 8).raw(payload).b));
  }
  {
    Bytes payload = Out().str("just for you").b;
    msgs.push_back(message_vector(
        "WHISPER", 6, 12,
        {{"app", 7}, {"flags", 4}, {"reply_to", 0x0a0b0c0d}, {"payload", hex(payload)}},
        Out().be(7, 2).u8(4).be(0x0a0b0c0d, 4).raw(payload).b));
  }
  msgs.push_back(message_vector("UNKNOWN", 0x42, 13, Json::object(), {}));
  root["messages"] = msgs;

  // ---- end-to-end encrypted WHISPER (crypto_box with the static keys' X25519 forms)
  {
    const Seed ss = seed_of(0x00), rs = seed_of(0x20);
    Keys sk = ed25519(ss), rk = ed25519(rs);
    std::array<uint8_t, 32> s_x_sk{}, r_x_pk{};
    check(crypto_sign_ed25519_sk_to_curve25519(s_x_sk.data(), sk.sk.data()));
    check(crypto_sign_ed25519_pk_to_curve25519(r_x_pk.data(), rk.pk.data()));
    std::array<uint8_t, crypto_box_NONCEBYTES> nonce{};
    for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(0xa0 + i);
    Bytes plain = Out().str("sealed for the receiver only").b;
    Bytes box(plain.size() + crypto_box_MACBYTES);
    check(crypto_box_easy(box.data(), plain.data(), plain.size(), nonce.data(), r_x_pk.data(),
                          s_x_sk.data()));
    Bytes payload = Out().raw(nonce).raw(box).b;
    Bytes msg = message_bytes(6, 21, Out().be(7, 2).u8(1).be(0, 4).raw(payload).b);
    Bytes ack = message_bytes(0, 21, Out().u8(6).raw(blake2b(payload)).b);
    Json j;
    j["sender_seed"] = hex(ss);
    j["receiver_seed"] = hex(rs);
    j["app"] = 7;
    j["nonce"] = hex(nonce);
    j["plaintext"] = hex(plain);
    j["payload"] = hex(payload);
    j["message"] = hex(msg);
    j["ack_hash"] = hex(blake2b(payload));
    j["ack_message"] = hex(ack);
    root["whisper_e2e"] = j;
  }

  // ---- relay: origin 0x00 -> relay 0x40 -> target 0x20 (spec §5, "Relay")
  {
    const Seed os = seed_of(0x00), rs = seed_of(0x40), ts = seed_of(0x20);
    Keys ok = ed25519(os), tk = ed25519(ts);
    std::array<uint8_t, 32> o_x_sk{}, t_x_pk{};
    check(crypto_sign_ed25519_sk_to_curve25519(o_x_sk.data(), ok.sk.data()));
    check(crypto_sign_ed25519_pk_to_curve25519(t_x_pk.data(), tk.pk.data()));
    std::array<uint8_t, crypto_box_NONCEBYTES> nonce{};
    for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(0xc0 + i);
    Bytes plain = Out().str("through a relay, for the target only").b;
    Bytes box(plain.size() + crypto_box_MACBYTES);
    check(crypto_box_easy(box.data(), plain.data(), plain.size(), nonce.data(), t_x_pk.data(),
                          o_x_sk.data()));
    Bytes sealed = Out().raw(nonce).raw(box).b;
    // Origin -> relay: flags 8|1, payload = target ‖ nonce ‖ box.
    Bytes to_relay = message_bytes(6, 31, Out().be(7, 2).u8(9).be(0, 4).raw(tk.pk).raw(sealed).b);
    // Relay -> target: flags 16|1, payload = origin ‖ nonce ‖ box.
    Bytes to_target = message_bytes(6, 5, Out().be(7, 2).u8(17).be(0, 4).raw(ok.pk).raw(sealed).b);
    Json j;
    j["origin_seed"] = hex(os);
    j["relay_seed"] = hex(rs);
    j["target_seed"] = hex(ts);
    j["app"] = 7;
    j["nonce"] = hex(nonce);
    j["plaintext"] = hex(plain);
    j["box"] = hex(sealed);
    j["to_relay"] = hex(to_relay);
    j["to_target"] = hex(to_target);
    j["ack_hash"] = hex(blake2b(sealed));
    root["relay"] = j;
  }

  // ---- peer exchange: SPEAK on app 0
  {
    Keys a = ed25519(seed_of(0x40)), b = ed25519(seed_of(0x60));
    Bytes payload = Out()
                        .u8(2)
                        .raw(a.pk)
                        .u8(4)
                        .raw(Bytes{192, 0, 2, 7})
                        .be(7001, 2)
                        .raw(b.pk)
                        .u8(6)
                        .raw(Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
                        .be(7002, 2)
                        .b;
    Json j;
    j["entries"] = Json::array({{{"key", hex(a.pk)}, {"host", "192.0.2.7"}, {"port", 7001}},
                                {{"key", hex(b.pk)}, {"host", "2001:db8::1"}, {"port", 7002}}});
    j["payload"] = hex(payload);
    j["origin_seed"] = hex(seed_of(0x00));
    const uint64_t speak_id = 0x000000000000abcdULL;
    j["speak_id"] = speak_id;
    j["message"] = hex(message_bytes(
        5, 0,
        Out().be(0, 2).u8(0).u8(1).raw(ed25519(seed_of(0x00)).pk).be(speak_id, 8).raw(payload).b));
    root["peer_exchange"] = j;
  }

  // ---- frames: plaintext (codec byte + records), then sealed with counters 0, 1, 2
  {
    std::array<uint8_t, 32> key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0x80 + i);
    Bytes ping = message_bytes(2, 5, {});
    Bytes ack = message_bytes(0, 5, Out().u8(2).b);
    Bytes p0 = record_list({ping});
    Bytes p1 = record_list({ping, ack});
    Bytes p2 = record_list({});
    Json frames = Json::array(), aes_frames = Json::array();
    uint64_t counter = 0;
    for (const Bytes* p : {&p0, &p1, &p2}) {
      Json f;
      f["counter"] = counter;
      f["plaintext"] = hex(*p);
      f["sealed"] = hex(seal(key, counter, *p));
      frames.push_back(f);
      f["sealed"] = hex(seal(key, counter, *p, /*aes=*/true));
      aes_frames.push_back(f);
      ++counter;
    }
    Json j;
    j["key"] = hex(key);
    j["records"] = Json::array({hex(ping), hex(ack)});
    j["frames"] = frames;
    j["aes256gcm_frames"] = aes_frames;
    root["frames"] = j;
  }

  // ---- broadcast tree (spec/overlay.md, "Broadcast tree"): ids are
  // origin[32] ‖ shout_id u64; IHAVE/GRAFT carry count u8 ‖ ids, PRUNE nothing.
  {
    const Bytes id_a = Out().raw(origin.pk).be(0x0011223344556677ULL, 8).b;
    const Bytes id_b = Out().raw(ed25519(seed_of(0x20)).pk).be(0x8000000000000001ULL, 8).b;
    Json j;
    j["id_a"] = hex(id_a);
    j["id_b"] = hex(id_b);
    j["offer"] = hex(Out().u8(3).be(3, 4).u8(2).u8(1).b);  // SET_CONNECTION_OPT option 2, v1
    j["ihave"] = hex(Out().u8(10).be(0, 4).u8(2).raw(id_a).raw(id_b).b);
    j["graft"] = hex(Out().u8(11).be(0, 4).u8(1).raw(id_a).b);
    j["graft_empty"] = hex(Out().u8(11).be(0, 4).u8(0).b);
    j["prune"] = hex(Out().u8(12).be(0, 4).b);
    root["broadcast_tree"] = j;
  }

  // ---- content-addressed SHOUT (spec/overlay.md, "Content-addressed SHOUT"):
  // app u16 ‖ hops_left u8 ‖ payload; no origin, no signature. Its id is
  // BLAKE2b-256(payload); its 40-byte name is id ‖ app u16 ‖ ff × 6.
  {
    const Bytes payload = Out().str("a self-signed NANO block").b;
    Bytes id(32);
    check(crypto_generichash(id.data(), id.size(), payload.data(), payload.size(), nullptr, 0));
    Json j;
    j["app"] = 7;
    j["hops_left"] = 16;
    j["payload"] = hex(payload);
    j["content_id"] = hex(id);
    j["key"] = hex(Out().raw(id).be(7, 2).be(0xffffffffffffULL, 6).b);
    j["encoding"] = hex(Out().u8(13).be(0, 4).be(7, 2).u8(16).raw(payload).b);
    j["offer"] = hex(Out().u8(3).be(4, 4).u8(3).u8(1).b);  // SET_CONNECTION_OPT option 3, v1
    root["content_shout"] = j;
  }

  // ---- streams (spec/overlay.md, "Streams"): opcode 14, id 0,
  // app u16 ‖ kind u8 ‖ stream u32 ‖ what the kind carries.
  {
    Json list = Json::array();
    auto add = [&](std::string name, uint8_t kind, uint32_t stream, Json fields,
                   const Bytes& rest) {
      fields["app"] = 7;
      fields["kind"] = kind;
      fields["stream"] = stream;
      Json j;
      j["name"] = std::move(name);
      j["fields"] = std::move(fields);
      j["encoding"] = hex(Out().u8(14).be(0, 4).be(7, 2).u8(kind).be(stream, 4).raw(rest).b);
      list.push_back(j);
    };
    const Bytes request = Out().str("blocks after 0x01").b;
    add("OPEN", 0, 1, {{"credit", 16}, {"payload", hex(request)}}, Out().be(16, 4).raw(request).b);
    add("CREDIT", 1, 1, {{"credit", 8}}, Out().be(8, 4).b);
    const std::string enough = "have enough";
    add("CANCEL", 2, 1, {{"code", 0}, {"reason", enough}},
        Out().u8(0).u8(enough.size()).str(enough).b);
    const Bytes block = Out().str("a block").b;
    add("DATA", 3, 0x01020304, {{"payload", hex(block)}}, block);
    const std::string busy = "too many streams";
    add("END", 4, 2, {{"code", 5}, {"reason", busy}}, Out().u8(5).u8(busy.size()).str(busy).b);
    root["streams"] = list;
    root["streams_offer"] =
        hex(Out().u8(3).be(5, 4).u8(4).u8(1).b);  // SET_CONNECTION_OPT option 4, v1
  }

  // ---- DIRECT (spec/overlay.md, "DIRECT"): opcode 15 ‖ id 0 ‖ app u16 ‖ payload.
  {
    const Bytes payload = Out().str("a vote, sent often").b;
    Json j;
    j["app"] = 9;
    j["payload"] = hex(payload);
    j["encoding"] = hex(Out().u8(15).be(0, 4).be(9, 2).raw(payload).b);
    root["direct"] = j;
  }

  std::string text = root.dump(2);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}
