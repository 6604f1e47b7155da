// The IPC cores with no I/O (spec/ipc.md): the framing (FrameReader,
// encode_frame) and IpcSession over a real RpcHandler, ledger and memory
// store, the way the node's IpcServer drives them.
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/block_processor.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/nano/work.h"
#include "ipc_actions.h"
#include "ipc_codec.h"
#include "ipc_session.h"
#include "rpc_test_services.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers

std::string be32(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16 & 0xff),
          static_cast<char>(n >> 8 & 0xff), static_cast<char>(n & 0xff)};
}

// ---- framing

TEST(IpcCodec, AFrameComesBackWholeFromBytesInAnyPieces) {
  const std::string frame = ipc::encode_frame("head", std::string(300, 'b'));
  ASSERT_EQ(frame.size(), 4u + 4 + 4 + 4 + 300);
  EXPECT_EQ(frame.substr(0, 4), std::string("N\x01\x01\x00", 4));
  EXPECT_EQ(frame.substr(4, 4), be32(4));
  ipc::FrameReader r;
  for (size_t i = 0; i + 1 < frame.size(); ++i) {
    r.feed(frame.substr(i, 1));
    auto f = r.next();
    ASSERT_TRUE(f.ok()) << f.error().message();
    ASSERT_FALSE(f->has_value()) << "a frame before its last byte, at " << i;
  }
  r.feed(frame.substr(frame.size() - 1) + frame);  // the last byte, and a second frame
  for (int n = 0; n < 2; ++n) {
    auto f = r.next();
    ASSERT_TRUE(f.ok() && f->has_value());
    EXPECT_EQ((*f)->header, "head");
    EXPECT_EQ((*f)->body, std::string(300, 'b'));
    EXPECT_EQ((*f)->major, ipc::kMajor);
  }
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(IpcCodec, ABadLeadOrEncodingIsMalformedAtItsFirstByte) {
  ipc::FrameReader http;
  http.feed("G");  // an HTTP client on the wrong port
  auto f = http.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kMalformed);
  http.feed(ipc::encode_frame("", ""));
  EXPECT_FALSE(http.next().ok()) << "the stream is lost for good";

  ipc::FrameReader json;
  json.feed(std::string("N\x02", 2));
  auto g = json.next();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), ErrorCode::kMalformed);
  EXPECT_NE(g.error().message().find("encoding 2"), std::string::npos) << g.error().message();
}

TEST(IpcCodec, AnotherMajorIsAClearErrorAndAnotherMinorIsAccepted) {
  ipc::FrameReader r;
  r.feed(ipc::encode_frame("", "", ipc::kMajor + 1, 0));
  auto f = r.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(r.peer_major(), ipc::kMajor + 1);
  EXPECT_NE(f.error().message().find("major version 2 not spoken"), std::string::npos)
      << f.error().message();
  EXPECT_NE(f.error().message().find("speaks 1.0"), std::string::npos) << f.error().message();

  ipc::FrameReader newer;
  newer.feed(ipc::encode_frame("h", "b", ipc::kMajor, 200));
  auto g = newer.next();
  ASSERT_TRUE(g.ok() && g->has_value()) << "a newer minor is compatible by definition";
  EXPECT_EQ((*g)->minor, 200);
}

TEST(IpcCodec, ALengthAboveTheBoundFailsBeforeItsBytesCome) {
  ipc::FrameReader header({16, 64});
  header.feed(std::string("N\x01\x01\x00", 4) + be32(17));
  auto f = header.next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kLimit);

  ipc::FrameReader body({16, 64});
  body.feed(std::string("N\x01\x01\x00", 4) + be32(0) + be32(0xffffffff));
  auto g = body.next();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), ErrorCode::kLimit);
  EXPECT_NE(g.error().message().find("4294967295"), std::string::npos);

  ipc::FrameReader exact({16, 64});
  exact.feed(ipc::encode_frame(std::string(16, 'h'), std::string(64, 'b')));
  auto e = exact.next();
  EXPECT_TRUE(e.ok() && e->has_value()) << "the bounds themselves are allowed";
}

// ---- the session over a real RPC

