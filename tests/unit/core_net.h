// Test harness for NodeCore: Net (several cores on one virtual clock,
// joined by in-memory links) and RawPeer (a hand-driven peer that speaks the
// wire itself, to send what a well-behaved core never would). Shared by the
// core's unit tests; nothing here touches a socket or the real clock.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <string>

#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/handshake.h"
#include "chorus/overlay/node_core.h"
#include "vectors.h"

namespace chorus::overlay {
namespace {
using testing::hex;
using testing::hex_array;
using testing::hex_bytes;
using testing::vectors;

constexpr AppId kApp = 7;
constexpr int64_t kMs = 1000;

inline Identity identity_of(uint8_t n) {
  std::array<uint8_t, 32> seed{};
  seed.fill(n);
  return Identity::from_seed(seed);
}

inline OverlayConfig test_config(uint64_t seed) {
  OverlayConfig c;
  c.seed = seed;
  c.rotate_interval_ms = 0;  // tests build exact topologies
  return c;
}

template <class T>
std::vector<T> events_of(const std::vector<Event>& all) {
  std::vector<T> out;
  for (const auto& e : all)
    if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
  return out;
}

// The completion for `token`, if it arrived.
inline std::optional<CompletionEvent> completion(const std::vector<Event>& all, Token token) {
  for (const auto& c : events_of<CompletionEvent>(all))
    if (c.token == token) return c;
  return std::nullopt;
}

inline Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// ---------------------------------------------------------------------------
// Net: an in-memory driver for several cores on one virtual clock. Every
// action is carried out `latency_us` later, in order: ConnectAction makes the
// target accept (on_accepted) and the dialler connect (on_connected); sent
// bytes arrive in the peer's on_bytes; a close arrives as on_closed. Timers
// fire when their time comes. Nothing depends on real time.
class Net {
 public:
  struct Node {
    std::unique_ptr<NodeCore> core;
    std::vector<Event> events;
    std::vector<CloseAction> closes;
    bool mute = false;  // its sent bytes vanish and are never reported sent
    // A slow socket: sent bytes are delivered, but reported written
    // (on_sent) only as release_writes() lets them out.
    bool hold_writes = false;
    std::deque<std::pair<LinkId, size_t>> unwritten;
  };

  int64_t now_us = 1'000'000;
  int64_t latency_us = 500;

  size_t add(const Identity& id, OverlayConfig cfg) {
    size_t i = nodes_.size();
    cfg.listen_port = port_of(i);
    nodes_.push_back(Node{std::make_unique<NodeCore>(id, cfg, now_us), {}, {}, false, false, {}});
    return i;
  }
  // A node with identity seed i + 1 and config seed i + 100.
  size_t add(OverlayConfig cfg = test_config(0)) {
    size_t i = nodes_.size();
    if (!cfg.seed || *cfg.seed == 0) cfg.seed = i + 100;
    return add(identity_of(static_cast<uint8_t>(i + 1)), cfg);
  }

  NodeCore& core(size_t i) { return *nodes_[i].core; }
  Node& node(size_t i) { return nodes_[i]; }
  const PublicKey& key(size_t i) { return core(i).identity().public_key(); }
  static uint16_t port_of(size_t i) { return static_cast<uint16_t>(7000 + i); }
  static SocketAddress address_of(size_t i) { return {"127.0.0.1", port_of(i)}; }
  // An address that accepts TCP and then never says a word.
  static SocketAddress black_hole() { return {"127.0.0.1", 6999}; }

  // Node i dials node j on its next timer.
  void dial(size_t i, size_t j) { core(i).add_peer_address(address_of(j), std::nullopt); }

  // Runs everything due within the next `duration_us`, then sets the clock to its end.
  void run(int64_t duration_us) {
    const int64_t end = now_us + duration_us;
    for (size_t i = 0; i < nodes_.size(); ++i) drain(i);
    for (int steps = 0; steps < 1'000'000; ++steps) {
      int64_t next = end + 1;
      if (!ops_.empty()) next = ops_.top().at;
      size_t timer_node = nodes_.size();
      for (size_t i = 0; i < nodes_.size(); ++i) {
        auto t = core(i).next_timer_us();
        if (t && *t < next) {
          next = *t;
          timer_node = i;
        }
      }
      if (next > end) break;
      now_us = std::max(now_us, next);
      if (timer_node < nodes_.size()) {
        core(timer_node).on_timer(now_us);
        drain(timer_node);
      } else {
        Op op = ops_.top();
        ops_.pop();
        op.fn();
      }
    }
    now_us = end;
  }

