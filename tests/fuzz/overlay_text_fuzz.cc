// libFuzzer: the overlay's text parsers, the forms a user or a config types.
// The first byte picks the parser (mod 5), the rest is the text:
//   0 → parse_socket_address (overlay/src/config.cc): what parses prints
//       back as text that parses to the same address;
//   1 → parse_address (overlay/src/identity.cc): a key parses back from
//       both its text forms, and the checksummed form is canonical (the
//       input, if it was 60 characters, is exactly what we print);
//   2 → compression::parse_method: the inverse of method_name;
//   3 → parse_compression_list (tools/overlay_flags.cc, `--compression`):
//       the list prints back to text that parses to the same list;
//   4 → Identity::load_or_create on a key file holding the text (mode 0600):
//       a file that loads holds exactly the tag, the seed and line ends.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "chorus/compression/method.h"
#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"
#include "fuzz_util.h"
#include "overlay_flags.h"

namespace {

using namespace chorus;
using namespace chorus::overlay;

void fuzz_socket_address(const std::string& text) {
  auto a = parse_socket_address(text);
  if (!a.ok()) return;
  auto again = parse_socket_address(a->to_string());
  FUZZ_CHECK(again.ok() && *again == *a);
}

void fuzz_address(const std::string& text) {
  auto key = parse_address(text);
  if (!key.ok()) return;
  const std::string printed = address_to_text(*key);
  FUZZ_CHECK(printed.size() == 60);
  if (text.size() == 60) FUZZ_CHECK(printed == text);
  auto back = parse_address(printed);
  FUZZ_CHECK(back.ok() && *back == *key);
  auto from_hex_form = parse_address(to_hex(ByteView(key->data(), key->size())));
  FUZZ_CHECK(from_hex_form.ok() && *from_hex_form == *key);
}

void fuzz_method(const std::string& text) {
  auto m = compression::parse_method(text);
  if (!m) return;
  FUZZ_CHECK(text == compression::method_name(*m));
}

void fuzz_compression_list(const std::string& text) {
  auto list = tools::parse_compression_list(text);
  if (!list.ok()) return;
  auto again = tools::parse_compression_list(tools::compression_list_text(*list));
  FUZZ_CHECK(again.ok() && *again == *list);
}

void fuzz_key_file(const std::string& text) {
  static const std::string path =
      "/tmp/chorus_key_fuzz." + std::to_string(static_cast<long>(::getpid()));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  auto id = Identity::load_or_create(path);
  ::unlink(path.c_str());
  if (!id.ok()) return;
  constexpr std::string_view kTag = "chorus-ed25519-seed ";
  std::string_view body(text);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  FUZZ_CHECK(body.size() == kTag.size() + 64 && body.substr(0, kTag.size()) == kTag);
  auto seed = from_hex(body.substr(kTag.size()));
  FUZZ_CHECK(seed && Bytes(id->seed().begin(), id->seed().end()) == *seed);
  FUZZ_CHECK(Identity::from_seed(id->seed()).public_key() == id->public_key());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  FUZZ_CHECK(ok);
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0:
      fuzz_socket_address(text);
      break;
    case 1:
      fuzz_address(text);
      break;
    case 2:
      fuzz_method(text);
      break;
    case 3:
      fuzz_compression_list(text);
      break;
    default:
      fuzz_key_file(text);
      break;
  }
  return 0;
}
