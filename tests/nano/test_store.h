// Stores for tests: a directory under the system's temporary folder that
// lives as long as the object, and a memory or LMDB store by name.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "chorus/nano/lmdb_store.h"
#include "chorus/nano/memory_store.h"

namespace chorus::nano::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-nano-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty when the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// "memory", or "lmdb..." (in `dir`): scenarios run on both, since the rules
// must not depend on where the tables live.
inline std::unique_ptr<LedgerStore> make_test_store(const std::string& kind, const TempDir& dir) {
  if (kind == "memory") return make_memory_store();
  LmdbOptions o;
  o.directory = dir.path();
  o.map_size_bytes = uint64_t{256} << 20;
  o.sync = false;  // a test does not outlive a power loss; it needs speed
  auto store = open_lmdb_store(o);
  EXPECT_TRUE(store.ok()) << store.error().message();
  return store.ok() ? std::move(*store) : make_memory_store();
}

}  // namespace chorus::nano::test
