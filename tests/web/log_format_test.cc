#include "chorus/metrics/log_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chorus::metrics {
namespace {

nlohmann::ordered_json line(std::string_view message) {
  return nlohmann::ordered_json::parse(
      json_log_line("2026-12-07T00:00:00.000001Z", "info", "node", message));
}

TEST(JsonLogLine, HasTheStableFieldsInOrderWithNullsForWhatIsMissing) {
  auto j = line("node stopped");
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"time", "level", "component", "peer", "event", "reason"}));
  EXPECT_EQ(j["event"], "node stopped");
  EXPECT_TRUE(j["peer"].is_null());
  EXPECT_TRUE(j["reason"].is_null());
}

TEST(JsonLogLine, LiftsPeerAndReasonOutOfTheMessage) {
  auto j = line("peer down peer=a1b2c3 reason=read: connection reset by peer");
  EXPECT_EQ(j["event"], "peer down");
  EXPECT_EQ(j["peer"], "a1b2c3");
  EXPECT_EQ(j["reason"], "read: connection reset by peer");
  auto k = line("closing link 7 reason=idle");
  EXPECT_EQ(k["event"], "closing link 7");
  EXPECT_TRUE(k["peer"].is_null());
  EXPECT_EQ(k["reason"], "idle");
  auto m = line("connect failed peer=10.0.0.2:7400 now");  // words after the peer stay
  EXPECT_EQ(m["event"], "connect failed now");
  EXPECT_EQ(m["peer"], "10.0.0.2:7400");
}

TEST(JsonLogLine, InvalidUtf8FromAPeerIsReplacedNotThrown) {
  const std::string bad = std::string("peer down peer=ab reason=bad \xff\xfe bytes \xc3");
  std::string text;
  ASSERT_NO_THROW(text = json_log_line("t", "info", "node\xff", bad));
  auto j = nlohmann::json::parse(text);  // valid JSON, valid UTF-8
  EXPECT_EQ(j["peer"], "ab");
  EXPECT_NE(j["reason"].get<std::string>().find("bad "), std::string::npos);
  EXPECT_EQ(text.find('\n'), std::string::npos);  // one line
  // A newline inside a message is escaped, so a line is still one event.
  EXPECT_EQ(json_log_line("t", "info", "n", "two\nlines").find('\n'), std::string::npos);
}

}  // namespace
}  // namespace chorus::metrics
