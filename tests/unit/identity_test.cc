#include "chorus/overlay/identity.h"

#include <gtest/gtest.h>

namespace chorus::overlay {
TEST(Identity, AddressRoundTrips) {
  auto id = Identity::generate();
  auto text = address_to_text(id.public_key());
  auto back = parse_address(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id.public_key());
}
}  // namespace chorus::overlay
