#include "node_command.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "chorus/metrics/log_format.h"
#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/nano_node.h"

namespace chorus::nano {

namespace {

constexpr size_t kMaxConfigBytes = 64 << 10;

// What a TOML config may say; command-line flags override it.
struct NodeConfig {
  std::string network = "dev";
  std::string data;
  std::string listen;
  std::vector<std::string> bootstrap;
  std::string rpc;
  std::string websocket;
  std::string ipc_socket;
  std::string ipc_tcp;
  std::string metrics;
  bool sync = true;
  bool rep_dht = true;                // representatives through the DHT
  std::vector<std::string> rep_keys;  // files, each a representative's private key
};

Result<void> read_config(const std::string& path, NodeConfig& c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("--config: cannot read " + path);
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes)
    return invalid_argument("--config: " + path + " is over " + std::to_string(kMaxConfigBytes) +
                            " bytes");
  try {
    toml::table t = toml::parse(text, path);
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      auto str = [&](std::string& out) -> Result<void> {
        auto s = v.value<std::string>();
        if (!s) return invalid_argument("--config: " + key + ": want a string");
        out = *s;
        return {};
      };
      Result<void> r;
      if (key == "network") {
        r = str(c.network);
      } else if (key == "data") {
        r = str(c.data);
      } else if (key == "listen") {
        r = str(c.listen);
      } else if (key == "rpc") {
        r = str(c.rpc);
      } else if (key == "websocket") {
        r = str(c.websocket);
      } else if (key == "ipc_socket") {
        r = str(c.ipc_socket);
      } else if (key == "ipc_tcp") {
        r = str(c.ipc_tcp);
      } else if (key == "metrics") {
        r = str(c.metrics);
      } else if (key == "sync") {
        auto b = v.value<bool>();
        if (!b) return invalid_argument("--config: sync: want true or false");
        c.sync = *b;
      } else if (key == "rep_dht") {
        auto b = v.value<bool>();
        if (!b) return invalid_argument("--config: rep_dht: want true or false");
        c.rep_dht = *b;
      } else if (key == "rep_keys") {
        auto* arr = v.as_array();
        if (!arr) return invalid_argument("--config: rep_keys: want an array of file names");
        for (auto&& e : *arr) {
          auto s = e.value<std::string>();
          if (!s) return invalid_argument("--config: rep_keys: want strings");
          c.rep_keys.push_back(*s);
        }
      } else if (key == "bootstrap") {
        auto* arr = v.as_array();
        if (!arr) return invalid_argument("--config: bootstrap: want an array of HOST:PORT");
        for (auto&& e : *arr) {
          auto s = e.value<std::string>();
          if (!s) return invalid_argument("--config: bootstrap: want strings");
          c.bootstrap.push_back(*s);
        }
      } else {
        return invalid_argument("--config: unknown key '" + key + "'");
      }
      if (!r.ok()) return r;
    }
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << "--config: " << path << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": " << e.description();
    return invalid_argument(s.str());
  }
  return {};
}

}  // namespace

NodeCommand::NodeCommand(CLI::App& app) {
  cmd_ = app.add_subcommand("node", "Run a NANO node until SIGINT, SIGTERM or an IPC stop");
  cmd_->add_option("--config", config_,
                   "TOML file: network, data, listen, bootstrap, rpc, websocket, ipc_socket, "
                   "ipc_tcp, metrics, sync, rep_dht, rep_keys");
  cmd_->add_option("--network", network_, "dev or live (default dev)");
  cmd_->add_option("--data", data_, "Directory of the ledger (LMDB) and node.key");
  cmd_->add_option("--listen", listen_, "Overlay address HOST:PORT");
  cmd_->add_option("--bootstrap", bootstrap_, "A peer's HOST:PORT (repeatable)");
  cmd_->add_option("--rpc", rpc_, "JSON RPC address HOST:PORT (port 0: any)");
  cmd_->add_option("--websocket", websocket_,
                   "WebSocket API address HOST:PORT (port 0: any), as nano-node's");
  cmd_->add_option("--ipc-socket", ipc_socket_,
                   "IPC (spec/ipc.md) on this Unix socket file, made mode 0600");
  cmd_->add_option("--ipc-tcp", ipc_tcp_,
                   "IPC (spec/ipc.md) on this loopback address HOST:PORT (port 0: any)");
  cmd_->add_option("--metrics", metrics_,
                   "HOST:PORT to serve Prometheus metrics on (GET /metrics); prints `metrics "
                   "HOST:PORT` once bound");
  cmd_->add_option("--log-format", log_format_,
                   "text, or json: one object a line (time, level, component, peer, event, "
                   "reason)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd_->add_flag("--no-sync", no_sync_,
                 "Do not fsync each commit (survives a crash, not a power loss)");
  cmd_->add_flag("--no-rep-dht", no_rep_dht_,
                 "No DHT: do not publish or look up which node hosts which representative");
  cmd_->add_option("--rep-key", rep_keys_,
                   "File with a representative's private key (64 hex digits, mode 0600) this "
                   "node votes for (repeatable)");
  cmd_->add_option("--confirmation-history", history_,
                   "Confirmed elections kept for confirmation_history")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
}

