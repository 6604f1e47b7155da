// Running out of file descriptors: starting a Node or a Dht fails with a
// kIo Result that names EMFILE, and nothing crashes. Each run is a forked
// child with a lowered RLIMIT_NOFILE, so the limit, and a crash if there is
// one, stay in the child; the parent reads how the child ended.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "chorus/dht/dht.h"
#include "harness.h"

namespace chorus::itest {
namespace {

// The child's exit codes: which call ran out first.
constexpr int kLoopFailed = 10;    // Node::start: uv_loop_init (epoll, eventfd, signal pipe)
constexpr int kListenFailed = 11;  // Node::start: the listener's socket
constexpr int kUdpFailed = 12;     // Dht::start: the UDP socket
constexpr int kWrongError = 20;    // failed, but not kIo naming EMFILE
constexpr int kNeverFailed = 21;   // the limit did not bite: the run proves nothing
constexpr int kSetupFailed = 22;

size_t open_descriptors() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
    n -= 3;  // ".", ".." and the DIR's own descriptor
  }
  return n;
}

int classify(const Error& e, bool dht) {
  const std::string& m = e.message();
  if (e.code() != ErrorCode::kIo || m.find("EMFILE") == std::string::npos) {
    std::fprintf(stderr, "unexpected error: %s\n", e.to_string().c_str());
    return kWrongError;
  }
  if (dht) return m.find("UDP") != std::string::npos ? kUdpFailed : kWrongError;
  if (m.find("event loop") != std::string::npos) return kLoopFailed;
  if (m.find("cannot listen") != std::string::npos) return kListenFailed;
  std::fprintf(stderr, "unexpected error: %s\n", e.to_string().c_str());
  return kWrongError;
}

// In the child: at most `spare` descriptors beyond those open now, then
// nodes (every other one initiate-only), each with a DHT, started until a
// start fails. Returns the exit code.
int start_until_failure(size_t spare) {
  const size_t open = open_descriptors();
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return kSetupFailed;
  lim.rlim_cur = static_cast<rlim_t>(open + spare);
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return kSetupFailed;
  struct Running {
    std::unique_ptr<Node> node;
    std::unique_ptr<dht::Dht> dht;  // after `node`: destroyed first
  };
  std::vector<Running> running;
  int code = kNeverFailed;
  for (int i = 0; i < 64 && code == kNeverFailed; ++i) {
    NodeOptions no;
    no.overlay = fast_config();
    if (i % 2 == 1) no.listen.reset();
    auto node = Node::create(no);
    if (!node) return kSetupFailed;
    auto d = dht::Dht::create(**node, dht::DhtOptions{});
    if (!d) return kSetupFailed;
    Running r{std::move(*node), std::move(*d)};
    if (auto s = r.node->start(); !s) {
      code = classify(s.error(), /*dht=*/false);
    } else if (auto t = r.dht->start(); !t) {
      code = classify(t.error(), /*dht=*/true);
    }
    running.push_back(std::move(r));  // the failed one too: its stop must be clean
  }
  running.clear();  // stops every node: the ones that started and the one that did not
  return code;
}

TEST(FdLimit, StartingNodesAndDhtsPastTheLimitFailsCleanly) {
  quiet_logs();
  // libuv makes a process-wide signal pipe with the first loop and aborts
  // if it cannot; children inherit it. A real process gets there with
  // descriptors to spare (a swarm's first node), and so does this one.
  {
    auto first = Node::create(NodeOptions{});
    ASSERT_TRUE(first);
    ASSERT_TRUE((*first)->start());
  }
  std::set<int> seen;
  // Each number of spare descriptors makes a different call the first to
  // fail: the loop's epoll, eventfd or signal pipe, the listener, the UDP
  // socket.
  for (size_t spare = 0; spare < 24; ++spare) {
    std::fflush(nullptr);  // nothing buffered is written twice
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(start_until_failure(spare));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "spare " << spare << ": child killed by signal "
                                   << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == kLoopFailed || code == kListenFailed || code == kUdpFailed)
        << "spare " << spare << ": child exited " << code;
    seen.insert(code);
  }
  EXPECT_TRUE(seen.count(kLoopFailed)) << "no run failed creating a loop";
  EXPECT_TRUE(seen.count(kListenFailed)) << "no run failed creating the listener";
  EXPECT_TRUE(seen.count(kUdpFailed)) << "no run failed creating the DHT's socket";
}

}  // namespace
}  // namespace chorus::itest
