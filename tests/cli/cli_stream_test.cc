// The `tern` binary on stream methods: `tern describe` shows which methods
// stream and how; `tern call` prints a server stream's messages as JSON lines
// as they arrive, and sends stdin's JSON lines on client and bidi streams.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <string>

#include "tern/server.h"
#include "tern/stream.h"

namespace {

using std::chrono::milliseconds;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string temp_path(const std::string& what) {
  static int n = 0;
  return std::string(TERN_BINARY_DIR) + "/cli_stream_test_" + what + "_" + std::to_string(::getpid()) + "_" +
         std::to_string(n++) + ".txt";
}

// Runs `tern <args>` with `input` on its stdin (a file), capturing stdout and stderr.
Run tern(const std::string& args, const std::string& input = "") {
  std::string in = temp_path("stdin"), err = temp_path("stderr");
  std::ofstream(in) << input;
  std::string cmd = "timeout 60 " TERN_BINARY_DIR "/bin/tern " + args + " <" + in + " 2>" + err;
  Run r;
  FILE* f = popen(cmd.c_str(), "r");
  if (f) {
    char buf[4096];
    std::size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, got);
    int st = pclose(f);
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::remove(in.c_str());
  std::remove(err.c_str());
  return r;
}

class CliStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    server_ = new tern::Server(so);
    release_ = new std::promise<void>();
    auto ok = [](Status s) { ASSERT_TRUE(s.is_ok()) << s; };
    // Server streaming: "tick N" .. "tick 1"; INVALID_ARGUMENT for a negative N.
    ok(server_->add_stream_method<int, std::string>(
        "Chat", "countdown", tern::StreamKind::kServer, [](ServerStream<int, std::string>& s) -> Task<Status> {
          auto n = co_await s.read();
          if (!n) co_return Status(StatusCode::kInvalidArgument, "no count");
          if (*n < 0) co_return Status(StatusCode::kInvalidArgument, "negative count");
          for (int i = *n; i > 0; --i) {
            if (Status w = co_await s.write("tick " + std::to_string(i)); !w.is_ok()) co_return w;
          }
          co_return Status();
        }));
    // Client streaming: the sum.
    ok(server_->add_stream_method<int, long>("Chat", "sum", tern::StreamKind::kClient,
                                             [](ServerStream<int, long>& s) -> Task<Status> {
                                               long total = 0;
                                               while (auto v = co_await s.read()) total += *v;
                                               if (!s.status().is_ok()) co_return s.status();
                                               co_return co_await s.write(total);
                                             }));
    // Bidirectional, blocking style: each line back upper-cased.
    ok(server_->add_blocking_stream_method<std::string, std::string>(
        "Chat", "shout", tern::StreamKind::kBidi, [](ServerStream<std::string, std::string>& s) -> Status {
          while (auto m = s.read_sync()) {
            std::string up = *m;
            for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            if (Status w = s.write_sync(up); !w.is_ok()) return w;
          }
          return s.status();
        }));
    // Server streaming that holds its second message until the test says so.
    ok(server_->add_blocking_stream_method<int, std::string>(
        "Chat", "held", tern::StreamKind::kServer, [](ServerStream<int, std::string>& s) -> Status {
          if (!s.read_sync()) return s.status();
          if (Status w = s.write_sync("first"); !w.is_ok()) return w;
          if (release_future_.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
            return Status(StatusCode::kDeadlineExceeded, "the test never released the second message");
          }
          return s.write_sync("second");
        }));
    // A raw handler without a kind: bidi, no types.
    ok(server_->add_stream_method("Chat", "pipe", [](std::shared_ptr<tern::RawStream>) -> Task<Status> {
      co_return Status();
    }));
    release_future_ = release_->get_future().share();
    ASSERT_TRUE(server_->start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  static void TearDownTestSuite() {
    server_->shutdown(milliseconds(500));
    delete server_;
    delete release_;
  }

  static inline tern::Server* server_ = nullptr;
  static inline std::promise<void>* release_ = nullptr;
  static inline std::shared_future<void> release_future_;
  static inline std::string addr_;
};

TEST_F(CliStreamTest, DescribeShowsWhichMethodsStreamAndHow) {
  auto r = tern("describe Chat --addr " + addr_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service Chat at " + addr_ +
                       "\n"
                       "methods (5):\n"
                       "  countdown(int32) -> stream string  [server streaming]\n"
                       "  sum(stream int32) -> int64  [client streaming]\n"
                       "  shout(stream string) -> stream string  [bidi streaming]\n"
                       "  held(int32) -> stream string  [server streaming]\n"
                       "  pipe  (types not published)  [bidi streaming]\n");
}

TEST_F(CliStreamTest, ServerStreamingPrintsEachMessageAsAJsonLine) {
  auto r = tern("call Chat.countdown 3 --addr " + addr_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"tick 3\"\n\"tick 2\"\n\"tick 1\"\n");
  // Without args, the request comes from stdin.
  r = tern("call Chat.countdown --addr " + addr_, "2\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"tick 2\"\n\"tick 1\"\n");
}

TEST_F(CliStreamTest, ServerStreamingPrintsAMessageBeforeTheNextIsWritten) {
  std::string err = temp_path("stderr");
  std::string cmd = "timeout 60 " TERN_BINARY_DIR "/bin/tern call Chat.held 1 --addr " + addr_ + " </dev/null 2>" + err;
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char line[256];
  // The provider holds "second" until released: "first" must be out already.
  ASSERT_NE(fgets(line, sizeof line, f), nullptr);
  EXPECT_STREQ(line, "\"first\"\n");
  release_->set_value();
  ASSERT_NE(fgets(line, sizeof line, f), nullptr);
  EXPECT_STREQ(line, "\"second\"\n");
  EXPECT_EQ(fgets(line, sizeof line, f), nullptr);
  int st = pclose(f);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  std::remove(err.c_str());
}

TEST_F(CliStreamTest, ClientStreamingReadsJsonLinesFromStdin) {
  auto r = tern("call Chat.sum --addr " + addr_, "1\n2\n\n  \n39\n");  // blank lines are skipped
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  // args, when given, is the first message.
  r = tern("call Chat.sum 100 --addr " + addr_, "1\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "101\n");
  r = tern("call Chat.sum --addr " + addr_, "");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
}

TEST_F(CliStreamTest, BidiSendsStdinAndPrintsReplies) {
  auto r = tern("call Chat.shout --addr " + addr_, "\"hello\"\n\"tern\"\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"HELLO\"\n\"TERN\"\n");
}

TEST_F(CliStreamTest, ErrorsExitWithTheirStatus) {
  // The provider's final status.
  auto r = tern("call Chat.countdown --addr " + addr_, "-1\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;  // INVALID_ARGUMENT
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT: negative count"), std::string::npos) << r.err;
  // A stdin line that is not JSON: named, the stream cancelled, nothing more sent.
  r = tern("call Chat.sum --addr " + addr_, "1\nnot json\n2\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT: stdin line 2: malformed JSON"), std::string::npos) << r.err;
  // A message of the wrong type: the provider cannot decode it.
  r = tern("call Chat.sum --addr " + addr_, "\"x\"\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT"), std::string::npos) << r.err;
}

}  // namespace
