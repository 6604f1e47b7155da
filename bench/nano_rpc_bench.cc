// RPC requests per second over real HTTP (libcurl, one kept-alive
// connection, one request at a time) against a NanoNode in this process
// with an LMDB store: `account_info` and `process` (each a new genesis
// send), beside `version` (no ledger work: the HTTP and JSON baseline) in
// the same run.
//   build/bin/nano_rpc_bench [requests] [--no-sync]
// (process answers after its batch commits: with fsync, one request at a
// time pays one fsync each.)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/nano_node.h"
#include "chorus/nano/work.h"
#include "chorus/web/http_client.h"

using namespace chorus;
using namespace chorus::nano;
using Clock = std::chrono::steady_clock;

namespace {

// Requests per second for `bodies`, and how many answers had "error".
std::pair<double, size_t> run(web::HttpClient& http, const std::string& url,
                              const std::vector<std::string>& bodies) {
  size_t errors = 0;
  const auto t0 = Clock::now();
  for (const auto& body : bodies) {
    auto answer = http.post(url, body);
    if (!answer.ok() || answer->body.find("\"error\"") != std::string::npos) ++errors;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return {static_cast<double>(bodies.size()) / s, errors};
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5000;
  if (!init_crypto()) return 1;
  const NetworkParams& net = dev_network();
  std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-rpcbench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  NanoNodeOptions o;
  o.data_dir = tmpl;
  o.sync = !(argc > 2 && std::string(argv[2]) == "--no-sync");
  o.map_size_bytes = uint64_t{4} << 30;
  o.rpc = overlay::SocketAddress{"127.0.0.1", 0};
  auto node = NanoNode::start(o);
  if (!node.ok()) {
    std::fprintf(stderr, "%s\n", node.error().message().c_str());
    return 1;
  }
  const std::string url = "http://" + (*node)->rpc_address()->to_string() + "/";

  // The genesis sends for `process`, made beforehand.
  std::vector<std::string> process;
  const PrivateKey gk = dev_genesis_private_key();
  BlockHash head = net.genesis_hash;
  Amount balance = net.genesis_amount;
  for (size_t i = 0; i < n; ++i) {
    Block b{BlockType::kState,
            net.genesis_account,
            head,
            net.genesis_account,
            --balance,
            PublicKey{static_cast<uint8_t>(i % 250 + 1)},
            {},
            0};
    WorkOptions w;
    w.threads = 1;
    b.work = generate_work(block_root(b), net.work.epoch_1, w).value();
    head = block_hash(b);
    b.signature = sign(gk, ByteView(head.data(), head.size()));
    process.push_back(R"({"action":"process","json_block":true,"block":)" +
                      block_to_json(b).dump() + "}");
  }
  const std::vector<std::string> version(n, R"({"action":"version"})");
  const std::string genesis = encode_account(net.genesis_account);
  const std::vector<std::string> info(
      n, R"({"action":"account_info","account":")" + genesis +
             R"(","representative":"true","weight":"true","receivable":"true"})");

  web::HttpClient http;
  auto [v_rate, v_err] = run(http, url, version);
  auto [p_rate, p_err] = run(http, url, process);
  auto [i_rate, i_err] = run(http, url, info);
  node->reset();
  std::filesystem::remove_all(tmpl);
  std::printf(
      "{\"requests\":%zu,\"sync\":%s,\"version_per_s\":%.0f,\"process_per_s\":%.0f,"
      "\"account_info_per_s\":%.0f,\"process_vs_version\":%.3f,\"account_info_vs_version\":%.3f,"
      "\"errors\":%zu}\n",
      n, o.sync ? "true" : "false", v_rate, p_rate, i_rate, p_rate / v_rate, i_rate / v_rate,
      v_err + p_err + i_err);
  return v_err + p_err + i_err == 0 ? 0 : 1;
}
