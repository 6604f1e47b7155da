// Channels without a master (spec/relay.md, "Channels"): a channel is found
// in the DHT or reserved there with a hold on its lock key and a signed
// value with its password hash; the highest fencing token wins. Later
// nodes learn reservations from an index value (onboarding); a reservation
// is released only when no node has subscribers left.
#include <spdlog/spdlog.h>

#include <ctime>

#include "relay_node_impl.h"

namespace chorus::relay {

namespace {

using nlohmann::json;

dht::Key channel_key(const std::string& channel) {
  return dht::key_for("chorus-relay/channel/" + channel);
}
dht::Key lock_key(const std::string& channel) {
  return dht::key_for("chorus-relay/channel-lock/" + channel);
}
dht::Key index_key() {
  return dht::key_for("chorus-relay/channels");
}

// The newest reservation among the signed values under a channel's key:
// the highest fencing token wins; a release ends it.
struct Found {
  bool live = false;
  PasswordHash hash{};
  uint64_t token = 0;
  std::string owner;
};

Found newest(const std::string& channel, const dht::OpResult& r) {
  Found best;
  uint64_t best_token = 0;
  for (const auto& v : r.signed_values) {
    json j = json::parse(v.data.begin(), v.data.end(), nullptr, false);
    if (!j.is_object() || string_field(j, "channel") != channel) continue;
    const uint64_t token = uint_field(j, "token");
    if (token < best_token) continue;
    auto hash = hash_from_hex(string_field(j, "hash"));
    if (!hash) continue;
    best_token = token;
    best.live = !bool_field(j, "released");
    best.hash = *hash;
    best.token = token;
    best.owner = string_field(j, "owner");
  }
  return best;
}

}  // namespace

void RelayNode::Impl::open_channel(const ChannelOpening& op, int attempt) {
  if (stopped) return;
  dht->get(channel_key(op.channel), [this, op, attempt](Result<dht::OpResult> r) {
    if (stopped) return;
    if (r.ok()) {
      Found f = newest(op.channel, *r);
      if (f.live && f.token > op.released_token) {
        core->channel_known(op.channel, f.hash, f.token, f.owner, now());
        run_actions();
        return;
      }
    } else if (r.error().code() != ErrorCode::kNotFound && attempt == 0) {
      spdlog::debug("relay {}: lookup of '{}': {}", name, op.channel, r.error().message());
    }
    // Nothing there: reserve it, the first time and every tenth lookup
    // while waiting (a hold refused by replicas still in their start-up
    // grace leaves no rival value to wait for).
    if (attempt % 10 == 0) return reserve(op, attempt);
    retry_lookup(op, attempt);
  });
}

void RelayNode::Impl::retry_lookup(const ChannelOpening& op, int attempt) {
  if (now() >= op.deadline_ms) {
    core->channel_failed(op.channel, "reservation did not settle");
    run_actions();
    return;
  }
  auto* t = new uv_timer_t;
  uv_timer_init(loop, t);
  struct Ctx {
    Impl* self;
    ChannelOpening op;
    int attempt;
  };
  t->data = new Ctx{this, op, attempt};
  uv_timer_start(
      t,
      [](uv_timer_t* h) {
        auto* c = static_cast<Ctx*>(h->data);
        c->self->open_channel(c->op, c->attempt + 1);
        delete c;
        uv_close(reinterpret_cast<uv_handle_t*>(h),
                 [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
      },
      kLookupRetryMs, 0);
}

void RelayNode::Impl::reserve(const ChannelOpening& op, int attempt) {
  const std::string& channel = op.channel;
  const PasswordHash& hash = op.hash;
  auto handle = std::make_shared<dht::HoldHandle>(0);
  *handle = dht->hold(
      lock_key(channel), options.reservation_lease_ms,
      [this, op, channel, hash, handle, attempt](Result<dht::HoldGrant> g) {
        if (stopped) return;
        const bool alone = node->peers().empty() && node_sockets.empty();
        if (!g.ok() && !(alone && g.error().code() != ErrorCode::kRefused)) {
          // Someone else holds it (or is taking it): their value follows.
          spdlog::info("relay {}: '{}' not reserved yet: {}", name, channel, g.error().message());
          return retry_lookup(op, attempt);
        }
        // A node with no peer has no replicas to ask: a network of one
        // reserves for itself (token 1), and republishes once peers come.
        Owned& o = owned[channel];
        o.hold = g.ok() ? *handle : 0;
        o.token = g.ok() ? g->fencing_token : 1;
        o.hash = hash;
        publish_channel(channel, o, false, [this, channel, hash, token = o.token] {
          core->channel_known(channel, hash, token, name, now());
          run_actions();
          send_inm(command_inm(std::string(kEveryNode), {{"command", "reserve-channel"},
                                                         {"channel", channel},
                                                         {"hash", hash_to_hex(hash)},
                                                         {"token", token}}));
          publish_index();
        });
      },
      [this, channel](Error e) {
        if (stopped) return;
        spdlog::warn("relay {}: lost the reservation of '{}': {}", name, channel, e.message());
        owned.erase(channel);
      });
}

void RelayNode::Impl::publish_channel(const std::string& channel, const Owned& o, bool released,
                                      std::function<void()> then) {
  json v = {{"channel", channel},
            {"hash", hash_to_hex(o.hash)},
            {"token", o.token},
            {"owner", name},
            {"released", released}};
  // One slot per owner: a release (2t+1) replaces the reservation (2t).
  dht->put_signed(channel_key(channel), to_bytes(v.dump()), o.token * 2 + (released ? 1 : 0),
                  kChannelTtlS, [then = std::move(then)](Result<dht::OpResult>) {
                    if (then) then();
                  });
}

void RelayNode::Impl::publish_index() {
  json list = json::object();
  for (const auto& [ch, o] : owned) list[ch] = {{"hash", hash_to_hex(o.hash)}, {"token", o.token}};
  json v = {{"owner", name}, {"channels", std::move(list)}};
  // Later than any index this key signed before a restart: wall-clock ms.
  index_seq = std::max<uint64_t>(index_seq + 1, static_cast<uint64_t>(std::time(nullptr)) * 1000);
  dht->put_signed(index_key(), to_bytes(v.dump()), index_seq, kChannelTtlS,
                  [](Result<dht::OpResult>) {});
}

void RelayNode::Impl::onboard() {
  dht->get(index_key(), [this](Result<dht::OpResult> r) {
    if (stopped || !r.ok()) return;
    for (const auto& v : r->signed_values) {
      json j = json::parse(v.data.begin(), v.data.end(), nullptr, false);
      if (!j.is_object() || !j.contains("channels") || !j["channels"].is_object()) continue;
      const std::string owner = string_field(j, "owner");
      if (owner == name) continue;
      for (auto& [ch, info] : j["channels"].items()) {
        auto hash = hash_from_hex(string_field(info, "hash"));
        if (hash) core->channel_known(ch, *hash, uint_field(info, "token"), owner, now());
      }
    }
    run_actions();
  });
}

void RelayNode::Impl::maybe_release(const std::string& channel) {
  if (!owned.count(channel) || release_checks.count(channel)) return;
  std::vector<std::string> others;
  for (const auto& [n, e] : nodes)
    if (now() - e.last_seen_ms < 4 * options.announce_interval_ms) others.push_back(n);
  release_checks.insert(channel);
  auto remaining = std::make_shared<size_t>(others.size());
  auto in_use = std::make_shared<bool>(false);
  auto finish = [this, channel, in_use] {
    release_checks.erase(channel);
    auto o = owned.find(channel);
    if (stopped || o == owned.end() || *in_use) return;
    auto info = core->channels().find(channel);
    if (info != core->channels().end() && info->second.local_subscribers > 0)
      return;  // someone subscribed here meanwhile
    Owned copy = o->second;
    owned.erase(o);
    release(channel, copy);
    publish_index();
    core->channel_released(channel, copy.token);
    run_actions();
  };
  if (others.empty()) return finish();
  for (const auto& n : others) {
    ask(n, {{"command", "channel-subscribers"}, {"channel", channel}},
        [remaining, in_use, finish](bool ok, json answer) {
          // No answer counts as in use: releasing a channel someone still
          // uses is worse than keeping an empty one (it is asked again).
          if (!ok || uint_field(answer, "subscribers") > 0) *in_use = true;
          if (--*remaining == 0) finish();
        });
  }
}

void RelayNode::Impl::release(const std::string& channel, const Owned& o) {
  dht->release_hold(o.hold);
  publish_channel(channel, o, true, {});
  send_inm(
      command_inm(std::string(kEveryNode),
                  {{"command", "unreserve-channel"}, {"channel", channel}, {"token", o.token}}));
}

std::vector<std::string> RelayNode::Impl::idle_owned_channels() const {
  std::vector<std::string> out;
  for (const auto& [ch, o] : owned) {
    auto info = core->channels().find(ch);
    if (info == core->channels().end() || info->second.local_subscribers == 0) out.push_back(ch);
  }
  return out;
}

void RelayNode::Impl::republish() {
  for (auto& [ch, o] : owned) publish_channel(ch, o, false, {});
  if (!owned.empty()) publish_index();
}

void RelayNode::Impl::release_all() {
  // Nodes with subscribers left reserve the channels again at once.
  for (auto& [ch, o] : owned) release(ch, o);
  owned.clear();
  publish_index();
}

}  // namespace chorus::relay
