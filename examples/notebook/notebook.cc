// A shared key-value notebook on the Chorus DHT.
//
// The notebook is one versioned DHT value: lines "name=text". To add or
// change a line a writer takes the notebook's DHT lock (a lease granted by a
// majority of the replicas), reads the current version, sends only a diff
// against it (apply_diff; the full value via compare_and_set when a replica
// lacks the base), then releases the lock. Every node listens on the key and
// prints each new version, so concurrent writers never lose each other's
// lines.
//
//   notebook alice --listen 127.0.0.1:7400 --set alice=hello --expect 3
//   notebook bob --peer 127.0.0.1:7400 --set bob=hi --expect 3
//
// Options:
//   --listen HOST:PORT  overlay (TCP) and DHT (UDP) address; default 127.0.0.1:0
//   --peer HOST:PORT    a node to join through (repeatable)
//   --peers N           wait for N overlay peers before writing (default: 1 with --peer)
//   --set KEY=TEXT      the line to write (repeatable)
//   --book NAME         which notebook (default "notebook")
//   --expect N          exit 0 once the notebook holds N keys (default: after writing)
//   --timeout-s S       give up (exit 1) after S seconds (default 30)
//   --lock-grace-ms MS  how long a fresh node refuses to grant locks (default
//                       60000, so a restart cannot forget a lease it granted;
//                       0 is safe only when every node is new, as in a demo)
#include <chorus/dht/dht.h>
#include <chorus/dht/patch.h>
#include <chorus/overlay/node.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace chorus;
using Clock = std::chrono::steady_clock;

