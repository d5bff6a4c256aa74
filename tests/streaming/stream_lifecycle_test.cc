// Streams at scale and through their lifecycle: ordering over 100,000
// messages each way, 1,000 streams open at once on one connection beside
// unary calls, where every dispatcher runs stream handlers and completions
// (docs/threading.md "Streams"), filters and metrics on streams, the
// stream's ServerContext in nested calls, and a provider process killed
// (SIGKILL) or stopped (SIGTERM, graceful) mid-stream.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"
#include "subprocess.h"
#include "test_services.h"
#include "tern/auth.h"
#include "tern/client.h"
#include "tern/monitor/metrics.h"
#include "tern/net/io_context_pool.h"
#include "tern/server.h"
#include "tern/server_context.h"
#include "tern/stream.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
using tern::ClientStream;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

#define ADD_OK(...) ASSERT_TRUE((__VA_ARGS__).is_ok())

namespace {

bool on_io() { return tern::net::IoContextPool::in_io_thread(); }

// Server streaming: reads n, writes 0 .. n-1.
Task<Status> count_handler(ServerStream<int, int>& s) {
  auto n = co_await s.read();
  if (!n) co_return Status(StatusCode::kInvalidArgument, "no count");
  for (int i = 0; i < *n; ++i) {
    Status w = co_await s.write(i);
    if (!w.is_ok()) co_return w;
  }
  co_return Status();
}

// Client streaming: every message must be the next integer; answers how many came.
Task<Status> check_handler(ServerStream<int, long>& s) {
  long expected = 0;
  while (auto v = co_await s.read()) {
    if (*v != expected) {
      co_return Status(StatusCode::kInvalidArgument,
                       "message " + std::to_string(expected) + " was " + std::to_string(*v));
    }
    ++expected;
  }
  if (!s.status().is_ok()) co_return s.status();
  co_return co_await s.write(expected);
}

struct Started {
  std::unique_ptr<tern::Server> server;
  std::unique_ptr<tern::Client> client;
  std::shared_ptr<tern::Reference> ref;
};

// A provider with the Chat stream methods `count` and `check` (plus what
// `extra` adds) and Calculator, and a consumer referring to Chat.
Started start(tern::ServerOptions so, tern::ClientOptions co = testutil::one_io(),
              const std::function<void(tern::Server&)>& extra = {}) {
  Started st;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  st.server = std::make_unique<tern::Server>(so);
  EXPECT_TRUE((st.server->add_stream_method<int, int>("Chat", "count", tern::StreamKind::kServer, count_handler).is_ok()));
  EXPECT_TRUE((st.server->add_stream_method<int, long>("Chat", "check", tern::StreamKind::kClient, check_handler).is_ok()));
  EXPECT_TRUE(st.server->expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  if (extra) extra(*st.server);
  Status s = st.server->start();
  EXPECT_TRUE(s.is_ok()) << s;
  st.client = std::make_unique<tern::Client>(co);
  tern::ReferenceOptions ro;
  ro.timeout = 60s;
  st.ref = st.client->reference("Chat", testutil::direct(*st.server), ro).value();
  return st;
}

TEST(StreamScale, OrderIsKeptAcross100000MessagesInEachDirection) {
  auto st = start({}, testutil::one_io());
  constexpr int kMessages = 100000;
  auto down = [&]() -> Task<long> {
    auto s = ClientStream<int, int>::open(*st.ref, "count").value();
    EXPECT_TRUE((co_await s.write(kMessages)).is_ok());
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    long in_order = 0;
    while (auto v = co_await s.read()) {
      if (*v != in_order) break;
      ++in_order;
    }
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return in_order;
  };
  auto got = tern::sync_wait(down());
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(*got, kMessages);

  auto up = [&]() -> Task<long> {
    auto s = ClientStream<int, long>::open(*st.ref, "check").value();
    for (int i = 0; i < kMessages; ++i) {
      if (!(co_await s.write(i)).is_ok()) break;
    }
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    auto n = co_await s.read();
    Status fin = co_await s.finish();
    EXPECT_TRUE(fin.is_ok()) << fin;
    co_return n.value_or(-1);
  };
  auto counted = tern::sync_wait(up());
  ASSERT_TRUE(counted.has_value()) << counted.status();
  EXPECT_EQ(*counted, kMessages);
  st.server->shutdown(1s);
}

TEST(StreamScale, AThousandStreamsAndUnaryCallsShareOneConnection) {
  constexpr int kStreams = 1000;
  std::atomic<int> open_now{0}, most_open{0};
  tern::ServerOptions so;
  so.max_concurrent_streams = kStreams;
  tern::ClientOptions co = testutil::one_io();
  co.channel.max_concurrent_streams = kStreams;
  auto st = start(so, co, [&](tern::Server& s) {
    // Echo that stays open until the consumer half-closes, counting open handlers.
    ADD_OK(s.add_stream_method<int, int>("Chat", "hold", [&](ServerStream<int, int>& stream) -> Task<Status> {
      int now = ++open_now;
      int prev = most_open.load();
      while (now > prev && !most_open.compare_exchange_weak(prev, now)) {
      }
      while (auto v = co_await stream.read()) {
        if (Status w = co_await stream.write(*v * 2); !w.is_ok()) {
          --open_now;
          co_return w;
        }
      }
      --open_now;
      co_return stream.status();
    }));
  });
  auto calc = st.client->refer<Calculator>(testutil::direct(*st.server)).value();
  std::vector<ClientStream<int, int>> streams;
  streams.reserve(kStreams);
  int unary_ok = 0;
  for (int i = 0; i < kStreams; ++i) {
    auto s = ClientStream<int, int>::open(*st.ref, "hold");
    ASSERT_TRUE(s.has_value()) << s.status();
    ASSERT_TRUE(s->write_sync(i).is_ok()) << i;
    streams.push_back(std::move(*s));
    if (i % 10 == 0 && calc.call<&Calculator::add>(i, 1).value_or(-1) == i + 1) ++unary_ok;
  }
  EXPECT_EQ(unary_ok, kStreams / 10);
  // Every stream is open on the provider at once.
  ASSERT_TRUE(testutil::wait_until([&] { return most_open.load() == kStreams; }, 20s)) << most_open.load();
  // One more than the consumer's limit fails at once, unsent.
  auto extra = ClientStream<int, int>::open(*st.ref, "hold").value();
  EXPECT_FALSE(extra.read_sync().has_value());
  EXPECT_EQ(extra.status().code(), StatusCode::kResourceExhausted) << extra.status();
  int answered = 0;
  for (int i = 0; i < kStreams; ++i) {
    if (streams[i].read_sync().value_or(-1) == 2 * i) ++answered;
    EXPECT_TRUE(streams[i].writes_done_sync().is_ok());
  }
  EXPECT_EQ(answered, kStreams);
  int finished_ok = 0;
  for (auto& s : streams) finished_ok += s.finish_sync().is_ok() ? 1 : 0;
  EXPECT_EQ(finished_ok, kStreams);
  EXPECT_EQ(calc.call<&Calculator::add>(20, 22).value_or(-1), 42);
  auto ch = st.client->channels().get(tern::HostPort{"127.0.0.1", st.server->port()});
  EXPECT_EQ(ch->stats().connects, 1u);  // all of it on one connection
  EXPECT_TRUE(testutil::wait_until([&] { return open_now.load() == 0; }, 5s));
  st.server->shutdown(1s);
}

// docs/threading.md, "Streams": where a stream handler starts and resumes,
// and where a consumer's stream completions run, per dispatcher.
class StreamDispatch : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamDispatch, HandlersAndCompletionsRunWhereTheTableSays) {
  const std::string name = GetParam();
  std::mutex mu;
  std::vector<bool> provider_steps, consumer_steps;
  auto note = [&](std::vector<bool>& v) {
    std::lock_guard lock(mu);
    v.push_back(on_io());
  };
  tern::ServerOptions so;
  so.dispatcher = name;
  tern::ClientOptions co = testutil::one_io();
  co.channel.dispatcher = name;
  auto st = start(so, co, [&](tern::Server& s) {
    ADD_OK(s.add_stream_method<int, int>("Chat", "where", [&](ServerStream<int, int>& stream) -> Task<Status> {
      note(provider_steps);  // where it starts
      while (auto v = co_await stream.read()) {
        note(provider_steps);  // resumed after a read
        if (Status w = co_await stream.write(*v + 100); !w.is_ok()) co_return w;
        note(provider_steps);  // resumed after a write
      }
      co_return stream.status();
    }));
  });
  auto run = [&]() -> Task<std::vector<int>> {
    auto s = ClientStream<int, int>::open(*st.ref, "where").value();
    std::vector<int> got;
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE((co_await s.write(i)).is_ok());
      note(consumer_steps);
      got.push_back((co_await s.read()).value_or(-1));
      note(consumer_steps);
    }
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    note(consumer_steps);
    EXPECT_FALSE((co_await s.read()).has_value());
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return got;
  };
  auto got = tern::sync_wait(run());
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(*got, (std::vector<int>{100, 101, 102, 103, 104}));
  st.server->shutdown(1s);
  const bool provider_on_io = name == "direct";
  const bool consumer_on_io = name == "direct" || name == "execution";
  std::lock_guard lock(mu);
  ASSERT_EQ(provider_steps.size(), 11u);  // start + 5 reads + 5 writes
  for (std::size_t i = 0; i < provider_steps.size(); ++i) {
    EXPECT_EQ(provider_steps[i], provider_on_io) << name << ": provider step " << i;
  }
  ASSERT_EQ(consumer_steps.size(), 11u);
  for (std::size_t i = 0; i < consumer_steps.size(); ++i) {
    EXPECT_EQ(consumer_steps[i], consumer_on_io) << name << ": consumer step " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Dispatchers, StreamDispatch,
                         ::testing::Values("all", "direct", "message", "execution", "connection"),
                         [](const auto& info) { return info.param; });

TEST(StreamFilters, TokenAuthGuardsStreamsAndTheHandlerNeverRunsWithoutIt) {
  std::atomic<int> ran{0};
  tern::ServerOptions so;
  so.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(std::vector<std::string>{"s3cret"}));
  auto st = start(so, testutil::one_io(), [&](tern::Server& s) {
    ADD_OK(s.add_stream_method<int, int>("Chat", "guarded", [&](ServerStream<int, int>& stream) -> Task<Status> {
      ++ran;
      co_return co_await stream.write(7);
    }));
  });
  auto none = ClientStream<int, int>::open(*st.ref, "guarded").value();
  EXPECT_FALSE(none.read_sync().has_value());
  EXPECT_EQ(none.status().code(), StatusCode::kUnauthenticated) << none.status();
  EXPECT_EQ(none.status().message(), "missing token");
  EXPECT_EQ(ran.load(), 0);