int NodeCommand::run() {
  if (auto r = metrics::set_log_format(log_format_); !r.ok()) {
    std::cerr << "chorus-nano node: --log-format: " << r.error().message() << "\n";
    return 2;
  }
  NodeConfig c;
  if (!config_.empty()) {
    if (auto r = read_config(config_, c); !r.ok()) {
      std::cerr << "chorus-nano node: " << r.error().message() << "\n";
      return 2;
    }
  }
  if (!network_.empty()) c.network = network_;
  if (!data_.empty()) c.data = data_;
  if (!listen_.empty()) c.listen = listen_;
  if (!bootstrap_.empty()) c.bootstrap = bootstrap_;
  if (!rpc_.empty()) c.rpc = rpc_;
  if (!websocket_.empty()) c.websocket = websocket_;
  if (!ipc_socket_.empty()) c.ipc_socket = ipc_socket_;
  if (!ipc_tcp_.empty()) c.ipc_tcp = ipc_tcp_;
  if (!metrics_.empty()) c.metrics = metrics_;
  if (no_sync_) c.sync = false;
  if (no_rep_dht_) c.rep_dht = false;
  if (!rep_keys_.empty()) c.rep_keys = rep_keys_;

  auto fail = [](const std::string& m, int code) {
    std::cerr << "chorus-nano node: " << m << "\n";
    return code;
  };
  NanoNodeOptions o;
  o.network = network_by_name(c.network);
  if (!o.network) return fail("--network: want dev or live, got '" + c.network + "'", 2);
  if (c.data.empty()) return fail("--data: required (the ledger's directory)", 2);
  if (::mkdir(c.data.c_str(), 0700) != 0 && errno != EEXIST)
    return fail("--data: cannot create " + c.data, 1);
  o.data_dir = c.data;
  o.sync = c.sync;
  if (!c.listen.empty()) {
    auto a = overlay::parse_socket_address(c.listen);
    if (!a) return fail("--listen: " + a.error().message(), 2);
    overlay::NodeOptions no;
    no.listen = *a;
    no.key_file = c.data + "/node.key";
    no.name = "nano";
    o.overlay = no;
    o.rep_hints.enabled = c.rep_dht;
    for (const auto& b : c.bootstrap) {
      auto p = overlay::parse_socket_address(b);
      if (!p) return fail("--bootstrap: " + p.error().message(), 2);
      o.bootstrap.push_back(*p);
    }
  } else if (!c.bootstrap.empty()) {
    return fail("--bootstrap needs --listen (no overlay without it)", 2);
  }
  if (!c.rpc.empty()) {
    auto a = overlay::parse_socket_address(c.rpc);
    if (!a) return fail("--rpc: " + a.error().message(), 2);
    o.rpc = *a;
  }
  if (!c.websocket.empty()) {
    auto a = overlay::parse_socket_address(c.websocket);
    if (!a) return fail("--websocket: " + a.error().message(), 2);
    o.websocket = *a;
  }
  o.ipc_socket = c.ipc_socket;
  if (!c.ipc_tcp.empty()) {
    auto a = overlay::parse_socket_address(c.ipc_tcp);
    if (!a) return fail("--ipc-tcp: " + a.error().message(), 2);
    o.ipc_tcp = *a;
  }
  if (!c.metrics.empty()) {
    if (auto a = overlay::parse_socket_address(c.metrics); !a)
      return fail("--metrics: " + a.error().message(), 2);
    o.metrics = c.metrics;
  }
  // An IPC `stop` wakes the sigwait below as a SIGTERM would: every thread
  // blocks the signal, so the process-directed one goes to sigwait.
  o.on_ipc_stop = [] { ::kill(::getpid(), SIGTERM); };

  for (const auto& f : c.rep_keys) {
    auto k = read_private_key_file(f);
    if (!k.ok()) return fail("--rep-key: " + k.error().message(), 2);
    o.elections.representatives.push_back(*k);
  }
  o.elections.max_history = history_;

  // Block the signals before any thread starts, so only sigwait sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto node = NanoNode::start(o);
  if (!node.ok()) return fail(node.error().message(), 1);
  if (auto* server = (*node)->server()) {
    if (auto a = server->listen_address()) std::cout << "listen " << a->to_string() << "\n";
  }
  if (auto a = (*node)->rpc_address()) std::cout << "rpc " << a->to_string() << "\n";
  if (auto a = (*node)->websocket_address()) std::cout << "websocket " << a->to_string() << "\n";
  if (auto p = (*node)->ipc_socket_path()) std::cout << "ipc-socket " << *p << "\n";
  if (auto a = (*node)->ipc_tcp_address()) std::cout << "ipc-tcp " << a->to_string() << "\n";
  if (auto a = (*node)->metrics_address()) std::cout << "metrics " << *a << "\n";
  for (const auto& k : o.elections.representatives)
    std::cout << "representative " << encode_account(public_key(k)) << "\n";
  std::cout << std::flush;
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {} received, stopping", sig);
  (*node)->stop();  // the store closes last, after the ledger's last commit
  return 0;
}

}  // namespace chorus::nano