class IpcSessionTest : public ::testing::Test, protected BlockMaker {
 protected:
  IpcSessionTest()
      : ledger_(net_),
        store_(make_test_store("memory", dir_)),
        processor_(ledger_, *store_),
        rpc_(net_, *store_, services()) {
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
  }

  RpcServices services() {
    RpcServices s = processor_services(processor_, kNow);
    s.peers = [] {
      return std::vector<RpcServices::Peer>{{"127.0.0.1:7075", std::string(64, 'A'), true}};
    };
    s.elections = [this] {
      ElectionsSnapshot e;
      e.online_reps[g_.pub] = kNow;
      return e;
    };
    s.election = [](const BlockHash&) -> std::optional<ElectionView> { return std::nullopt; };
    return s;
  }

  struct Answer {
    ipc::ResponseHeader header;
    std::string body;
    IpcSession::After after = IpcSession::After::kNothing;
  };

  // Drives the session as IpcServer does, answering calls at once, and
  // returns every frame it wrote.
  std::vector<Answer> drive(IpcSession& s, std::string_view bytes) {
    s.on_bytes(bytes);
    std::vector<Answer> out;
    for (;;) {
      auto calls = s.take_calls();
      for (auto& c : calls)
        rpc_.handle_json(c.request, [&s, id = c.id](std::string a) { s.on_reply(id, a); });
      auto writes = s.take_writes();
      for (auto& w : writes) {
        ipc::FrameReader r({1 << 16, size_t{1} << 24});
        r.feed(w.bytes);
        auto f = r.next();
        EXPECT_TRUE(f.ok() && f->has_value()) << "the session wrote a bad frame";
        if (!f.ok() || !*f) continue;
        EXPECT_EQ(r.buffered(), 0u) << "one frame per write";
        Answer a;
        EXPECT_TRUE(a.header.ParseFromString((*f)->header));
        a.body = (*f)->body;
        a.after = w.after;
        s.on_written(w.bytes.size());
        out.push_back(std::move(a));
      }
      if (calls.empty() && writes.empty()) break;
    }
    return out;
  }

  static std::string request(ipc::RequestType type, const google::protobuf::Message& body,
                             const std::string& correlation_id = "") {
    ipc::RequestHeader h;
    h.set_type(type);
    h.set_correlation_id(correlation_id);
    return ipc::encode_frame(h.SerializeAsString(), body.SerializeAsString());
  }

  // One request's answer: its body parsed into `out` (an error fails).
  template <typename Response>
  Response ask(ipc::RequestType type, const google::protobuf::Message& body) {
    IpcSession s(IpcLimits{}, false);
    auto answers = drive(s, request(type, body));
    Response out;
    EXPECT_EQ(answers.size(), 1u);
    if (answers.size() != 1) return out;
    EXPECT_EQ(answers[0].header.type(), type);
    EXPECT_FALSE(answers[0].header.has_error()) << answers[0].header.error().message();
    EXPECT_TRUE(out.ParseFromString(answers[0].body));
    return out;
  }
  ipc::Error error_of(ipc::RequestType type, const google::protobuf::Message& body) {
    IpcSession s(IpcLimits{}, false);
    auto answers = drive(s, request(type, body));
    EXPECT_EQ(answers.size(), 1u);
    if (answers.size() != 1) return {};
    EXPECT_TRUE(answers[0].header.has_error());
    EXPECT_TRUE(answers[0].body.empty());
    return answers[0].header.error();
  }

  // A genesis send of `amount` to `to`, through the IPC's process.
  Block send_from_genesis(const PublicKey& to, Amount amount) {
    auto info = store_->begin_read()->account(g_.pub);
    Block b = state(g_, info->head, g_.pub, info->balance - amount, to);
    ipc::ProcessRequest p;
    ipc::block_message(b, *p.mutable_block());
    auto r = ask<ipc::ProcessResponse>(ipc::REQUEST_TYPE_PROCESS, p);
    EXPECT_EQ(r.hash(), to_hex_upper(block_hash(b)));
    return b;
  }

  TempDir dir_;
  Ledger ledger_;
  std::unique_ptr<LedgerStore> store_;
  BlockProcessor processor_;
  RpcHandler rpc_;
};

