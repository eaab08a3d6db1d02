// Regression tests of issue #12 for tokenizer.json (docs/input-rules.md): ids unique and in range,
// added tokens that agree with the vocab, a complete byte-level alphabet, strict JSON.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/error.h"

#include "../common/errors.h"
#include "test_support.h"

using gk::text::Tokenizer;
using gk::text::testing::tiny_tokenizer_json;

namespace {

std::string load_error(const std::string& bytes) {
    return gk::testing::error_of([&] { Tokenizer::from_json(bytes, "t.json"); });
}
std::string load_error(const nlohmann::json& j) { return load_error(j.dump()); }

nlohmann::json added(int id, const std::string& content) {
    return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", false}, {"special", true}};
}

}  // namespace

TEST(TokenizerRules, TheTinyTokenizerLoads) {
    // The fixture the cases below break one thing of.
    EXPECT_EQ(load_error(tiny_tokenizer_json()), "");
}

TEST(TokenizerRules, VocabIdsAreUnique) {
    auto j = tiny_tokenizer_json();
    j["model"]["vocab"]["abc"] = 256;  // also "ab"'s id
    EXPECT_EQ(load_error(j),
              "t.json:model.vocab.abc: id 256 is also the id of \"ab\" (ids must be unique)");
}

TEST(TokenizerRules, IdsAreBounded) {
    auto j = tiny_tokenizer_json();
    j["model"]["vocab"]["abc"] = 2000000000;
    EXPECT_EQ(load_error(j).rfind("t.json:model.vocab.abc: id 2000000000 is out of range", 0), 0u)
        << load_error(j);
    j = tiny_tokenizer_json();
    j["added_tokens"][0]["id"] = 99999999;
    EXPECT_EQ(load_error(j).rfind("t.json:added_tokens[0].id: id 99999999 is out of range", 0), 0u);
}

TEST(TokenizerRules, AddedTokensAreUniqueAndAgreeWithTheVocab) {
    auto j = tiny_tokenizer_json();
    j["added_tokens"].push_back(added(300, "[X]"));
    EXPECT_EQ(load_error(j), "t.json:added_tokens[2].id: id 300 is also the id of added_tokens[0]");
    j = tiny_tokenizer_json();
    j["added_tokens"].push_back(added(302, "[CLS]"));
    EXPECT_EQ(load_error(j),
              "t.json:added_tokens[2].content: \"[CLS]\" is also the content of added_tokens[0]");
    j = tiny_tokenizer_json();
    j["added_tokens"].push_back(added(256, "[X]"));  // the vocab's "ab"
    EXPECT_EQ(load_error(j),
              "t.json:added_tokens[2].id: id 256 is the vocab's \"ab\", not \"[X]\"");
    j = tiny_tokenizer_json();
    j["added_tokens"].push_back(added(310, "ab"));  // "ab" is 256 in the vocab
    EXPECT_EQ(load_error(j),
              "t.json:added_tokens[2].content: \"ab\" is in model.vocab with id 256, not 310");
    // HF's own habit, an added token repeating a vocab entry (same id, same text), is fine.
    j = tiny_tokenizer_json();
    j["added_tokens"].push_back(added(256, "ab"));
    EXPECT_EQ(load_error(j), "");
}

TEST(TokenizerRules, ByteLevelAlphabetMustBeComplete) {
    // Without "Ġ" (the space) every space would vanish from the ids, silently.
    auto j = tiny_tokenizer_json();
    j["model"]["vocab"].erase("\xC4\xA0");
    EXPECT_EQ(load_error(j).rfind("t.json:model.vocab: the byte-level alphabet is incomplete: no "
                                  "token for byte 0x20",
                                  0),
              0u)
        << load_error(j);
    // Bytes that UTF-8 text never holds (C0, C1, F5..FF) may be missing, as in ModernBERT's vocab.
    j = tiny_tokenizer_json();
    for (int b : {0xC0, 0xC1, 0xF5, 0xFF}) {
        const char c = static_cast<char>(b);
        j["model"]["vocab"].erase(gk::text::byte_level_spelling(&c, 1));
    }
    EXPECT_EQ(load_error(j), "");
}

TEST(TokenizerRules, PostProcessorIdsMustExist) {
    auto j = tiny_tokenizer_json();
    j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = {280};  // a hole: no token has it
    EXPECT_EQ(load_error(j),
              "t.json:post_processor.special_tokens: id 280 is not in the vocabulary");
}

TEST(TokenizerRules, StrictJson) {
    std::string dup = tiny_tokenizer_json().dump();
    dup.insert(dup.find("\"ab\":256"), "\"ab\":7,");
    EXPECT_EQ(load_error(dup).rfind("t.json:model.vocab.ab: duplicate key 'model.vocab.ab'", 0), 0u)
        << load_error(dup);
    EXPECT_EQ(load_error("\xEF\xBB\xBF" + tiny_tokenizer_json().dump())
                  .rfind("t.json: starts with a UTF-8 byte order mark", 0),
              0u);
    std::string latin1 = tiny_tokenizer_json().dump();
    latin1.insert(1, "\"x\":\"\xE9\",");
    EXPECT_EQ(load_error(latin1).rfind("t.json: not valid UTF-8: byte 0xE9 at byte offset 6", 0),
              0u)
        << load_error(latin1);
}

TEST(TokenizerRules, TheRealTokenizerPassesEveryRule) {
    EXPECT_EQ(gk::text::testing::modernbert().vocab_size(), 50368);
}
