// One-line progress display on a terminal (stderr); silent otherwise.
#pragma once

#include <chrono>
#include <string>

namespace chorus::tools {

class Progress {
 public:
  // Shows nothing when `enabled` is false or stderr is not a terminal.
  explicit Progress(bool enabled);
  // Redraws at most ten times a second unless `force`.
  void update(const std::string& line, bool force = false);
  // Leaves the last line on screen.
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace chorus::tools
