// The bootstrap protocol's bytes (spec/nano.md §Bootstrap): requests and
// frontier pages round-trip, and every other shape a peer could send is
// refused as malformed, not read past its end.
#include "chorus/nano/bootstrap_wire.h"

#include <gtest/gtest.h>

namespace chorus::nano {
namespace {

Hash32 filled(uint8_t v) {
  Hash32 h;
  h.fill(v);
  return h;
}

TEST(BootstrapWire, RequestsRoundTripInTheirDocumentedLayout) {
  const Bytes f = serialize_bootstrap_request(FrontiersRequest{filled(1), 0x01020304});
  ASSERT_EQ(f.size(), 37u);
  EXPECT_EQ(f[0], 'F');
  EXPECT_EQ(f[33], 0x01);  // count big-endian
  EXPECT_EQ(f[36], 0x04);
  auto fr = parse_bootstrap_request(f);
  ASSERT_TRUE(fr.ok());
  const auto& fq = std::get<FrontiersRequest>(*fr);
  EXPECT_EQ(fq.start, filled(1));
  EXPECT_EQ(fq.count, 0x01020304u);

  const Bytes c = serialize_bootstrap_request(ChainRequest{filled(2), filled(3), 7});
  ASSERT_EQ(c.size(), 69u);
  auto cr = parse_bootstrap_request(c);
  ASSERT_TRUE(cr.ok());
  const auto& cq = std::get<ChainRequest>(*cr);
  EXPECT_EQ(cq.account, filled(2));
  EXPECT_EQ(cq.after, filled(3));
  EXPECT_EQ(cq.count, 7u);
}

TEST(BootstrapWire, EveryOtherRequestShapeIsMalformed) {
  const Bytes f = serialize_bootstrap_request(FrontiersRequest{filled(1), 5});
  const Bytes c = serialize_bootstrap_request(ChainRequest{filled(2), filled(3), 7});
  std::vector<Bytes> bad = {{}, {'F'}, {'C'}, {'X'}};
  // Each form cut short or with a byte more, and each body under the other tag.
  for (const Bytes* b : {&f, &c}) {
    bad.emplace_back(b->begin(), b->end() - 1);
    Bytes longer = *b;
    longer.push_back(0);
    bad.push_back(longer);
  }
  Bytes f_as_c = f;
  f_as_c[0] = 'C';
  Bytes c_as_f = c;
  c_as_f[0] = 'F';
  Bytes lower = f;
  lower[0] = 'f';
  bad.insert(bad.end(), {f_as_c, c_as_f, lower});
  for (const auto& b : bad) {
    auto r = parse_bootstrap_request(b);
    ASSERT_FALSE(r.ok()) << b.size() << " bytes";
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(BootstrapWire, FrontierPagesMustBeWholeBoundedAndAscending) {
  std::vector<Frontier> page;
  for (uint8_t i = 1; i <= kFrontiersPerPage; ++i) page.emplace_back(filled(i), filled(200));
  const Bytes full = serialize_frontiers(page);
  auto back = parse_frontiers(full);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, page);

  EXPECT_FALSE(parse_frontiers(Bytes{}).ok());                                 // no pair
  EXPECT_FALSE(parse_frontiers(ByteView(full.data(), 63)).ok());               // half a pair
  EXPECT_FALSE(parse_frontiers(ByteView(full.data(), full.size() - 1)).ok());  // cut short
  auto more = page;
  more.emplace_back(filled(250), filled(200));  // a 65th pair: over the page bound
  EXPECT_FALSE(parse_frontiers(serialize_frontiers(more)).ok());
  auto same = std::vector<Frontier>{{filled(5), filled(1)}, {filled(5), filled(2)}};
  EXPECT_FALSE(parse_frontiers(serialize_frontiers(same)).ok());  // not strictly ascending
  auto down = std::vector<Frontier>{{filled(6), filled(1)}, {filled(5), filled(2)}};
  auto r = parse_frontiers(serialize_frontiers(down));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
}

}  // namespace
}  // namespace chorus::nano
