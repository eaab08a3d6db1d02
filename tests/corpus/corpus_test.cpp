// Building a corpus from small tarballs made here (.tar.xz, .tar.gz) and a directory: member
// filtering (extension, binary, non-UTF-8, size), function/file documents, decontamination counts
// per source and per reference file, determinism, sampling, the byte cap, JSONL round trip, and bad
// input.
#include "greenknobs/corpus/corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "../common/errors.h"
#include "corpus_fixture.h"

namespace {

using namespace gk::testing;
namespace corpus = gk::corpus;

const std::string kClean1 =
    "static int clamp(int v, int lo, int hi)\n{\n\tif (v < lo)\n\t\treturn lo;\n"
    "\treturn v > hi ? hi : v;\n}";
const std::string kClean2 =
    "void list_add_tail(struct node *n, struct list *l)\n{\n\tn->next = NULL;\n"
    "\tif (l->tail)\n\t\tl->tail->next = n;\n\telse\n\t\tl->head = n;\n\tl->tail = n;\n}";
const std::string kHeaderFn =
    "static inline unsigned int popcount8(unsigned char b)\n{\n\tunsigned int c = 0;\n"
    "\tfor (; b; b >>= 1)\n\t\tc += b & 1;\n\treturn c;\n}";

Files member_files() {
    const std::string clean = "#include <stdlib.h>\n\nstatic const struct ops o = { .f = 0 };\n\n" +
                              kClean1 + "\n\n" + kClean2 + "\n";
    const std::string leak = "/* imported */\n" + reindented(ref_a()) + "\n\n" + edited_b() +
                             "\n\nint tiny(void) { return 0; }\n";
    std::string edited_only = "#include \"x.h\"\n\n";
    for (int i = 0; i < 6; ++i) {
        edited_only += "int helper" + std::to_string(i) + "(int x)\n{\n\tint y = x * " +
                       std::to_string(i + 3) +
                       ";\n\tif (y > 100)\n\t\ty -= 7;\n\treturn y + x;\n}\n\n";
    }
    edited_only += edited_c() + "\n";
    std::string binary = "int x;\n";
    binary.push_back('\0');
    binary += "\x01\x02\xff junk";
    const std::string latin1 =
        "/* caf\xe9 */\nint latin(void)\n{\n\treturn 1234567890 + 987654321;\n}\n";
    return {
        {"pkg/README", "not code { }\n"},
        {"pkg/src/clean.c", clean},
        {"pkg/src/leak.c", leak},
        {"pkg/src/edited_only.c", edited_only},
        {"pkg/src/blob.c", binary},
        {"pkg/src/latin1.c", latin1},
        {"pkg/include/bits.h", "#pragma once\n" + kHeaderFn + "\n"},
        {"pkg/src/copy.c", kClean1 + "\n"},  // a repeat of clean.c's first function
    };
}

class CorpusBuildTest : public ::testing::Test {
  protected:
    void SetUp() override {
        write_tarball(dir_ / "pkg.tar.xz", "xz", member_files());
        write_tarball(dir_ / "pkg.tar.gz", "gzip", member_files());
        write_text(dir_ / "refs.csv", "func_before,func_after\n" + csv_field(ref_a()) + "," +
                                          csv_field(ref_b()) + "\n");
        write_text(dir_ / "more.csv", "text\n" + csv_field(ref_c()) + "\n");
    }
    corpus::Options options(const std::string& granularity) const {
        corpus::Options o;
        o.sources = {{"xz", dir_ / "pkg.tar.xz", "GPL-2.0-only"}};
        o.granularity = granularity;
        o.decontaminate = {dir_ / "refs.csv", dir_ / "more.csv"};
        return o;
    }
    TempDir dir_{"build"};
};

std::vector<std::string> texts(const corpus::Corpus& c) {
    std::vector<std::string> out;
    for (const auto& d : c.docs) {
        out.push_back(d.text);
    }
    return out;
}

TEST_F(CorpusBuildTest, FunctionDocumentsAreFilteredAndDecontaminated) {
    const corpus::Corpus c = corpus::build(options("function"));
    const auto& s = c.stats.sources.at(0);
    EXPECT_EQ(s.license, "GPL-2.0-only");
    EXPECT_EQ(s.members_total, 8);
    EXPECT_EQ(s.members_matched, 7);  // README has no wanted extension
    EXPECT_EQ(s.skipped_binary, 1);
    EXPECT_EQ(s.skipped_non_utf8, 1);
    EXPECT_EQ(s.docs_too_small, 1);  // tiny()
    EXPECT_EQ(s.docs_duplicate, 1);  // copy.c
    EXPECT_EQ(s.removed_exact, 1);   // ref_a re-indented
    EXPECT_EQ(s.removed_near, 2);    // edited ref_b and ref_c
    EXPECT_EQ(s.removed_containment, 0);
    const std::vector<std::string> got = texts(c);
    ASSERT_EQ(got.size(), 2u + 6u + 1u);  // clean.c's two, six helpers, the header's inline
    EXPECT_EQ(got[0], kClean1);
    EXPECT_EQ(got[1], kClean2);
    EXPECT_EQ(got.back(), kHeaderFn);
    EXPECT_EQ(c.docs[0].source, "xz");
    EXPECT_EQ(c.docs[0].path, "pkg/src/clean.c");
    EXPECT_EQ(c.docs.back().path, "pkg/include/bits.h");
    for (const std::string& t : got) {
        EXPECT_EQ(t.find("parse_header"), std::string::npos);
        EXPECT_EQ(t.find("copy_name"), std::string::npos);
        EXPECT_EQ(t.find("release_buffers"), std::string::npos);
    }
    // Per reference file: ref_a (exact) and ref_b (near) are in refs.csv, ref_c (near) in more.csv.
    ASSERT_EQ(c.stats.decontamination.size(), 2u);
    EXPECT_EQ(c.stats.decontamination[0].removed_exact, 1);
    EXPECT_EQ(c.stats.decontamination[0].removed_near, 1);
    EXPECT_EQ(c.stats.decontamination[1].removed_exact, 0);
    EXPECT_EQ(c.stats.decontamination[1].removed_near, 1);
    EXPECT_EQ(c.stats.removed_exact + c.stats.removed_near + c.stats.removed_containment, 3);
    EXPECT_EQ(c.stats.documents, 9);
    int64_t bytes = 0;
    for (const std::string& t : got) {
        bytes += static_cast<int64_t>(t.size());
    }
    EXPECT_EQ(c.stats.bytes, bytes);
}

TEST_F(CorpusBuildTest, FileDocumentsContainingAReferenceAreRemoved) {
    const corpus::Corpus c = corpus::build(options("file"));
    const auto& s = c.stats.sources.at(0);
    EXPECT_EQ(s.removed_containment, 2);  // leak.c verbatim, edited_only.c via its function
    EXPECT_EQ(s.removed_exact, 0);
    std::set<std::string> paths;
    for (const auto& d : c.docs) {
        paths.insert(d.path);
    }
    EXPECT_EQ(paths,
              (std::set<std::string>{"pkg/src/clean.c", "pkg/include/bits.h", "pkg/src/copy.c"}));
    EXPECT_EQ(c.stats.decontamination[0].removed_containment, 1);
    EXPECT_EQ(c.stats.decontamination[1].removed_containment, 1);
}

TEST_F(CorpusBuildTest, GzipXzAndDirectoryGiveTheSameDocuments) {
    for (const auto& [name, bytes] : member_files()) {
        write_text(dir_ / ("tree/" + name), bytes);
    }
    corpus::Options o = options("function");
    o.sources = {{"xz", dir_ / "pkg.tar.xz", "x"}};
    const auto xz = corpus::build(o);
    o.sources = {{"gz", dir_ / "pkg.tar.gz", "x"}};
    const auto gz = corpus::build(o);
    o.sources = {{"dir", dir_ / "tree", "x"}};
    const auto tree = corpus::build(o);
    EXPECT_EQ(texts(xz), texts(gz));
    // The directory is walked in sorted order, the tarballs in member order: same set.
    auto a = texts(xz);
    auto b = texts(tree);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
}

TEST_F(CorpusBuildTest, SameOptionsSameCorpusAndSamplingIsSeeded) {
    corpus::Options o = options("function");
    o.sources.push_back({"gz", dir_ / "pkg.tar.gz", "x"});
    o.dedup = false;
    const auto first = corpus::build(o);
    const auto second = corpus::build(o);
    ASSERT_EQ(first.docs.size(), second.docs.size());
    for (size_t i = 0; i < first.docs.size(); ++i) {
        EXPECT_EQ(first.docs[i].text, second.docs[i].text);
        EXPECT_EQ(first.docs[i].source, second.docs[i].source);
        EXPECT_EQ(first.docs[i].path, second.docs[i].path);
    }
    o.sample_fraction = 0.5;
    std::set<std::vector<std::string>> outcomes;
    for (uint64_t seed = 0; seed < 6; ++seed) {
        o.seed = seed;
        const auto a = corpus::build(o);
        const auto b = corpus::build(o);
        EXPECT_EQ(texts(a), texts(b)) << "seed " << seed;
        const auto& s = a.stats.sources[0];
        EXPECT_EQ(s.members_sampled_out + s.members_read + s.skipped_size, s.members_matched);
        outcomes.insert(texts(a));
    }
    EXPECT_GT(outcomes.size(), 1u);  // the seed changes which members are drawn
}

TEST_F(CorpusBuildTest, MaxTotalBytesStopsEarly) {
    corpus::Options o = options("function");
    o.max_total_bytes = kClean1.size() + 1;
    const auto c = corpus::build(o);
    EXPECT_TRUE(c.stats.truncated);
    EXPECT_EQ(texts(c), (std::vector<std::string>{kClean1, kClean2}));
}

TEST_F(CorpusBuildTest, SizeLimitsOnDocumentsAndMembers) {
    corpus::Options o = options("function");
    o.min_doc_bytes = kClean2.size();
    const auto c = corpus::build(o);
    for (const auto& d : c.docs) {
        EXPECT_GE(d.text.size(), kClean2.size());
    }
    EXPECT_GT(c.stats.sources[0].docs_too_small, 1);
    o = options("file");
    o.max_member_bytes = 200;
    const auto f = corpus::build(o);
    EXPECT_GT(f.stats.sources[0].skipped_size, 0);
    for (const auto& d : f.docs) {
        EXPECT_LE(d.text.size(), 200u);
    }
}

TEST_F(CorpusBuildTest, JsonlRoundTripKeepsDocumentsAndStats) {
    const auto c = corpus::build(options("function"));
    const std::string out = dir_ / "out/corpus.jsonl";
    corpus::write_jsonl(c, out);
    EXPECT_TRUE(std::filesystem::exists(dir_ / "out/corpus.stats.json"));
    const auto back = corpus::read_jsonl(out);
    ASSERT_EQ(back.docs.size(), c.docs.size());
    for (size_t i = 0; i < c.docs.size(); ++i) {
        EXPECT_EQ(back.docs[i].text, c.docs[i].text);
        EXPECT_EQ(back.docs[i].path, c.docs[i].path);
        EXPECT_EQ(back.docs[i].source, c.docs[i].source);
    }
    EXPECT_EQ(back.stats.to_json().dump(), c.stats.to_json().dump());
}

TEST_F(CorpusBuildTest, BadInputIsAnInputErrorNamingTheFile) {
    corpus::Options o = options("function");
    o.sources = {{"gone", dir_ / "missing.tar.xz", "x"}};
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("missing.tar.xz"), std::string::npos);

