// `chorus compress` and `chorus decompress`: one codec, stdin to stdout, in
// exactly the format the standard tools use (spec/compression.md).
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "chorus/compression/codec.h"
#include "commands.h"

namespace chorus::tools {
namespace {

using compression::Method;

std::string method_list() {
  std::string s;
  for (Method m : compression::kAllMethods) s += std::string(s.empty() ? "" : "|") + method_name(m);
  return s;
}

Result<Bytes> read_stdin() {
  Bytes in;
  uint8_t buf[64 * 1024];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) in.insert(in.end(), buf, buf + n);
  if (std::ferror(stdin)) return io_error("reading stdin failed");
  return in;
}

bool write_stdout(ByteView out) {
  return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
}

// Registers --method on `cmd`, checked against the method names.
void add_method_option(CLI::App& cmd, std::string& method) {
  cmd.add_option("--method", method, "Compression method: " + method_list())
      ->required()
      ->check([](const std::string& s) -> std::string {
        return compression::parse_method(s) ? ""
                                            : "unknown method '" + s + "' (" + method_list() + ")";
      });
}

// stdin → `transform` → stdout; one line on stderr and exit 1 on any error.
int filter_stdin(const char* who, const std::function<Result<Bytes>(ByteView)>& transform) {
  auto in = read_stdin();
  if (!in.ok()) {
    std::cerr << who << ": " << in.error().message() << "\n";
    return 1;
  }
  auto out = transform(*in);
  if (!out.ok()) {
    std::cerr << who << ": " << out.error().message() << "\n";
    return 1;
  }
  if (!write_stdout(*out)) {
    std::cerr << who << ": writing stdout failed\n";
    return 1;
  }
  return 0;
}

}  // namespace

Runner add_compress_command(CLI::App& cmd) {
  struct Args {
    std::string method;
    int level = compression::kDefaultLevel;
  };
  auto args = std::make_shared<Args>();
  add_method_option(cmd, args->method);
  cmd.add_option("--level", args->level,
                 "Level (bz2 1-9, gzip/zlib/lzma 0-9, snappy none; default: the standard tool's)");
  return [args]() -> int {
    auto codec = compression::make_codec(*compression::parse_method(args->method), args->level);
    if (!codec.ok()) {
      std::cerr << "chorus compress: " << codec.error().message() << "\n";
      return 2;
    }
    return filter_stdin("chorus compress", [&](ByteView in) { return (*codec)->compress(in); });
  };
}

Runner add_decompress_command(CLI::App& cmd) {
  struct Args {
    std::string method;
    size_t max_size = compression::kDefaultMaxOutputBytes;
  };
  auto args = std::make_shared<Args>();
  add_method_option(cmd, args->method);
  cmd.add_option("--max-size", args->max_size,
                 "Refuse (exit 1) when the output would pass this many bytes")
      ->capture_default_str();
  return [args]() -> int {
    const auto& codec = compression::codec_for(*compression::parse_method(args->method));
    return filter_stdin("chorus decompress",
                        [&](ByteView in) { return codec.decompress(in, args->max_size); });
  };
}

}  // namespace chorus::tools