namespace {

std::mutex mu;  // guards the fields below; DHT callbacks run on the node's loop thread
std::condition_variable changed;
std::map<std::string, std::string> notebook;  // as of `seen_version`
uint64_t seen_version = 0;
size_t peers_up = 0;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::map<std::string, std::string> parse(const Bytes& data) {
  std::map<std::string, std::string> lines;
  std::istringstream in(std::string(data.begin(), data.end()));
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) lines[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return lines;
}

Bytes render(const std::map<std::string, std::string>& lines) {
  std::string text;
  for (const auto& [key, value] : lines) text += key + "=" + value + "\n";
  return Bytes(text.begin(), text.end());
}

// The DHT's API is asynchronous (callbacks on the loop thread, each exactly
// once); this program runs its steps one after another, so it waits for each.
Result<dht::OpResult> wait(const std::function<void(dht::Callback)>& start) {
  auto done = std::make_shared<std::promise<Result<dht::OpResult>>>();
  auto result = done->get_future();
  start([done](Result<dht::OpResult> r) { done->set_value(std::move(r)); });
  return result.get();
}

Result<dht::OpResult> wait_cas(const std::function<void(dht::CasCallback)>& start) {
  auto done = std::make_shared<std::promise<Result<dht::OpResult>>>();
  auto result = done->get_future();
  start([done](Result<dht::OpResult> r, uint64_t) { done->set_value(std::move(r)); });
  return result.get();
}

// One locked read-modify-write: Ok with the new version.
Result<uint64_t> write_locked(dht::Dht& dht, const dht::Key& key,
                              const std::map<std::string, std::string>& sets) {
  auto lock = wait([&](dht::Callback cb) { dht.lock(key, 10'000, std::move(cb)); });
  if (!lock) return lock.error();
  const uint64_t token = lock->number;  // fencing token: proves the lease is ours
  auto current = wait([&](dht::Callback cb) { dht.get(key, std::move(cb)); });
  uint64_t base_version = 0;
  Bytes base;
  if (current && current->versioned) {
    base_version = current->versioned->version;
    base = current->versioned->data;
  } else if (!current && current.error().code() != ErrorCode::kNotFound) {
    dht.release(key, token, [](auto) {});
    return current.error();
  }
  auto lines = parse(base);
  for (const auto& [k, v] : sets) lines[k] = v;
  const Bytes next = render(lines);
  // The diff is small however long the notebook grows; a replica that lacks
  // `base_version` refuses it, and then the whole value goes (as it does
  // for the first version: there is nothing to diff against).
  Result<dht::OpResult> written = not_found("no base");
  if (base_version > 0) {
    const Bytes patch = dht::make_patch(base, next);
    written = wait_cas([&](dht::CasCallback cb) {
      dht.apply_diff(key, base_version, patch, overlay::blake2b_256(next), 3600, std::move(cb));
    });
    if (written)
      say("* wrote version " + std::to_string(written->number) + " by diff (" +
          std::to_string(patch.size()) + " of " + std::to_string(next.size()) + " bytes)");
    else
      say("* diff refused (" + written.error().message() + ")");
  }
  if (!written) {
    written = wait_cas([&](dht::CasCallback cb) {
      dht.compare_and_set(key, base_version, next, 3600, std::move(cb));
    });
    if (written) say("* wrote version " + std::to_string(written->number) + " whole");
  }
  dht.release(key, token, [](auto) {});  // fire and forget: the lease expires anyway
  if (!written) return written.error();
  return written->number;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: notebook NAME [options] (see the top of notebook.cc)\n");
    return 2;
  }
  overlay::NodeOptions node_options;
  node_options.name = argv[1];
  dht::DhtOptions dht_options;
  std::map<std::string, std::string> sets;
  std::string book = "notebook";
  size_t want_peers = 0, expect = 0;
  int timeout_s = 30;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    auto address = overlay::parse_socket_address(value);
    if (flag == "--listen" && address) {
      node_options.listen = *address;
    } else if (flag == "--peer" && address) {
      node_options.overlay.bootstrap.push_back(*address);  // overlay link
      dht_options.bootstrap.push_back(*address);           // same host:port over UDP
      want_peers = std::max<size_t>(want_peers, 1);
    } else if (flag == "--set" && value.find('=') != std::string::npos) {
      sets[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    } else if (flag == "--peers" || flag == "--expect" || flag == "--timeout-s" ||
               flag == "--lock-grace-ms") {
      const long n = std::stol(value);
      if (flag == "--peers") want_peers = n;
      if (flag == "--expect") expect = n;
      if (flag == "--timeout-s") timeout_s = static_cast<int>(n);
      if (flag == "--lock-grace-ms") dht_options.config.lock_grace_after_start_ms = n;
    } else if (flag == "--book") {
      book = value;
    } else {
      std::fprintf(stderr, "notebook: bad option %s %s\n", flag.c_str(), value.c_str());
      return 2;
    }
  }
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  const dht::Key key = dht::key_for("chorus-example/" + book);

  auto node = overlay::Node::create(node_options);
  if (!node) return std::fprintf(stderr, "notebook: %s\n", node.error().to_string().c_str()), 1;
  (*node)->on_peer([](const overlay::PublicKey&, bool up, const std::string&) {
    std::lock_guard lock(mu);
    peers_up = up ? peers_up + 1 : peers_up - 1;
    changed.notify_all();
  });
  auto dht = dht::Dht::create(**node, dht_options);  // before the node starts
  if (!dht) return std::fprintf(stderr, "notebook: %s\n", dht.error().to_string().c_str()), 1;
  if (auto r = (*node)->start(); !r)
    return std::fprintf(stderr, "notebook: %s\n", r.error().to_string().c_str()), 1;
  if (auto r = (*dht)->start(); !r)
    return std::fprintf(stderr, "notebook: %s\n", r.error().to_string().c_str()), 1;
  if (auto at = (*node)->listen_address()) say("* listening on " + at->to_string());

  // Every version anyone writes reaches us here (on the loop thread).
  (*dht)->listen(key, [](const dht::ListenEvent& event) {
    if (!event.versioned) return;
    std::lock_guard lock(mu);
    if (event.versioned->version <= seen_version) return;
    seen_version = event.versioned->version;
    notebook = parse(event.versioned->data);
    say("* version " + std::to_string(seen_version) + ": " + std::to_string(notebook.size()) +
        " keys");
    changed.notify_all();
  });

  bool ok = true;
  {
    std::unique_lock lock(mu);
    ok = changed.wait_until(lock, deadline, [&] { return peers_up >= want_peers; });
  }
  if (!ok) say("! no peers within the timeout");
  // Writers race for the lock; a loser backs off a random moment and tries again.
  std::mt19937 rng(std::random_device{}());
  while (ok && !sets.empty()) {
    auto version = write_locked(**dht, key, sets);
    if (version) break;
    say("* retrying: " + version.error().to_string());
    if (Clock::now() + std::chrono::milliseconds(500) > deadline) ok = false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 200));
  }
  if (ok && expect > 0) {
    std::unique_lock lock(mu);
    ok = changed.wait_until(lock, deadline, [&] { return notebook.size() >= expect; });
    if (!ok) say("! the notebook did not reach " + std::to_string(expect) + " keys in time");
  }
  {
    std::lock_guard lock(mu);
    say("notebook version " + std::to_string(seen_version) + ":");
    for (const auto& [k, v] : notebook) say("  " + k + "=" + v);
  }
  (*dht)->stop();
  (*node)->stop();
  return ok ? 0 : 1;
}