TEST_F(IpcSessionTest, AStreamThatIsNotIpcGetsAnErrorThenTheConnectionCloses) {
  IpcSession s(IpcLimits{}, false);
  auto a = drive(s, "GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].header.error().code(), ipc::ERROR_CODE_BAD_PREAMBLE);
  EXPECT_EQ(a[0].header.type(), ipc::REQUEST_TYPE_UNSPECIFIED);
  EXPECT_EQ(a[0].after, IpcSession::After::kClose);
  EXPECT_FALSE(s.wants_bytes());
  EXPECT_TRUE(drive(s, ipc::encode_frame("", "")).empty()) << "nothing is read after";
}

TEST_F(IpcSessionTest, AnotherMajorIsToldBothVersionsThenClosed) {
  IpcSession s(IpcLimits{}, false);
  ipc::RequestHeader h;
  h.set_type(ipc::REQUEST_TYPE_TELEMETRY);
  auto a = drive(s, ipc::encode_frame(h.SerializeAsString(), "", 9, 0));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].header.error().code(), ipc::ERROR_CODE_VERSION_MISMATCH);
  EXPECT_NE(a[0].header.error().message().find("major version 9"), std::string::npos)
      << a[0].header.error().message();
  EXPECT_EQ(a[0].after, IpcSession::After::kClose);
}

TEST_F(IpcSessionTest, AnOversizedLengthIsRefusedWithoutWaitingForItsBytes) {
  IpcLimits limits;
  limits.max_request_bytes = 1000;
  IpcSession s(limits, false);
  auto a = drive(s, std::string("N\x01\x01\x00", 4) + be32(0) + be32(1001));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].header.error().code(), ipc::ERROR_CODE_FRAME_TOO_LARGE);
  EXPECT_EQ(a[0].after, IpcSession::After::kClose);

  IpcSession h(IpcLimits{}, false);
  auto b = drive(h, std::string("N\x01\x01\x00", 4) + be32(1025));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].header.error().code(), ipc::ERROR_CODE_FRAME_TOO_LARGE);
}

TEST_F(IpcSessionTest, MalformedProtobufIsAnErrorAndTheConnectionGoesOn) {
  IpcSession s(IpcLimits{}, false);
  // A field tag with wire type 7 is no protobuf.
  auto a = drive(s, ipc::encode_frame("\x0f\xff", ""));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].header.error().code(), ipc::ERROR_CODE_MALFORMED);
  EXPECT_EQ(a[0].after, IpcSession::After::kNothing);

  ipc::RequestHeader h;
  h.set_type(ipc::REQUEST_TYPE_ACCOUNT_INFO);
  h.set_correlation_id("c1");
  auto b = drive(s, ipc::encode_frame(h.SerializeAsString(), "\x0a\xff\xff"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].header.error().code(), ipc::ERROR_CODE_MALFORMED);
  EXPECT_EQ(b[0].header.type(), ipc::REQUEST_TYPE_ACCOUNT_INFO);
  EXPECT_EQ(b[0].header.correlation_id(), "c1");

  h.set_correlation_id(std::string(ipc::kMaxCorrelationIdBytes + 1, 'x'));
  auto c = drive(s, ipc::encode_frame(h.SerializeAsString(), ""));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].header.error().code(), ipc::ERROR_CODE_MALFORMED);

  auto d = drive(s, request(ipc::REQUEST_TYPE_TELEMETRY, ipc::TelemetryRequest(), "after"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].header.has_error()) << "the stream was never lost";
  EXPECT_EQ(d[0].header.correlation_id(), "after");
}

TEST_F(IpcSessionTest, AnUnknownRequestTypeIsNamedAsSuch) {
  IpcSession s(IpcLimits{}, false);
  ipc::RequestHeader h;
  h.set_type(static_cast<ipc::RequestType>(999));
  auto a = drive(s, ipc::encode_frame(h.SerializeAsString(), ""));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].header.error().code(), ipc::ERROR_CODE_UNKNOWN_REQUEST_TYPE);
  EXPECT_EQ(static_cast<int>(a[0].header.type()), 999) << "echoed even when unknown";
}

