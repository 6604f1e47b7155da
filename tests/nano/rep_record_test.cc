// Representative records in the DHT (rep_record.h) and the directory that
// follows them (rep_directory.h): a record binds a representative to the
// overlay node hosting it only with the representative's signature over
// that node, sequence and network; the directory follows the heaviest
// representatives, keeps the newest record, and paces its lookups.
#include <gtest/gtest.h>

#include "chorus/nano/keys.h"
#include "chorus/nano/rep_directory.h"
#include "chorus/nano/rep_record.h"

namespace chorus::nano {
namespace {

PrivateKey key(uint32_t i) {
  return derive_private_key(Seed{}, i);
}
PublicKey node_key(uint8_t b) {
  PublicKey k{};
  k.fill(b);
  return k;
}

TEST(RepRecord, RoundTripsAndVerifies) {
  const RepRecord r = make_rep_record(key(1), dev_network(), node_key(7), 42);
  EXPECT_EQ(r.account, public_key(key(1)));
  const Bytes data = encode_rep_record(r);
  ASSERT_EQ(data.size(), kRepRecordBytes);
  auto back = parse_rep_record(data, dev_network(), r.account, node_key(7), 42);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, r);
}

TEST(RepRecord, RefusesWhatTheRepresentativeDidNotSign) {
  const RepRecord r = make_rep_record(key(1), dev_network(), node_key(7), 42);
  const Bytes data = encode_rep_record(r);
  const PublicKey account = r.account;
  // Another node replaying the record as its own DHT value.
  EXPECT_EQ(parse_rep_record(data, dev_network(), account, node_key(8), 42).error().code(),
            ErrorCode::kAuthFailed);
  // An old record presented with a newer sequence.
  EXPECT_EQ(parse_rep_record(data, dev_network(), account, node_key(7), 43).error().code(),
            ErrorCode::kAuthFailed);
  // Under another representative's key.
  EXPECT_EQ(
      parse_rep_record(data, dev_network(), public_key(key(2)), node_key(7), 42).error().code(),
      ErrorCode::kAuthFailed);
  // From another network.
  EXPECT_EQ(parse_rep_record(data, live_network(), account, node_key(7), 42).error().code(),
            ErrorCode::kAuthFailed);
  // A record whose signature was made by someone else.
  RepRecord forged = r;
  forged.signature = make_rep_record(key(2), dev_network(), node_key(7), 42).signature;
  EXPECT_EQ(parse_rep_record(encode_rep_record(forged), dev_network(), account, node_key(7), 42)
                .error()
                .code(),
            ErrorCode::kAuthFailed);
}

TEST(RepRecord, RefusesMalformedBytes) {
  const RepRecord r = make_rep_record(key(1), dev_network(), node_key(7), 1);
  Bytes data = encode_rep_record(r);
  const PublicKey a = r.account;
  for (size_t n : {size_t{0}, size_t{1}, kRepRecordBytes - 1}) {
    Bytes cut(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(parse_rep_record(cut, dev_network(), a, node_key(7), 1).error().code(),
              ErrorCode::kMalformed);
  }
  Bytes longer = data;
  longer.push_back(0);
  EXPECT_EQ(parse_rep_record(longer, dev_network(), a, node_key(7), 1).error().code(),
            ErrorCode::kMalformed);
  data[0] = 2;
  EXPECT_EQ(parse_rep_record(data, dev_network(), a, node_key(7), 1).error().code(),
            ErrorCode::kMalformed);
}

TEST(RepDirectory, KeepsTheNewestRecord) {
  RepDirectory d;
  const PublicKey rep = public_key(key(1));
  ASSERT_EQ(d.due({rep}, 0), std::vector<PublicKey>{rep});
  const RepRecord old_record = make_rep_record(key(1), dev_network(), node_key(1), 10);
  const RepRecord new_record = make_rep_record(key(1), dev_network(), node_key(2), 20);
  d.found(rep, {new_record, old_record}, 0);
  EXPECT_EQ(d.host_of(rep), node_key(2));
  d.found(rep, {old_record}, 1);  // an older one never wins back
  EXPECT_EQ(d.host_of(rep), node_key(2));
  // A record of another account handed in by mistake is ignored.
  d.found(rep, {make_rep_record(key(3), dev_network(), node_key(3), 99)}, 2);
  EXPECT_EQ(d.host_of(rep), node_key(2));
}

TEST(RepDirectory, PacesLookupsAndFollowsOnlyTheHeaviest) {
  RepDirectoryConfig c;
  c.max_reps = 2;
  c.max_lookups = 1;
  c.retry_ms = 100;
  c.refresh_ms = 1000;
  RepDirectory d(c);
  const PublicKey a = public_key(key(1)), b = public_key(key(2)), z = public_key(key(3));
  EXPECT_EQ(d.due({a, b, z}, 0), std::vector<PublicKey>{a});  // one a call
  EXPECT_EQ(d.due({a, b, z}, 0), std::vector<PublicKey>{b});
  EXPECT_TRUE(d.due({a, b, z}, 0).empty());  // z is not among the two heaviest
  EXPECT_EQ(d.size(), 2u);
  d.found(a, {make_rep_record(key(1), dev_network(), node_key(1), 1)}, 0);
  d.found(b, {}, 0);                                             // nothing yet: retried soon
  EXPECT_EQ(d.due({a, b, z}, 100), std::vector<PublicKey>{b});   // a found: refreshed later
  EXPECT_EQ(d.due({a, b, z}, 1000), std::vector<PublicKey>{a});  // a's refresh
  // z becomes heavier than b: b is forgotten, z followed.
  EXPECT_EQ(d.due({z, a, b}, 1000), std::vector<PublicKey>{z});
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.host_of(b), std::nullopt);
  EXPECT_EQ(d.hosts({z, a, b}, 8), std::vector<PublicKey>{node_key(1)});
}

TEST(RepDirectory, HostsAreDistinctAndBounded) {
  RepDirectory d;
  const PublicKey a = public_key(key(1)), b = public_key(key(2)), c = public_key(key(3));
  (void)d.due({a, b, c}, 0);
  d.found(a, {make_rep_record(key(1), dev_network(), node_key(1), 1)}, 0);
  d.found(b, {make_rep_record(key(2), dev_network(), node_key(1), 1)}, 0);  // same node
  d.found(c, {make_rep_record(key(3), dev_network(), node_key(3), 1)}, 0);
  EXPECT_EQ(d.hosts({a, b, c}, 8), (std::vector<PublicKey>{node_key(1), node_key(3)}));
  EXPECT_EQ(d.hosts({c, a, b}, 1), std::vector<PublicKey>{node_key(3)});
}

}  // namespace
}  // namespace chorus::nano
