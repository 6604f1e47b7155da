#include "ipc_session.h"

#include <memory>
#include <utility>

#include "chorus/nano/account.h"

namespace chorus::nano {

using Json = nlohmann::ordered_json;

namespace {

constexpr size_t kMaxHeaderBytes = 1024;

ipc::ConfirmationType confirmation_type_of(ConfirmationType t) {
  switch (t) {
    case ConfirmationType::kActiveQuorum:
      return ipc::CONFIRMATION_TYPE_ACTIVE_QUORUM;
    case ConfirmationType::kActiveConfirmationHeight:
      return ipc::CONFIRMATION_TYPE_ACTIVE_CONFIRMATION_HEIGHT;
    case ConfirmationType::kInactive:
      break;
  }
  return ipc::CONFIRMATION_TYPE_INACTIVE;
}

}  // namespace

IpcSession::IpcSession(IpcLimits limits, bool stop_enabled)
    : limits_(limits),
      stop_enabled_(stop_enabled),
      reader_(ipc::FrameLimits{kMaxHeaderBytes, limits.max_request_bytes}) {}

void IpcSession::on_bytes(std::string_view bytes) {
  if (closing_) return;
  reader_.feed(bytes);
  read_frames();
}

void IpcSession::read_frames() {
  while (!closing_ && slots_.size() < limits_.max_in_flight &&
         queued_ <= limits_.max_queued_bytes) {
    auto next = reader_.next();
    if (!next.ok()) return fail_stream(next.error());
    if (!*next) return;
    on_frame(std::move(**next));
  }
}

// The stream cannot be read on: say why (after the answers still owed),
// then close.
void IpcSession::fail_stream(const chorus::Error& e) {
  ipc::ErrorCode code = ipc::ERROR_CODE_BAD_PREAMBLE;
  if (e.code() == ErrorCode::kProtocol) code = ipc::ERROR_CODE_VERSION_MISMATCH;
  if (e.code() == ErrorCode::kLimit) code = ipc::ERROR_CODE_FRAME_TOO_LARGE;
  closing_ = true;
  Slot s;
  s.id = next_id_++;
  s.frame = ipc::encode_error(ipc::REQUEST_TYPE_UNSPECIFIED, {}, code, e.message());
  s.release = Release::kClose;
  slots_.push_back(std::move(s));
  release_answered();
}

void IpcSession::on_frame(ipc::Frame frame) {
  slots_.emplace_back();
  Slot& s = slots_.back();
  s.id = next_id_++;
  ipc::RequestHeader h;
  if (!h.ParseFromString(frame.header)) {
    refuse(s, ipc::ERROR_CODE_MALFORMED, "the header is not a RequestHeader");
    return release_answered();
  }
  s.type = h.type();
  if (h.correlation_id().size() > ipc::kMaxCorrelationIdBytes) {
    refuse(s, ipc::ERROR_CODE_MALFORMED,
           "correlation_id over " + std::to_string(ipc::kMaxCorrelationIdBytes) + " bytes");
    return release_answered();
  }
  s.correlation_id = h.correlation_id();
  const ipc::Action* action = ipc::action_of(h.type());
  if (!action) {
    refuse(s, ipc::ERROR_CODE_UNKNOWN_REQUEST_TYPE,
           "request type " + std::to_string(static_cast<int>(h.type())) +
               " is not known to this node (IPC " + std::to_string(ipc::kMajor) + "." +
               std::to_string(ipc::kMinor) + ")");
    return release_answered();
  }
  std::unique_ptr<google::protobuf::Message> request(action->request->New());
  if (!request->ParseFromString(frame.body)) {
    refuse(s, ipc::ERROR_CODE_MALFORMED, "the body is not a " + request->GetTypeName());
    return release_answered();
  }
  if (action->rpc) {
    calls_.push_back(Call{s.id, ipc::rpc_request(*action, *request)});
    return;  // answered in on_reply
  }
  switch (action->type) {
    case ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS: {
      const auto& r = static_cast<const ipc::SubscribeConfirmationsRequest&>(*request);
      Subscription sub;
      sub.correlation_id = s.correlation_id;
      sub.filter = r.confirmation_type_filter();
      sub.include_block = !r.has_include_block() || r.include_block();
      sub.include_election_info = !r.has_include_election_info() || r.include_election_info();
      if (static_cast<size_t>(r.accounts_size()) > limits_.max_subscribed_accounts) {
        refuse(
            s, ipc::ERROR_CODE_REQUEST_FAILED,
            "Too many entries (at most " + std::to_string(limits_.max_subscribed_accounts) + ")");
        break;
      }
      bool bad = false;
      for (const auto& text : r.accounts()) {
        auto a = decode_account(text);
        if (!a) {
          bad = true;
          break;
        }
        sub.accounts.insert(*a);
      }
      if (bad) {
        refuse(s, ipc::ERROR_CODE_REQUEST_FAILED, "Bad account number");
        break;
      }
      answer(s, ipc::SubscribeConfirmationsResponse().SerializeAsString());
      s.release = Release::kSubscribe;
      s.subscription = std::move(sub);
      break;
    }
    case ipc::REQUEST_TYPE_UNSUBSCRIBE_CONFIRMATIONS:
      answer(s, ipc::UnsubscribeConfirmationsResponse().SerializeAsString());
      s.release = Release::kUnsubscribe;
      break;
    case ipc::REQUEST_TYPE_STOP:
      if (!stop_enabled_) {
        refuse(s, ipc::ERROR_CODE_UNSUPPORTED, "stop is not enabled on this node");
        break;
      }
      answer(s, ipc::StopResponse().SerializeAsString());
      s.release = Release::kStop;
      closing_ = true;  // nothing after a stop is read
      break;
    default:
      refuse(s, ipc::ERROR_CODE_UNSUPPORTED, "not served");
      break;
  }
  release_answered();
}

void IpcSession::answer(Slot& s, std::string_view body) {
  if (body.size() > limits_.max_response_bytes) {
    return refuse(s, ipc::ERROR_CODE_RESPONSE_TOO_LARGE,
                  "the answer is " + std::to_string(body.size()) + " bytes; the bound is " +
                      std::to_string(limits_.max_response_bytes) + ": ask for less");
  }
  ipc::ResponseHeader h;
  h.set_type(s.type);
  h.set_correlation_id(s.correlation_id);
  s.frame = ipc::encode_response(h, body);
}

void IpcSession::refuse(Slot& s, ipc::ErrorCode code, std::string_view message) {
  s.frame = ipc::encode_error(s.type, s.correlation_id, code, message);
}

void IpcSession::on_reply(uint64_t id, std::string_view text) {
  for (Slot& s : slots_) {
    if (s.id != id || s.frame) continue;
    const ipc::Action* action = ipc::action_of(s.type);
    const Json answer = Json::parse(text, nullptr, false);
    std::string body;
    ipc::Error error;
    if (action && ipc::rpc_response(*action, answer, body, error)) {
      this->answer(s, body);
    } else {
      refuse(s, error.code(), error.message());
    }
    release_answered();
    read_frames();  // a place in flight came free
    return;
  }
}

// Answers leave in request order: the first waiting holds the others.
void IpcSession::release_answered() {
  while (!slots_.empty() && slots_.front().frame) {
    Slot s = std::move(slots_.front());
    slots_.pop_front();
    After after = After::kNothing;
    switch (s.release) {
      case Release::kSubscribe:
        subscription_ = std::move(s.subscription);
        break;
      case Release::kUnsubscribe:
        subscription_.reset();
        break;
      case Release::kStop:
        after = After::kStopNode;
        break;
      case Release::kClose:
        after = After::kClose;
        break;
      case Release::kNothing:
        break;
    }
    write(std::move(*s.frame), after);
  }
}

void IpcSession::write(std::string bytes, After after) {
  queued_ += bytes.size();
  writes_.push_back(Write{std::move(bytes), after});
}

void IpcSession::on_written(size_t bytes) {
  queued_ -= std::min(queued_, bytes);
  read_frames();
}

bool IpcSession::wanted(const BlockConfirmedEvent& e) const {
  const Subscription& sub = *subscription_;
  switch (sub.filter) {
    case ipc::CONFIRMATION_TYPE_FILTER_ACTIVE:
      if (e.type == ConfirmationType::kInactive) return false;
      break;
    case ipc::CONFIRMATION_TYPE_FILTER_ACTIVE_QUORUM:
      if (e.type != ConfirmationType::kActiveQuorum) return false;
      break;
    case ipc::CONFIRMATION_TYPE_FILTER_ACTIVE_CONFIRMATION_HEIGHT:
      if (e.type != ConfirmationType::kActiveConfirmationHeight) return false;
      break;
    case ipc::CONFIRMATION_TYPE_FILTER_INACTIVE:
      if (e.type != ConfirmationType::kInactive) return false;
      break;
    default:
      break;
  }
  if (sub.accounts.empty() || sub.accounts.count(e.account)) return true;
  // A send names its destination in `link` (for a state block's other
  // subtypes the link is no account anyone holds the key of).
  const bool links_account = e.block.type == BlockType::kState || e.block.type == BlockType::kSend;
  return links_account && sub.accounts.count(e.block.link) != 0;
}

void IpcSession::on_event(const BlockConfirmedEvent& e) {
  // Nothing follows a fatal error's answer or a stop's (the connection is
  // about to close).
  if (!subscription_ || abort_ || closing_ || !wanted(e)) return;
  const Subscription& sub = *subscription_;
  ipc::Event event;
  ipc::EventConfirmation& c = *event.mutable_confirmation();
  c.set_confirmation_type(confirmation_type_of(e.type));
  c.set_account(encode_account(e.account));
  c.set_amount(amount_to_string(e.amount));
  c.set_hash(to_hex_upper(e.hash));
  c.set_height(e.height);
  if (sub.include_block) ipc::block_message(e.block, *c.mutable_block());
  if (sub.include_election_info && e.election) {
    ipc::ElectionInfo& i = *c.mutable_election_info();
    i.set_duration(static_cast<uint64_t>(std::max<int64_t>(0, e.election->duration_ms)));
    i.set_time(e.election->time_ms);
    i.set_tally(amount_to_string(e.election->tally));
    i.set_final_tally(amount_to_string(e.election->final_tally));
    i.set_request_count(e.election->request_count);
    i.set_block_count(e.election->blocks);
    i.set_voter_count(e.election->voters);
  }
  ipc::ResponseHeader h;
  h.set_type(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS);
  h.set_correlation_id(sub.correlation_id);
  h.set_event(true);
  std::string frame = ipc::encode_response(h, event.SerializeAsString());
  if (queued_ + frame.size() > limits_.max_queued_bytes) {
    abort_ = "slow reader: " + std::to_string(queued_) +
             " bytes not taken and an event to add (the bound is " +
             std::to_string(limits_.max_queued_bytes) + ")";
    closing_ = true;
    return;
  }
  write(std::move(frame), After::kNothing);
}

std::vector<IpcSession::Call> IpcSession::take_calls() {
  return std::exchange(calls_, {});
}

std::vector<IpcSession::Write> IpcSession::take_writes() {
  return std::exchange(writes_, {});
}

bool IpcSession::wants_bytes() const {
  return !closing_ && !abort_ && slots_.size() < limits_.max_in_flight &&
         queued_ <= limits_.max_queued_bytes;
}

}  // namespace chorus::nano