TEST_F(IpcSessionTest, AccountBalanceInfoAndBlocksOfASend) {
  const Key a = key_of(1);
  const Block send = send_from_genesis(a.pub, 1000);
  const std::string hash = to_hex_upper(block_hash(send));

  ipc::AccountBalanceRequest ab;
  ab.set_account(encode_account(g_.pub));
  auto bal = ask<ipc::AccountBalanceResponse>(ipc::REQUEST_TYPE_ACCOUNT_BALANCE, ab);
  EXPECT_EQ(bal.balance(), amount_to_string(net_.genesis_amount))
      << "the send is not confirmed: the confirmed balance is the genesis amount";
  ab.set_include_only_confirmed(false);
  bal = ask<ipc::AccountBalanceResponse>(ipc::REQUEST_TYPE_ACCOUNT_BALANCE, ab);
  EXPECT_EQ(bal.balance(), amount_to_string(net_.genesis_amount - 1000));

  ipc::AccountInfoRequest ai;
  ai.set_account(encode_account(g_.pub));
  ai.set_representative(true);
  ai.set_weight(true);
  auto info = ask<ipc::AccountInfoResponse>(ipc::REQUEST_TYPE_ACCOUNT_INFO, ai);
  EXPECT_EQ(info.frontier(), hash);
  EXPECT_EQ(info.open_block(), to_hex_upper(net_.genesis_hash));
  EXPECT_EQ(info.block_count(), 2u);
  EXPECT_EQ(info.confirmation_height(), 1u);
  EXPECT_EQ(info.representative(), encode_account(g_.pub));
  EXPECT_EQ(info.balance(), amount_to_string(net_.genesis_amount - 1000));
  ai.set_account(encode_account(a.pub));
  auto missing = error_of(ipc::REQUEST_TYPE_ACCOUNT_INFO, ai);
  EXPECT_EQ(missing.code(), ipc::ERROR_CODE_REQUEST_FAILED);
  EXPECT_EQ(missing.message(), "Account not found");

  ipc::BlockInfoRequest bi;
  bi.set_hash(hash);
  auto block = ask<ipc::BlockInfoResponse>(ipc::REQUEST_TYPE_BLOCK_INFO, bi);
  EXPECT_EQ(block.block_account(), encode_account(g_.pub));
  EXPECT_EQ(block.amount(), "1000");
  EXPECT_EQ(block.height(), 2u);
  EXPECT_EQ(block.subtype(), "send");
  EXPECT_FALSE(block.confirmed());
  EXPECT_EQ(block.contents().type(), "state");
  EXPECT_EQ(block.contents().link_as_account(), encode_account(a.pub));

  ipc::BlocksInfoRequest bs;
  bs.add_hashes(hash);
  bs.add_hashes(to_hex_upper(net_.genesis_hash));
  auto blocks = ask<ipc::BlocksInfoResponse>(ipc::REQUEST_TYPE_BLOCKS_INFO, bs);
  ASSERT_EQ(blocks.blocks_size(), 2);
  EXPECT_EQ(blocks.blocks(0).hash(), hash) << "in the order asked";
  EXPECT_EQ(blocks.blocks(1).hash(), to_hex_upper(net_.genesis_hash));
  EXPECT_TRUE(blocks.blocks(1).confirmed());
  bs.add_hashes(std::string(64, '0'));
  EXPECT_EQ(error_of(ipc::REQUEST_TYPE_BLOCKS_INFO, bs).message(), "Block not found");
  bs.set_include_not_found(true);
  blocks = ask<ipc::BlocksInfoResponse>(ipc::REQUEST_TYPE_BLOCKS_INFO, bs);
  EXPECT_EQ(blocks.blocks_size(), 2);
  ASSERT_EQ(blocks.blocks_not_found_size(), 1);
  EXPECT_EQ(blocks.blocks_not_found(0), std::string(64, '0'));
}