  tern::ClientOptions co = testutil::one_io();
  co.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>("s3cret"));
  tern::Client good(co);
  auto ref = good.reference("Chat", testutil::direct(*st.server), {}).value();
  auto s = ClientStream<int, int>::open(*ref, "guarded").value();
  EXPECT_EQ(s.read_sync().value_or(-1), 7);
  EXPECT_TRUE(s.finish_sync().is_ok());
  EXPECT_EQ(ran.load(), 1);
  st.server->shutdown(1s);
}

TEST(StreamFilters, MetricsCountStreamsAndTheirMessagesOnBothSides) {
  auto provider_metrics = std::make_shared<tern::monitor::MetricsRegistry>();
  auto consumer_metrics = std::make_shared<tern::monitor::MetricsRegistry>();
  tern::ServerOptions so;
  so.filters.push_back(std::make_shared<tern::monitor::MetricsServerFilter>(provider_metrics));
  tern::ClientOptions co = testutil::one_io();
  co.filters.push_back(std::make_shared<tern::monitor::MetricsClientFilter>(consumer_metrics));
  auto st = start(so, co);
  for (int round = 0; round < 2; ++round) {
    auto s = ClientStream<int, int>::open(*st.ref, "count").value();
    ASSERT_TRUE(s.write_sync(10).is_ok());
    ASSERT_TRUE(s.writes_done_sync().is_ok());
    int n = 0;
    while (s.read_sync()) ++n;
    EXPECT_EQ(n, 10);
    EXPECT_TRUE(s.finish_sync().is_ok());
  }
  auto find = [](const std::shared_ptr<tern::monitor::MetricsRegistry>& m) {
    for (auto& e : m->snapshot()) {
      if (e.service == "Chat" && e.method == "count") return e;
    }
    return tern::monitor::MethodSnapshot{};
  };
  // The provider's on_response runs after the final status went out.
  ASSERT_TRUE(testutil::wait_until([&] { return find(provider_metrics).calls == 2; }, 5s));
  auto p = find(provider_metrics);
  EXPECT_TRUE(p.stream);
  EXPECT_EQ(p.errors, 0u);
  EXPECT_EQ(p.in_flight, 0);
  EXPECT_EQ(p.messages_in, 2u);    // the counts
  EXPECT_EQ(p.messages_out, 20u);  // 10 each
  EXPECT_GT(p.bytes_out, p.bytes_in);
  ASSERT_TRUE(testutil::wait_until([&] { return find(consumer_metrics).calls == 2; }, 5s));
  auto c = find(consumer_metrics);
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.messages_out, 2u);
  EXPECT_EQ(c.messages_in, 20u);
  EXPECT_EQ(c.bytes_in, p.bytes_out);  // message bytes, the same on both sides
  EXPECT_EQ(c.bytes_out, p.bytes_in);
  st.server->shutdown(1s);
}

