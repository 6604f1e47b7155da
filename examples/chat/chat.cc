// A chat room: each line you type is SHOUTed to the whole overlay; "/msg NAME text"
// WHISPERs (end-to-end encrypted) to a direct peer. Payloads are "name\ntext".
//   chat alice --listen 127.0.0.1:7400
//   chat bob --no-listen --peer 127.0.0.1:7400      (initiate-only is fine)
#include <chorus/overlay/node.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

using namespace chorus;
using namespace chorus::overlay;

constexpr AppId kChat = 4242;
constexpr char kUsage[] =
    "usage: chat NAME [--listen HOST:PORT | --no-listen] [--peer HOST:PORT]...";
std::mutex mu;  // guards `names` and stdout: handlers run on the node's loop thread
std::map<std::string, PublicKey> names;

void say(const std::string& line) {
  std::lock_guard lock(mu);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Bytes pack(const std::string& name, const std::string& text) {
  std::string payload = name + "\n" + text;
  return Bytes(payload.begin(), payload.end());
}

// "name\ntext" -> "<name> text"; remembers who `name` is.
std::string unpack(ByteView payload, const PublicKey& sender) {
  std::string s(payload.begin(), payload.end());
  auto cut = s.find('\n');
  if (cut == std::string::npos) return "<?> " + s;
  std::lock_guard lock(mu);
  names[s.substr(0, cut)] = sender;
  return "<" + s.substr(0, cut) + "> " + s.substr(cut + 1);
}

int fail(const Error& e) {
  return std::fprintf(stderr, "chat: %s\n", e.to_string().c_str()), 1;
}

int main(int argc, char** argv) {
  NodeOptions options;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto address = parse_socket_address(i + 1 < argc ? argv[i + 1] : "");
    if (arg == "--no-listen") {
      options.listen.reset();
    } else if (arg == "--listen" && address) {
      options.listen = *address, ++i;
    } else if (arg == "--peer" && address) {
      options.overlay.bootstrap.push_back(*address), ++i;
    } else {
      return fail(invalid_argument("bad argument " + arg + "\n" + kUsage));
    }
  }
  if (argc < 2 || argv[1][0] == '-') return fail(invalid_argument(kUsage));
  const std::string me = options.name = argv[1];
  auto created = Node::create(options);
  if (!created) return fail(created.error());
  Node& node = **created;
  AppHandlers handlers;
  handlers.on_shout = [](const ShoutInfo& m) { say(unpack(m.payload, m.origin)); };
  handlers.on_whisper = [](const WhisperInfo& m, Responder) {
    say("[dm] " + unpack(m.payload, m.from));
  };
  (void)node.register_app(kChat, handlers);
  node.on_peer([](const PublicKey& peer, bool up, const std::string&) {
    say(std::string(up ? "* linked " : "* unlinked ") + address_to_text(peer).substr(0, 12));
  });
  if (auto started = node.start(); !started) return fail(started.error());
  if (auto at = node.listen_address()) say("* listening on " + at->to_string());

  for (std::string line; std::getline(std::cin, line) && line != "/quit";) {
    if (line.rfind("/msg ", 0) != 0) {  // not a DM: the room hears it
      node.shout(kChat, pack(me, line));
      continue;
    }
    std::string rest = line.substr(5), to = rest.substr(0, rest.find(' '));
    std::optional<PublicKey> key;
    if (std::lock_guard lock(mu); names.count(to)) key = names[to];
    if (!key)
      say("! who is " + to + "? (names are learned when people talk)");
    else
      node.whisper(
          kChat, *key, pack(me, rest.substr(std::min(rest.size(), to.size() + 1))), true,
          [to](Result<Hash256> ack) {
            say(ack ? "* " + to + " got it" : "! dm to " + to + ": " + ack.error().to_string());
          });
  }
  node.stop();  // closes links; pending whispers end with kCancelled
  return 0;
}
