// SendQueue: app messages waiting for room on one link.
//
// A link gives the driver at most a window of unwritten bytes; messages
// beyond it wait here instead of piling up in the socket's write queue,
// where nothing could overtake them. Taking them out in priority order, and
// by deficit round robin among the apps of one priority, is what lets a
// vote overtake a bootstrap stream queued before it, and two bulk apps share
// a slow link by bytes instead of by message count.
//
// Records are stored encoded, length-prefixed, in one buffer per app, so a
// queued message costs no allocation of its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/overlay/app_priority.h"
#include "chorus/overlay/message.h"

namespace chorus::overlay {

class SendQueue {
 public:
  // Bytes an app may send per turn before the next app of its priority
  // goes; a record larger than this waits until its app has saved up enough
  // turns (so large records cannot starve small ones either).
  static constexpr size_t kQuantumBytes = 16 * 1024;

  void push(AppPriority priority, AppId app, ByteView record);

  bool empty() const { return records_ == 0; }
  // Record bytes queued (without the per-record bookkeeping).
  size_t bytes() const { return bytes_; }
  size_t records() const { return records_; }
  size_t app_bytes(AppId app) const;
  // The highest priority with a record queued. Precondition: !empty().
  AppPriority top_priority() const;

  // The record that goes next. Precondition: !empty(). Valid until the next
  // push() or pop().
  ByteView front();
  void pop();

  void clear();

 private:
  struct AppQueue {
    AppId app = 0;
    Bytes buf;         // u32 length ‖ record, repeated
    size_t head = 0;   // offset of the first unsent record in buf
    size_t bytes = 0;  // record bytes queued
    size_t deficit = 0;
    size_t front_size() const;
  };
  struct Class {
    std::vector<AppQueue> apps;  // one per app that ever queued here; few
    size_t turn = 0;             // index of the app whose turn it is
    bool turn_started = false;   // its quantum was granted for this turn
    size_t records = 0;          // records queued in this class
  };
  AppQueue* select();
  static void compact(AppQueue& q);

  using Classes = std::array<Class, kAppPriorityCount>;
  // Made by the first push: most links never queue, and a link is kept per
  // peer, so an idle queue costs one pointer.
  std::unique_ptr<Classes> classes_;
  AppQueue* current_ = nullptr;  // what front() chose, for pop()
  Class* current_class_ = nullptr;
  size_t bytes_ = 0;
  size_t records_ = 0;
};

}  // namespace chorus::overlay
