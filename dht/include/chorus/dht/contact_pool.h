// ContactPool: one copy of each contact for the routing tables that share it.
//
// A simulator of a million nodes holds every contact in hundreds of tables;
// a pooled entry is a 4-byte handle instead of a 104-byte Contact (key, id
// and address). Reference counted: a contact leaves when the last table
// lets it go. Contacts equal in key, id and address share one slot.
//
// Not thread-safe: share a pool only among tables used from one thread
// (the simulator's cores). A table made without one keeps its own.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "chorus/dht/types.h"
#include "chorus/overlay/keyed_hash.h"

namespace chorus::dht {

class ContactPool {
 public:
  using Handle = uint32_t;

  ContactPool();
  ContactPool(const ContactPool&) = delete;
  ContactPool& operator=(const ContactPool&) = delete;

  // One more reference to `contact`, pooled if new.
  Handle acquire(const Contact& contact);
  // One more reference to a contact already held: no lookup and no read of
  // the contact (a simulator filling a million tables knows its handles).
  Handle share(Handle held) {
    ++refs_[held];
    return held;
  }
  // One fewer; the slot is reused once none are left.
  void release(Handle handle);
  // Stays valid while the handle is held (slots never move).
  const Contact& at(Handle handle) const { return slots_[handle]; }

  // Distinct contacts held.
  size_t size() const { return slots_.size() - free_.size(); }

 private:
  static constexpr Handle kEmpty = ~Handle{0};

  // The index: open addressing with linear probing, at most half full. A
  // cell keeps its id's whole hash, so probing past other ids compares
  // hashes in one cache line instead of fetching their slots; at a million
  // contacts, a node-based hash map's chains were two thirds of the
  // simulator's set-up.
  struct Cell {
    uint64_t hash = 0;
    Handle handle = kEmpty;
  };

  size_t home(uint64_t hash) const { return hash & (cells_.size() - 1); }
  void index(uint64_t hash, Handle handle);
  void grow();

  std::deque<Contact> slots_;
  // Apart from the contacts: 4 bytes a slot stay in cache where the
  // contacts do not, so share() touches no contact.
  std::vector<uint32_t> refs_;
  std::vector<Handle> free_;
  std::vector<Cell> cells_;
  overlay::KeyedHash hash_;  // ids derive from keys peers choose
};

}  // namespace chorus::dht
