// Two nodes on 127.0.0.1: B bootstraps from A, whispers once, and exits 0
// when A's ACK hash arrives (each step bounded by a 10 s wait).
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>

#include "chorus/base/bytes.h"
#include "chorus/overlay/node.h"

using namespace chorus;
using namespace chorus::overlay;

namespace {
constexpr auto kWait = std::chrono::seconds(10);
constexpr AppId kApp = 7;

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}
}  // namespace

int main() {
  NodeOptions a_options;
  a_options.name = "a";
  auto a = Node::create(a_options);
  if (!a) return fail("create a: " + a.error().to_string());
  auto got = std::make_shared<std::promise<std::string>>();
  auto got_f = got->get_future();
  auto got_once = std::make_shared<bool>(false);
  AppHandlers handlers;
  // Runs on a's loop thread only, so `got_once` needs no lock.
  handlers.on_whisper = [got, got_once](const WhisperInfo& info, Responder) {
    if (*got_once) return;
    *got_once = true;
    got->set_value(std::string(info.payload.begin(), info.payload.end()));
  };
  if (auto r = (*a)->register_app(kApp, handlers); !r) return fail("register: " + r.error().to_string());
  if (auto r = (*a)->start(); !r) return fail("start a: " + r.error().to_string());

  NodeOptions b_options;
  b_options.name = "b";
  b_options.overlay.bootstrap.push_back(*(*a)->listen_address());
  auto b = Node::create(b_options);
  if (!b) return fail("create b: " + b.error().to_string());
  const PublicKey a_key = (*a)->key();
  auto linked = std::make_shared<std::promise<void>>();
  auto linked_f = linked->get_future();
  auto once = std::make_shared<bool>(false);
  // Runs on b's loop thread only, so `once` needs no lock.
  (*b)->on_peer([linked, once, a_key](const PublicKey& peer, bool up, const std::string&) {
    if (up && peer == a_key && !*once) {
      *once = true;
      linked->set_value();
    }
  });
  if (auto r = (*b)->start(); !r) return fail("start b: " + r.error().to_string());
  if (linked_f.wait_for(kWait) != std::future_status::ready) return fail("b never linked to a");

  auto ack = std::make_shared<std::promise<Result<Hash256>>>();
  auto ack_f = ack->get_future();
  const std::string text = "hello from an installed Chorus";
  (*b)->whisper(kApp, a_key, Bytes(text.begin(), text.end()), false,
                [ack](Result<Hash256> r) { ack->set_value(std::move(r)); });
  if (ack_f.wait_for(kWait) != std::future_status::ready) return fail("no ACK within 10 s");
  auto hash = ack_f.get();
  if (!hash) return fail("whisper: " + hash.error().to_string());
  if (got_f.wait_for(kWait) != std::future_status::ready) return fail("a never saw the whisper");
  if (got_f.get() != text) return fail("payload differs");
  std::printf("ACK %s\n", to_hex(ByteView(hash->data(), hash->size())).c_str());
  (*b)->stop();
  (*a)->stop();
  return 0;
}