// A consumer destroyed while a stream it dropped is still ending: the
// filters see the end once, and nothing of the consumer outlives it. The stream's end reached the filters through a callback that held the
// consumer's core, queued on the consumer's own loop or callback pool; when
// the end came late in the shutdown, that callback kept the core (its loops,
// pool and channels) alive forever (LeakSanitizer in the CI run of 04087ae).
TEST(StreamLifecycle, AConsumerDestroyedWithAStreamStillOpenLeavesNothingBehind) {
  struct Counting : tern::ClientFilter {
    explicit Counting(std::shared_ptr<std::atomic<int>> n) : ended(std::move(n)) {}
    std::shared_ptr<std::atomic<int>> ended;
    void on_response(std::string_view, std::string_view, const Status&, std::chrono::nanoseconds,
                     const tern::CallBytes&) override {
      ended->fetch_add(1);
    }
  };
  for (int round = 0; round < 20; ++round) {
    auto ended = std::make_shared<std::atomic<int>>(0);
    auto filter = std::make_shared<Counting>(ended);
    std::weak_ptr<Counting> weak = filter;
    tern::ClientOptions co = testutil::one_io();
    co.filters.push_back(std::move(filter));
    auto st = start({}, std::move(co));
    {
      auto s = ClientStream<int, long>::open(*st.ref, "check").value();
      ASSERT_TRUE(s.write_sync(0).is_ok());  // the handler now waits for more
    }  // dropped: cancelled on the loop while the consumer shuts down
    st.ref.reset();
    st.client.reset();
    // The filter lives in the consumer's options: it goes when the consumer does.
    ASSERT_TRUE(testutil::wait_until([&] { return weak.expired(); }, 5s)) << "round " << round;
    EXPECT_EQ(ended->load(), 1) << "round " << round;  // the stream's end, once
    st.server->shutdown(1s);
  }
}

