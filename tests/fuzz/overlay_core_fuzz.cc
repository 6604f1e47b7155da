// libFuzzer: a whole overlay link as a hostile peer sees it. The fuzzer
// completes a real handshake with a NodeCore (overlay/src/node_core.cc) and
// then plays the peer from the input, op by op (first byte of each op, mod 6):
//   0 → a frame with the next chunk as its whole plaintext (codec mark,
//       record lengths and messages all from the input);
//   1 → the chunk as one message record in an uncompressed frame;
//   2 → the chunk as the records of a frame compressed with codec u8 % 5
//       (the core accepts it only if that codec was negotiated);
//   3 → SET_CONNECTION_OPT option u8 % 3, setting u8 % 6 (offers, prefers,
//       unknowns), or an ACK of the core's offer of setting u8 % 6;
//   4 → time passes (u16 ms) and the core's timer runs;
//   5 → the core's app sends to the peer: PING, WHISPER (plain or sealed)
//       or a request, so ACKs and responses from the input find a match.
// This reaches the frame codec mark, decompression, record splitting,
// every message handler, SET_CONNECTION_OPT negotiation and peer exchange.
// Checked: the core never crashes, and everything it sends opens, carries a
// codec mark it may use, decompresses within bounds and splits into records
// that decode.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "chorus/compression/codec.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/handshake.h"
#include "chorus/overlay/message.h"
#include "chorus/overlay/node_core.h"
#include "fuzz_util.h"

namespace {

using namespace chorus;
using namespace chorus::overlay;
using chorus::fuzz::Input;

constexpr AppId kApp = 7;

const Identity& peer_identity() {
  static const Identity id = Identity::from_seed(fuzz::filled(1));
  return id;
}
const Identity& core_identity() {
  static const Identity id = Identity::from_seed(fuzz::filled(2));
  return id;
}

class Session {
 public:
  Session(uint8_t peer_flags, uint8_t config_bits) : random_(5), now_us_(1'000'000'000) {
    OverlayConfig c;
    c.seed = 1;
    c.listen_port = 7001;
    c.rotate_interval_ms = 0;
    c.seen_cache_entries = 256;
    c.peer_book_entries = 64;
    c.max_frame_bytes = 256 * 1024;
    c.max_send_queue_bytes = 1 << 20;
    c.link_write_window_bytes = 256 << 10;
    c.max_app_queue_bytes = 512 << 10;
    c.compression.assign(compression::kAllMethods.begin(), compression::kAllMethods.end());
    if (config_bits & 1) c.compression.resize(config_bits >> 1 & 3);
    if ((config_bits & 8) && !c.compression.empty()) c.preferred_compression = c.compression.back();
    c.allow_aes_gcm = config_bits & 16;
    if (config_bits & 32) c.content_shout_apps = {kApp};
    c.max_pending_shout_verdicts = 4;
    FUZZ_CHECK(c.validate().ok());
    max_frame_bytes_ = c.max_frame_bytes;
    core_ = std::make_unique<NodeCore>(core_identity(), c, now_us_);
    core_->register_app(kApp, /*validate_shouts=*/config_bits & 64);
    link_ = core_->on_accepted({"127.0.0.1", 50000}, now_us_);
    hs_ = std::make_unique<Handshake>(peer_identity(), Role::kInitiator, 7000, random_, peer_flags);
    to_core(hs_->take_output());
    pump();
  }

  bool alive() const { return !closed_ && opener_; }
  NodeCore& core() { return *core_; }
  int64_t now_us() const { return now_us_; }

  void send_plaintext(ByteView plain) {
    Bytes frame;
    sealer_->seal(plain, frame);
    to_core(std::move(frame));
  }
  void send_records(uint8_t mark, ByteView records) {
    Bytes plain{mark};
    plain.insert(plain.end(), records.begin(), records.end());
    send_plaintext(plain);
  }
  void send_message(const Message& m) { send_records(0, record_of(encode_message(m))); }
  static Bytes record_of(ByteView message) {
    Bytes r;
    const auto n = static_cast<uint32_t>(message.size());
    for (int s = 24; s >= 0; s -= 8) r.push_back(static_cast<uint8_t>(n >> s));
    r.insert(r.end(), message.begin(), message.end());
    return r;
  }
  void advance(int64_t us) {
    now_us_ += us;
    if (auto t = core_->next_timer_us(); t && *t <= now_us_) core_->on_timer(now_us_);
    pump();
  }
  uint32_t last_request_id() const { return last_request_id_; }

  void to_core(Bytes bytes) {
    if (bytes.empty() || closed_) return;
    core_->on_bytes(link_, std::span<uint8_t>(bytes), now_us_);
    pump();
  }

