#include "ipc_command.h"

#include <google/protobuf/util/json_util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>

#include "chorus/overlay/config.h"
#include "ipc_actions.h"
#include "ipc_codec.h"

namespace chorus::nano {
namespace {

constexpr double kDefaultTimeoutS = 60;

// What the node may send: its headers are short, its answers bounded by
// the node's own response bound (IpcLimits::max_response_bytes).
constexpr ipc::FrameLimits kResponseLimits{64 << 10, size_t{64} << 20};

int fail(const std::string& m, int code = 1) {
  std::cerr << "chorus-nano ipc: " << m << "\n";
  return code;
}

// A connected blocking socket, or the reason there is none.
Result<int> connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return invalid_argument("--socket: path too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error(std::string("socket(): ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    ::close(fd);
    return io_error("cannot connect to " + path + ": " + std::strerror(e));
  }
  return fd;
}

Result<int> connect_tcp(const std::string& text) {
  auto a = overlay::parse_socket_address(text);
  if (!a) return invalid_argument("--tcp: " + a.error().message());
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(a->port);
  if (int rc = ::getaddrinfo(a->host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return io_error("--tcp: " + a->host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> hold(res, ::freeaddrinfo);
  std::string why = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    why = std::strerror(errno);
    ::close(fd);
  }
  return io_error("cannot connect to " + text + ": " + why);
}

Result<void> send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error(std::string("send: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// The next frame from the node; kIo when the connection ends (`closed`
// set) or the timeout set on the socket passes first.
Result<ipc::Frame> read_frame(int fd, ipc::FrameReader& reader, bool& closed) {
  char buf[64 << 10];
  for (;;) {
    auto f = reader.next();
    if (!f.ok()) return f.error();
    if (*f) return std::move(**f);
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return io_error("no answer within the timeout");
    if (n < 0) return io_error(std::string("recv: ") + std::strerror(errno));
    if (n == 0) {
      closed = true;
      return io_error("the node closed the connection");
    }
    reader.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

std::string to_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;     // the names of spec/ipc.proto, as the RPC's
  o.always_print_primitive_fields = true;  // a false or 0 is an answer too
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

}  // namespace

IpcCommand::IpcCommand(CLI::App& app) {
  cmd_ = app.add_subcommand("ipc", "Ask a node over its IPC (spec/ipc.md); print the answer");
  std::string names;
  for (const auto& a : ipc::actions()) names += std::string(names.empty() ? "" : ", ") + a.name;
  cmd_->add_option("request", request_, "The request: " + names)->required();
  cmd_->add_option("--args", args_,
                   "The request's fields as JSON (protobuf's JSON mapping of spec/ipc.proto)")
      ->capture_default_str();
  auto* sock = cmd_->add_option("--socket", socket_, "The node's IPC Unix socket file");
  auto* tcp = cmd_->add_option("--tcp", tcp_, "The node's IPC loopback address HOST:PORT");
  sock->excludes(tcp);
  cmd_->add_option("--correlation-id", correlation_id_, "Text the node echoes in its answer");
  cmd_->add_option("--count", count_,
                   "subscribe_confirmations: exit 0 after this many events (0: until the node "
                   "closes the connection)");
  cmd_->add_option("--timeout", timeout_s_,
                   "Seconds to wait for an answer or the next event (0: 60 for an answer, no "
                   "bound for events)")
      ->check(CLI::Range(0.0, 86400.0));
}

int IpcCommand::run() {
  const ipc::Action* action = ipc::action_named(request_);
  if (!action) return fail("unknown request '" + request_ + "' (see --help)", 2);
  std::unique_ptr<google::protobuf::Message> request(action->request->New());
  google::protobuf::util::JsonParseOptions jo;
  if (auto st = google::protobuf::util::JsonStringToMessage(args_, request.get(), jo); !st.ok())
    return fail("--args: not a " + request->GetTypeName() + ": " + std::string(st.message()), 2);
  if (socket_.empty() == tcp_.empty()) return fail("give --socket PATH or --tcp HOST:PORT", 2);
  if (correlation_id_.size() > ipc::kMaxCorrelationIdBytes)
    return fail(
        "--correlation-id: at most " + std::to_string(ipc::kMaxCorrelationIdBytes) + " bytes", 2);

  auto fd = socket_.empty() ? connect_tcp(tcp_) : connect_unix(socket_);
  if (!fd.ok()) return fail(fd.error().message());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{*fd};
  const bool stream = action->type == ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS;
  const double timeout = timeout_s_ > 0 ? timeout_s_ : (stream ? 0 : kDefaultTimeoutS);
  if (timeout > 0) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout);
    tv.tv_usec = static_cast<suseconds_t>((timeout - std::floor(timeout)) * 1e6);
    ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  ipc::RequestHeader header;
  header.set_type(action->type);
  header.set_correlation_id(correlation_id_);
  const std::string frame =
      ipc::encode_frame(header.SerializeAsString(), request->SerializeAsString());
  if (auto r = send_all(*fd, frame); !r.ok()) return fail(r.error().message());

  ipc::FrameReader reader(kResponseLimits);
  bool closed = false;
  auto f = read_frame(*fd, reader, closed);
  if (!f.ok()) return fail(f.error().message());
  ipc::ResponseHeader rh;
  if (!rh.ParseFromString(f->header)) return fail("the node's answer has no readable header");
  if (rh.has_error()) {
    return fail(ipc::ErrorCode_Name(rh.error().code()) + ": " + rh.error().message());
  }
  if (rh.type() != action->type)
    return fail("the answer is for " + ipc::RequestType_Name(rh.type()) + ", not " +
                ipc::RequestType_Name(action->type));
  std::unique_ptr<google::protobuf::Message> response(action->response->New());
  if (!response->ParseFromString(f->body))
    return fail("the answer is not a " + response->GetTypeName());
  if (!stream) {
    std::cout << to_json(*response) << "\n";
    return 0;
  }
  // The subscription is in place: said on stderr (a script may wait for
  // it before making what it wants to hear of), then one line per event.
  std::cerr << "chorus-nano ipc: subscribed" << std::endl;
  for (uint64_t seen = 0; count_ == 0 || seen < count_;) {
    auto e = read_frame(*fd, reader, closed);
    if (!e.ok()) {
      if (count_ == 0 && closed) return 0;
      return fail(e.error().message());
    }
    ipc::ResponseHeader eh;
    if (!eh.ParseFromString(e->header)) return fail("an event with no readable header");
    if (eh.has_error())
      return fail(ipc::ErrorCode_Name(eh.error().code()) + ": " + eh.error().message());
    if (!eh.event()) continue;  // not ours to print
    ipc::Event event;
    if (!event.ParseFromString(e->body)) return fail("an event that is not an Event");
    std::cout << to_json(event) << std::endl;  // each line as it comes, for a pipe
    ++seen;
  }
  return 0;
}

}  // namespace chorus::nano
