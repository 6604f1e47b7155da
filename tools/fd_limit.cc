// Open-file limits of commands that run many nodes in one process.
#include "fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace chorus::tools {
namespace {

// Measured (ls /proc/PID/fd) on `chorus node --dht` and on a 256-node
// `chorus swarm --dht-puts` (libuv 1.44): a loop holds an epoll fd, an
// eventfd and its signal pipe (two); a listener holds its socket and the
// spare /dev/null libuv keeps to shed connections on EMFILE; a DHT one UDP
// socket; a link on loopback has both its ends in this process. Peaks seen:
// 256 nodes, 8 links each: 5,895 (estimate 5,952); 1,024 nodes, 6 links
// each: 19,463 (estimate 19,520).
constexpr size_t kPerLoop = 4;
constexpr size_t kPerListener = 2;
constexpr size_t kPerDht = 1;
constexpr size_t kPerLink = 2;
// stdio, libuv's process-wide signal pipe, log and report files, and links
// being replaced (the new one can open before the old one is closed).
constexpr size_t kProcessReserve = 64;

}  // namespace

size_t descriptors_needed(const NodeFdPlan& p) {
  return kProcessReserve + p.nodes * (kPerLoop + kPerLink * p.links_per_node) +
         p.listening * kPerListener + p.with_dht * kPerDht;
}

Result<size_t> raise_descriptor_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return io_error(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  if (lim.rlim_cur != lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    // Refused (an unlimited hard limit above the kernel's nr_open): keep
    // the soft limit; the caller's check reports it if it is too low.
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return std::numeric_limits<size_t>::max();
  return static_cast<size_t>(lim.rlim_cur);
}

Error too_few_descriptors(const std::string& command, size_t needed, size_t limit) {
  return Error(ErrorCode::kLimit,
               command + " needs " + std::to_string(needed) +
                   " file descriptors, but the open-files limit is " + std::to_string(limit) +
                   " (already raised to the hard limit): raise it (ulimit -n) or run fewer "
                   "nodes");
}

}  // namespace chorus::tools
