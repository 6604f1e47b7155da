// The framework's own counters as Prometheus text (chorus/web/metrics.h):
// what an overlay Node and its DHT count already (NodeStats, DhtStats), read
// at scrape time. Every program that runs a node writes these, then its own
// families (docs/metrics.md names them all).
//
//   MetricsText m;
//   append_overlay_metrics(m, node);
//   append_dht_metrics(m, dht);
//   m.gauge("myapp_rooms", "Rooms open.", rooms.size());
#pragma once

#include "chorus/web/metrics.h"

namespace chorus::overlay {
class Node;
}
namespace chorus::dht {
class Dht;
}

namespace chorus::metrics {

// The overlay's counters (NodeStats), its links and what waits to be written
// to them. On the node's loop thread only, like Node::stats().
void append_overlay_metrics(web::MetricsText& m, const overlay::Node& node);

// The DHT's protocol and UDP counters. On the node's loop thread only.
void append_dht_metrics(web::MetricsText& m, const dht::Dht& dht);

}  // namespace chorus::metrics