// A stream handle kept after its Client was destroyed (a careless member
// order): it is not a dangling pointer to the consumer's loops. Its
// operations fail with CANCELLED "consumer shut down" at once, as calls
// through the Client's proxies do, and dropping it is harmless.
TEST(StreamLifecycle, AStreamThatOutlivesItsClientFailsCancelledAndIsSafeToDrop) {
  auto st = start({});
  auto open = ClientStream<int, long>::open(*st.ref, "check");
  ASSERT_TRUE(open.has_value()) << open.status();
  ClientStream<int, long> s = std::move(*open);
  ASSERT_TRUE(s.write_sync(0).is_ok());  // open on the provider
  // Its end, awaited before the Client goes: the shutdown ends the stream as
  // it ends unary calls, and the completion has run when ~Client returns.
  std::promise<Status> ended;
  auto ended_f = ended.get_future();
  s.raw()->await_status([&ended](Status e) { ended.set_value(std::move(e)); });
  st.client.reset();  // the consumer goes; the handle and the reference stay
  ASSERT_EQ(ended_f.wait_for(0s), std::future_status::ready);
  Status e = ended_f.get();
  EXPECT_EQ(e.code(), StatusCode::kCancelled) << e;
  EXPECT_EQ(e.message(), "consumer shut down");
  Status w = s.write_sync(1);
  EXPECT_EQ(w.code(), StatusCode::kCancelled) << w;
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kCancelled) << s.status();
  EXPECT_EQ(s.status().message(), "consumer shut down");
  // Opening a stream afterwards through the same reference is refused at
  // once: open_stream runs inside the shutdown gate.
  auto later = ClientStream<int, long>::open(*st.ref, "check");
  ASSERT_FALSE(later.has_value());
  EXPECT_EQ(later.status().code(), StatusCode::kCancelled) << later.status();
  EXPECT_EQ(later.status().message(), "consumer shut down");
  st.server->shutdown(1s);
}

