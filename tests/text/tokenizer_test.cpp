// Parity with HF tokenizers on ModernBERT's tokenizer.json (49 golden encodings), truncation,
// added-token flags, NFC, batch vs serial, decoding, and the errors for tokenizer.json files we do
// not support.
#include "greenknobs/text/tokenizer.h"

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/hash.h"

#include "test_support.h"

namespace gk::text {
namespace {

using testing::add_token;
using testing::byte_ids;
using testing::goldens;
using testing::modernbert;
using testing::tiny_tokenizer_json;

std::vector<int32_t> body(const std::string& text) { return modernbert().encode(text, false).ids; }
int32_t id_of(const std::string& token) {
    int32_t id = modernbert().token_to_id(token);
    EXPECT_GE(id, 0) << token;
    return id;
}

TEST(Tokenizer, GoldenEncodingsWithSpecialTokens) {
    ASSERT_EQ(goldens().size(), 49u);
    for (const auto& g : goldens()) {
        Encoding enc = modernbert().encode(g.text);
        EXPECT_EQ(enc.ids, g.ids) << g.id;
        EXPECT_FALSE(enc.truncated) << g.id;
        EXPECT_EQ(enc.full_length, static_cast<int64_t>(g.ids.size())) << g.id;
    }
}

TEST(Tokenizer, GoldenEncodingsWithoutSpecialTokens) {
    for (const auto& g : goldens()) {
        EXPECT_EQ(modernbert().encode(g.text, /*add_special_tokens=*/false).ids, g.ids_no_special)
            << g.id;
    }
}

TEST(Tokenizer, ModernBertSpecialIdsAndIdentity) {
    const Tokenizer& tok = modernbert();
    EXPECT_EQ(tok.cls_id(), 50281);
    EXPECT_EQ(tok.sep_id(), 50282);
    EXPECT_EQ(tok.pad_id(), 50283);
    EXPECT_EQ(tok.mask_id(), 50284);
    EXPECT_EQ(tok.vocab_size(), 50368);
    EXPECT_EQ(tok.fingerprint(), sha256_file_hex(testing::modernbert_path()));
    EXPECT_EQ(tok.id_to_token(12092), "Hello");
    EXPECT_EQ(tok.id_to_token(50284), "[MASK]");
}

TEST(Tokenizer, TruncationKeepsClsHeadAndSep) {
    const auto& g = goldens().back();  // a whole Juliet file: thousands of tokens
    ASSERT_GT(g.ids.size(), 100u);
    Encoding enc = modernbert().encode(g.text, true, 16);
    ASSERT_EQ(enc.ids.size(), 16u);
    EXPECT_TRUE(enc.truncated);
    EXPECT_EQ(enc.full_length, static_cast<int64_t>(g.ids.size()));
    EXPECT_EQ(enc.ids.front(), 50281);
    EXPECT_EQ(enc.ids.back(), 50282);
    EXPECT_EQ(std::vector<int32_t>(enc.ids.begin() + 1, enc.ids.end() - 1),
              std::vector<int32_t>(g.ids_no_special.begin(), g.ids_no_special.begin() + 14));

    Encoding plain = modernbert().encode(g.text, false, 16);
    EXPECT_EQ(plain.ids,
              std::vector<int32_t>(g.ids_no_special.begin(), g.ids_no_special.begin() + 16));
    EXPECT_TRUE(plain.truncated);
    EXPECT_EQ(plain.full_length, static_cast<int64_t>(g.ids_no_special.size()));

    // Exactly max_length long: untouched; max_length 2: only the specials remain.
    Encoding exact = modernbert().encode("Hello world!", true, 5);
    EXPECT_EQ(exact.ids, (std::vector<int32_t>{50281, 12092, 1533, 2, 50282}));
    EXPECT_FALSE(exact.truncated);
    Encoding specials_only = modernbert().encode("Hello world!", true, 2);
    EXPECT_EQ(specials_only.ids, (std::vector<int32_t>{50281, 50282}));
    EXPECT_TRUE(specials_only.truncated);
    EXPECT_EQ(specials_only.full_length, 5);
    EXPECT_THROW(modernbert().encode("Hello", true, 1), InputError);
    EXPECT_THROW(modernbert().encode("Hello", true, -1), InputError);
}

TEST(Tokenizer, MaskTokenStripsSpacesOnItsLeft) {
    // [MASK] has lstrip = true: the spaces before it belong to it, whatever their number.
    std::vector<int32_t> expected = {id_of("The"), 50284, id_of("Ġis")};
    EXPECT_EQ(body("The [MASK] is"), expected);
    EXPECT_EQ(body("The   [MASK] is"), expected);
    EXPECT_EQ(body("The\t [MASK] is"), expected);
    EXPECT_EQ(body("The[MASK] is"), expected);
    // No rstrip: the space after it stays with the next word.
    EXPECT_EQ(body("[MASK]is"), (std::vector<int32_t>{50284, id_of("is")}));
}

TEST(Tokenizer, RunsOfSpacesAreAddedTokensLongestFirst) {
    // ids 50254..50276 are runs of 24..2 spaces; the longest run that fits is taken first.
    EXPECT_EQ(body("a    b"), (std::vector<int32_t>{id_of("a"), 50274, id_of("b")}));
    EXPECT_EQ(body("  x"), (std::vector<int32_t>{50276, id_of("x")}));
    // 25 spaces: 24 as one token, then " x" as a normal word (a single space is not an added
    // token).
    EXPECT_EQ(body(std::string(25, ' ') + "x"), (std::vector<int32_t>{50254, id_of("Ġx")}));
    // 50 spaces: 24 + 24 + 2.
    EXPECT_EQ(body(std::string(50, ' ')), (std::vector<int32_t>{50254, 50254, 50276}));
    // A single space before a word is part of the word.
    EXPECT_EQ(body("a b"), (std::vector<int32_t>{id_of("a"), id_of("Ġb")}));
}

TEST(Tokenizer, LiteralSpecialStringsInTextAreSpecialIds) {
    EXPECT_EQ(body("[CLS]"), (std::vector<int32_t>{50281}));
    EXPECT_EQ(body("x[SEP]y"), (std::vector<int32_t>{id_of("x"), 50282, id_of("y")}));
    EXPECT_EQ(body("<|endoftext|>"), (std::vector<int32_t>{50279}));
    EXPECT_EQ(body("[unused7]"), (std::vector<int32_t>{id_of("[unused7]")}));
    EXPECT_EQ(modernbert().encode("[PAD]").ids, (std::vector<int32_t>{50281, 50283, 50282}));
    // Not an added token: an unknown bracket word is split by BPE.
    EXPECT_GT(body("[NOTATOKEN]").size(), 1u);
}

TEST(Tokenizer, NfcMakesDecomposedAndComposedEqual) {
    std::string composed = "caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9";       // é as U+00E9
    std::string decomposed = "cafe\xCC\x81 re\xCC\x81sume\xCC\x81";  // e + U+0301
    EXPECT_EQ(body(composed), body(decomposed));
    EXPECT_EQ(modernbert().encode(decomposed).ids, modernbert().encode(composed).ids);
    // And NFC is not a no-op: the decomposed bytes alone would encode differently.
    EXPECT_NE(body(composed), body("cafe"));
}

TEST(Tokenizer, InvalidUtf8IsDecodedLossily) {
    EXPECT_EQ(body("a\xFF"
                   "b"),
              body("a\xEF\xBF\xBD"
                   "b"));                             // 0xFF → U+FFFD
    EXPECT_EQ(body("x\xC3"), body("x\xEF\xBF\xBD"));  // truncated sequence at the end
}

TEST(Tokenizer, BatchEqualsSerialForAnyThreadCount) {
    std::vector<std::string> texts;
    for (int rep = 0; rep < 3; ++rep) {
        for (const auto& g : goldens()) {
            texts.push_back(g.text);
        }
    }
    std::vector<Encoding> serial;
    for (const auto& t : texts) {
        serial.push_back(modernbert().encode(t, true, 64));
    }
    for (int threads : {1, 2, 3, 0}) {
        auto batch = modernbert().encode_batch(texts, true, 64, threads);
        ASSERT_EQ(batch.size(), serial.size());
        for (size_t i = 0; i < batch.size(); ++i) {
            EXPECT_EQ(batch[i].ids, serial[i].ids) << "threads " << threads << " text " << i;
            EXPECT_EQ(batch[i].truncated, serial[i].truncated);
            EXPECT_EQ(batch[i].full_length, serial[i].full_length);
        }
    }
    EXPECT_TRUE(modernbert().encode_batch({}, true, 0, 2).empty());
}

TEST(Tokenizer, BatchPropagatesErrors) {
    EXPECT_THROW(modernbert().encode_batch({"a", "b", "c", "d"}, true, 1, 2), InputError);
}

TEST(Tokenizer, DecodeRoundTripsText) {
    for (const auto& g : goldens()) {
        if (g.text.find("[MASK]") != std::string::npos) {
            continue;  // lstrip swallowed spaces: not reversible by design
        }
        if (g.id == "edge-27") {
            continue;  // a decomposed character: decoding gives its NFC form
        }
        EXPECT_EQ(modernbert().decode(g.ids_no_special), g.text) << g.id;
    }
    EXPECT_EQ(modernbert().decode({50281, 12092, 1533, 2, 50282}), "[CLS]Hello world![SEP]");
    EXPECT_EQ(modernbert().decode({50281, 12092, 1533, 2, 50282}, /*skip_special_tokens=*/true),
              "Hello world!");
    EXPECT_THROW(modernbert().decode({99999}), InputError);
}

// --- the tiny hand-made tokenizer: flags ModernBERT's file does not use
// --------------------------------

Tokenizer tiny(const nlohmann::json& j) { return Tokenizer::from_json(j.dump(), "tiny.json"); }

TEST(TinyTokenizer, MergesApplyByRank) {
    Tokenizer tok = tiny(tiny_tokenizer_json());
    EXPECT_EQ(tok.encode("abc", false).ids, (std::vector<int32_t>{257}));
    EXPECT_EQ(tok.encode("abab", false).ids, (std::vector<int32_t>{256, 256}));
    EXPECT_EQ(tok.encode("acb", false).ids, byte_ids("acb"));
    EXPECT_EQ(tok.encode("abc").ids, (std::vector<int32_t>{300, 257, 301}));
}

TEST(TinyTokenizer, RstripTakesTheSpacesOnItsRight) {
    auto j = tiny_tokenizer_json();
    add_token(&j, 310, "<r>", /*lstrip=*/false, /*rstrip=*/true, /*single_word=*/false,
              /*normalized=*/true,
              /*special=*/false);
    Tokenizer tok = tiny(j);
    std::vector<int32_t> expected = byte_ids("x ");
    expected.push_back(310);
    expected.push_back('y');
    EXPECT_EQ(tok.encode("x <r>  \ty", false).ids, expected);
}

TEST(TinyTokenizer, SingleWordOnlyMatchesWholeWords) {
    auto j = tiny_tokenizer_json();
    add_token(&j, 311, "tok", false, false, /*single_word=*/true, true, false);
    Tokenizer tok = tiny(j);
    EXPECT_EQ(tok.encode("xtoky", false).ids, byte_ids("xtoky"));
    EXPECT_EQ(tok.encode("tok_", false).ids, byte_ids("tok_"));  // '_' is a word character
    std::vector<int32_t> expected = byte_ids("(");
    expected.push_back(311);
    expected.push_back(')');
    EXPECT_EQ(tok.encode("(tok)", false).ids, expected);
    EXPECT_EQ(tok.encode("tok", false).ids, (std::vector<int32_t>{311}));
}

TEST(TinyTokenizer, LstripDoesNotRetakeSpacesOfThePreviousMatch) {
    auto j = tiny_tokenizer_json();
    add_token(&j, 312, "<m>", /*lstrip=*/true, /*rstrip=*/true, false, false, true);
    Tokenizer tok = tiny(j);
    // As HF's own test: "<m>\t<m>" gives two tokens, the tab staying with the first.
    EXPECT_EQ(tok.encode("<m>\t<m>", false).ids, (std::vector<int32_t>{312, 312}));
    EXPECT_EQ(tok.encode("a <m> b", false).ids, (std::vector<int32_t>{'a', 312, 'b'}));
}

TEST(TinyTokenizer, NormalizedTokensMatchAfterNfc) {
    auto j = tiny_tokenizer_json();
    // The token is written decomposed; normalized = true matches its NFC form (and so both
    // spellings).
    add_token(&j, 313, "e\xCC\x81!", false, false, false, /*normalized=*/true, false);
    add_token(&j, 314, "o\xCC\x81?", false, false, false, /*normalized=*/false, false);
    Tokenizer tok = tiny(j);
    EXPECT_EQ(tok.encode("\xC3\xA9!", false).ids, (std::vector<int32_t>{313}));
    EXPECT_EQ(tok.encode("e\xCC\x81!", false).ids, (std::vector<int32_t>{313}));
    // normalized = false matches the raw text only.
    EXPECT_EQ(tok.encode("o\xCC\x81?", false).ids, (std::vector<int32_t>{314}));
    EXPECT_NE(tok.encode("\xC3\xB3?", false).ids, (std::vector<int32_t>{314}));
}

TEST(TinyTokenizer, AddPrefixSpaceAndNoRegex) {
    auto j = tiny_tokenizer_json();
    j["pre_tokenizer"]["add_prefix_space"] = true;
    EXPECT_EQ(tiny(j).encode("ab", false).ids, (std::vector<int32_t>{' ', 256}));
    j["pre_tokenizer"]["add_prefix_space"] = false;
    j["pre_tokenizer"]["use_regex"] = false;
    // Without the split, " c" is not separated from "ab": "ab c" stays one word.
    EXPECT_EQ(tiny(j).encode("ab c", false).ids, (std::vector<int32_t>{256, ' ', 'c'}));
}

TEST(TinyTokenizer, MergesInPairForm) {
    auto j = tiny_tokenizer_json();
    j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
    EXPECT_EQ(tiny(j).encode("abc", false).ids, (std::vector<int32_t>{256, 'c'}));
}

// --- unsupported or broken files
// ----------------------------------------------------------------------

std::string error_of(const nlohmann::json& j) {
    try {
        Tokenizer::from_json(j.dump(), "bad_tokenizer.json");
    } catch (const InputError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TokenizerErrors, UnsupportedPartsNameFileAndJsonPath) {
    auto j = tiny_tokenizer_json();
    j["model"]["type"] = "WordPiece";
    EXPECT_EQ(
        error_of(j).rfind("bad_tokenizer.json:model.type: unsupported model type \"WordPiece\"", 0),
        0u)
        << error_of(j);

    j = tiny_tokenizer_json();
    j["normalizer"] = {{"type", "Lowercase"}};
    EXPECT_NE(error_of(j).find("bad_tokenizer.json:normalizer.type"), std::string::npos);

    j = tiny_tokenizer_json();
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    EXPECT_NE(error_of(j).find("bad_tokenizer.json:pre_tokenizer.type"), std::string::npos);

    j = tiny_tokenizer_json();
    j["post_processor"] = {{"type", "BertProcessing"}};
    EXPECT_NE(error_of(j).find("bad_tokenizer.json:post_processor.type"), std::string::npos);

    j = tiny_tokenizer_json();
    j["model"]["dropout"] = 0.1;
    EXPECT_NE(error_of(j).find("bad_tokenizer.json:model.dropout"), std::string::npos);
}

TEST(TokenizerErrors, MissingOrMalformedFields) {
    auto j = tiny_tokenizer_json();
    j["model"].erase("vocab");
    EXPECT_EQ(error_of(j), "bad_tokenizer.json:model.vocab: missing field");

    j = tiny_tokenizer_json();
    j["model"].erase("merges");
    EXPECT_EQ(error_of(j), "bad_tokenizer.json:model.merges: missing field");

    j = tiny_tokenizer_json();
    j.erase("model");
    EXPECT_EQ(error_of(j), "bad_tokenizer.json:model: missing field");

    j = tiny_tokenizer_json();
    j["model"]["merges"].push_back("a zz");
    EXPECT_NE(error_of(j).find("bad_tokenizer.json:model.merges[2]"), std::string::npos);

    j = tiny_tokenizer_json();
    j["added_tokens"][1].erase("content");
    EXPECT_EQ(error_of(j), "bad_tokenizer.json:added_tokens[1].content: missing field");

    j = tiny_tokenizer_json();
    j["post_processor"]["special_tokens"].erase("[SEP]");
    EXPECT_NE(error_of(j).find("post_processor.special_tokens.[SEP]: missing field"),
              std::string::npos);

    try {
        Tokenizer::from_json("{not json", "broken.json");
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("broken.json: invalid JSON", 0), 0u) << e.what();
    }
    try {
        Tokenizer::from_file("/nonexistent/tokenizer.json");
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json"), std::string::npos);
    }
}

}  // namespace
}  // namespace gk::text
