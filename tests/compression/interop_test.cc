// Byte compatibility with the standard tools and formats: `gzip`, `bzip2` and
// `xz` read what Chorus writes and Chorus reads what they write; zlib streams
// match zlib's own compress2(); snappy blocks hand-encoded from snappy's
// format_description.txt decode to the text they spell.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "chorus/compression/codec.h"
#include "test_data.h"

namespace chorus::compression {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "chorus-compression-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

void write_file(const std::string& path, ByteView data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs `command` through the shell; its exit status.
int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Tool {
  Method method;
  const char* program;
  std::vector<std::string> compress_flags;  // each one run separately
};

const std::vector<Tool>& tools() {
  static const std::vector<Tool> kTools = {
      {Method::kGzip, "gzip", {"-1", "-6", "-9"}},
      {Method::kBz2, "bzip2", {"-1", "-9"}},
      {Method::kLzma,
       "xz",
       {"-0", "-6", "--check=crc32", "--check=sha256", "--check=none",
        "-T2 --block-size=16KiB"}},  // a multi-block stream
  };
  return kTools;
}

std::vector<Bytes> samples() {
  return {Bytes{}, Bytes{'x'}, test::text_bytes(100 << 10), test::random_bytes(70000),
          Bytes(300000, 0)};
}

TEST(Interop, StandardToolsAreInstalled) {
  for (const Tool& t : tools()) {
    EXPECT_EQ(run(std::string("command -v ") + t.program + " >/dev/null"), 0)
        << t.program << " missing: scripts/deps.sh installs it";
  }
}

TEST(Interop, ChorusReadsWhatTheToolsWrite) {
  TempDir dir;
  for (const Tool& t : tools()) {
    for (const std::string& flags : t.compress_flags) {
      int n = 0;
      for (const Bytes& data : samples()) {
        SCOPED_TRACE(std::string(t.program) + " " + flags + ", sample " + std::to_string(n));
        std::string in = dir.file("in" + std::to_string(n++));
        write_file(in, data);
        // `-c file` (not stdin): gzip then stores the file name in its header.
        ASSERT_EQ(run(std::string(t.program) + " " + flags + " -c " + in + " > " + in + ".z"), 0);
        auto out = codec_for(t.method).decompress(read_file(in + ".z"), data.size());
        ASSERT_TRUE(out.ok()) << out.error().to_string();
        EXPECT_TRUE(*out == data);
      }
    }
  }
}

TEST(Interop, TheToolsReadWhatChorusWrites) {
  TempDir dir;
  for (const Tool& t : tools()) {
    for (int level : {kDefaultLevel, t.method == Method::kBz2 ? 1 : 0, 9}) {
      auto codec = make_codec(t.method, level).value();
      int n = 0;
      for (const Bytes& data : samples()) {
        SCOPED_TRACE(std::string(t.program) + " level " + std::to_string(level) + ", sample " +
                     std::to_string(n));
        std::string packed = dir.file("c" + std::to_string(n++));
        write_file(packed, codec->compress(data).value());
        ASSERT_EQ(run(std::string(t.program) + " -d -c < " + packed + " > " + packed + ".out"), 0);
        EXPECT_TRUE(read_file(packed + ".out") == data);
      }
    }
  }
}

TEST(Interop, ConcatenatedGzipMembersAreTrailingBytes) {
  // `gzip -d` accepts several members; a Chorus payload is exactly one.
  TempDir dir;
  write_file(dir.file("a"), test::text_bytes(1000));
  ASSERT_EQ(run("gzip -c " + dir.file("a") + " > " + dir.file("two.gz") + " && gzip -c " +
                dir.file("a") + " >> " + dir.file("two.gz")),
            0);
  auto out = codec_for(Method::kGzip).decompress(read_file(dir.file("two.gz")), 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(out.error().message(), "gzip: trailing bytes after end of stream");
}

TEST(Interop, GzipOutputIsOneRfc1952Member) {
  Bytes data = test::text_bytes(5000);
  Bytes gz = codec_for(Method::kGzip).compress(data).value();
  ASSERT_GE(gz.size(), 18u);
  EXPECT_EQ(gz[0], 0x1f);  // ID1
  EXPECT_EQ(gz[1], 0x8b);  // ID2
  EXPECT_EQ(gz[2], 8);     // CM = deflate
  EXPECT_EQ(gz[3], 0);     // FLG: no name, comment, extra or header CRC
  auto le32 = [&](size_t at) {
    return uint32_t{gz[at]} | uint32_t{gz[at + 1]} << 8 | uint32_t{gz[at + 2]} << 16 |
           uint32_t{gz[at + 3]} << 24;
  };
  EXPECT_EQ(le32(gz.size() - 8), crc32(0, data.data(), static_cast<uInt>(data.size())));
  EXPECT_EQ(le32(gz.size() - 4), data.size());  // ISIZE
}

TEST(Interop, ZlibMatchesZlibsOwnCompress2) {
  // RFC 1950: CMF (deflate, CINFO = log2(window) - 8), FLG with FCHECK so the
  // header is a multiple of 31, DEFLATE data, Adler-32 big-endian.
  // Empty input from compress2() is the well-known 78 9c 03 00 00 00 00 01.
  auto empty = codec_for(Method::kZlib).decompress(*from_hex("789c030000000001"), 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  // "a": 78 9c 4b 04 00 00 62 00 62 (Adler-32 of "a" is 0x00620062).
  auto a = codec_for(Method::kZlib).decompress(*from_hex("789c4b040000620062"), 1);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(std::string(a->begin(), a->end()), "a");

  for (int level : {1, 6, 9}) {
    for (const Bytes& data : samples()) {
      uLongf size = compressBound(static_cast<uLong>(data.size()));
      Bytes theirs(size);
      ASSERT_EQ(
          compress2(theirs.data(), &size, data.data(), static_cast<uLong>(data.size()), level),
          Z_OK);
      theirs.resize(size);
      Bytes ours = make_codec(Method::kZlib, level).value()->compress(data).value();
      // Below 32 506 bytes Chorus uses a smaller window (a different CINFO
      // and possibly other bytes); from there on it is compress2() exactly.
      if (data.size() >= 32506) {
        EXPECT_TRUE(ours == theirs) << "level " << level << ", " << data.size() << " bytes";
      }
      EXPECT_EQ(ours[0] & 0x0f, 8);                 // CM = deflate
      EXPECT_LE(ours[0] >> 4, 7);                   // CINFO: window at most 32 KiB
      EXPECT_EQ(ours[1] & 0x20, 0);                 // no preset dictionary
      EXPECT_EQ((ours[0] << 8 | ours[1]) % 31, 0);  // FCHECK
      const uLong adler = adler32(1, data.data(), static_cast<uInt>(data.size()));
      const size_t n = ours.size();
      EXPECT_EQ(uLong{ours[n - 4]} << 24 | uLong{ours[n - 3]} << 16 | uLong{ours[n - 2]} << 8 |
                    ours[n - 1],
                adler);
      auto back = codec_for(Method::kZlib).decompress(theirs, data.size());
      ASSERT_TRUE(back.ok()) << back.error().to_string();
      EXPECT_TRUE(*back == data);
    }
  }
}

struct SnappyVector {
  const char* name;
  std::string hex;
  std::string text;
};

TEST(Interop, SnappyDecodesHandEncodedBlocks) {
  // Elements from snappy's format_description.txt: varint length preamble,
  // literals (tag 00, length-1 in the upper six bits or in 1..4 extra bytes)
  // and copies (01: 1-byte offset, 10: 2-byte, 11: 4-byte, all little-endian;
  // copies may overlap their own output).
  const std::vector<SnappyVector> vectors = {
      {"empty", "00", ""},
      {"literal Wikipedia",
       "09"
       "20"
       "57696b697065646961",
       "Wikipedia"},
      {"literal + copy-1 (len 8, offset 4)",
       "0c"
       "0c"
       "61626364"
       "1104",
       "abcdabcdabcd"},
      {"literal + copy-2 (len 8, offset 4)",
       "0c"
       "0c"
       "61626364"
       "1e0400",
       "abcdabcdabcd"},
      {"literal + copy-4 (len 8, offset 4)",
       "0c"
       "0c"
       "61626364"
       "1f04000000",
       "abcdabcdabcd"},
      {"overlapping copy-1 (run of a)",
       "0a"
       "00"
       "61"
       "1501",
       "aaaaaaaaaa"},
      {"literal with a 1-byte length (70 B)",
       "46"
       "f0"
       "45" +
           to_hex(Bytes(70, 'z')),
       std::string(70, 'z')},
      {"Wikipedia, then copy-2 of \"pedia\" at offset 5",
       "0e"
       "20"
       "57696b697065646961"
       "120500",
       "Wikipediapedia"},
  };
  for (const SnappyVector& v : vectors) {
    SCOPED_TRACE(v.name);
    auto out = codec_for(Method::kSnappy).decompress(*from_hex(v.hex), 1 << 20);
    ASSERT_TRUE(out.ok()) << out.error().to_string();
    EXPECT_EQ(std::string(out->begin(), out->end()), v.text);
  }
  // And snappy's own encoder writes a literal for short, unrepetitive input.
  EXPECT_EQ(to_hex(codec_for(Method::kSnappy).compress(as_bytes("Wikipedia")).value()),
            "092057696b697065646961");
}

}  // namespace
}  // namespace chorus::compression