    // A tarball cut in half: the xz stream ends early.
    std::ifstream in(dir_ / "pkg.tar.xz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_text(dir_ / "cut.tar.xz", bytes.substr(0, bytes.size() / 2));
    o.sources = {{"cut", dir_ / "cut.tar.xz", "x"}};
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("cut.tar.xz"), std::string::npos);

    write_text(dir_ / "junk.tar.gz", std::string(4096, 'z'));
    o.sources = {{"junk", dir_ / "junk.tar.gz", "x"}};
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("junk.tar.gz"), std::string::npos);

    o = options("sentence");
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("granularity"), std::string::npos);
    o = options("function");
    o.sources.push_back(o.sources[0]);
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("given twice"), std::string::npos);
    o = options("function");
    o.sample_fraction = 0.0;
    EXPECT_NE(error_of([&] { corpus::build(o); }).find("sample"), std::string::npos);

    write_text(dir_ / "bad.jsonl", "{\"text\": \"a\"}\nnot json\n");
    EXPECT_NE(error_of([&] { corpus::read_jsonl(dir_ / "bad.jsonl"); }).find("bad.jsonl:2"),
              std::string::npos);
}

TEST(CorpusLicences, KnownDebianTarballs) {
    EXPECT_EQ(corpus::known_license("/usr/src/linux-source-6.1.tar.xz"),
              "GPL-2.0-only WITH Linux-syscall-note");
    EXPECT_EQ(corpus::known_license("/usr/src/glibc/glibc-2.36.tar.xz"), "LGPL-2.1-or-later");
    EXPECT_EQ(corpus::known_license("/usr/src/binutils/binutils-2.40.tar.xz"), "GPL-3.0-or-later");
    EXPECT_EQ(corpus::known_license("/usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz"),
              "GPL-3.0-or-later WITH GCC-exception-3.1");
    EXPECT_EQ(corpus::known_license("/tmp/mine.tar.gz"), "");
    for (const auto& d : corpus::debian_sources()) {
        EXPECT_EQ(corpus::known_license(d.source.path), d.source.license) << d.package;
    }
    EXPECT_EQ(corpus::stats_path_for("out/corpus.jsonl"), "out/corpus.stats.json");
    EXPECT_EQ(corpus::stats_path_for("out/c.txt"), "out/c.txt.stats.json");
}

}  // namespace
