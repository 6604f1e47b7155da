#include "relay_bench.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "chorus/web/http_client.h"
#include "chorus/web/websocket_client.h"

namespace chorus::relay {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

// One relay node process (this binary, run as a node).
struct NodeProcess {
  pid_t pid = -1;
  std::string listen, ws;
  int out_fd = -1;
};

Result<NodeProcess> spawn_node(int index, const std::string& bootstrap) {
  int pipe_fd[2];
  if (::pipe(pipe_fd) != 0) return io_error("bench: pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return io_error("bench: fork");
  if (pid == 0) {
    ::dup2(pipe_fd[1], 1);
    ::close(pipe_fd[0]);
    ::close(pipe_fd[1]);
    const std::string name = "bench-" + std::to_string(index);
    std::vector<std::string> args = {"chorus-relay", "--listen", "127.0.0.1:0", "--ws",
                                     "127.0.0.1:0",  "--name",   name};
    if (!bootstrap.empty()) {
      args.push_back("--bootstrap");
      args.push_back(bootstrap);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(pipe_fd[1]);
  NodeProcess p;
  p.pid = pid;
  p.out_fd = pipe_fd[0];
  // "name", "listen" and "ws" lines, then nothing until it stops.
  std::string text;
  char buf[256];
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline && text.find("\nws ") == std::string::npos) {
    const ssize_t n = ::read(p.out_fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::istringstream lines(text);
  std::string key, value;
  while (lines >> key >> value) {
    if (key == "listen") p.listen = value;
    if (key == "ws") p.ws = value;
  }
  if (p.listen.empty() || p.ws.empty()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return io_error("bench: node " + std::to_string(index) + " did not start");
  }
  return p;
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::pair<std::string, uint16_t> split(const std::string& hostport) {
  const auto colon = hostport.rfind(':');
  return {hostport.substr(0, colon), static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1)))};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// What the receivers saw, filled on the client's loop thread.
struct Tally {
  std::mutex mu;
  uint64_t delivered = 0;
  uint64_t duplicates = 0;
  uint64_t out_of_order = 0;
  uint64_t own_echoes = 0;
  std::vector<double> latency_ms;
  int64_t last_delivery_us = 0;
  // (receiver, sender) -> last seq seen
  std::map<std::pair<int, int>, int64_t> last;
  std::map<std::string, std::function<void(bool, const std::string&)>> waiting;  // nonce -> answer
  uint64_t acks = 0;
  uint64_t refused = 0;
};

}  // namespace

BenchCommand::BenchCommand(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "bench", "Relay nodes and WebSocket clients on loopback: delivery, order, latency");
  cmd_->add_option("--nodes", nodes_, "Relay node processes (default 3)")->check(CLI::Range(1, 16));
  cmd_->add_option("--clients", clients_, "WebSocket clients, spread over the nodes (default 300)")
      ->check(CLI::Range(2, 4000));
  cmd_->add_option("--channels", channels_, "Channels, clients spread over them (default 30)")
      ->check(CLI::Range(1, 1000));
  cmd_->add_option("--rate", rate_, "Messages per second, all clients together (default 100)")
      ->check(CLI::Range(1.0, 100000.0));
  cmd_->add_option("--seconds", seconds_, "How long to send (default 30)")
      ->check(CLI::Range(0.5, 600.0));
  cmd_->add_flag("--json", json_,
                 "One JSON object on stdout (otherwise progress on stderr and a summary)");
}

int BenchCommand::run() {
  std::vector<NodeProcess> nodes;
  // Each node's log goes on to its stdout: read and drop it, or a full
  // pipe would stop the node.
  std::vector<std::thread> drains;
  auto stop_nodes = [&] {
    for (auto& n : nodes) ::kill(n.pid, SIGTERM);
    for (auto& n : nodes) ::waitpid(n.pid, nullptr, 0);
    for (auto& d : drains) d.join();
    drains.clear();
    for (auto& n : nodes) ::close(n.out_fd);
    nodes.clear();
  };
  auto fail = [&](const std::string& why) {
    std::cerr << "chorus-relay bench: " << why << "\n";
    stop_nodes();
    return 1;
  };
  for (int i = 0; i < nodes_; ++i) {
    auto p = spawn_node(i, i == 0 ? "" : nodes[0].listen);
    if (!p.ok()) return fail(p.error().message());
    nodes.push_back(*p);
    drains.emplace_back([fd = p->out_fd] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    });
  }
  // Wait until every node has a peer (its health leaves "no peers").
  web::HttpClient http;
  for (size_t i = 1; i < nodes.size(); ++i) {
    bool up = false;
    for (int t = 0; t < 100 && !up; ++t) {
      auto r = http.get("http://" + nodes[i].ws + "/health");
      up = r.ok() && r->status == 200 && r->body.find("no peers") == std::string::npos;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!up) return fail("node " + std::to_string(i) + " found no peer");
  }

  Tally tally;
  auto client = web::WebSocketClient::start();
  if (!client.ok()) return fail(client.error().message());
  std::vector<std::unique_ptr<web::WebSocketConnection>> conns;
  std::vector<int> channel_of(static_cast<size_t>(clients_));
  std::vector<int> members(static_cast<size_t>(channels_), 0);
  for (int i = 0; i < clients_; ++i) {
    // Channel i mod K, and a channel's members spread over the nodes (node
    // (i / K) mod N), so most deliveries cross the overlay.
    const auto [host, port] = split(nodes[static_cast<size_t>((i / channels_) % nodes_)].ws);
    web::WebSocketConnectOptions o;
    const int me = i;
    o.on_message = [&tally, me](std::string text) {
      json j = json::parse(text, nullptr, false);
      if (!j.is_object()) return;
      const int64_t t = now_us();
      std::lock_guard<std::mutex> lock(tally.mu);
      if (j.value("type", "") == "response") {
        auto it = tally.waiting.find(j["nonce"].is_string() ? j["nonce"].get<std::string>() : "");
        const bool ok = j["data"].value("ok", false);
        if (it != tally.waiting.end()) {
          auto done = std::move(it->second);
          tally.waiting.erase(it);
          done(ok, j["data"].value("reason", ""));
        }
        return;
      }
      if (j.value("type", "") != "message") return;
      // "sender:seq:sent_us"
      const std::string m = j["data"].value("message", "");
      int sender = 0;
      long long seq = 0, sent = 0;
      if (std::sscanf(m.c_str(), "%d:%lld:%lld", &sender, &seq, &sent) != 3) return;
      if (sender == me) {
        ++tally.own_echoes;
        return;
      }
      int64_t& last = tally.last[{me, sender}];
      if (seq <= last) {
        ++tally.duplicates;
        return;
      }
      if (seq != last + 1) ++tally.out_of_order;
      last = seq;
      ++tally.delivered;
      tally.last_delivery_us = t;
      tally.latency_ms.push_back(static_cast<double>(t - sent) / 1000.0);
    };
    auto c = (*client)->connect(host, port, "/connect", o);
    if (!c.ok()) return fail("client " + std::to_string(i) + ": " + c.error().message());
    conns.push_back(std::move(*c));
    channel_of[static_cast<size_t>(i)] = i % channels_;
    ++members[static_cast<size_t>(i % channels_)];
  }
  // Everyone subscribes at once: the channels are reserved under contention.
  std::atomic<int> subscribed{0}, refused{0};
  for (int i = 0; i < clients_; ++i) {
    const std::string nonce = "sub" + std::to_string(i);
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      tally.waiting[nonce] = [&](bool ok, const std::string&) { (ok ? subscribed : refused)++; };
    }
    json req = {
        {"command", "subscribe"},
        {"data", {{"topic", "bench-" + std::to_string(channel_of[static_cast<size_t>(i)])}}},
        {"nonce", nonce}};
    (void)conns[static_cast<size_t>(i)]->send(req.dump());
  }
  // The first opens wait out the replicas' start-up grace (the lease).
  for (int t = 0; t < 1200 && subscribed + refused < clients_; ++t)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (subscribed != clients_)
    return fail(std::to_string(subscribed.load()) + " of " + std::to_string(clients_) +
                " subscriptions succeeded");

