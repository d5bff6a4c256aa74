// WatchedBook (src/registry/common/watched_book.h): push only on change,
// revision ordering, in-place edits and removal, with exact values.
#include "registry/common/watched_book.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tern {
namespace {

using Book = WatchedBook<std::string>;
using Change = Book::Change;
using Pushes = std::vector<std::pair<std::string, std::string>>;

struct Recorder {
  Pushes pushes;
  Book::Push fn() {
    return [this](const std::string& key, const std::string& value) { pushes.emplace_back(key, value); };
  }
};

TEST(WatchedBook, PushesTheFirstValueAndThenOnlyChanges) {
  Recorder r;
  Book book(r.fn());
  EXPECT_EQ(book.offer("a", "x"), Change::kPushed);
  EXPECT_EQ(book.offer("a", "x"), Change::kUnchanged);
  EXPECT_EQ(book.offer("b", "x"), Change::kPushed);  // keys are independent
  EXPECT_EQ(book.offer("a", "y"), Change::kPushed);
  EXPECT_EQ(book.offer("a", "y"), Change::kUnchanged);
  EXPECT_EQ(r.pushes, (Pushes{{"a", "x"}, {"b", "x"}, {"a", "y"}}));
  ASSERT_NE(book.last("a"), nullptr);
  EXPECT_EQ(*book.last("a"), "y");
  EXPECT_EQ(book.last("c"), nullptr);
  EXPECT_EQ(book.size(), 2u);
}

TEST(WatchedBook, OlderRevisionsAreDroppedNewerEpochsWin) {
  Recorder r;
  Book book(r.fn());
  EXPECT_EQ(book.offer("s", "v5", Revision{1, 5}), Change::kPushed);
  EXPECT_EQ(book.offer("s", "v4", Revision{1, 4}), Change::kStale);
  EXPECT_EQ(book.offer("s", "v5b", Revision{1, 5}), Change::kStale);  // as old: dropped
  EXPECT_EQ(book.offer("s", "v5", Revision{1, 6}), Change::kUnchanged);
  EXPECT_EQ(book.revision("s")->number, 6);
  // A restarted store (another epoch) numbers from 1 again: newer.
  EXPECT_EQ(book.offer("s", "fresh", Revision{2, 1}), Change::kPushed);
  EXPECT_EQ(book.revision("s")->epoch, 2u);
  EXPECT_EQ(book.revision("s")->number, 1);
  EXPECT_EQ(book.offer("s", "late", Revision{2, 1}), Change::kStale);
  EXPECT_EQ(r.pushes, (Pushes{{"s", "v5"}, {"s", "fresh"}}));
  EXPECT_EQ(*book.last("s"), "fresh");
}

TEST(WatchedBook, SnapshotsWithoutRevisionAlwaysApply) {
  Recorder r;
  Book book(r.fn());
  EXPECT_EQ(book.offer("s", "one"), Change::kPushed);
  EXPECT_FALSE(book.revision("s").has_value());
  EXPECT_EQ(book.offer("s", "two"), Change::kPushed);
  EXPECT_EQ(book.offer("s", "three", Revision{0, 9}), Change::kPushed);
  EXPECT_EQ(book.offer("s", "four"), Change::kPushed);  // a snapshot keeps the revision
  EXPECT_EQ(book.revision("s")->number, 9);
  EXPECT_EQ(book.offer("s", "stale", Revision{0, 9}), Change::kStale);
  EXPECT_EQ(r.pushes, (Pushes{{"s", "one"}, {"s", "two"}, {"s", "three"}, {"s", "four"}}));
}

TEST(WatchedBook, EditAppliesNewerChangesInPlace) {
  Recorder r;
  Book book(r.fn());
  int applied = 0;
  auto append = [&](const char* tail) {
    return [&applied, tail](std::string& v) {
      ++applied;
      v += tail;
      return true;
    };
  };
  EXPECT_EQ(book.edit("s", Revision{0, 1}, append("!")), Change::kStale);  // nothing to edit yet
  EXPECT_EQ(applied, 0);
  book.offer("s", "a", Revision{0, 3});
  EXPECT_EQ(book.edit("s", Revision{0, 3}, append("b")), Change::kStale);
  EXPECT_EQ(applied, 0);
  EXPECT_EQ(book.edit("s", Revision{0, 4}, append("b")), Change::kPushed);
  EXPECT_EQ(book.edit("s", Revision{0, 5}, [](std::string&) { return false; }), Change::kUnchanged);
  EXPECT_EQ(book.revision("s")->number, 5);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(r.pushes, (Pushes{{"s", "a"}, {"s", "ab"}}));
}

TEST(WatchedBook, EraseForgetsTheKey) {
  Recorder r;
  Book book(r.fn());
  book.offer("s", "x", Revision{0, 7});
  EXPECT_TRUE(book.contains("s"));
  EXPECT_TRUE(book.erase("s"));
  EXPECT_FALSE(book.erase("s"));
  EXPECT_FALSE(book.contains("s"));
  EXPECT_EQ(book.last("s"), nullptr);
  EXPECT_FALSE(book.revision("s").has_value());
  // A new listener's first value is pushed even when equal, at any revision.
  EXPECT_EQ(book.offer("s", "x", Revision{0, 2}), Change::kPushed);
  EXPECT_EQ(r.pushes, (Pushes{{"s", "x"}, {"s", "x"}}));
}

TEST(WatchedBook, ProviderListsCompareByContent) {
  std::vector<std::size_t> sizes;
  ProviderBook book([&](const std::string&, const ListenerDispatcher::Snapshot& s) { sizes.push_back(s->size()); });
  auto url = Url::parse("tern://10.0.0.1:2000/Calc");
  ASSERT_TRUE(url);
  auto one = std::make_shared<const std::vector<Url>>(std::vector<Url>{*url});
  auto same = std::make_shared<const std::vector<Url>>(std::vector<Url>{*url});
  auto none = std::make_shared<const std::vector<Url>>();
  EXPECT_EQ(book.offer("Calc", one), ProviderBook::Change::kPushed);
  EXPECT_EQ(book.offer("Calc", same), ProviderBook::Change::kUnchanged);  // another pointer, same list
  EXPECT_EQ(*book.last("Calc"), one);  // the pushed snapshot stays
  EXPECT_EQ(book.offer("Calc", none), ProviderBook::Change::kPushed);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 0}));
}

TEST(WatchedBook, ConfigDocumentsCompareTextAndRevision) {
  std::vector<std::uint64_t> revisions;
  ConfigBook book([&](const std::string&, const ConfigDocument& d) { revisions.push_back(d.revision); });
  EXPECT_EQ(book.offer("Calc", ConfigDocument{"a: 1", 4}), ConfigBook::Change::kPushed);
  EXPECT_EQ(book.offer("Calc", ConfigDocument{"a: 1", 4}), ConfigBook::Change::kUnchanged);
  EXPECT_EQ(book.offer("Calc", ConfigDocument{"a: 1", 5}), ConfigBook::Change::kPushed);  // rewritten alike
  EXPECT_EQ(book.offer("Calc", ConfigDocument{}), ConfigBook::Change::kPushed);           // removed
  EXPECT_EQ(revisions, (std::vector<std::uint64_t>{4, 5, 0}));
}

}  // namespace
}  // namespace tern
