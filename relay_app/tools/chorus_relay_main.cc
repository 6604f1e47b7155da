// chorus-relay: one WSRelay node (spec/relay.md), or `bench`.
//
//   chorus-relay --listen 127.0.0.1:7500 --ws 127.0.0.1:8500 [--bootstrap HOST:PORT]...
//                [--name NAME] [--key FILE] [--config FILE] [--metrics HOST:PORT]
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "chorus/metrics/log_format.h"
#include "chorus/relay/relay_node.h"
#include "relay_bench.h"

namespace {

using chorus::Result;
using namespace chorus::relay;

constexpr size_t kMaxConfigBytes = 64 << 10;

struct Config {
  std::string name, listen, ws, key, tls_cert, tls_key, metrics;
  std::vector<std::string> bootstrap;
  int64_t max_clients = -1;
  int64_t max_frame_bytes = -1;
  double client_rate = -1;
  std::optional<bool> open_join;
};

Result<void> read_config(const std::string& path, Config& c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return chorus::io_error("--config: cannot read " + path);
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes)
    return chorus::invalid_argument("--config: " + path + " is over 64 KiB");
  try {
    toml::table t = toml::parse(text, path);
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      auto want_string = [&](std::string& out) -> Result<void> {
        auto s = v.value<std::string>();
        if (!s) return chorus::invalid_argument("--config: " + key + ": want a string");
        out = *s;
        return {};
      };
      auto want_int = [&](int64_t& out) -> Result<void> {
        auto n = v.value<int64_t>();
        if (!n || *n <= 0)
          return chorus::invalid_argument("--config: " + key + ": want a positive integer");
        out = *n;
        return {};
      };
      Result<void> r;
      if (key == "name") {
        r = want_string(c.name);
      } else if (key == "listen") {
        r = want_string(c.listen);
      } else if (key == "ws") {
        r = want_string(c.ws);
      } else if (key == "key") {
        r = want_string(c.key);
      } else if (key == "tls_cert") {
        r = want_string(c.tls_cert);
      } else if (key == "tls_key") {
        r = want_string(c.tls_key);
      } else if (key == "metrics") {
        r = want_string(c.metrics);
      } else if (key == "max_clients") {
        r = want_int(c.max_clients);
      } else if (key == "max_frame_bytes") {
        r = want_int(c.max_frame_bytes);
      } else if (key == "client_rate") {
        auto d = v.value<double>();
        if (!d || *d <= 0)
          return chorus::invalid_argument("--config: client_rate: want a positive number");
        c.client_rate = *d;
      } else if (key == "open_join") {
        auto b = v.value<bool>();
        if (!b) return chorus::invalid_argument("--config: open_join: want true or false");
        c.open_join = *b;
      } else if (key == "bootstrap") {
        auto* arr = v.as_array();
        if (!arr)
          return chorus::invalid_argument("--config: bootstrap: want an array of HOST:PORT");
        for (auto&& e : *arr) {
          auto s = e.value<std::string>();
          if (!s) return chorus::invalid_argument("--config: bootstrap: want strings");
          c.bootstrap.push_back(*s);
        }
      } else {
        return chorus::invalid_argument("--config: unknown key '" + key + "'");
      }
      if (!r.ok()) return r;
    }
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << "--config: " << path << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": " << e.description();
    return chorus::invalid_argument(s.str());
  }
  return {};
}

