#include "chorus/metrics/node_metrics.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "chorus/dht/dht.h"
#include "chorus/overlay/config.h"
#include "chorus/overlay/node.h"

namespace chorus::metrics {
namespace {

// One counter family whose samples differ by one label (a drop's reason).
template <size_t N>
void counters_by(web::MetricsText& m, const char* name, const char* help, const char* label,
                 const std::pair<const char*, uint64_t> (&samples)[N]) {
  for (const auto& [value, count] : samples)
    m.counter(name, help, static_cast<double>(count), {{label, value}});
}

}  // namespace

void append_overlay_metrics(web::MetricsText& m, const overlay::Node& node) {
  const overlay::NodeStats s = node.stats();
  const auto peers = node.peers();
  size_t outbound = 0, queued = 0;
  for (const auto& p : peers) {
    outbound += p.outbound ? 1 : 0;
    queued += p.queued_bytes;
  }
  m.gauge("chorus_overlay_links", "Established links, by who dialled.",
          static_cast<double>(outbound), {{"direction", "outbound"}});
  m.gauge("chorus_overlay_links", "", static_cast<double>(peers.size() - outbound),
          {{"direction", "inbound"}});
  m.gauge("chorus_overlay_send_queue_bytes", "Bytes waiting to be written, all links.",
          static_cast<double>(queued));
  m.gauge("chorus_overlay_seen_cache_entries", "Message ids remembered to drop duplicates.",
          static_cast<double>(node.seen_cache_size()));
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  m.counter("chorus_overlay_frames_total", "Sealed frames, by direction.", d(s.frames_sent),
            {{"direction", "out"}});
  m.counter("chorus_overlay_frames_total", "", d(s.frames_received), {{"direction", "in"}});
  m.counter("chorus_overlay_messages_total", "Messages in and out of frames, by direction.",
            d(s.messages_sent), {{"direction", "out"}});
  m.counter("chorus_overlay_messages_total", "", d(s.messages_received), {{"direction", "in"}});
  m.counter("chorus_overlay_sent_bytes_total", "Bytes handed to sockets.", d(s.bytes_sent));
  m.counter("chorus_overlay_shouts_total", "SHOUTs delivered here and queued to peers.",
            d(s.shouts_delivered), {{"event", "delivered"}});
  m.counter("chorus_overlay_shouts_total", "", d(s.shouts_sent), {{"event", "sent"}});
  m.counter("chorus_overlay_shout_sent_bytes_total", "Encoded bytes of the SHOUTs sent.",
            d(s.shout_bytes_sent));
  m.counter("chorus_overlay_directs_total", "DIRECT messages sent and received.", d(s.directs_sent),
            {{"direction", "out"}});
  m.counter("chorus_overlay_directs_total", "", d(s.directs_received), {{"direction", "in"}});
  const std::pair<const char*, uint64_t> drops[] = {
      {"duplicate", s.duplicates_dropped},
      {"shout_rate_limited", s.shouts_rate_limited},
      {"bad_signature", s.bad_signatures},
      {"app_queue_full", s.app_queue_refused},
      {"unknown_app", s.directs_unknown_app},
      {"verdict_dropped", s.shout_verdicts_dropped},
      {"verdict_penalized", s.shout_verdicts_penalized},
      {"verdict_timed_out", s.shout_verdicts_timed_out},
      {"verdict_overflow", s.shout_verdicts_overflow},
      {"content_wait", s.content_shouts_wait_dropped},
      {"relay_refused", s.relays_refused},
      {"relayed_replay", s.relayed_replays},
      {"graft_refused", s.grafts_refused},
  };
  counters_by(m, "chorus_overlay_dropped_total", "Messages dropped or refused, by reason.",
              "reason", drops);
  m.counter("chorus_overlay_links_refused_total", "Links refused, by reason.", d(s.links_refused),
            {{"reason", "limit"}});
  m.counter("chorus_overlay_links_refused_total", "", d(s.banned_refused), {{"reason", "banned"}});
  m.counter("chorus_overlay_bans_total", "Peers banned.", d(s.bans));
  m.counter("chorus_overlay_compressed_frames_total", "Frames sent compressed.",
            d(s.frames_compressed));
  m.counter("chorus_overlay_compression_bytes_total",
            "Bytes of the compressed frames before and after compression.",
            d(s.bytes_before_compression), {{"stage", "before"}});
  m.counter("chorus_overlay_compression_bytes_total", "", d(s.bytes_after_compression),
            {{"stage", "after"}});
  m.counter("chorus_overlay_relayed_total", "WHISPERs relayed for others, and received relayed.",
            d(s.relays_forwarded), {{"role", "relay"}});
  m.counter("chorus_overlay_relayed_total", "", d(s.relayed_received), {{"role", "target"}});
  m.counter("chorus_overlay_tree_messages_total", "Broadcast tree control messages sent.",
            d(s.ihaves_sent), {{"kind", "ihave"}});
  m.counter("chorus_overlay_tree_messages_total", "", d(s.grafts_sent), {{"kind", "graft"}});
  m.counter("chorus_overlay_tree_messages_total", "", d(s.prunes_sent), {{"kind", "prune"}});
  m.counter("chorus_overlay_queued_messages_total",
            "App messages that waited for a link's write window.", d(s.messages_queued));
}

void append_dht_metrics(web::MetricsText& m, const dht::Dht& dht) {
  const dht::DhtStats s = dht.stats();
  const dht::DhtDriverStats u = dht.driver_stats();
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  m.gauge("chorus_dht_routing_table_nodes", "Nodes in the routing table.",
          static_cast<double>(dht.table_size()));
  m.counter("chorus_dht_datagrams_total", "UDP datagrams, by direction.", d(s.datagrams_in),
            {{"direction", "in"}});
  m.counter("chorus_dht_datagrams_total", "", d(s.datagrams_out), {{"direction", "out"}});
  m.counter("chorus_dht_bytes_total", "UDP bytes, by direction.", d(s.bytes_in),
            {{"direction", "in"}});
  m.counter("chorus_dht_bytes_total", "", d(s.bytes_out), {{"direction", "out"}});
  m.counter("chorus_dht_rpcs_total", "RPCs sent, by result.", d(s.rpcs_answered),
            {{"result", "answered"}});
  m.counter("chorus_dht_rpcs_total", "", d(s.rpcs_timed_out), {{"result", "timed_out"}});
  m.counter("chorus_dht_rpcs_total", "", d(s.rpcs_refused_locally),
            {{"result", "refused_locally"}});
  m.counter("chorus_dht_rpcs_total", "",
            d(s.rpcs_sent - std::min(s.rpcs_sent, s.rpcs_answered + s.rpcs_timed_out)),
            {{"result", "pending"}});
  m.counter("chorus_dht_lookup_stalls_total",
            "Lookup queries no longer waited for (slower than the usual round trip).",
            d(s.lookup_stalls));
  m.counter("chorus_dht_lookup_stores_total",
            "STOREs a put sent before its lookup ended; stale_token: a kept write token refused.",
            d(s.lookup_stores), {{"result", "sent"}});
  m.counter("chorus_dht_lookup_stores_total", "", d(s.lookup_stores_stale),
            {{"result", "stale_token"}});
  m.counter("chorus_dht_requests_served_total", "RPCs from other nodes answered.",
            d(s.requests_served));
  for (size_t k = 0; k < dht::kOpKinds; ++k) {
    const char* kind = dht::op_kind_name(static_cast<dht::OpKind>(k));
    for (size_t failed = 0; failed < 2; ++failed)
      m.counter("chorus_dht_operations_total", "Operations finished, by kind and result.",
                d(s.operations[k][failed]), {{"kind", kind}, {"result", failed ? "failed" : "ok"}});
  }
  std::vector<double> bounds_s;
  for (int64_t ms : dht::kRpcRttBoundsMs) bounds_s.push_back(static_cast<double>(ms) / 1000);
  m.histogram("chorus_dht_rpc_rtt_seconds",
              "Round trips of answered RPCs, in seconds (the DHT's clock counts milliseconds).",
              bounds_s, std::vector<uint64_t>(s.rpc_rtt.begin(), s.rpc_rtt.end()),
              static_cast<double>(s.rpc_rtt_sum_ms) / 1000);
  m.counter("chorus_dht_lookups_total", "Iterative lookups started.", d(s.lookups));
  m.counter("chorus_dht_lock_grants_total", "Locks granted as a replica.", d(s.lock_grants));
  m.counter("chorus_dht_republished_total", "Republish lookups started.", d(s.republished));
  const std::pair<const char*, uint64_t> drops[] = {
      {"bad", s.dropped_bad},
      {"unexpected", s.dropped_unexpected},
      {"store_refused", s.stores_refused},
      {"bad_signed_value", s.bad_signed_dropped},
      {"notify_ignored", s.notifies_ignored},
      {"send_queue_full", u.send_dropped},
      {"send_error", u.send_errors},
      {"recv_error", u.recv_errors},
      {"recv_truncated", u.recv_truncated},
  };
  counters_by(m, "chorus_dht_dropped_total", "Datagrams or requests dropped, by reason.", "reason",
              drops);
  m.gauge("chorus_dht_send_queue_bytes", "Datagram bytes waiting for the socket.",
          static_cast<double>(u.queued_send_bytes));
}

}  // namespace chorus::metrics
