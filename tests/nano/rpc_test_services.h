// The RpcServices a test's RpcHandler runs on: blocks processed through the
// test's BlockProcessor in one batch at `now`, work generated for real on
// one thread. Tests add what else they need (peers, elections).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "chorus/nano/block_processor.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/nano/work.h"

namespace chorus::nano {

inline RpcServices processor_services(BlockProcessor& processor, uint64_t now) {
  RpcServices s;
  s.process = [&processor, now](const Block& b,
                                std::function<void(std::optional<BlockStatus>)> done) {
    ASSERT_TRUE(processor.add(b, BlockSource::kLocal).ok());
    auto r = processor.run_batch(now);
    ASSERT_TRUE(r.ok());
    done(r->front().status);
  };
  s.work_generate = [](const Hash32& root, uint64_t difficulty,
                       std::function<void(std::optional<uint64_t>)> done) {
    WorkOptions o;
    o.threads = 1;
    auto w = generate_work(root, difficulty, o);
    done(w.ok() ? std::optional<uint64_t>(*w) : std::nullopt);
  };
  s.unchecked_count = [&processor] { return processor.unchecked().size(); };
  return s;
}

}  // namespace chorus::nano