TEST_F(IpcSessionTest, ProcessRefusesAForkWithTheRpcsWords) {
  const Block send = send_from_genesis(key_of(1).pub, 1000);
  Block fork = state(g_, send.previous, g_.pub, net_.genesis_amount - 5, key_of(2).pub);
  ipc::ProcessRequest p;
  ipc::block_message(fork, *p.mutable_block());
  auto e = error_of(ipc::REQUEST_TYPE_PROCESS, p);
  EXPECT_EQ(e.code(), ipc::ERROR_CODE_REQUEST_FAILED);
  EXPECT_EQ(e.message(), "Fork");
}

TEST_F(IpcSessionTest, WorkGenerateAndValidate) {
  const std::string root = to_hex_upper(net_.genesis_hash);
  ipc::WorkGenerateRequest g;
  g.set_hash(root);
  g.set_difficulty("ffff000000000000");  // low, for a quick test
  auto w = ask<ipc::WorkGenerateResponse>(ipc::REQUEST_TYPE_WORK_GENERATE, g);
  EXPECT_EQ(w.hash(), root);
  ASSERT_EQ(w.work().size(), 16u);
  EXPECT_GE(w.difficulty(), "ffff000000000000");
  EXPECT_GT(w.multiplier(), 0);

  ipc::WorkValidateRequest v;
  v.set_hash(root);
  v.set_work(w.work());
  v.set_difficulty("ffff000000000000");
  auto ok = ask<ipc::WorkValidateResponse>(ipc::REQUEST_TYPE_WORK_VALIDATE, v);
  ASSERT_TRUE(ok.has_valid());
  EXPECT_TRUE(ok.valid());
  EXPECT_EQ(ok.difficulty(), w.difficulty());
  v.set_difficulty("ffffffffffffffff");
  auto no = ask<ipc::WorkValidateResponse>(ipc::REQUEST_TYPE_WORK_VALIDATE, v);
  EXPECT_FALSE(no.valid());
  v.clear_difficulty();
  auto plain = ask<ipc::WorkValidateResponse>(ipc::REQUEST_TYPE_WORK_VALIDATE, v);
  EXPECT_FALSE(plain.has_valid()) << "valid only when a difficulty is asked";
}

TEST_F(IpcSessionTest, PeersRepresentativesTelemetryAndConfirmationInfo) {
  auto peers = ask<ipc::PeersResponse>(ipc::REQUEST_TYPE_PEERS, ipc::PeersRequest());
  ASSERT_EQ(peers.peers_size(), 1);
  EXPECT_EQ(peers.peers(0).address(), "127.0.0.1:7075");
  EXPECT_EQ(peers.peers(0).node_id(), "node_" + std::string(64, 'A'));
  EXPECT_EQ(peers.peers(0).protocol_version(), net_.protocol_version);
  EXPECT_TRUE(peers.peers(0).ready());

  ipc::RepresentativesOnlineRequest ro;
  auto reps = ask<ipc::RepresentativesOnlineResponse>(ipc::REQUEST_TYPE_REPRESENTATIVES_ONLINE, ro);
  ASSERT_EQ(reps.representatives_size(), 1);
  EXPECT_EQ(reps.representatives(0).account(), encode_account(g_.pub));
  EXPECT_EQ(reps.representatives(0).weight(), "");
  ro.set_weight(true);
  reps = ask<ipc::RepresentativesOnlineResponse>(ipc::REQUEST_TYPE_REPRESENTATIVES_ONLINE, ro);
  ASSERT_EQ(reps.representatives_size(), 1);
  EXPECT_EQ(reps.representatives(0).weight(), amount_to_string(net_.genesis_amount));

  auto t = ask<ipc::TelemetryResponse>(ipc::REQUEST_TYPE_TELEMETRY, ipc::TelemetryRequest());
  EXPECT_EQ(t.block_count(), 1u);
  EXPECT_EQ(t.cemented_count(), 1u);
  EXPECT_EQ(t.account_count(), 1u);
  EXPECT_EQ(t.peer_count(), 1u);
  EXPECT_EQ(t.genesis_block(), to_hex_upper(net_.genesis_hash));
  EXPECT_EQ(t.protocol_version(), net_.protocol_version);

  ipc::ConfirmationInfoRequest ci;
  ci.set_hash(to_hex_upper(net_.genesis_hash));
  auto e = error_of(ipc::REQUEST_TYPE_CONFIRMATION_INFO, ci);
  EXPECT_EQ(e.code(), ipc::ERROR_CODE_REQUEST_FAILED);
  EXPECT_EQ(e.message(), "Active confirmation not found");
}