// A Client destroyed inside one of its own completions, on its IO thread
// (the default dispatcher runs them there): that thread cannot join itself,
// so the shutdown goes on without it; the other stream still ends CANCELLED
// "consumer shut down" and nothing of the consumer is left (it aborted with
// "Resource deadlock avoided" from the join).
TEST(StreamLifecycle, AClientDestroyedInsideItsOwnCompletionShutsDown) {
  struct Held : tern::ClientFilter {};
  auto filter = std::make_shared<Held>();
  std::weak_ptr<Held> weak = filter;
  tern::ClientOptions co = testutil::one_io();
  co.filters.push_back(std::move(filter));
  auto st = start({}, std::move(co));
  auto other = ClientStream<int, long>::open(*st.ref, "check").value();
  ASSERT_TRUE(other.write_sync(0).is_ok());
  std::promise<Status> other_end;
  auto other_f = other_end.get_future();
  other.raw()->await_status([&other_end](Status e) { other_end.set_value(std::move(e)); });

  auto counting = ClientStream<int, int>::open(*st.ref, "count").value();
  ASSERT_TRUE(counting.write_sync(3).is_ok());
  std::promise<bool> destroyed_on_io;
  auto destroyed_f = destroyed_on_io.get_future();
  counting.raw()->read([&](std::optional<std::string>, Status) {
    const bool io = on_io();
    st.client.reset();  // the last owner of the Client, inside its completion
    destroyed_on_io.set_value(io);
  });
  ASSERT_EQ(destroyed_f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(destroyed_f.get());
  ASSERT_EQ(other_f.wait_for(5s), std::future_status::ready);
  Status e = other_f.get();
  EXPECT_EQ(e.code(), StatusCode::kCancelled) << e;
  EXPECT_EQ(e.message(), "consumer shut down");
  st.ref.reset();
  { auto drop = std::move(other); }
  { auto drop = std::move(counting); }
  // The consumer's core (its loops, pool, channels, options) is gone.
  EXPECT_TRUE(testutil::wait_until([&] { return weak.expired(); }, 5s));
  st.server->shutdown(1s);
}

// The same, then the process exits at once (std::exit right after the
// completion returned, as a program returning from main would): the exit
// waits for the thread that finishes the shutdown, so the consumer's core
// (here: its filter, slow to go) is released before the process ends. With
// a detached thread, static destruction raced it and the core was never
// released (the child ended without the line: 10 runs of 10).
TEST(StreamLifecycle, AProcessExitingRightAfterAClientDestroyedOnItsIoThreadWaitsForItsShutdown) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto child = [] {
    struct Announcing : tern::ClientFilter {
      ~Announcing() override {
        // Slow, so that an exit which does not wait for the shutdown thread
        // is over before this line (the process ends without it).
        std::this_thread::sleep_for(200ms);
        std::fputs("consumer core released\n", stderr);
        std::fflush(stderr);
      }
    };
    tern::ClientOptions co = testutil::one_io();
    co.filters.push_back(std::make_shared<Announcing>());
    auto st = start({}, std::move(co));
    auto counting = ClientStream<int, int>::open(*st.ref, "count").value();
    if (!counting.write_sync(3).is_ok()) std::_Exit(3);
    st.ref.reset();
    std::atomic<bool> destroyed{false};
    counting.raw()->read([&](std::optional<std::string>, Status) {
      st.client.reset();  // the last owner of the Client, inside its completion
      destroyed.store(true);
    });
    // The handle holds the core too: dropped first (its read then ends,
    // if it had not), so the shutdown thread holds the core's last reference.
    { auto drop = std::move(counting); }
    while (!destroyed.load()) std::this_thread::yield();
    // No thread of the provider left running into the exit (sanitizers
    // would see it race static destruction); quick beside the filter's 200 ms.
    st.server->shutdown(0ms);
    std::exit(0);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "consumer core released");
}