  // flush, actions, events: the drain order the header asks for.
  void drain(size_t i) {
    Node& n = nodes_[i];
    n.core->flush(now_us);
    Action a;
    std::vector<std::pair<LinkId, size_t>> sent;
    while (n.core->poll_action(a)) {
      if (auto* c = std::get_if<ConnectAction>(&a)) {
        LinkId link = c->link;
        SocketAddress to = c->to;
        later([this, i, link, to] { connect(i, link, to); });
      } else if (auto* s = std::get_if<SendAction>(&a)) {
        if (n.mute) continue;
        sent.emplace_back(s->link, s->bytes.size());
        auto it = wires_.find({i, s->link});
        if (it == wires_.end()) continue;  // a black hole swallows it
        auto [j, jl] = it->second;
        later([this, j = j, jl = jl, bytes = std::move(s->bytes)]() mutable {
          core(j).on_bytes(jl, std::span<uint8_t>(bytes), now_us);
          drain(j);
        });
      } else if (auto* cl = std::get_if<CloseAction>(&a)) {
        n.closes.push_back(*cl);
        auto it = wires_.find({i, cl->link});
        if (it == wires_.end()) continue;
        auto [j, jl] = it->second;
        wires_.erase({j, jl});
        wires_.erase(it);
        std::string reason = "peer closed: " + cl->reason;
        later([this, j = j, jl = jl, reason] {
          core(j).on_closed(jl, reason, now_us);
          drain(j);
        });
      }
    }
    for (auto [link, size] : sent) {
      if (n.hold_writes) {
        n.unwritten.emplace_back(link, size);
      } else {
        n.core->on_sent(link, size, now_us);
      }
    }
    Event e;
    while (n.core->poll_event(e)) n.events.push_back(std::move(e));
  }

  // Reports up to `max_bytes` of node i's held writes as written (whole
  // sends only, at least one), then drains it. The number reported.
  size_t release_writes(size_t i, size_t max_bytes) {
    Node& n = nodes_[i];
    size_t done = 0;
    while (!n.unwritten.empty() && (done == 0 || done + n.unwritten.front().second <= max_bytes)) {
      auto [link, size] = n.unwritten.front();
      n.unwritten.pop_front();
      n.core->on_sent(link, size, now_us);
      done += size;
    }
    drain(i);
    return done;
  }

  std::vector<Event>& events(size_t i) { return nodes_[i].events; }
  // Both ends see an established link.
  bool linked(size_t i, size_t j) {
    return core(i).is_connected(key(j)) && core(j).is_connected(key(i));
  }

 private:
  struct Op {
    int64_t at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Op& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void later(std::function<void()> fn) {
    ops_.push(Op{now_us + latency_us, ++seq_, std::move(fn)});
  }

  void connect(size_t i, LinkId link, const SocketAddress& to) {
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (address_of(j) != to) continue;
      LinkId jl = core(j).on_accepted({"127.0.0.1", static_cast<uint16_t>(40000 + i)}, now_us);
      wires_[{i, link}] = {j, jl};
      wires_[{j, jl}] = {i, link};
      core(i).on_connected(link, now_us);
      drain(j);
      drain(i);
      return;
    }
    if (to == black_hole()) {
      core(i).on_connected(link, now_us);
    } else {
      core(i).on_connect_failed(link, "connection refused", now_us);
    }
    drain(i);
  }