  // Drains the core in the documented order; what it sent is checked.
  void pump() {
    while (!closed_) {
      core_->flush(now_us_);
      Action a;
      std::vector<Bytes> sent;
      std::vector<LinkId> dials;
      while (core_->poll_action(a)) {
        if (auto* s = std::get_if<SendAction>(&a)) {
          FUZZ_CHECK(s->link == link_);
          core_->on_sent(s->link, s->bytes.size(), now_us_);
          sent.push_back(std::move(s->bytes));
        } else if (auto* c = std::get_if<CloseAction>(&a)) {
          if (c->link == link_) closed_ = true;
        } else if (auto* d = std::get_if<ConnectAction>(&a)) {
          // An address from peer exchange: the dial fails (after the drain).
          FUZZ_CHECK(d->link != link_);
          dials.push_back(d->link);
        }
      }
      Event e;
      while (core_->poll_event(e)) {
        if (auto* sh = std::get_if<ShoutEvent>(&e); sh && sh->verdict != 0) {
          // Validate before forward: the payload's first byte picks the
          // verdict; 3 leaves it to the timeout.
          const uint8_t pick = sh->payload.empty() ? 0 : sh->payload[0] % 4;
          if (pick < 3) {
            (void)core_->shout_verdict(sh->verdict, static_cast<ShoutDecision>(pick), now_us_);
          }
        } else if (auto* w = std::get_if<WhisperEvent>(&e)) {
          FUZZ_CHECK(w->app == kApp && w->from == peer_identity().public_key());
          if (w->is_request) {
            (void)core_->respond(kApp, w->from, w->request_id, w->payload, w->encrypted, now_us_,
                                 w->link);
          }
        }
      }
      for (const auto& b : sent) from_core(b);
      for (LinkId d : dials) core_->on_connect_failed(d, "fuzz: no network", now_us_);
      if (sent.empty() && dials.empty()) return;
      if (!pending_.empty()) to_core(std::exchange(pending_, {}));
    }
  }

 private:
  void from_core(const Bytes& bytes) {
    size_t off = 0;
    if (!opener_) {
      auto used = hs_->on_bytes(bytes);
      FUZZ_CHECK(used.ok());
      off = *used;
      Bytes out = hs_->take_output();
      pending_.insert(pending_.end(), out.begin(), out.end());
      if (!hs_->done()) return;
      sealer_ = std::make_unique<FrameSealer>(hs_->keys().tx, hs_->cipher());
      opener_ = std::make_unique<FrameOpener>(hs_->keys().rx, max_frame_bytes_, hs_->cipher());
    }
    rx_.insert(rx_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(off), bytes.end());
    size_t at = 0;
    for (;;) {
      auto r = opener_->open(std::span<uint8_t>(rx_).subspan(at));
      FUZZ_CHECK(r.ok());
      if (!*r) break;
      at += (*r)->consumed;
      check_plaintext((*r)->plaintext);
    }
    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(at));
  }

  void check_plaintext(ByteView plain) {
    FUZZ_CHECK(!plain.empty());
    Bytes inflated;
    if (plain[0] != 0) {
      auto method = compression::method_from_setting(static_cast<uint8_t>(plain[0] - 1));
      FUZZ_CHECK(method.has_value());
      auto out = compression::codec_for(*method).decompress(plain.subspan(1), max_frame_bytes_);
      FUZZ_CHECK(out.ok());
      inflated = std::move(*out);
      plain = inflated;
    } else {
      plain = plain.subspan(1);
    }
    Input records(plain);
    FUZZ_CHECK(!records.empty());
    while (!records.empty()) {
      FUZZ_CHECK(records.remaining() >= 4);
      const uint32_t len = static_cast<uint32_t>(records.u16()) << 16 | records.u16();
      FUZZ_CHECK(len <= records.remaining());
      auto m = decode_message(records.take(len));
      FUZZ_CHECK(m.ok());
      if (std::holds_alternative<WhisperMsg>(m->body)) last_request_id_ = m->id;
    }
  }

  Random random_;
  int64_t now_us_;
  size_t max_frame_bytes_ = 0;
  std::unique_ptr<NodeCore> core_;
  LinkId link_ = 0;
  std::unique_ptr<Handshake> hs_;
  std::unique_ptr<FrameSealer> sealer_;
  std::unique_ptr<FrameOpener> opener_;
  Bytes rx_;
  Bytes pending_;  // handshake bytes for the core, sent after a drain
  bool closed_ = false;
  uint32_t last_request_id_ = 0;
};

void app_command(Session& s, Input& in) {
  const PublicKey& to = peer_identity().public_key();
  const uint8_t what = in.u8();
  const ByteView payload = in.chunk();
  switch (what % 4) {
    case 0:
      (void)s.core().ping(to, s.now_us());
      break;
    case 1:
      (void)s.core().whisper(kApp, to, payload, what & 4, s.now_us());
      break;
    case 2:
      (void)s.core().request(kApp, to, payload, what & 4, 1000, s.now_us());
      break;
    default:
      (void)s.core().speak(kApp, payload, to, true, s.now_us());
      break;
  }
  s.pump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  FUZZ_CHECK(ok);
  Input in(data, size);
  const uint8_t peer_flags = in.u8(), config_bits = in.u8();
  Session s(peer_flags, config_bits);
  FUZZ_CHECK(s.alive());
  for (int ops = 0; ops < 64 && s.alive() && !in.empty(); ++ops) {
    switch (in.u8() % 6) {
      case 0:
        s.send_plaintext(in.chunk());
        break;
      case 1:
        s.send_records(0, Session::record_of(in.chunk()));
        break;
      case 2: {
        const auto method = compression::kAllMethods[in.u8() % compression::kAllMethods.size()];
        auto packed = compression::codec_for(method).compress(in.chunk());
        FUZZ_CHECK(packed.ok());
        s.send_records(static_cast<uint8_t>(1 + compression::setting_of(method)), *packed);
        break;
      }
      case 3: {
        const uint8_t kind = in.u8() % 5, setting = in.u8() % 6;
        const uint32_t id = in.u8();
        if (kind < 4) {
          s.send_message(Message{id, SetConnectionOptMsg{kind, setting}});
        } else {
          s.send_message(
              Message{id, AckMsg{static_cast<uint8_t>(Opcode::kSetConnectionOpt), {0, setting}}});
        }
        break;
      }
      case 4:
        s.advance(int64_t{in.u16()} * 1000);
        break;
      default:
        app_command(s, in);
        break;
    }
  }
  s.core().shutdown("fuzz input ended");
  s.pump();
  return 0;
}
