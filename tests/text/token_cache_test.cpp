// The token cache: verified hits, corruption detected (then rewritten), and a key that moves with
// every input it depends on.
#include "greenknobs/text/token_cache.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

#include "../common/temp_dir.h"
#include "test_support.h"

namespace gk::text {
namespace {

class TokenCacheTest : public ::testing::Test {
  protected:
    std::vector<Encoding> sample() const {
        std::vector<std::string> texts;
        for (const auto& g : testing::goldens()) {
            texts.push_back(g.text);
        }
        return testing::modernbert().encode_batch(texts, true, 32, 1);
    }
    gk::testing::TempDir tmp_{"text_cache"};
    std::string dir_ = tmp_ / "cache";  // absent until the cache makes it
};

void expect_same(const std::vector<Encoding>& a, const std::vector<Encoding>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].ids, b[i].ids) << i;
        EXPECT_EQ(a[i].truncated, b[i].truncated) << i;
        EXPECT_EQ(a[i].full_length, b[i].full_length) << i;
    }
}

TEST_F(TokenCacheTest, HitIsIdenticalToWhatWasStored) {
    TokenCache cache(dir_ + "/nested/dir");
    std::string key = cache.key(sha256_hex("data"), testing::modernbert(), 32, true);
    std::vector<Encoding> got;
    EXPECT_FALSE(cache.load(key, &got));  // nothing there yet
    auto encs = sample();
    ASSERT_TRUE(
        std::any_of(encs.begin(), encs.end(), [](const Encoding& e) { return e.truncated; }));
    cache.store(key, encs);
    ASSERT_TRUE(cache.load(key, &got));
    expect_same(got, encs);
    // No temporary file is left beside the entry.
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/nested/dir")) {
        EXPECT_EQ(entry.path().extension(), ".tokens") << entry.path();
        ++files;
    }
    EXPECT_EQ(files, 1);
}

TEST_F(TokenCacheTest, EmptyListRoundTrips) {
    TokenCache cache(dir_);
    std::string key = cache.key("h", testing::modernbert(), 0, false);
    cache.store(key, {});
    std::vector<Encoding> got(3);
    ASSERT_TRUE(cache.load(key, &got));
    EXPECT_TRUE(got.empty());
}

TEST_F(TokenCacheTest, CorruptedPayloadIsAMissAndIsRewritten) {
    TokenCache cache(dir_);
    std::string key = cache.key(sha256_hex("data"), testing::modernbert(), 32, true);
    auto encs = sample();
    cache.store(key, encs);
    std::string path = cache.path_for(key);
    std::string bytes = fs::read_file(path);
    bytes[bytes.size() - 3] ^= 0x01;  // one bit inside the last id
    fs::write_file_atomic(path, bytes);
    std::vector<Encoding> got;
    EXPECT_FALSE(cache.load(key, &got));
    EXPECT_TRUE(got.empty());

    // Truncated file and garbage header: misses too.
    fs::write_file_atomic(path, bytes.substr(0, bytes.size() / 2));
    EXPECT_FALSE(cache.load(key, &got));
    fs::write_file_atomic(path, "garbage\n");
    EXPECT_FALSE(cache.load(key, &got));

    // The caller re-encodes and stores: the entry is good again.
    cache.store(key, encs);
    ASSERT_TRUE(cache.load(key, &got));
    expect_same(got, encs);
}

TEST_F(TokenCacheTest, KeyChangesWithEachInput) {
    TokenCache cache(dir_);
    const Tokenizer& mb = testing::modernbert();
    Tokenizer tiny = Tokenizer::from_json(testing::tiny_tokenizer_json().dump(), "tiny.json");
    std::string base = cache.key("data-a", mb, 256, true);
    EXPECT_EQ(base.size(), 64u);
    EXPECT_EQ(base, cache.key("data-a", mb, 256, true));  // deterministic
    EXPECT_NE(base, cache.key("data-b", mb, 256, true));
    EXPECT_NE(base, cache.key("data-a", tiny, 256, true));
    EXPECT_NE(base, cache.key("data-a", mb, 128, true));
    EXPECT_NE(base, cache.key("data-a", mb, 256, false));
    // Same key for the same input in another directory (content-addressed, not location-addressed).
    EXPECT_EQ(base, TokenCache(dir_ + "/other").key("data-a", mb, 256, true));
}

}  // namespace
}  // namespace gk::text
