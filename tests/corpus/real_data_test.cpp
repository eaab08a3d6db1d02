// Decontamination against the bundled fine-tuning data (all of Juliet and the BigVul subset, both
// func_before and func_after): a real BigVul function is found exactly, lightly edited, and inside
// a file.
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/corpus/decontaminate.h"
#include "greenknobs/data/csv.h"

namespace {

using gk::corpus::MatchKind;

const std::string kJuliet = std::string(GK_SOURCE_DIR) + "/data/juliet/juliet_functions.csv";
const std::string kBigVul = std::string(GK_SOURCE_DIR) + "/data/bigvul/bigvul_subset.csv";

// The first BigVul func_before of at least `min_bytes` bytes.
std::string bigvul_function(size_t min_bytes) {
    auto csv = gk::data::CsvReader::open_file(kBigVul);
    const int col = csv.column("func_before");
    while (csv.next()) {
        const std::string& f = csv.fields()[static_cast<size_t>(col)];
        if (f.size() >= min_bytes && f.size() < 4 * min_bytes) {
            return f;
        }
    }
    return "";
}

TEST(RealDecontamination, BundledFineTuningDataIsIndexedAndFound) {
    gk::corpus::ReferenceIndex index(0.8);
    index.add_file(kJuliet);
    index.add_file(kBigVul);
    ASSERT_EQ(index.files().size(), 2u);
    EXPECT_EQ(index.files()[0].rows, 24000);
    EXPECT_EQ(index.files()[1].rows, 2134);
    EXPECT_EQ(index.files()[1].texts, 2 * 2134);  // func_before and func_after of every row
    EXPECT_GT(index.size(), 20000u);

    const std::string f = bigvul_function(800);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(index.match(f, false).kind, MatchKind::kExact);
    EXPECT_EQ(index.match(f, false).files & 2u, 2u);

    // Change one identifier in one place: still a near copy.
    std::string edited = f;
    const size_t semi = edited.find(';');
    ASSERT_NE(semi, std::string::npos);
    edited.insert(semi, " + 1");
    EXPECT_EQ(index.match(edited, false).kind, MatchKind::kNear);

    // A file with as much other code as the function: no near match as a whole, found as contained.
    std::string file = "#include <linux/kernel.h>\n\nstatic int counter;\n\n" + f + "\n\n";
    for (int i = 0; file.size() < 3 * f.size(); ++i) {
        file += "int bump" + std::to_string(i) + "(int by)\n{\n\tcounter += by * " +
                std::to_string(i) + ";\n\treturn counter;\n}\n\n";
    }
    EXPECT_EQ(index.match(file, false).kind, MatchKind::kContainment);

    const std::string unrelated =
        "static int xyz_probe_widget(struct xyz_widget *w, unsigned long quirk_mask)\n{\n"
        "\tw->quirks = quirk_mask & XYZ_QUIRK_ALL;\n\tw->rate_hz = 48000;\n"
        "\treturn xyz_widget_register(w, \"widget\");\n}";
    EXPECT_EQ(index.match(unrelated, true).kind, MatchKind::kNone);
}

}  // namespace
