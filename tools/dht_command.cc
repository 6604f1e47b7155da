// `chorus dht put|get|lock|send`: one DHT operation against a running swarm.
//
// It starts an initiate-only overlay node with a read-only DHT (nobody adds
// a short-lived client to their routing table), bootstraps from the given
// DHT nodes, runs the operation, prints the outcome and exits 0 on success,
// 1 on failure, 2 on bad arguments. `send` is a request on the text app
// (kTextApp) to any node by its address, found through the DHT (dht::Reach):
// a `chorus node --dht` answers it, also when initiate-only, through a relay.
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chorus/dht/dht.h"
#include "chorus/dht/reach.h"
#include "commands.h"

namespace chorus::tools {
namespace {

struct DhtArgs {
  std::vector<std::string> bootstrap;
  bool json = false;
  double timeout_s = 15;
  // put
  std::string key;
  std::string value;
  uint32_t ttl_s = 600;
  uint64_t value_id = 1;
  // lock
  int64_t lease_ms = 10'000;
  // send
  std::string to;
};

std::string as_text(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

// Waits for one callback-style operation, bounded by the timeout.
template <typename T>
Result<T> wait_for(std::future<Result<T>>& f, double timeout_s, const char* what) {
  if (f.wait_for(std::chrono::duration<double>(timeout_s)) != std::future_status::ready)
    return timed_out(std::string(what) + " did not complete in time");
  return f.get();
}

int run(const DhtArgs& args, const std::string& op) {
  std::vector<dht::Address> boot;
  for (const auto& b : args.bootstrap) {
    auto a = overlay::parse_socket_address(b);
    if (!a) {
      std::cerr << "chorus dht: --bootstrap: " << a.error().message() << "\n";
      return 2;
    }
    boot.push_back(*a);
  }
  if (boot.empty()) {
    std::cerr << "chorus dht: at least one --bootstrap HOST:PORT is needed\n";
    return 2;
  }
  overlay::NodeOptions no;
  no.listen.reset();  // a client: dial out only
  no.name = "dht-client";
  auto node = overlay::Node::create(no);
  if (!node) {
    std::cerr << "chorus dht: " << node.error().to_string() << "\n";
    return 1;
  }
  dht::DhtOptions options;
  options.learn_from_overlay = false;
  // DhtNode binds an initiate-only node's UDP socket to 127.0.0.1 unless
  // DhtOptions::bootstrap names another host; ours are bootstrapped by hand
  // below, so say where to bind: bound to 127.0.0.1 the client could reach
  // a node on this host only. Still read-only (nobody adds us to a table).
  for (const auto& a : boot) {
    if (a.host.rfind("127.", 0) != 0 && a.host != "::1") {
      options.listen = dht::Address{a.host.find(':') != std::string::npos ? "::" : "0.0.0.0", 0};
      options.config.read_only = true;
      break;
    }
  }
  auto d = dht::Dht::create(**node, options);
  if (!d) {
    std::cerr << "chorus dht: " << d.error().to_string() << "\n";
    return 1;
  }
  dht::Dht& dht = **d;
  std::unique_ptr<dht::Reach> reach;
  std::optional<overlay::PublicKey> to;
  if (op == "send") {
    auto k = overlay::parse_address(args.to);
    if (!k) {
      std::cerr << "chorus dht send: " << k.error().message() << "\n";
      return 2;
    }
    to = *k;
    dht::ReachOptions ro;
    ro.publish = false;  // a client that leaves at once has nothing to announce
    auto created = dht::Reach::create(**node, dht, ro);
    if (!created) {
      std::cerr << "chorus dht: " << created.error().to_string() << "\n";
      return 1;
    }
    reach = std::move(*created);
  }
  if (auto r = (*node)->start(); !r) {
    std::cerr << "chorus dht: " << r.error().to_string() << "\n";
    return 1;
  }
  if (auto r = dht.start(); !r) {
    std::cerr << "chorus dht: " << r.error().to_string() << "\n";
    return 1;
  }
  if (reach) {
    if (auto r = reach->start(); !r) {
      std::cerr << "chorus dht: " << r.error().to_string() << "\n";
      return 1;
    }
  }

  // Every bootstrap node at once; one that answers is enough.
  std::vector<std::future<Result<dht::OpResult>>> boots;
  for (const auto& a : boot) {
    auto p = std::make_shared<std::promise<Result<dht::OpResult>>>();
    boots.push_back(p->get_future());
    dht.bootstrap(a, [p](Result<dht::OpResult> r) { p->set_value(std::move(r)); });
  }
  std::string boot_error;
  size_t booted = 0;
  for (auto& f : boots) {
    auto r = wait_for(f, args.timeout_s, "bootstrap");
    if (r) {
      ++booted;
    } else {
      boot_error = r.error().to_string();
    }
  }
  nlohmann::json j;
  j["op"] = op;
  if (op == "send") {
    j["to"] = args.to;
  } else {
    j["key"] = args.key;
  }
  if (booted == 0) {
    j["ok"] = false;
    j["error"] = "bootstrap failed: " + boot_error;
    if (args.json) {
      std::cout << j.dump() << std::endl;
    } else {
      std::cerr << "chorus dht: bootstrap failed: " << boot_error << "\n";
    }
    return 1;
  }

  dht::Key key = dht::key_for(args.key);
  auto p = std::make_shared<std::promise<Result<dht::OpResult>>>();
  auto f = p->get_future();
  auto done = [p](Result<dht::OpResult> r) { p->set_value(std::move(r)); };
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<Result<Bytes>> reply;
  if (op == "send") {
    auto rp = std::make_shared<std::promise<Result<Bytes>>>();
    auto rf = rp->get_future();
    const auto timeout_ms = static_cast<int64_t>(args.timeout_s * 1000);
    reach->request(kTextApp, *to, Bytes(args.value.begin(), args.value.end()), timeout_ms,
                   [rp](Result<Bytes> r) { rp->set_value(std::move(r)); });
    // Reach bounds the request by timeout_ms; the extra second only guards a lost callback.
    reply = wait_for(rf, args.timeout_s + 1, "send");
    p->set_value(reply->ok() ? Result<dht::OpResult>(dht::OpResult{})
                             : Result<dht::OpResult>(reply->error()));
  } else if (op == "put") {
    dht.put(key, dht::Value{args.value_id, Bytes(args.value.begin(), args.value.end()), args.ttl_s},
            done);
  } else if (op == "get") {
    dht.get(key, done);
  } else {
    dht.lock(key, args.lease_ms, done);
  }
  auto r = wait_for(f, args.timeout_s, op.c_str());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (reach) reach->stop();
  dht.stop();
  (*node)->stop();

  j["ok"] = r.ok();
  j["ms"] = ms;
  if (!r) {
    j["error"] = r.error().to_string();
    if (args.json) {
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    } else {
      std::cerr << "chorus dht " << op << ": " << r.error().to_string() << "\n";
    }
    return 1;
  }
  const dht::OpResult& res = *r;
  if (op != "send") j["rpcs"] = res.rpcs;
  if (op == "send") {
    j["reply"] = as_text(**reply);
    if (!args.json) std::cout << as_text(**reply) << "\n";
  } else if (op == "put") {
    j["acks"] = res.acks;
    j["replicas"] = res.replicas;
    if (!args.json)
      std::cout << "stored on " << res.acks << " of " << res.replicas << " replicas\n";
  } else if (op == "get") {
    nlohmann::json values = nlohmann::json::array();
    for (const auto& v : res.values) values.push_back(as_text(v.data));
    j["values"] = values;
    nlohmann::json signed_values = nlohmann::json::array();
    for (const auto& v : res.signed_values)
      signed_values.push_back({{"owner", overlay::address_to_text(v.owner)},
                               {"seq", v.seq},
                               {"data", as_text(v.data)}});
    j["signed_values"] = signed_values;
    if (res.versioned)
      j["versioned"] = {{"version", res.versioned->version},
                        {"data", as_text(res.versioned->data)}};
    j["hops"] = res.hops;
    if (!args.json) {
      for (const auto& v : res.values) std::cout << as_text(v.data) << "\n";
      for (const auto& v : res.signed_values)
        std::cout << as_text(v.data) << "  (signed, seq " << v.seq << ")\n";
      if (res.versioned)
        std::cout << as_text(res.versioned->data) << "  (version " << res.versioned->version
                  << ")\n";
    }
  } else {
    j["token"] = res.number;
    j["lease_ms"] = args.lease_ms;
    j["acks"] = res.acks;
    j["replicas"] = res.replicas;
    if (!args.json)
      std::cout << "locked: fencing token " << res.number << ", lease " << args.lease_ms << " ms, "
                << res.acks << " of " << res.replicas << " replicas\n";
  }
  if (args.json)
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

}  // namespace

Runner add_dht_command(CLI::App& cmd) {
  auto args = std::make_shared<DhtArgs>();
  cmd.require_subcommand(1);
  auto common = [args](CLI::App* sub) {
    sub->add_option("--bootstrap", args->bootstrap,
                    "HOST:PORT of a DHT node (repeatable; `chorus node --dht` prints it)")
        ->required();
    sub->add_flag("--json", args->json, "print one JSON line");
    sub->add_option("--timeout", args->timeout_s, "seconds for the bootstrap and the operation")
        ->capture_default_str();
  };
  auto keyed = [args, common](CLI::App* sub) {
    common(sub);
    sub->add_option("key", args->key, "key name (hashed with BLAKE2b-256)")->required();
  };
  auto* put = cmd.add_subcommand("put", "Store VALUE under KEY on the k closest nodes");
  keyed(put);
  put->add_option("value", args->value, "the value (text)")->required();
  put->add_option("--ttl", args->ttl_s, "seconds the value lives")->capture_default_str();
  put->add_option("--id", args->value_id, "value id (a put with the same id replaces)")
      ->capture_default_str();
  auto* get = cmd.add_subcommand("get", "Print every value under KEY");
  keyed(get);
  auto* lock = cmd.add_subcommand("lock", "Take the lock KEY; prints its fencing token");
  keyed(lock);
  lock->add_option("--lease-ms", args->lease_ms, "lease length")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{60'000}));
  auto* send = cmd.add_subcommand(
      "send",
      "Send TEXT to the node ADDRESS, found through the DHT (relayed when initiate-only); "
      "prints its reply");
  common(send);
  send->add_option("address", args->to, "the node's address (`chorus node` prints it)")->required();
  send->add_option("text", args->value, "the message (text)")->required();
  return [args, put, get, send]() -> int {
    std::string op = put->parsed()    ? "put"
                     : get->parsed()  ? "get"
                     : send->parsed() ? "send"
                                      : "lock";
    return run(*args, op);
  };
}

}  // namespace chorus::tools
