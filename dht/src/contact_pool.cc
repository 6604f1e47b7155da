#include "chorus/dht/contact_pool.h"

#include <cstdlib>
#include <limits>

namespace chorus::dht {

ContactPool::ContactPool() : by_id_(0, overlay::KeyedHash::fresh()) {}

ContactPool::Handle ContactPool::acquire(const Contact& contact) {
  auto [lo, hi] = by_id_.equal_range(contact.id);
  for (auto it = lo; it != hi; ++it) {
    Slot& slot = slots_[it->second];
    if (slot.contact == contact) {
      ++slot.refs;
      return it->second;
    }
  }
  Handle handle;
  if (!free_.empty()) {
    handle = free_.back();
    free_.pop_back();
    slots_[handle].contact = contact;
  } else {
    // 2^32 distinct contacts is past any memory this runs in.
    if (slots_.size() >= std::numeric_limits<Handle>::max()) std::abort();
    handle = static_cast<Handle>(slots_.size());
    slots_.push_back(Slot{contact, 0});
  }
  slots_[handle].refs = 1;
  by_id_.emplace(contact.id, handle);
  return handle;
}

void ContactPool::release(Handle handle) {
  Slot& slot = slots_[handle];
  if (--slot.refs > 0) return;
  auto [lo, hi] = by_id_.equal_range(slot.contact.id);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == handle) {
      by_id_.erase(it);
      break;
    }
  }
  slot.contact = Contact{};  // frees the address string
  free_.push_back(handle);
}

}  // namespace chorus::dht
