// The sampler: integration arithmetic, the thread (run under TSan with `make tsan`), error
// propagation.
#include "greenknobs/energy/sampler.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace gk::energy {
namespace {

Series series(bool interval_mean, std::vector<double> t, std::vector<double> p) {
    Series s;
    s.interval_mean = interval_mean;
    s.t_s = std::move(t);
    s.power_w = std::move(p);
    return s;
}

TEST(Integrate, StepSeriesUsesEachIntervalsMeanWithPartialEdges) {
    // (0,1] 10 W, (1,2] 20 W, (2,3] 30 W; power_w[0] is the anchor.
    auto s = series(true, {0, 1, 2, 3}, {10, 10, 20, 30});
    EXPECT_DOUBLE_EQ(integrate_j(s, 0, 3), 60.0);
    EXPECT_DOUBLE_EQ(integrate_j(s, 0.5, 2.25), 0.5 * 10 + 20 + 0.25 * 30);
    EXPECT_DOUBLE_EQ(integrate_j(s, 1.5, 1.75), 0.25 * 20);
    EXPECT_DOUBLE_EQ(integrate_j(s, 3, 4), 30.0);  // held past the end
    EXPECT_DOUBLE_EQ(integrate_j(s, 2, 2), 0.0);
}

TEST(Integrate, InstantSeriesInterpolatesLinearly) {
    auto s = series(false, {0, 2}, {100, 300});
    EXPECT_DOUBLE_EQ(integrate_j(s, 0, 2), 400.0);
    // Between 0.5 (150 W) and 1.5 (250 W): 200 J.
    EXPECT_DOUBLE_EQ(integrate_j(s, 0.5, 1.5), 200.0);
}

TEST(SamplerThread, SamplesConcurrentlyWithBoundaryReads) {
    std::atomic<int> reads{0};
    auto power = ScriptedSource::power("p", Component::kCpu, Provenance::kModelled,
                                       [](double) { return 10.0; });
    auto clock = steady_clock_s();
    auto counter = ScriptedSource::counter(
        "c", Component::kGpu,
        [&](double t) {
            ++reads;
            return 5.0 * t;
        },
        clock);
    Sampler sampler({power, counter}, 0.002, clock);
    sampler.start();
    double t0 = clock();
    // Stage boundaries read the counter on this thread while the sampler reads it on its own: at
    // least 200 reads and at least 0.25 s (125 sampling periods), so that a loaded machine, which
    // may not schedule the sampler for tens of milliseconds, still yields several samples.
    for (int i = 0; i < 200 || clock() - t0 < 0.25; ++i) {
        counter->read_energy_j();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    double t1 = clock();
    sampler.stop();
    auto all = sampler.series();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_GE(all[0].t_s.size(), 3u);
    for (double p : all[0].power_w) {
        EXPECT_DOUBLE_EQ(p, 10.0);
    }
    EXPECT_NEAR(integrate_j(all[0], t0, t1), 10.0 * (t1 - t0), 1e-9);
    // The counter series is cumulative: never decreasing, one energy per timestamp.
    ASSERT_EQ(all[1].energy_j.size(), all[1].t_s.size());
    for (size_t i = 1; i < all[1].energy_j.size(); ++i) {
        EXPECT_GE(all[1].energy_j[i], all[1].energy_j[i - 1]);
        EXPECT_GT(all[1].t_s[i], all[1].t_s[i - 1]);
    }
    EXPECT_GT(reads.load(), 200);
}

TEST(SamplerThread, AnErrorInTheThreadIsRethrownByStop) {
    std::atomic<int> calls{0};
    auto bad =
        ScriptedSource::power("bad", Component::kCpu, Provenance::kModelled, [&](double) -> double {
            if (++calls >= 2) {
                throw std::runtime_error("sensor exploded");
            }
            return 1.0;
        });
    Sampler sampler({bad}, 0.001, steady_clock_s());
    sampler.start();
    while (calls.load() < 2) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_THROW(
        {
            try {
                sampler.stop();
            } catch (const std::runtime_error& e) {
                EXPECT_STREQ(e.what(), "sensor exploded");
                throw;
            }
        },
        std::runtime_error);
}

}  // namespace
}  // namespace gk::energy
