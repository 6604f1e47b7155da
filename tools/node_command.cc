// `chorus node`: one node in the foreground, logging to stderr.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "chorus/dht/dht.h"
#include "chorus/dht/reach.h"
#include "chorus/metrics/log_format.h"
#include "chorus/metrics/metrics_endpoint.h"
#include "chorus/metrics/node_metrics.h"
#include "chorus/overlay/node.h"
#include "commands.h"
#include "overlay_flags.h"

namespace chorus::tools {

Runner add_node_command(CLI::App& cmd) {
  struct Args {
    std::string listen = "127.0.0.1:7400";
    std::vector<std::string> bootstrap;
    std::string key_file = "chorus.key";
    bool no_listen = false;
    size_t max_outbound = 8;
    size_t max_inbound = 64;
    size_t max_frame_bytes = 1 << 20;
    std::string network;
    std::string compression = "default";
    std::string preferred_compression;
    size_t compression_threshold = overlay::OverlayConfig{}.compression_threshold_bytes;
    size_t max_decompressed_bytes = 0;
    bool dht = false;
    int64_t dht_max_lease_ms = 60'000;
    std::string metrics;
    std::string log_format = "text";
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--listen", args->listen, "HOST:PORT to accept links on")->capture_default_str();
  cmd.add_option("--bootstrap", args->bootstrap, "HOST:PORT of a peer to dial (repeatable)");
  cmd.add_option("--key", args->key_file, "key file; created with mode 0600 if missing")
      ->capture_default_str();
  cmd.add_flag("--no-listen", args->no_listen, "initiate-only: dial out, never listen");
  cmd.add_option("--max-outbound", args->max_outbound, "self-initiated links (ℓ)")
      ->capture_default_str();
  cmd.add_option("--max-inbound", args->max_inbound, "inbound link cap")->capture_default_str();
  cmd.add_option("--max-frame-bytes", args->max_frame_bytes, "largest frame accepted")
      ->capture_default_str();
  cmd.add_option("--network", args->network,
                 "network id: only nodes with the same id link (empty: the default network)");

  cmd.add_option("--compression", args->compression,
                 "codecs to offer, in order of preference (e.g. snappy,zlib), 'none' or 'default'")
      ->capture_default_str();
  cmd.add_option("--preferred-compression", args->preferred_compression,
                 "the codec we want to receive (one of --compression)");
  cmd.add_option("--compression-threshold", args->compression_threshold,
                 "frames with fewer bytes are sent uncompressed")
      ->capture_default_str();
  cmd.add_option("--max-decompressed-bytes", args->max_decompressed_bytes,
                 "largest decompressed frame accepted (0: --max-frame-bytes)")
      ->capture_default_str();

  cmd.add_flag("--dht", args->dht,
               "also run a DHT on UDP at the listen port (bootstraps from the --bootstrap "
               "peers' ports), publish how to reach this node and answer `chorus dht send`; "
               "prints `dht HOST:PORT`");
  cmd.add_option("--dht-max-lease-ms", args->dht_max_lease_ms,
                 "with --dht: the longest lock lease this node grants as a replica; it also "
                 "grants none for this long after it starts (a restart forgot its leases)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1000}, int64_t{3'600'000}));

  cmd.add_option("--metrics", args->metrics,
                 "HOST:PORT to serve Prometheus metrics on (GET /metrics); prints `metrics "
                 "HOST:PORT`");
  cmd.add_option("--log-format", args->log_format,
                 "text, or json: one object a line (time, level, component, peer, event, reason)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));

  return [args]() -> int {
    if (auto r = metrics::set_log_format(args->log_format); !r) {
      std::cerr << "chorus node: --log-format: " << r.error().message() << "\n";
      return 2;
    }
    overlay::NodeOptions opts;
    auto codecs = parse_compression_list(args->compression);
    if (!codecs) {
      std::cerr << "chorus node: --compression: " << codecs.error().message() << "\n";
      return 2;
    }
    opts.overlay.compression = *codecs;
    if (!args->preferred_compression.empty()) {
      auto m = compression::parse_method(args->preferred_compression);
      if (!m) {
        std::cerr << "chorus node: --preferred-compression: unknown method '"
                  << args->preferred_compression << "'\n";
        return 2;
      }
      opts.overlay.preferred_compression = *m;
    }
    opts.overlay.compression_threshold_bytes = args->compression_threshold;
    opts.overlay.max_decompressed_bytes = args->max_decompressed_bytes;
    opts.key_file = args->key_file;
    opts.overlay.max_outbound_links = args->max_outbound;
    opts.overlay.max_inbound_links = args->max_inbound;
    opts.overlay.max_frame_bytes = args->max_frame_bytes;
    opts.overlay.network_id = args->network;
    opts.overlay.max_send_queue_bytes =
        std::max(opts.overlay.max_send_queue_bytes, 2 * args->max_frame_bytes);
    // One app may queue at least a whole frame of its own.
    opts.overlay.max_app_queue_bytes =
        std::max(opts.overlay.max_app_queue_bytes, args->max_frame_bytes);
    for (const auto& b : args->bootstrap) {
      auto a = overlay::parse_socket_address(b);
      if (!a) {
        std::cerr << "chorus node: --bootstrap: " << a.error().message() << "\n";
        return 2;
      }
      opts.overlay.bootstrap.push_back(*a);
    }
    if (args->no_listen) {
      opts.listen.reset();
    } else {
      auto a = overlay::parse_socket_address(args->listen);
      if (!a) {
        std::cerr << "chorus node: --listen: " << a.error().message() << "\n";
        return 2;
      }
      opts.listen = *a;
    }
    opts.name = "node";
    // Block the signals before any thread starts so only sigwait sees them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    auto node = overlay::Node::create(opts);
    if (!node) {
      std::cerr << "chorus node: " << node.error().to_string() << "\n";
      return 1;
    }
    // The DHT hooks into the node's loop, so it exists before the node starts.
    std::unique_ptr<dht::Dht> dht;
    if (args->dht) {
      dht::DhtOptions d;
      // The grace must cover the longest lease granted before a restart.
      d.config.store.max_lease_ms = args->dht_max_lease_ms;
      d.config.lock_grace_after_start_ms = args->dht_max_lease_ms;
      d.bootstrap = opts.overlay.bootstrap;  // our peers run theirs on the same port
      auto created = dht::Dht::create(**node, d);
      if (!created) {
        std::cerr << "chorus node: --dht: " << created.error().to_string() << "\n";
        return 1;
      }
      dht = std::move(*created);
    }
    // Any node can reach this one by its address (`chorus dht send`): the
    // record Reach publishes says where it listens, or which relays carry
    // its messages when it is initiate-only.
    std::unique_ptr<dht::Reach> reach;
    if (dht) {
      auto created = dht::Reach::create(**node, *dht);
      if (!created) {
        std::cerr << "chorus node: --dht: " << created.error().to_string() << "\n";
        return 1;
      }
      reach = std::move(*created);
      overlay::AppHandlers text;
      text.on_whisper = [](const overlay::WhisperInfo& w, overlay::Responder r) {
        std::string line(w.payload.begin(), w.payload.end());
        std::cout << "text from " << overlay::address_to_text(w.from);
        if (w.relay) std::cout << " via " << overlay::address_to_text(*w.relay);
        std::cout << ": " << line << std::endl;
        if (w.is_request) {
          std::string echo = "echo: " + line;
          if (auto sent = r.reply(Bytes(echo.begin(), echo.end()), /*encrypt=*/true); !sent) {
            std::cerr << "response not sent: " << sent.error().to_string() << std::endl;
          }
        }
      };
      if (auto r = (*node)->register_app(kTextApp, std::move(text)); !r) {
        std::cerr << "chorus node: " << r.error().to_string() << "\n";
        return 1;
      }
    }
    std::unique_ptr<metrics::MetricsEndpoint> endpoint;
    if (!args->metrics.empty()) {
      overlay::Node* n = node->get();
      dht::Dht* d = dht.get();
      auto attached =
          metrics::MetricsEndpoint::attach(**node, args->metrics, [n, d](web::MetricsText& m) {
            metrics::append_overlay_metrics(m, *n);
            if (d) metrics::append_dht_metrics(m, *d);
          });
      if (!attached) {
        std::cerr << "chorus node: --metrics: " << attached.error().message() << "\n";
        return 2;
      }
      endpoint = std::move(*attached);
    }
    if (auto r = (*node)->start(); !r) {
      std::cerr << "chorus node: " << r.error().to_string() << "\n";
      return 1;
    }
    std::string metrics_address;
    if (endpoint) {
      auto bound = endpoint->wait_listening();
      if (!bound) {
        std::cerr << "chorus node: --metrics: " << bound.error().to_string() << "\n";
        (*node)->stop();
        return 1;
      }
      metrics_address = *bound;
    }
    if (dht) {
      if (auto r = dht->start(); !r) {
        std::cerr << "chorus node: --dht: " << r.error().to_string() << "\n";
        return 1;
      }
      if (auto r = reach->start(); !r) {
        std::cerr << "chorus node: --dht: " << r.error().to_string() << "\n";
        return 1;
      }
    }
    std::cout << "address " << overlay::address_to_text((*node)->key()) << "\n";
    if (dht) std::cout << "dht " << dht->address()->to_string() << "\n";
    if (endpoint) std::cout << "metrics " << metrics_address << "\n";
    std::cout << std::flush;
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {} received, stopping", sig);
    if (reach) reach->stop();
    if (dht) dht->stop();
    (*node)->stop();
    return 0;
  };
}

}  // namespace chorus::tools