// A stream handler has a ServerContext: its deadline and attachments, also
// after a co_await, so nested calls inherit them.
TEST(StreamContext, HandlerSeesTheStreamsDeadlineAndAttachmentsAfterEachAwait) {
  std::atomic<long> remaining_ms{-1};
  std::atomic<bool> same_context{false};
  auto st = start({}, testutil::one_io(), [&](tern::Server& s) {
    ADD_OK(s.add_stream_method<int, std::string>("Chat", "ctx", [&](ServerStream<int, std::string>& stream)
                                                                    -> Task<Status> {
      tern::ServerContext* before = tern::ServerContext::current();
      auto v = co_await stream.read();
      tern::ServerContext* ctx = tern::ServerContext::current();
      same_context = ctx != nullptr && ctx == before && ctx->stream() && !ctx->cancelled();
      if (ctx == nullptr || !v) co_return Status(StatusCode::kInternal, "no context");
      remaining_ms = ctx->remaining().count();
      co_return co_await stream.write(std::string(ctx->service()) + "." + std::string(ctx->method()) + " " +
                                      std::string(ctx->attachment("who")));
    }));
  });
  tern::CallOptions co;
  co.timeout = 5000ms;
  co.attachments = {{"who", "ann"}};
  auto s = ClientStream<int, std::string>::open(*st.ref, "ctx", &co).value();
  ASSERT_TRUE(s.write_sync(1).is_ok());
  EXPECT_EQ(s.read_sync().value_or("<none>"), "Chat.ctx ann");
  EXPECT_TRUE(s.finish_sync().is_ok()) << s.status();
  EXPECT_TRUE(same_context.load());
  EXPECT_GT(remaining_ms.load(), 0);
  EXPECT_LE(remaining_ms.load(), 5000);
  st.server->shutdown(1s);
}

// A provider process ---------------------------------------------------------

struct ProviderProcess {
  explicit ProviderProcess(std::vector<std::string> args = {}) : child(argv(std::move(args))) {
    port = child.wait_for_port();
  }
  static std::vector<std::string> argv(std::vector<std::string> args) {
    args.insert(args.begin(), std::string(TERN_BINARY_DIR) + "/bin/tern_test_provider");
    return args;
  }
  testutil::Subprocess child;
  int port = 0;
};

ClientStream<int, int> open_ticks(tern::Reference& ref, int n, int period_ms) {
  tern::CallOptions co;
  co.attachments = {{"period", std::to_string(period_ms)}};
  auto s = ClientStream<int, int>::open(ref, "ticks", &co).value();
  EXPECT_TRUE(s.write_sync(n).is_ok());
  EXPECT_TRUE(s.writes_done_sync().is_ok());
  return s;
}

TEST(StreamLifecycle, ProviderKilledMidStreamEndsItUnavailableOnce) {
  ProviderProcess p;
  ASSERT_GT(p.port, 0);
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.timeout = 60s;  // far away: the end must come from the lost connection
  auto ref = client.reference("Ticker", testutil::direct({p.port}), ro).value();
  auto s = open_ticks(*ref, 0, 2);  // ticks until stopped
  for (int i = 0; i < 5; ++i) ASSERT_EQ(s.read_sync().value_or(-1), i);
  p.child.kill(SIGKILL);
  int more = 0;
  while (s.read_sync()) ++more;  // what was in flight, then the end
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(s.read_sync().has_value());  // ended once: stays ended
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  (void)p.child.wait();
}

TEST(StreamLifecycle, SigtermLetsAStreamFinishWithinTheGracePeriod) {
  ProviderProcess p({"--grace", "5000"});
  ASSERT_GT(p.port, 0);
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.timeout = 60s;
  auto ref = client.reference("Ticker", testutil::direct({p.port}), ro).value();
  constexpr int kTicks = 150;  // 5 ms apart: about 0.75 s, well inside the grace
  auto s = open_ticks(*ref, kTicks, 5);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(s.read_sync().value_or(-1), i);
  p.child.signal(SIGTERM);
  int next = 5;
  while (auto v = s.read_sync()) {
    if (*v != next) break;
    ++next;
  }
  EXPECT_EQ(next, kTicks);
  EXPECT_TRUE(s.status().is_ok()) << s.status();
  EXPECT_TRUE(s.finish_sync().is_ok());
  EXPECT_EQ(p.child.read_line(10s), "STOPPED");
  EXPECT_EQ(p.child.wait(), 0);
}

TEST(StreamLifecycle, SigtermFailsAStreamStillOpenAfterTheGracePeriod) {
  ProviderProcess p({"--grace", "300"});
  ASSERT_GT(p.port, 0);
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.timeout = 60s;
  auto ref = client.reference("Ticker", testutil::direct({p.port}), ro).value();
  auto s = open_ticks(*ref, 0, 2);  // never ends by itself
  for (int i = 0; i < 5; ++i) ASSERT_EQ(s.read_sync().value_or(-1), i);
  p.child.signal(SIGTERM);
  while (s.read_sync()) {
  }
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kUnavailable);
  EXPECT_EQ(p.child.read_line(10s), "STOPPED");
  EXPECT_EQ(p.child.wait(), 0);
}

}  // namespace