int run_node(Config c) {
  auto fail = [](const std::string& m, int code) {
    std::cerr << "chorus-relay: " << m << "\n";
    return code;
  };
  RelayNodeOptions o;
  o.name = c.name;
  o.key_file = c.key;
  if (c.tls_cert.empty() != c.tls_key.empty())
    return fail("--tls-cert and --tls-key: give both or neither", 2);
  o.tls_cert_file = c.tls_cert;
  o.tls_key_file = c.tls_key;
  if (c.listen.empty()) return fail("--listen: required (the overlay address HOST:PORT)", 2);
  if (c.ws.empty()) return fail("--ws: required (the WebSocket address HOST:PORT)", 2);
  auto listen = chorus::overlay::parse_socket_address(c.listen);
  if (!listen) return fail("--listen: " + listen.error().message(), 2);
  o.listen = *listen;
  auto ws = chorus::overlay::parse_socket_address(c.ws);
  if (!ws) return fail("--ws: " + ws.error().message(), 2);
  o.ws = *ws;
  for (const auto& b : c.bootstrap) {
    auto a = chorus::overlay::parse_socket_address(b);
    if (!a) return fail("--bootstrap: " + a.error().message(), 2);
    o.bootstrap.push_back(*a);
  }
  if (c.max_clients > 0) o.max_clients = static_cast<size_t>(c.max_clients);
  if (c.max_frame_bytes > 0) o.max_frame_bytes = static_cast<size_t>(c.max_frame_bytes);
  if (c.client_rate > 0) {
    o.core.client_rate = c.client_rate;
    o.core.client_burst = std::max(1.0, 2 * c.client_rate);
  }
  if (c.open_join) o.open_join = *c.open_join;
  o.metrics = c.metrics;

  // Block the signals before any thread starts, so only sigwait sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto node = RelayNode::start(o);
  if (!node.ok()) return fail(node.error().message(), 1);
  std::cout << "name " << (*node)->name() << "\n"
            << "listen " << (*node)->listen_address().to_string() << "\n"
            << "ws " << (*node)->ws_address().to_string() << "\n";
  if (!(*node)->metrics_address().empty())
    std::cout << "metrics " << (*node)->metrics_address() << "\n";
  std::cout << std::flush;
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {} received, stopping", sig);
  (*node)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "chorus-relay: a WSRelay node — WebSocket channels across relay nodes on the Chorus "
      "overlay (spec/relay.md). Runs until SIGINT or SIGTERM."};
  Config c;
  std::string config;
  std::vector<std::string> bootstrap;
  Config flags;
  app.add_option("--config", config,
                 "TOML file: name, listen, ws, bootstrap, key, tls_cert, tls_key, "
                 "max_clients, max_frame_bytes, client_rate, open_join, metrics");
  app.add_option("--listen", flags.listen, "Overlay and DHT address HOST:PORT (TCP and UDP)");
  app.add_option("--ws", flags.ws,
                 "HTTP/WebSocket address HOST:PORT: GET /, GET /health, WS /connect, WS /node");
  app.add_option("--bootstrap", bootstrap, "A relay node's overlay HOST:PORT (repeatable)");
  app.add_option("--name", flags.name, "This node's name in INMs (default: relay-<key prefix>)");
  app.add_option("--key", flags.key,
                 "Key file (created 0600 on first run; default: a key for this run)");
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate: serve https and wss on --ws (with --tls-key)");
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert");
  app.add_option("--metrics", flags.metrics,
                 "HOST:PORT to serve Prometheus metrics on (GET /metrics); prints `metrics "
                 "HOST:PORT` once bound");
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text, or json: one object a line (time, level, component, peer, event, reason)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  BenchCommand bench(app);
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  if (bench.chosen()) return bench.run();
  if (auto r = chorus::metrics::set_log_format(log_format); !r.ok()) {
    std::cerr << "chorus-relay: --log-format: " << r.error().message() << "\n";
    return 2;
  }
  if (!config.empty()) {
    if (auto r = read_config(config, c); !r.ok()) {
      std::cerr << "chorus-relay: " << r.error().message() << "\n";
      return 2;
    }
  }
  if (!flags.name.empty()) c.name = flags.name;
  if (!flags.listen.empty()) c.listen = flags.listen;
  if (!flags.ws.empty()) c.ws = flags.ws;
  if (!flags.key.empty()) c.key = flags.key;
  if (!flags.tls_cert.empty()) c.tls_cert = flags.tls_cert;
  if (!flags.tls_key.empty()) c.tls_key = flags.tls_key;
  if (!flags.metrics.empty()) c.metrics = flags.metrics;
  if (!bootstrap.empty()) c.bootstrap = bootstrap;
  return run_node(c);
}
