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
    Slot& slot = slots_[cell.handle];
    if (slot.contact == contact) {
      ++slot.refs;
      return cell.handle;
    }
  }
  Handle handle;
  if (!free_.empty()) {
    handle = free_.back();
    free_.pop_back();
    slots_[handle].contact = contact;
  } else {
    // 2^32 - 1 distinct contacts is past any memory this runs in.
    if (slots_.size() >= kEmpty) std::abort();
    handle = static_cast<Handle>(slots_.size());
    slots_.push_back(Slot{contact, 0});
  }
  slots_[handle].refs = 1;
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
  Slot& slot = slots_[handle];
  if (--slot.refs > 0) return;
  const size_t mask = cells_.size() - 1;
  size_t i = home(hash_(slot.contact.id));
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
  slot.contact = Contact{};  // frees the address string
  free_.push_back(handle);
}

}  // namespace chorus::dht
