// The parent side of the stage protocol on a scripted clock: lines become nested tracker stages at
// the parent's time, work lands in the innermost stage, bad lines are warnings, and a command's
// wrapper stage gives way to the stages its child reported.
#include "greenknobs/energy/protocol.h"

#include <string>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::energy {
namespace {

int feed(ProtocolSession& s, const std::string& text) { return s.feed(text.data(), text.size()); }

struct Scripted {
    double now = 0;
    std::unique_ptr<Tracker> tracker;
    Scripted() {
        TrackerOptions o;
        o.sample_period_s = 0;
        o.clock = [this] { return now; };
        o.sources.push_back(ScriptedSource::counter(
            "cpu", Component::kCpu, [](double t) { return 10.0 * t; }, o.clock));
        tracker = std::make_unique<Tracker>(o);
        tracker->start();
    }
};

TEST(Protocol, LinesBecomeNestedStagesAtTheParentsTime) {
    Scripted sc;
    nlohmann::json report;
    {
        auto wrapper = sc.tracker->stage("python3");
        ProtocolSession s(sc.tracker.get());
        std::vector<std::string> begun;
        s.set_on_begin([&](const std::string& path) { begun.push_back(path); });
        sc.now = 1;
        // Two lines in one read, a third split across reads: boundaries are counted for acks.
        EXPECT_EQ(feed(s, "begin train\nwork samples 8\nbeg"), 1);
        sc.now = 3;
        EXPECT_EQ(feed(s, "in validate\nmetric f1 0.5\n"), 1);
        sc.now = 4;
        EXPECT_EQ(feed(s, "end validate\nwork samples 8\nend train\nmetric f1 0.75\n"), 2);
        s.finish();
        EXPECT_TRUE(s.warnings().empty());
        EXPECT_EQ(s.stages_begun(), 2);
        EXPECT_EQ(begun, (std::vector<std::string>{"train", "train/validate"}));
        EXPECT_EQ(s.metrics().at("f1"), 0.75);
        sc.now = 5;
        wrapper.end();
        sc.tracker->stop();
        report = promote_child_stages(sc.tracker->report_json(), "python3");
    }
    ASSERT_EQ(report["stages"].size(), 2u);
    const auto& train = report["stages"][0];
    const auto& validate = report["stages"][1];
    EXPECT_EQ(train["path"], "train");
    EXPECT_TRUE(train["parent"].is_null());
    EXPECT_DOUBLE_EQ(train["start_s"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(train["duration_s"].get<double>(), 3.0);
    EXPECT_DOUBLE_EQ(train["energy_j"]["cpu"].get<double>(), 30.0);
    EXPECT_EQ(train["work"]["samples"], 16);
    EXPECT_EQ(validate["path"], "train/validate");
    EXPECT_EQ(validate["parent"], "train");
    EXPECT_DOUBLE_EQ(validate["duration_s"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(report["total"]["duration_s"].get<double>(), 5.0);
}

TEST(Protocol, MistakesAreWarningsNeverErrors) {
    Scripted sc;
    ProtocolSession s(sc.tracker.get());
    s.handle_line("work samples 1");  // no stage open
    s.handle_line("begin a b");
    s.handle_line("begin outer");
    s.handle_line("begin inner");
    s.handle_line("end nothing");
    s.handle_line("end outer");  // closes inner too
    s.handle_line("metric x inf");
    s.handle_line("begin open");
    s.finish();
    sc.tracker->stop();
    ASSERT_EQ(s.warnings().size(), 6u);
    EXPECT_NE(s.warnings()[0].find("no stage is open"), std::string::npos);
    EXPECT_NE(s.warnings()[1].find("takes 1 argument(s), got 2"), std::string::npos);
    EXPECT_NE(s.warnings()[2].find("end nothing ignored"), std::string::npos);
    EXPECT_NE(s.warnings()[3].find("inner was never ended"), std::string::npos);
    EXPECT_NE(s.warnings()[4].find("bad number 'inf'"), std::string::npos);
    EXPECT_NE(s.warnings()[5].find("open was still open"), std::string::npos);
    auto r = sc.tracker->report_json();
    EXPECT_EQ(r["stages"].size(), 3u);
}

TEST(Protocol, AnUninstrumentedCommandKeepsItsOneStage) {
    Scripted sc;
    {
        auto wrapper = sc.tracker->stage("sleep");
        sc.now = 2;
    }
    sc.tracker->stop();
    auto r = sc.tracker->report_json();
    EXPECT_EQ(promote_child_stages(r, "sleep"), r);
    EXPECT_EQ(r["stages"][0]["path"], "sleep");
}

TEST(Protocol, SpecsAreCheckedAndHashedWithoutTheirNames) {
    nlohmann::json d = {{"argv", {"python3", "t.py"}}, {"env", {{"A", "1"}}}, {"name", "V1"}};
    CommandSpec s = parse_command_spec(d, "spec.json");
    EXPECT_EQ(s.argv.size(), 2u);
    EXPECT_EQ(s.env.at("A"), "1");
    nlohmann::json renamed = d;
    renamed["name"] = "V9";
    EXPECT_EQ(command_spec_hash(d), command_spec_hash(renamed));
    renamed["argv"].push_back("--bf16");
    EXPECT_NE(command_spec_hash(d), command_spec_hash(renamed));
    EXPECT_THROW(parse_command_spec({{"argv", nlohmann::json::array()}}, "x"), InputError);
    EXPECT_THROW(parse_command_spec({{"argv", {"a"}}, {"env", {{"A", 1}}}}, "x"), InputError);
}

}  // namespace
}  // namespace gk::energy
