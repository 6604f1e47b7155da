#include "chorus/dht/contact_pool.h"

#include <cstdlib>
#include <limits>

namespace chorus::dht {

ContactPool::ContactPool() : cells_(16), hash_(overlay::KeyedHash::fresh()) {}

ContactPool::Handle ContactPool::acquire(const Contact& contact) {
  const uint64_t hash = hash_(contact.id);
  const size_t mask = cells_.size() - 1;
  for (size_t i = home(hash);; i = (i + 1) & mask) {
    const Cell& cell = cells_[i];
    if (cell.handle == kEmpty) break;
    if (cell.hash != hash) continue;
    if (slots_[cell.handle] == contact) {
      ++refs_[cell.handle];
      return cell.handle;
    }
  }
  Handle handle;
  if (!free_.empty()) {
    handle = free_.back();
    free_.pop_back();
    slots_[handle] = contact;
  } else {
    // 2^32 - 1 distinct contacts is past any memory this runs in.
    if (slots_.size() >= kEmpty) std::abort();
    handle = static_cast<Handle>(slots_.size());
    slots_.push_back(contact);
    refs_.push_back(0);
  }
  refs_[handle] = 1;
  if (2 * size() > cells_.size()) grow();
  index(hash, handle);
  return handle;
}

void ContactPool::index(uint64_t hash, Handle handle) {
  const size_t mask = cells_.size() - 1;
  size_t i = home(hash);
  while (cells_[i].handle != kEmpty) i = (i + 1) & mask;
  cells_[i] = Cell{hash, handle};
}

void ContactPool::grow() {
  std::vector<Cell> old(cells_.size() * 2);
  old.swap(cells_);
  for (const Cell& cell : old)
    if (cell.handle != kEmpty) index(cell.hash, cell.handle);
}

void ContactPool::release(Handle handle) {
  if (--refs_[handle] > 0) return;
  Contact& slot = slots_[handle];
  const size_t mask = cells_.size() - 1;
  size_t i = home(hash_(slot.id));
  while (cells_[i].handle != handle) i = (i + 1) & mask;
  // Backward-shift deletion: move up every later cell of the run that may
  // live at the hole, so no probe ever stops early at it (no tombstones).
  for (size_t j = (i + 1) & mask; cells_[j].handle != kEmpty; j = (j + 1) & mask) {
    // Cell j may fill the hole at i when its home is not in (i, j].
    size_t h = home(cells_[j].hash);
    if (((j - h) & mask) >= ((j - i) & mask)) {
      cells_[i] = cells_[j];
      i = j;
    }
  }
  cells_[i] = Cell{};
  slot = Contact{};  // frees the address string
  free_.push_back(handle);
}

}  // namespace chorus::dht
