// `greenknobs tokenize` end to end through the built binary: ids per JSON line, options, and bad
// input.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"
#include "test_support.h"

namespace gk::text {
namespace {

struct CliRun {
    int exit_code;
    std::string out;
    std::string err;
};

class TokenizeCli : public ::testing::Test {
  protected:
    CliRun run(const std::string& input, const std::string& args) {
        fs::write_file_atomic(dir_ + "/in.jsonl", input);
        std::string cmd = std::string(GK_BINARY_DIR) + "/bin/greenknobs tokenize --tokenizer " +
                          testing::modernbert_path() + " " + args + " < " + dir_ + "/in.jsonl > " +
                          dir_ + "/out.txt 2> " + dir_ + "/err.txt";
        int status = std::system(cmd.c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, fs::read_file(dir_ + "/out.txt"),
                fs::read_file(dir_ + "/err.txt")};
    }
    static std::vector<std::vector<int32_t>> ids_of(const std::string& out) {
        std::vector<std::vector<int32_t>> rows;
        size_t pos = 0;
        while (pos < out.size()) {
            size_t eol = out.find('\n', pos);
            rows.push_back(nlohmann::json::parse(out.substr(pos, eol - pos))
                               .at("ids")
                               .get<std::vector<int32_t>>());
            pos = eol + 1;
        }
        return rows;
    }
    gk::testing::TempDir tmp_{"text_cli"};
    std::string dir_ = tmp_.path();
};

TEST_F(TokenizeCli, EncodesEachLineLikeTheGoldens) {
    std::string input;
    for (const auto& g : testing::goldens()) {
        input += nlohmann::json{{"text", g.text}, {"id", g.id}}.dump() + "\n";
    }
    CliRun r = run(input, "--threads 2");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = ids_of(r.out);
    ASSERT_EQ(rows.size(), testing::goldens().size());
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i], testing::goldens()[i].ids) << testing::goldens()[i].id;
    }
    EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "{\"ids\":[50281,12092,1533,2,50282]}");
}

TEST_F(TokenizeCli, NoSpecialAndMaxLength) {
    CliRun r = run("{\"text\": \"Hello world!\"}\n\n{\"text\": \"int main(void) { return 0; }\"}\n",
                   "--no-special --max-length 3");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = ids_of(r.out);
    ASSERT_EQ(rows.size(), 2u);  // the blank line is skipped
    EXPECT_EQ(rows[0], (std::vector<int32_t>{12092, 1533, 2}));
    EXPECT_EQ(rows[1].size(), 3u);
    EXPECT_EQ(rows[1], std::vector<int32_t>(testing::goldens()[4].ids_no_special.begin(),
                                            testing::goldens()[4].ids_no_special.begin() + 3));
}

TEST_F(TokenizeCli, BadJsonLineNamesStdinAndLine) {
    CliRun r = run("{\"text\": \"ok\"}\n{\"text\": oops}\n", "");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("<stdin>:2"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());  // nothing is written before the whole input is known to be good

    r = run("{\"txt\": \"no text field\"}\n", "");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("<stdin>:1"), std::string::npos) << r.err;
}

// Each line goes through the strict JSON reader: what nlohmann alone would accept (a duplicate key,
// the last one winning) or report without the place is exit 2 naming <stdin>:<line>.
TEST_F(TokenizeCli, StrictJsonLinesNameTheLine) {
    struct Case {
        std::string second_line;
        std::string expect;
    };
    const Case cases[] = {
        {"{\"text\": \"a\", \"text\": \"b\"}", "duplicate key 'text'"},
        {"{\"text\": \"caf\xC3\"}", "byte offset 28"},  // line 1 is 15 bytes; 0xC3 at 13
        {"{\"text\": \"x\"} trailing", "invalid JSON"},
        {"{\"text\": \"x\"}{\"text\": \"y\"}", "invalid JSON"},
    };
    for (const auto& c : cases) {
        CliRun r = run("{\"text\": \"ok\"}\n" + c.second_line + "\n", "");
        EXPECT_EQ(r.exit_code, 2) << c.second_line << ": " << r.err;
        EXPECT_NE(r.err.find("<stdin>:2: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("json.exception"), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty());
    }
}

TEST_F(TokenizeCli, MissingTokenizerFileExitsTwo) {
    fs::write_file_atomic(dir_ + "/in.jsonl", "{\"text\": \"x\"}\n");
    std::string cmd = std::string(GK_BINARY_DIR) + "/bin/greenknobs tokenize --tokenizer " + dir_ +
                      "/missing.json < " + dir_ + "/in.jsonl > /dev/null 2> " + dir_ + "/err.txt";
    int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    EXPECT_NE(fs::read_file(dir_ + "/err.txt").find("missing.json"), std::string::npos);
}

}  // namespace
}  // namespace gk::text
