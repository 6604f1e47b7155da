#include "chorus/overlay/config.h"

#include <gtest/gtest.h>

#include <string>

namespace chorus::overlay {
namespace {

TEST(SocketAddress, ParsesAndPrintsBothFamilies) {
  auto v4 = parse_socket_address("192.0.2.7:7001");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "192.0.2.7");
  EXPECT_EQ(v4->port, 7001);
  EXPECT_EQ(v4->to_string(), "192.0.2.7:7001");
  auto v6 = parse_socket_address("[::1]:7002");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->to_string(), "[::1]:7002");
  auto local = parse_socket_address("localhost:0");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->host, "127.0.0.1");
}

TEST(SocketAddress, RefusesMalformedText) {
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "host:80",
                          "[::1]7000", "[::1:7000", "1.2.3.4:123456"}) {
    EXPECT_FALSE(parse_socket_address(bad).ok()) << bad;
  }
}

// Found by overlay_text_fuzz: inet_pton stops at a NUL, so a host with one
// passed and kept the bytes after it; the address then printed as text that
// parsed to a different address.
TEST(SocketAddress, RefusesHostWithEmbeddedNul) {
  const std::string text("12.0.2.0\0junk:12", 16);
  EXPECT_FALSE(parse_socket_address(text).ok());
  const std::string v6("[::1\0x]:7000", 12);
  EXPECT_FALSE(parse_socket_address(v6).ok());
}

TEST(SocketAddress, WhatParsesPrintsBackToTheSameAddress) {
  for (const char* text : {"10.0.0.1:1", "[2001:db8::1]:65535", "::1:80", "[1.2.3.4]:5"}) {
    auto a = parse_socket_address(text);
    ASSERT_TRUE(a.ok()) << text;
    auto again = parse_socket_address(a->to_string());
    ASSERT_TRUE(again.ok()) << a->to_string();
    EXPECT_EQ(*again, *a) << text;
  }
}

}  // namespace
}  // namespace chorus::overlay
