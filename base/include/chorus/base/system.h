// chorus::System — an application made of components with explicit
// dependencies, started in order and stopped in reverse (in the spirit of
// Clojure's Component): no component reaches for global state; each is
// handed what it depends on when it is made.
//
//   System sys;
//   auto& store  = sys.add("store", std::make_unique<StoreComponent>(...));
//   auto& ledger = sys.add("ledger", std::make_unique<LedgerComponent>(store), {"store"});
//   if (auto r = sys.start(); !r.ok()) ...;   // store, then ledger
//   sys.stop();                               // ledger, then store
//
// A component names its dependencies when added, and they must have been
// added before it, so the order of adding is an order of starting that
// honours every dependency (and a cycle cannot be written down).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chorus/base/result.h"

namespace chorus {

class Component {
 public:
  virtual ~Component() = default;
  // Acquires what the component needs (files, sockets, threads). On an
  // error the component holds nothing.
  virtual Result<void> start() = 0;
  // Releases it. Called once after a successful start, never otherwise.
  virtual void stop() = 0;
};

class System {
 public:
  System() = default;
  System(const System&) = delete;
  System& operator=(const System&) = delete;
  ~System() { stop(); }

  // Takes `component` under `name`. kInvalidArgument (and the component is
  // dropped) for a name used twice, a dependency not added yet, or after
  // start().
  template <typename T>
  Result<T*> add(std::string name, std::unique_ptr<T> component,
                 std::vector<std::string> depends_on = {}) {
    if (started_count_ != 0) return invalid_argument("system: add " + name + " after start");
    for (const auto& e : entries_) {
      if (e.name == name) return invalid_argument("system: component " + name + " added twice");
    }
    for (const auto& d : depends_on) {
      bool found = false;
      for (const auto& e : entries_) found = found || e.name == d;
      if (!found)
        return invalid_argument("system: " + name + " depends on " + d + ", not added before it");
    }
    T* raw = component.get();
    entries_.push_back({std::move(name), std::move(depends_on), std::move(component)});
    return raw;
  }

  // Starts every component in order. On an error, stops those already
  // started (newest first) and returns the error prefixed with the name of
  // the component that failed.
  Result<void> start() {
    for (auto& e : entries_) {
      auto r = e.component->start();
      if (!r.ok()) {
        stop();
        return Error(r.error().code(), e.name + ": " + r.error().message());
      }
      ++started_count_;
    }
    return {};
  }

  // Stops the started components, newest first. Idempotent.
  void stop() {
    while (started_count_ > 0) {
      --started_count_;
      entries_[started_count_].component->stop();
    }
  }

  // Names in start order, and what each depends on.
  std::vector<std::pair<std::string, std::vector<std::string>>> graph() const {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    for (const auto& e : entries_) out.emplace_back(e.name, e.depends_on);
    return out;
  }
  size_t running() const { return started_count_; }

 private:
  struct Entry {
    std::string name;
    std::vector<std::string> depends_on;
    std::unique_ptr<Component> component;
  };
  std::vector<Entry> entries_;
  size_t started_count_ = 0;
};

}  // namespace chorus