  std::vector<Node> nodes_;
  std::map<std::pair<size_t, LinkId>, std::pair<size_t, LinkId>> wires_;
  std::priority_queue<Op, std::vector<Op>, std::greater<Op>> ops_;
  uint64_t seq_ = 0;
};

// Two nodes, 0 dialling 1, linked and with their events cleared.
inline void link_pair(Net& net) {
  net.add();
  net.add();
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  net.events(0).clear();
  net.events(1).clear();
}

// Three nodes in a line 0 - 1 - 2 (0 and 2 both dial 1), each with one
// outbound link so that peer exchange adds no shortcut. Node i runs
// configs[i] and `setup(i, core)` registers its apps before the dials.
inline void link_line(Net& net, std::array<OverlayConfig, 3> configs,
                      const std::function<void(size_t, NodeCore&)>& setup) {
  for (size_t i = 0; i < 3; ++i) {
    configs[i].max_outbound_links = 1;
    net.add(configs[i]);
    setup(i, net.core(i));
  }
  net.dial(0, 1);
  net.dial(2, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  ASSERT_TRUE(net.linked(1, 2));
  ASSERT_FALSE(net.core(0).is_connected(net.key(2)));
  for (size_t i = 0; i < 3; ++i) net.events(i).clear();
}

// The same with every node on test_config(0) and kApp registered.
inline void link_line(Net& net, uint8_t hop_limit = 16) {
  OverlayConfig c = test_config(0);
  c.shout_hop_limit = hop_limit;
  link_line(net, {c, c, c}, [](size_t, NodeCore& core) { core.register_app(kApp); });
}

// ---------------------------------------------------------------------------
// RawPeer: a hand-driven peer of one core that speaks the wire itself
// (Handshake + sealed frames), to send what a well-behaved core never would.
class RawPeer {
 public:
  RawPeer(NodeCore& core, Identity id, int64_t now_us = 1'000'000)
      : core_(core), id_(std::move(id)), rnd_(99), now_us_(now_us) {
    link_ = core_.on_accepted({"127.0.0.1", 50000}, now_us_);
    hs_ = std::make_unique<Handshake>(id_, Role::kInitiator, 0, rnd_);
    pump();
    to_core(hs_->take_output());
  }

  bool established() const { return sealer_ != nullptr; }
  LinkId link() const { return link_; }
  const std::vector<Message>& received() const { return received_; }
  std::vector<Event>& events() { return events_; }
  const std::optional<std::string>& closed_reason() const { return closed_; }
  const PublicKey& key() const { return id_.public_key(); }

  void send(const Message& m) { send_record(encode_message(m)); }
  void send_record(const Bytes& record) {
    Bytes plain = {0};
    const uint32_t n = static_cast<uint32_t>(record.size());
    for (int s = 24; s >= 0; s -= 8) plain.push_back(static_cast<uint8_t>(n >> s));
    plain.insert(plain.end(), record.begin(), record.end());
    send_plaintext(plain);
  }
  void send_plaintext(ByteView plain) {
    Bytes frame;
    sealer_->seal(plain, frame);
    to_core(std::move(frame));
  }
  // The received messages of one kind.
  template <class T>
  std::vector<std::pair<uint32_t, T>> received_of() const {
    std::vector<std::pair<uint32_t, T>> out;
    for (const auto& m : received_)
      if (auto* t = std::get_if<T>(&m.body)) out.emplace_back(m.id, *t);
    return out;
  }

 private:
  void to_core(Bytes bytes) {
    if (bytes.empty()) return;
    core_.on_bytes(link_, std::span<uint8_t>(bytes), now_us_);
    pump();
  }

  // Drains the core; bytes it sent are handled in order, never re-entrantly.
  void pump() {
    core_.flush(now_us_);
    Action a;
    while (core_.poll_action(a)) {
      if (auto* s = std::get_if<SendAction>(&a)) {
        core_.on_sent(s->link, s->bytes.size(), now_us_);
        inbox_.push_back(std::move(s->bytes));
      } else if (auto* c = std::get_if<CloseAction>(&a)) {
        closed_ = c->reason;
      }
    }
    Event e;
    while (core_.poll_event(e)) events_.push_back(std::move(e));
    if (busy_) return;
    busy_ = true;
    while (!inbox_.empty()) {
      Bytes b = std::move(inbox_.front());
      inbox_.pop_front();
      from_core(b);
    }
    busy_ = false;
  }

  void from_core(const Bytes& bytes) {
    size_t off = 0;
    if (!sealer_) {
      auto used = hs_->on_bytes(bytes);
      ASSERT_TRUE(used.ok()) << used.error().to_string();
      off = *used;
      if (hs_->done()) {
        sealer_ = std::make_unique<FrameSealer>(hs_->keys().tx);
        opener_ = std::make_unique<FrameOpener>(hs_->keys().rx, 1 << 20);
      }
      to_core(hs_->take_output());
      if (!sealer_) return;
    }
    rx_.insert(rx_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(off), bytes.end());
    size_t at = 0;
    for (;;) {
      auto r = opener_->open(std::span<uint8_t>(rx_).subspan(at));
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      if (!*r) break;
      at += (*r)->consumed;
      auto p = (*r)->plaintext;
      ASSERT_FALSE(p.empty());
      ASSERT_EQ(p[0], 0) << "core sent a compressed frame";
      for (size_t i = 1; i < p.size();) {
        ASSERT_LE(i + 4, p.size());
        size_t len = size_t{p[i]} << 24 | size_t{p[i + 1]} << 16 | size_t{p[i + 2]} << 8 | p[i + 3];
        i += 4;
        ASSERT_LE(i + len, p.size());
        auto m = decode_message(ByteView(p.data() + i, len));
        ASSERT_TRUE(m.ok()) << m.error().to_string();
        received_.push_back(std::move(*m));
        i += len;
      }
    }
    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(at));
  }

  NodeCore& core_;
  Identity id_;
  Random rnd_;
  int64_t now_us_;
  LinkId link_ = 0;
  std::unique_ptr<Handshake> hs_;
  std::unique_ptr<FrameSealer> sealer_;
  std::unique_ptr<FrameOpener> opener_;
  Bytes rx_;
  std::deque<Bytes> inbox_;
  bool busy_ = false;
  std::vector<Message> received_;
  std::vector<Event> events_;
  std::optional<std::string> closed_;
};

inline ShoutMsg signed_shout(const Identity& origin, AppId app, uint64_t id, ByteView payload) {
  ShoutMsg s;
  s.app = app;
  s.hops_left = 4;
  s.origin = origin.public_key();
  s.shout_id = id;
  s.payload.assign(payload.begin(), payload.end());
  s.signature = origin.sign(shout_signing_bytes(app, s.origin, id, payload));
  return s;
}

}  // namespace
}  // namespace chorus::overlay
