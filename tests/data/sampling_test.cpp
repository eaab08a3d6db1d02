// Stratified sampling: class shares kept, deterministic per seed, order kept, 0 = all.
#include "greenknobs/data/sampling.h"

#include <string>

#include <gtest/gtest.h>

using namespace gk::data;

namespace {

// 100 samples, 30 positives (every index % 10 < 3), text = index.
std::vector<Sample> population() {
    std::vector<Sample> v;
    for (int i = 0; i < 100; ++i) {
        Sample s;
        s.text = std::to_string(i);
        s.label = i % 10 < 3 ? 1 : 0;
        v.push_back(s);
    }
    return v;
}

int positives(const std::vector<Sample>& v) {
    int n = 0;
    for (const auto& s : v) {
        n += s.label;
    }
    return n;
}

std::vector<std::string> texts(const std::vector<Sample>& v) {
    std::vector<std::string> t;
    for (const auto& s : v) {
        t.push_back(s.text);
    }
    return t;
}

}  // namespace

TEST(Sampling, KeepsClassShareAndOrder) {
    auto v = population();
    EXPECT_EQ(stratified_sample(v, 10, /*seed=*/42, /*salt=*/1), 90);
    ASSERT_EQ(v.size(), 10u);
    EXPECT_EQ(positives(v), 3);
    for (size_t i = 1; i < v.size(); ++i) {
        EXPECT_LT(std::stoi(v[i - 1].text), std::stoi(v[i].text));
    }
}

TEST(Sampling, DeterministicPerSeedAndSalt) {
    auto a = population();
    auto b = population();
    auto c = population();
    auto d = population();
    stratified_sample(a, 20, 42, 1);
    stratified_sample(b, 20, 42, 1);
    stratified_sample(c, 20, 43, 1);
    stratified_sample(d, 20, 42, 2);
    EXPECT_EQ(texts(a), texts(b));
    EXPECT_NE(texts(a), texts(c));
    EXPECT_NE(texts(a), texts(d));
    EXPECT_EQ(positives(c), 6);
}

TEST(Sampling, ZeroOrLargeMeansAll) {
    auto v = population();
    EXPECT_EQ(stratified_sample(v, 0, 1, 1), 0);
    EXPECT_EQ(stratified_sample(v, 100, 1, 1), 0);
    EXPECT_EQ(stratified_sample(v, 1000, 1, 1), 0);
    EXPECT_EQ(v.size(), 100u);
}

TEST(Sampling, ShortClassIsMadeUpByTheOther) {
    // 2 positives in 100: a sample of 99 needs 97 negatives, but there are 98; the rounding asks
    // for 2 positives and 97 negatives, fine. With 99 positives wanted from a 1-positive set,
    // negatives fill.
    std::vector<Sample> v(100);
    v[5].label = 1;
    EXPECT_EQ(stratified_sample(v, 60, 3, 1), 40);
    EXPECT_EQ(v.size(), 60u);
    EXPECT_LE(positives(v), 1);
    std::vector<Sample> all_pos(10);
    for (auto& s : all_pos) {
        s.label = 1;
    }
    all_pos[0].label = 0;
    stratified_sample(all_pos, 5, 3, 1);
    EXPECT_EQ(all_pos.size(), 5u);
    EXPECT_GE(positives(all_pos), 4);
}
