#include "chorus/metrics/metrics_endpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "chorus/metrics/node_metrics.h"
#include "chorus/overlay/node.h"
#include "chorus/web/http_client.h"

namespace chorus::metrics {
namespace {

TEST(MetricsEndpoint, OnItsOwnThreadAnswersGetMetricsAndRefusesTheRest) {
  std::atomic<int> scrapes{0};
  auto e = MetricsEndpoint::start("127.0.0.1:0", [&](web::MetricsText& m) {
    m.counter("test_scrapes_total", "Scrapes.", ++scrapes);
  });
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  auto bound = (*e)->wait_listening();
  ASSERT_TRUE(bound.ok());
  const std::string base = "http://" + *bound;
  web::HttpClient c;
  auto r = c.get(base + "/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("test_scrapes_total 1\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("process_resident_memory_bytes "), std::string::npos);
  auto other = c.get(base + "/other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 404);
  auto post = c.post(base + "/metrics", "x");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(scrapes.load(), 1);  // refused requests collect nothing
  // The same address wait_listening gave, as often as asked.
  EXPECT_EQ(*(*e)->wait_listening(), *bound);
}

TEST(MetricsEndpoint, ABadOrTakenAddressIsAnError) {
  auto bad = MetricsEndpoint::start("nowhere", [](web::MetricsText&) {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  auto first = MetricsEndpoint::start("127.0.0.1:0", [](web::MetricsText&) {});
  ASSERT_TRUE(first.ok());
  auto taken = MetricsEndpoint::start(*(*first)->wait_listening(), [](web::MetricsText&) {});
  ASSERT_FALSE(taken.ok());
}

TEST(MetricsEndpoint, ReadsANodesCountersOnItsLoopFromAnotherThread) {
  overlay::NodeOptions o;
  auto node = overlay::Node::create(o);
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE((*node)->start().ok());
  overlay::Node* n = node->get();
  auto e = MetricsEndpoint::start("127.0.0.1:0", [n](web::MetricsText& m) {
    auto part =
        collect_on_node_loop(*n, [n](web::MetricsText& t) { append_overlay_metrics(t, *n); });
    if (part.ok()) m.append(*part);
  });
  ASSERT_TRUE(e.ok());
  web::HttpClient c;
  auto r = c.get("http://" + *(*e)->wait_listening() + "/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->body.find("chorus_overlay_links{direction=\"outbound\"} 0\n"), std::string::npos)
      << r->body;
  (*node)->stop();
  // A stopped node's loop runs nothing: the collection says so, no hang.
  auto after = collect_on_node_loop(*n, [](web::MetricsText&) {});
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code(), ErrorCode::kCancelled);
}

}  // namespace
}  // namespace chorus::metrics