  std::vector<double> cpu_before;
  for (auto& n : nodes) cpu_before.push_back(cpu_seconds(n.pid));
  // Send: `rate` messages a second in all, the clients in turn.
  const auto start = Clock::now();
  const int64_t start_us = now_us();
  const int64_t total = static_cast<int64_t>(rate_ * seconds_);
  std::vector<int64_t> seq(static_cast<size_t>(clients_), 0);
  uint64_t expected = 0;
  auto next_progress = start;
  auto progress = [&](int64_t sent) {
    if (json_ || Clock::now() < next_progress) return;
    next_progress += std::chrono::seconds(1);
    std::lock_guard<std::mutex> lock(tally.mu);
    std::cerr << "\rsent " << sent << "/" << total << "  delivered " << tally.delivered << "/"
              << expected << "  duplicates " << tally.duplicates << "  out of order "
              << tally.out_of_order << "   " << std::flush;
  };
  for (int64_t k = 0; k < total; ++k) {
    std::this_thread::sleep_until(start +
                                  std::chrono::microseconds(static_cast<int64_t>(k * 1e6 / rate_)));
    progress(k);
    const int i = static_cast<int>(k % clients_);
    const int64_t s = ++seq[static_cast<size_t>(i)];
    const std::string message =
        std::to_string(i) + ":" + std::to_string(s) + ":" + std::to_string(now_us());
    json req = {{"command", "send"},
                {"data",
                 {{"channel", "bench-" + std::to_string(channel_of[static_cast<size_t>(i)])},
                  {"message", message}}},
                {"nonce", "m" + std::to_string(k)}};
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      tally.waiting["m" + std::to_string(k)] = [&tally](bool ok, const std::string&) {
        (ok ? tally.acks : tally.refused)++;
      };
    }
    if (conns[static_cast<size_t>(i)]->send(req.dump()).ok())
      expected += static_cast<uint64_t>(
          members[static_cast<size_t>(channel_of[static_cast<size_t>(i)])] - 1);
  }
  const double send_s = std::chrono::duration<double>(Clock::now() - start).count();
  // Let the last messages arrive.
  for (int t = 0; t < 200; ++t) {
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      if (tally.delivered + tally.duplicates >= expected) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json cpu = json::array();
  for (size_t i = 0; i < nodes.size(); ++i)
    cpu.push_back(cpu_seconds(nodes[i].pid) - cpu_before[i]);
  for (auto& c : conns) c->close(1000, "bench done", std::chrono::milliseconds(200));
  conns.clear();
  client->reset();
  stop_nodes();

  std::lock_guard<std::mutex> lock(tally.mu);
  const bool exact = tally.delivered == expected && tally.duplicates == 0 &&
                     tally.out_of_order == 0 && tally.own_echoes == 0;
  json out = {
      {"nodes", nodes_},
      {"clients", clients_},
      {"channels", channels_},
      {"rate", rate_},
      {"seconds", seconds_},
      {"sent", total},
      {"acked", tally.acks},
      {"refused", tally.refused},
      {"expected", expected},
      {"delivered", tally.delivered},
      {"duplicates", tally.duplicates},
      {"out_of_order", tally.out_of_order},
      {"own_echoes", tally.own_echoes},
      {"exactly_once_in_order", exact},
      {"latency_ms",
       {{"p50", percentile(tally.latency_ms, 0.50)}, {"p99", percentile(tally.latency_ms, 0.99)}}},
      // Deliveries over the time from the first send to the last delivery.
      {"msgs_per_s",
       static_cast<double>(tally.delivered) /
           std::max(send_s, static_cast<double>(tally.last_delivery_us - start_us) / 1e6)},
      {"cpu_s_per_node", cpu}};
  if (json_) {
    std::cout << out.dump() << std::endl;
  } else {
    std::cerr << "\n";
    std::cout << "relay bench: " << nodes_ << " nodes, " << clients_ << " clients on " << channels_
              << " channels, " << rate_ << " msgs/s for " << seconds_ << " s\n"
              << "  delivered " << tally.delivered << " of " << expected << " expected ("
              << tally.duplicates << " duplicates, " << tally.out_of_order << " out of order, "
              << tally.own_echoes << " echoes to senders): "
              << (exact ? "every message once, in order" : "NOT exactly once in order") << "\n"
              << "  latency p50 " << out["latency_ms"]["p50"].get<double>() << " ms, p99 "
              << out["latency_ms"]["p99"].get<double>() << " ms; "
              << static_cast<int64_t>(out["msgs_per_s"].get<double>()) << " deliveries/s\n"
              << "  CPU seconds per node: " << out["cpu_s_per_node"].dump() << "\n";
  }
  return exact ? 0 : 1;
}

}  // namespace chorus::relay