TEST_F(IpcSessionTest, AnswersLeaveInRequestOrderHoweverTheRpcAnswers) {
  IpcSession s(IpcLimits{}, false);
  s.on_bytes(request(ipc::REQUEST_TYPE_TELEMETRY, ipc::TelemetryRequest(), "first") +
             request(ipc::REQUEST_TYPE_PEERS, ipc::PeersRequest(), "second"));
  auto calls = s.take_calls();
  ASSERT_EQ(calls.size(), 2u);
  std::map<uint64_t, std::string> answers;
  for (auto& c : calls)
    rpc_.handle_json(c.request, [&, id = c.id](std::string a) { answers[id] = a; });
  s.on_reply(calls[1].id, answers[calls[1].id]);
  EXPECT_TRUE(s.take_writes().empty()) << "the second waits for the first";
  s.on_reply(calls[0].id, answers[calls[0].id]);
  auto writes = s.take_writes();
  ASSERT_EQ(writes.size(), 2u);
  ipc::FrameReader r;
  r.feed(writes[0].bytes + writes[1].bytes);
  for (const char* id : {"first", "second"}) {
    auto f = r.next();
    ASSERT_TRUE(f.ok() && f->has_value());
    ipc::ResponseHeader h;
    ASSERT_TRUE(h.ParseFromString((*f)->header));
    EXPECT_EQ(h.correlation_id(), id);
  }
}

TEST_F(IpcSessionTest, InFlightRequestsAreBoundedAndReadingResumesAsTheyEnd) {
  IpcLimits limits;
  limits.max_in_flight = 2;
  IpcSession s(limits, false);
  std::string three;
  for (int i = 0; i < 3; ++i) three += request(ipc::REQUEST_TYPE_PEERS, ipc::PeersRequest());
  s.on_bytes(three);
  auto calls = s.take_calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_FALSE(s.wants_bytes());
  rpc_.handle_json(calls[0].request, [&s, id = calls[0].id](std::string a) { s.on_reply(id, a); });
  EXPECT_EQ(s.take_calls().size(), 1u) << "the third is read once a place is free";
}

TEST_F(IpcSessionTest, ASubscriptionGetsItsEventsFilteredAndUnsubscribeEndsThem) {
  IpcSession s(IpcLimits{}, false);
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, net_.genesis_amount - 7, a.pub);
  BlockConfirmedEvent e;
  e.block = send;
  e.hash = block_hash(send);
  e.account = g_.pub;
  e.amount = 7;
  e.height = 2;
  e.type = ConfirmationType::kActiveQuorum;
  e.election = ElectionInfo{};
  e.election->voters = 1;
  s.on_event(e);
  EXPECT_TRUE(s.take_writes().empty()) << "no events before a subscription";

  ipc::SubscribeConfirmationsRequest sub;
  sub.add_accounts(encode_account(a.pub));  // the destination of the send
  auto ack = drive(s, request(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, sub, "sub1"));
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_FALSE(ack[0].header.has_error());
  EXPECT_FALSE(ack[0].header.event());
  EXPECT_TRUE(s.subscribed());

  s.on_event(e);
  auto w = s.take_writes();
  ASSERT_EQ(w.size(), 1u);
  ipc::FrameReader r;
  r.feed(w[0].bytes);
  auto f = r.next();
  ASSERT_TRUE(f.ok() && f->has_value());
  ipc::ResponseHeader h;
  ASSERT_TRUE(h.ParseFromString((*f)->header));
  EXPECT_TRUE(h.event());
  EXPECT_EQ(h.type(), ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS);
  EXPECT_EQ(h.correlation_id(), "sub1");
  ipc::Event ev;
  ASSERT_TRUE(ev.ParseFromString((*f)->body));
  ASSERT_TRUE(ev.has_confirmation());
  EXPECT_EQ(ev.confirmation().hash(), to_hex_upper(e.hash));
  EXPECT_EQ(ev.confirmation().account(), encode_account(g_.pub));
  EXPECT_EQ(ev.confirmation().amount(), "7");
  EXPECT_EQ(ev.confirmation().height(), 2u);
  EXPECT_EQ(ev.confirmation().confirmation_type(), ipc::CONFIRMATION_TYPE_ACTIVE_QUORUM);
  EXPECT_EQ(ev.confirmation().block().link_as_account(), encode_account(a.pub));
  EXPECT_EQ(ev.confirmation().election_info().voter_count(), 1u);

  BlockConfirmedEvent other = e;
  other.account = key_of(3).pub;
  other.block.link = key_of(4).pub;
  s.on_event(other);
  EXPECT_TRUE(s.take_writes().empty()) << "neither the account nor the destination asked";

  ipc::SubscribeConfirmationsRequest inactive;
  inactive.set_confirmation_type_filter(ipc::CONFIRMATION_TYPE_FILTER_INACTIVE);
  inactive.set_include_block(false);
  drive(s, request(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, inactive));
  s.on_event(e);
  EXPECT_TRUE(s.take_writes().empty()) << "filtered by confirmation type";

  drive(s, request(ipc::REQUEST_TYPE_UNSUBSCRIBE_CONFIRMATIONS,
                   ipc::UnsubscribeConfirmationsRequest()));
  EXPECT_FALSE(s.subscribed());
  e.type = ConfirmationType::kInactive;
  s.on_event(e);
  EXPECT_TRUE(s.take_writes().empty());

  ipc::SubscribeConfirmationsRequest bad;
  bad.add_accounts("nano_nonsense");
  auto refused = drive(s, request(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, bad));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].header.error().message(), "Bad account number");
  EXPECT_FALSE(s.subscribed());
}

