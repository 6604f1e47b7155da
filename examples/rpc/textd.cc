// textd: a custom application protocol on the overlay's request/response.
//
// Protocol (app id 7001), carried in WHISPER requests and responses:
//   request  = u8 op | text        op 1 UPPER, 2 WORDS, 3 REVERSE
//   response = u8 status | text    status 0 OK, 1 UNKNOWN_OP, 2 EMPTY
// Requests are answered through the Responder the overlay hands the app;
// the caller's callback gets the response, or kTimeout / kCancelled.
//
//   textd server --listen 127.0.0.1:7500 --serve 8     # exit after 8 requests, once clients left
//   textd client --no-listen --peer 127.0.0.1:7500 --ask "hello world"
//
// A client asks the first peer it links to: UPPER, WORDS, REVERSE and an op
// the server does not know, prints each answer, and exits.
#include <chorus/overlay/node.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

using namespace chorus;
using namespace chorus::overlay;

namespace {

constexpr AppId kTextApp = 7001;
enum Op : uint8_t { kUpper = 1, kWords = 2, kReverse = 3 };
enum Status : uint8_t { kOk = 0, kUnknownOp = 1, kEmpty = 2 };

std::mutex mu;  // guards the fields below (callbacks run on the loop thread)
std::condition_variable changed;
std::optional<PublicKey> first_peer;
int served = 0, answered = 0, peers_up = 0;

void say(const std::string& line) {
  std::lock_guard lock(mu);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Bytes message(uint8_t head, const std::string& text) {
  Bytes out(1 + text.size());
  out[0] = head;
  std::copy(text.begin(), text.end(), out.begin() + 1);
  return out;
}

// The server side: a pure function from request bytes to response bytes.
Bytes handle(ByteView request) {
  if (request.empty()) return message(kEmpty, "empty request");
  std::string text(request.begin() + 1, request.end());
  switch (request[0]) {
    case kUpper:
      std::transform(text.begin(), text.end(), text.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      return message(kOk, text);
    case kWords: {
      std::istringstream in(text);
      size_t n = 0;
      for (std::string w; in >> w;) ++n;
      return message(kOk, std::to_string(n));
    }
    case kReverse:
      return message(kOk, std::string(text.rbegin(), text.rend()));
    default:
      return message(kUnknownOp, "unknown op " + std::to_string(request[0]));
  }
}

const char* op_name(uint8_t op) {
  return op == kUpper ? "UPPER" : op == kWords ? "WORDS" : op == kReverse ? "REVERSE" : "op?";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: textd NAME [--listen HOST:PORT | --no-listen] [--peer HOST:PORT]...\n"
                 "             [--serve N] [--ask TEXT] [--timeout-s S]\n");
    return 2;
  }
  NodeOptions options;
  options.name = argv[1];
  int serve = 0, timeout_s = 30;
  std::optional<std::string> ask;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    auto address = parse_socket_address(value);
    if (flag == "--no-listen") {
      options.listen.reset();
      continue;
    }
    if (flag == "--listen" && address) {
      options.listen = *address;
    } else if (flag == "--peer" && address) {
      options.overlay.bootstrap.push_back(*address);
    } else if (flag == "--serve" && !value.empty()) {
      serve = std::stoi(value);
    } else if (flag == "--ask") {
      ask = value;
    } else if (flag == "--timeout-s" && !value.empty()) {
      timeout_s = std::stoi(value);
    } else {
      std::fprintf(stderr, "textd: bad option %s\n", flag.c_str());
      return 2;
    }
    ++i;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);

  auto node = Node::create(options);
  if (!node) return std::fprintf(stderr, "textd: %s\n", node.error().to_string().c_str()), 1;
  AppHandlers handlers;
  handlers.on_whisper = [](const WhisperInfo& info, Responder responder) {
    if (!info.is_request) return;  // this protocol is requests only
    Bytes response = handle(info.payload);
    // May also be kept and answered later; fails once the node has stopped.
    if (auto sent = responder.reply(std::move(response)); !sent) {
      say("response not sent: " + sent.error().to_string());
      return;
    }
    say("served " + std::string(op_name(info.payload.empty() ? 0 : info.payload[0])) + " for " +
        address_to_text(info.from).substr(0, 12));
    std::lock_guard lock(mu);
    ++served;
    changed.notify_all();
  };
  if (auto r = (*node)->register_app(kTextApp, handlers); !r) return 1;
  (*node)->on_peer([](const PublicKey& peer, bool up, const std::string&) {
    std::lock_guard lock(mu);
    if (up && !first_peer) first_peer = peer;
    peers_up += up ? 1 : -1;
    changed.notify_all();
  });
  if (auto r = (*node)->start(); !r)
    return std::fprintf(stderr, "textd: %s\n", r.error().to_string().c_str()), 1;
  if (auto at = (*node)->listen_address()) say("* listening on " + at->to_string());

  bool ok = true;
  if (ask) {
    std::unique_lock lock(mu);
    ok = changed.wait_until(lock, deadline, [] { return first_peer.has_value(); });
    const PublicKey server = first_peer.value_or(PublicKey{});
    lock.unlock();
    const uint8_t ops[] = {kUpper, kWords, kReverse, 42};
    for (uint8_t op : ops) {
      if (!ok) break;
      RequestOptions request_options;
      request_options.timeout_ms = 5000;
      (*node)->request(
          kTextApp, server, message(op, *ask), request_options, [op](Result<Bytes> reply) {
            if (!reply)
              say(std::string(op_name(op)) + " failed: " + reply.error().to_string());
            else if (reply->empty())
              say(std::string(op_name(op)) + " -> empty response");
            else
              say(std::string(op_name(op)) + " -> status " + std::to_string((*reply)[0]) + ": " +
                  std::string(reply->begin() + 1, reply->end()));
            std::lock_guard lock(mu);
            ++answered;
            changed.notify_all();
          });
    }
    lock.lock();
    ok = ok && changed.wait_until(lock, deadline, [] { return answered == 4; });
  }
  if (serve > 0) {
    std::unique_lock lock(mu);
    // Stopping closes links, so wait for the clients to hang up first: their
    // last responses are then surely written.
    ok = changed.wait_until(lock, deadline, [&] { return served >= serve && peers_up == 0; }) && ok;
  }
  if (!ok) say("! timed out");
  (*node)->stop();
  return ok ? 0 : 1;
}
