#include "send_queue.h"

#include <algorithm>
#include <cassert>

namespace chorus::overlay {
namespace {

constexpr size_t kLengthBytes = 4;
// The consumed front of a queue's buffer is dropped once it is this large
// and more than half the buffer, so compaction costs O(1) per byte queued.
constexpr size_t kCompactAtBytes = 64 * 1024;
// An emptied queue keeps at most this much of its buffer for the next burst.
constexpr size_t kKeepCapacityBytes = 64 * 1024;

uint32_t read_length(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

size_t SendQueue::AppQueue::front_size() const {
  return read_length(buf.data() + head);
}

void SendQueue::push(AppPriority priority, AppId app, ByteView record) {
  if (!classes_) classes_ = std::make_unique<Classes>();
  Class& c = (*classes_)[static_cast<size_t>(priority)];
  auto it =
      std::find_if(c.apps.begin(), c.apps.end(), [app](const AppQueue& q) { return q.app == app; });
  if (it == c.apps.end()) {
    c.apps.push_back(AppQueue{app, {}, 0, 0, 0});
    it = c.apps.end() - 1;
    current_ = nullptr;  // the vector may have moved
  }
  const auto len = static_cast<uint32_t>(record.size());
  const uint8_t prefix[kLengthBytes] = {static_cast<uint8_t>(len >> 24),
                                        static_cast<uint8_t>(len >> 16),
                                        static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  it->buf.insert(it->buf.end(), prefix, prefix + kLengthBytes);
  it->buf.insert(it->buf.end(), record.begin(), record.end());
  it->bytes += record.size();
  ++c.records;
  bytes_ += record.size();
  ++records_;
}

size_t SendQueue::app_bytes(AppId app) const {
  size_t n = 0;
  if (!classes_) return 0;
  for (const Class& c : *classes_)
    for (const AppQueue& q : c.apps)
      if (q.app == app) n += q.bytes;
  return n;
}

SendQueue::AppQueue* SendQueue::select() {
  for (Class& c : *classes_) {
    if (c.records == 0) continue;
    // Deficit round robin. Every pass over the apps grants each one that
    // has records a quantum, so the loop ends: the largest record fits
    // after at most size / kQuantumBytes passes.
    for (;;) {
      if (c.turn >= c.apps.size()) c.turn = 0;
      AppQueue& q = c.apps[c.turn];
      if (q.head < q.buf.size()) {
        if (!c.turn_started) {
          q.deficit += kQuantumBytes;
          c.turn_started = true;
        }
        if (q.front_size() <= q.deficit) {
          current_class_ = &c;
          return &q;
        }
      } else {
        q.deficit = 0;
      }
      ++c.turn;
      c.turn_started = false;
    }
  }
  return nullptr;
}

AppPriority SendQueue::top_priority() const {
  assert(!empty());
  size_t i = 0;
  while ((*classes_)[i].records == 0) ++i;
  return static_cast<AppPriority>(i);
}

ByteView SendQueue::front() {
  assert(!empty());
  if (!current_) current_ = select();
  const AppQueue& q = *current_;
  return ByteView(q.buf).subspan(q.head + kLengthBytes, q.front_size());
}

void SendQueue::compact(AppQueue& q) {
  if (q.head == q.buf.size()) {
    if (q.buf.capacity() > kKeepCapacityBytes) {
      Bytes().swap(q.buf);  // a burst's buffer is not kept for the link's life
    } else {
      q.buf.clear();
    }
    q.head = 0;
  } else if (q.head >= kCompactAtBytes && q.head * 2 > q.buf.size()) {
    q.buf.erase(q.buf.begin(), q.buf.begin() + static_cast<ptrdiff_t>(q.head));
    q.head = 0;
  }
}

void SendQueue::pop() {
  if (empty()) return;
  if (!current_) current_ = select();
  AppQueue& q = *current_;
  current_ = nullptr;
  const size_t size = q.front_size();
  q.head += kLengthBytes + size;
  q.deficit -= size;
  q.bytes -= size;
  bytes_ -= size;
  --records_;
  Class& c = *current_class_;
  --c.records;
  if (q.head >= q.buf.size()) {  // its turn ends with its queue
    q.deficit = 0;
    ++c.turn;
    c.turn_started = false;
  }
  compact(q);
}

void SendQueue::clear() {
  classes_.reset();
  current_ = nullptr;
  current_class_ = nullptr;
  bytes_ = 0;
  records_ = 0;
}

}  // namespace chorus::overlay