TEST_F(IpcSessionTest, ASlowSubscriberIsCutOffNotBufferedWithoutBound) {
  IpcLimits limits;
  limits.max_queued_bytes = 1000;
  IpcSession s(limits, false);
  drive(s,
        request(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, ipc::SubscribeConfirmationsRequest()));
  BlockConfirmedEvent e;
  e.block = state(g_, net_.genesis_hash, g_.pub, 1, key_of(1).pub);
  e.hash = block_hash(e.block);
  e.account = g_.pub;
  for (int i = 0; i < 20 && !s.abort(); ++i) s.on_event(e);  // never written
  ASSERT_TRUE(s.abort().has_value());
  EXPECT_NE(s.abort()->find("slow reader"), std::string::npos);
  EXPECT_LE(s.queued_bytes(), 1000u);
}

TEST_F(IpcSessionTest, StopIsAnsweredThenStopsTheNodeOnlyWhenEnabled) {
  auto refused = error_of(ipc::REQUEST_TYPE_STOP, ipc::StopRequest());
  EXPECT_EQ(refused.code(), ipc::ERROR_CODE_UNSUPPORTED);

  IpcSession s(IpcLimits{}, true);
  auto a = drive(s, request(ipc::REQUEST_TYPE_STOP, ipc::StopRequest()) +
                        request(ipc::REQUEST_TYPE_TELEMETRY, ipc::TelemetryRequest()));
  ASSERT_EQ(a.size(), 1u) << "nothing after a stop is read";
  EXPECT_FALSE(a[0].header.has_error());
  EXPECT_EQ(a[0].header.type(), ipc::REQUEST_TYPE_STOP);
  EXPECT_EQ(a[0].after, IpcSession::After::kStopNode);
}

TEST(IpcActions, EveryRequestTypeHasItsActionAndName) {
  const auto* e = ipc::RequestType_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    const auto type = static_cast<ipc::RequestType>(e->value(i)->number());
    if (type == ipc::REQUEST_TYPE_UNSPECIFIED) continue;
    const ipc::Action* a = ipc::action_of(type);
    ASSERT_NE(a, nullptr) << e->value(i)->name();
    EXPECT_EQ(ipc::action_named(a->name), a);
    // REQUEST_TYPE_ACCOUNT_INFO <-> account_info: one name for both.
    std::string upper = a->name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(e->value(i)->name(), "REQUEST_TYPE_" + upper);
  }
}

}  // namespace
}  // namespace chorus::nano
