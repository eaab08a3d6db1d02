// The CPU and RAM models over a fake /proc: TDP choice, utilisation of the machine and of a process
// tree.
#include "greenknobs/energy/cpu_model.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "greenknobs/energy/proc.h"
#include "greenknobs/util/error.h"

#include "test_util.h"

namespace gk::energy {
namespace {

using testing::TempDir;
using testing::write;

std::string cpuinfo(const std::string& model, int logical, int sockets) {
    std::string s;
    for (int i = 0; i < logical; ++i) {
        s += "processor\t: " + std::to_string(i) + "\nmodel name\t: " + model +
             "\nphysical id\t: " + std::to_string(i % sockets) + "\n\n";
    }
    return s;
}

std::string pid_stat(int pid, const std::string& comm, int ppid, uint64_t utime, uint64_t stime,
                     uint64_t rss_pages, uint64_t start = 1000) {
    // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
    return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
           " 0 0 0 0 0 0 0 0 0 " + std::to_string(utime) + " " + std::to_string(stime) +
           " 0 0 20 0 1 0 " + std::to_string(start) + " 1000000 " + std::to_string(rss_pages) +
           " 0 0\n";
}

// The same with the reaped children's time (cutime + cstime, fields 16-17).
std::string pid_stat_c(int pid, int ppid, uint64_t own, uint64_t reaped, uint64_t start = 1000) {
    return std::to_string(pid) + " (p) S " + std::to_string(ppid) + " 0 0 0 0 0 0 0 0 0 " +
           std::to_string(own) + " 0 " + std::to_string(reaped) + " 0 20 0 1 0 " +
           std::to_string(start) + " 1000000 1 0 0\n";
}

TEST(Tdp, TableScalesTheSocketToTheVisibleCpus) {
    CpuInfo bare{"AMD EPYC 7763 64-Core Processor", 256, 2};
    EXPECT_DOUBLE_EQ(choose_tdp(bare, 0).tdp_w, 560.0);
    CpuInfo vm{"AMD EPYC 7763 64-Core Processor", 2, 1};
    EXPECT_DOUBLE_EQ(choose_tdp(vm, 0).tdp_w, 280.0 * 2 / 128);
    EXPECT_NE(choose_tdp(vm, 0).origin.find("EPYC 7763"), std::string::npos);
}

TEST(Tdp, LongestPatternWinsAndFamiliesAreAFallback) {
    CpuInfo xeon{"Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", 80, 1};
    EXPECT_DOUBLE_EQ(choose_tdp(xeon, 0).tdp_w, 270.0);
    EXPECT_NE(choose_tdp(xeon, 0).origin.find("Platinum 8380"), std::string::npos);
    CpuInfo generic{"AMD EPYC", 2, 1};
    EXPECT_NE(choose_tdp(generic, 0).origin.find("'AMD EPYC'"), std::string::npos);
}

TEST(Tdp, UnknownCpuGetsTheDefaultAndOverrideWins) {
    CpuInfo unknown{"Foo Bar CPU", 8, 1};
    auto c = choose_tdp(unknown, 0);
    EXPECT_DOUBLE_EQ(c.tdp_w, 8 * kDefaultTdpPerThreadW);
    EXPECT_NE(c.origin.find("not in the table"), std::string::npos);
    auto o = choose_tdp(unknown, 95);
    EXPECT_DOUBLE_EQ(o.tdp_w, 95.0);
    EXPECT_NE(o.origin.find("override"), std::string::npos);
}

TEST(Proc, ParsesStatWithAwkwardCommandNames) {
    ProcessStat s;
    ASSERT_TRUE(parse_process_stat(pid_stat(42, "a (b) c", 7, 11, 22, 33, 99), &s));
    EXPECT_EQ(s.pid, 42);
    EXPECT_EQ(s.ppid, 7);
    EXPECT_EQ(s.cpu_ticks, 33u);
    EXPECT_EQ(s.start_ticks, 99u);
    EXPECT_EQ(s.rss_pages, 33u);
}

TEST(CpuModel, WholeMachineUtilisationFromProcStat) {
    TempDir proc;
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 2, 1));
    write(proc / "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 ...\n");
    CpuModelOptions o;
    o.proc_root = proc.path();
    o.tdp_override_w = 100;
    CpuModelSource src(o);
    ASSERT_TRUE(src.available()) << src.why_unavailable();
    src.prime(0);
    // +150 busy (user 100, system 50), +50 idle: utilisation 0.75.
    write(proc / "stat", "cpu  200 0 150 850 0 0 0 0 0 0\n");
    EXPECT_DOUBLE_EQ(src.read_power_w(1), 100 * curve_share(teads_curve(), 0.75));
    // No new ticks: the previous utilisation holds.
    EXPECT_DOUBLE_EQ(src.read_power_w(1.05), 100 * curve_share(teads_curve(), 0.75));
    write(proc / "stat", "cpu  200 0 150 950 0 0 0 0 0 0\n");
    EXPECT_DOUBLE_EQ(src.read_power_w(2), 100 * 0.12);
    EXPECT_NE(src.note().find("override"), std::string::npos);
}

TEST(CpuModel, ProcessTreeUtilisation) {
    TempDir proc;
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 2, 1));
    write(proc / "stat", "cpu  0 0 0 0 0 0 0 0 0 0\n");
    write(proc / "100/stat", pid_stat(100, "root", 1, 10, 0, 100));
    write(proc / "101/stat", pid_stat(101, "kid", 100, 0, 0, 100));
    write(proc / "200/stat", pid_stat(200, "other", 1, 0, 0, 100));
    CpuModelOptions o;
    o.proc_root = proc.path();
    o.tdp_override_w = 10;
    o.pid = 100;
    CpuModelSource src(o);
    src.prime(0);
    // Over 1 s the tree uses 60 + 40 ticks = 1 CPU-second of 2 CPUs; the other process does not
    // count.
    write(proc / "100/stat", pid_stat(100, "root", 1, 50, 20, 100));
    write(proc / "101/stat", pid_stat(101, "kid", 100, 30, 10, 100));
    write(proc / "200/stat", pid_stat(200, "other", 1, 500, 500, 100));
    long hz = clock_ticks_per_s();
    double util = 100.0 / hz / 2.0;
    EXPECT_NEAR(src.read_power_w(1), 10 * curve_share(teads_curve(), util), 1e-9);
    // A new grandchild counts from zero; a pid reused by a new process is not a negative delta.
    write(proc / "102/stat", pid_stat(102, "grandkid", 101, 20, 0, 100));
    write(proc / "101/stat", pid_stat(101, "kid", 100, 0, 0, 100, /*start=*/2000));
    EXPECT_NEAR(src.last_utilisation(), std::min(1.0, util), 1e-12);
    double p = src.read_power_w(2);
    EXPECT_NEAR(p, 10 * curve_share(teads_curve(), 20.0 / hz / 2.0), 1e-9);
}

TEST(Proc, TreeFromChildrenFilesMatchesTheFullScan) {
    TempDir proc;
    write(proc / "100/stat", pid_stat(100, "root", 1, 1, 0, 1));
    write(proc / "100/task/100/children", "101 ");
    write(proc / "100/task/105/children", "103 ");  // a child forked by a second thread
    write(proc / "101/stat", pid_stat(101, "kid", 100, 2, 0, 1));
    write(proc / "101/task/101/children", "102");
    write(proc / "102/stat", pid_stat(102, "grandkid", 101, 3, 0, 1));
    write(proc / "102/task/102/children", "");
    write(proc / "103/stat", pid_stat(103, "kid2", 100, 4, 0, 1));
    write(proc / "200/stat", pid_stat(200, "other", 1, 5, 0, 1));
    auto tree = read_process_tree(proc.path(), 100);
    uint64_t ticks = 0;
    for (const auto& p : tree) {
        ticks += p.cpu_ticks;
    }
    EXPECT_EQ(tree.size(), 4u);
    EXPECT_EQ(ticks, 1u + 2 + 3 + 4);
    uint64_t scan_ticks = 0;
    for (const auto& p : process_tree(read_all_processes(proc.path()), 100)) {
        scan_ticks += p.cpu_ticks;
    }
    EXPECT_EQ(scan_ticks, ticks);  // the fallback scan (by ppid) finds the same tree
    EXPECT_TRUE(read_process_tree(proc.path(), 999).empty());
}

TEST(Proc, ReapedChildrenCountOnceThroughTheirReapersCutime) {
    TempDir proc;
    write(proc / "100/stat", pid_stat_c(100, 1, 10, 0));
    write(proc / "101/stat", pid_stat_c(101, 100, 5, 0));
    write(proc / "102/stat", pid_stat_c(102, 101, 4, 0));
    ProcessTreeMeter meter(proc.path(), 100);
    meter.sample();
    // 101 and its child 102 exit and are reaped (102 by 101, 101 by 100): 101 ran 3 more ticks, 102
    // 2 more; the root's cutime holds both finals (8 + 6). Only the unseen tails are new.
    std::filesystem::remove_all(proc / "101");
    std::filesystem::remove_all(proc / "102");
    write(proc / "100/stat", pid_stat_c(100, 1, 12, 14));
    auto d = meter.sample();
    EXPECT_EQ(d.cpu_ticks, 2u + 3 + 2);
    EXPECT_EQ(d.vanished, 2);
    // A child that started and ended between two samples is never seen: its 20 ticks arrive through
    // the cutime alone.
    write(proc / "100/stat", pid_stat_c(100, 1, 12, 34));
    EXPECT_EQ(meter.sample().cpu_ticks, 20u);
    EXPECT_EQ(meter.total_cpu_ticks(), 27u);
}

TEST(Proc, CreditWaitsForALateReapAndOrphansAreNotCredited) {
    TempDir proc;
    write(proc / "100/stat", pid_stat_c(100, 1, 0, 0));
    write(proc / "101/stat", pid_stat_c(101, 100, 7, 0));
    write(proc / "102/stat", pid_stat_c(102, 100, 3, 0, /*start=*/1500));
    ProcessTreeMeter meter(proc.path(), 100);
    meter.sample();
    // 101 is gone but the root's cutime was read before the reap: nothing new yet, no negative.
    std::filesystem::remove_all(proc / "101");
    // 102 was re-parented to init (double fork): still alive, out of the tree; never credited.
    write(proc / "102/stat", pid_stat_c(102, 1, 50, 0, /*start=*/1500));
    EXPECT_EQ(meter.sample().cpu_ticks, 0u);
    // The reap shows up one sample later: 7 seen + 1 unseen.
    write(proc / "100/stat", pid_stat_c(100, 1, 0, 8));
    EXPECT_EQ(meter.sample().cpu_ticks, 1u);
}

TEST(RamModel, WattsPerGbOfMemTotalOrTreeRss) {
    TempDir proc;
    write(proc / "meminfo", "MemTotal:        8000000 kB\nMemFree: 1 kB\n");
    RamModelOptions o;
    o.proc_root = proc.path();
    RamModelSource machine(o);
    ASSERT_TRUE(machine.available());
    EXPECT_DOUBLE_EQ(machine.read_power_w(0), kRamWPerGb * 8.192);
    write(proc / "100/stat", pid_stat(100, "root", 1, 0, 0, 250000));
    write(proc / "101/stat", pid_stat(101, "kid", 100, 0, 0, 250000));
    o.pid = 100;
    RamModelSource tree(o);
    double rss_gb = 500000.0 * static_cast<double>(page_size_bytes()) / 1e9;
    EXPECT_DOUBLE_EQ(tree.read_power_w(0), kRamWPerGb * rss_gb);
    EXPECT_NE(tree.note().find("resident set"), std::string::npos);
}

TEST(CpuModel, TeadsCurveIsConcaveThroughItsPublishedPoints) {
    const auto& c = teads_curve();
    EXPECT_DOUBLE_EQ(curve_share(c, 0), 0.12);
    EXPECT_DOUBLE_EQ(curve_share(c, 0.1), 0.32);
    EXPECT_DOUBLE_EQ(curve_share(c, 0.5), 0.75);
    EXPECT_DOUBLE_EQ(curve_share(c, 1.0), 1.02);
    // Concave: every slope is flatter than the one before; above the linear 0.12 + 0.90 u.
    EXPECT_GT(curve_slope(c, 0.05), curve_slope(c, 0.3));
    EXPECT_GT(curve_slope(c, 0.3), curve_slope(c, 0.8));
    EXPECT_GT(curve_share(c, 0.5), 0.12 + 0.90 * 0.5);
}

TEST(CpuModel, StealTimeIsNotBusy) {
    TempDir proc;
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 2, 1));
    write(proc / "stat", "cpu  0 0 0 0 0 0 0 0 0 0\n");
    CpuModelOptions o;
    o.proc_root = proc.path();
    o.tdp_override_w = 100;
    CpuModelSource src(o);
    src.prime(0);
    // 50 ticks user, 50 idle, 100 steal: a quarter of the vCPU time was ours.
    write(proc / "stat", "cpu  50 0 0 50 0 0 0 100 0 0\n");
    src.read_power_w(1);
    EXPECT_DOUBLE_EQ(src.last_utilisation(), 0.25);
    EXPECT_EQ(src.scope(), "machine");
}

TEST(CpuModel, AffinityMaskAndCgroupQuotaBoundTheCapacity) {
    TempDir proc, cg;
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 8, 1));
    write(proc / "stat", "cpu  0 0 0 0 0 0 0 0 0 0\n");
    write(proc / "self/status", "Name:\tx\nCpus_allowed_list:\t0-3\n");
    write(proc / "self/cgroup", "0::/job\n");
    write(cg / "cgroup.controllers", "cpu memory\n");
    write(cg / "cpu.stat", "usage_usec 999999999\n");  // the root: the whole machine
    write(cg / "job/cpu.max", "150000 100000\n");
    write(cg / "job/memory.max", "2000000000\n");
    write(cg / "job/cpu.stat", "usage_usec 1000000\nuser_usec 1\n");
    CpuModelOptions o;
    o.proc_root = proc.path();
    o.cgroup_root = cg.path();
    CpuModelSource src(o);
    ASSERT_TRUE(src.available());
    EXPECT_DOUBLE_EQ(src.capacity_cpus(), 1.5);  // min(8 CPUs, affinity 4, cpu.max 1.5)
    EXPECT_EQ(src.scope(), "cgroup");
    // Default TDP: 4 W per CPU this process may use, not per CPU of the host.
    EXPECT_DOUBLE_EQ(src.tdp_w(), 4.0 * 1.5);
    src.prime(0);
    // 0.75 CPU-seconds of the cgroup in 1 s: half of its 1.5 CPUs; other tenants do not count.
    write(cg / "job/cpu.stat", "usage_usec 1750000\n");
    write(proc / "stat", "cpu  800 0 0 0 0 0 0 0 0 0\n");
    src.read_power_w(1);
    EXPECT_DOUBLE_EQ(src.last_utilisation(), 0.5);
    EXPECT_NEAR(src.cpu_time_s(), 0.75, 1e-12);
    EXPECT_NE(src.note().find("cgroup cpu.max 1.5"), std::string::npos) << src.note();
    // The RAM model of the cgroup: its memory.max, not the host's MemTotal.
    write(proc / "meminfo", "MemTotal:  16000000 kB\n");
    RamModelOptions ro;
    ro.proc_root = proc.path();
    ro.cgroup_root = cg.path();
    RamModelSource ram(ro);
    EXPECT_EQ(ram.scope(), "cgroup");
    EXPECT_DOUBLE_EQ(ram.read_power_w(0), kRamWPerGb * 2.0);
}

TEST(CpuModel, CpuListsAreCounted) {
    EXPECT_EQ(count_cpu_list("0-3,8,10-11"), 7);
    EXPECT_EQ(count_cpu_list("5\n"), 1);
    EXPECT_EQ(count_cpu_list("3-1"), 0);
}

TEST(CpuModel, UncertaintyFollowsWhereTheTdpCameFrom) {
    TempDir proc;
    write(proc / "stat", "cpu  0 0 0 0 0 0 0 0 0 0\n");
    CpuModelOptions o;
    o.proc_root = proc.path();
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 2, 1));
    CpuModelSource unknown(o);
    EXPECT_DOUBLE_EQ(unknown.uncertainty_low(), 0.5);
    EXPECT_DOUBLE_EQ(unknown.uncertainty_high(), 1.0);
    write(proc / "cpuinfo", cpuinfo("AMD EPYC 7763 64-Core Processor", 2, 1));
    CpuModelSource table(o);
    EXPECT_DOUBLE_EQ(table.uncertainty_high(), 0.3);
    write(proc / "cpuinfo", cpuinfo("AMD EPYC", 2, 1));
    CpuModelSource family(o);
    EXPECT_DOUBLE_EQ(family.uncertainty_high(), 0.5);
    o.tdp_override_w = 50;
    CpuModelSource given(o);
    EXPECT_DOUBLE_EQ(given.uncertainty_low(), 0.25);
}

TEST(Calibration, FitRecoversAConcaveCurve) {
    std::vector<std::pair<double, double>> pts;
    for (double u : {0.0, 0.1, 0.25, 0.5, 0.75, 1.0}) {
        pts.push_back({u, 1.5 + 4.0 * std::pow(u, 0.6)});
    }
    auto f = fit_cpu_calibration(pts);
    EXPECT_NEAR(f.idle_w_per_cpu, 1.5, 1e-6);
    EXPECT_NEAR(f.dynamic_w_per_cpu, 4.0, 1e-6);
    EXPECT_NEAR(f.exponent, 0.6, 1e-9);
    EXPECT_LT(f.max_rel_residual, 1e-6);
    // Power falling with load is not a curve to store.
    EXPECT_THROW(fit_cpu_calibration({{0, 5}, {0.5, 4}, {1, 3}}), gk::UnsupportedError);
}

TEST(Calibration, StoredPerCpuModelAndUsedByTheModel) {
    TempDir dir, proc;
    std::string path = dir / "sub/cal.json";
    CpuCalibration c;
    c.cpu_model = "Foo CPU";
    c.logical_cpus = 2;
    c.idle_w_per_cpu = 1.0;
    c.dynamic_w_per_cpu = 3.0;
    c.exponent = 0.5;
    c.max_rel_residual = 0.04;
    c.points = 6;
    c.date = "2026-12-06";
    c.source = "rapl:package-0";
    store_calibration(path, c);
    CpuCalibration other = c;
    other.cpu_model = "Bar CPU";
    store_calibration(path, other);
    auto all = load_calibrations(path);
    ASSERT_EQ(all.size(), 2u);
    write(proc / "cpuinfo", cpuinfo("Foo CPU", 2, 1));
    write(proc / "stat", "cpu  0 0 0 0 0 0 0 0 0 0\n");
    CpuModelOptions o;
    o.proc_root = proc.path();
    o.calibration_path = path;
    CpuModelSource src(o);
    ASSERT_TRUE(src.calibrated());
    EXPECT_NE(src.note().find("calibrated against RAPL"), std::string::npos);
    EXPECT_DOUBLE_EQ(src.power_at(0.25), 2 * (1.0 + 3.0 * 0.5));
    EXPECT_NEAR(src.uncertainty_high(), 0.14, 1e-12);
    EXPECT_TRUE(load_calibrations(dir / "missing.json").empty());
    write(dir / "bad.json", "{\"schema\": \"other\"}");
    EXPECT_THROW(load_calibrations(dir / "bad.json"), gk::InputError);
}

TEST(CpuModel, UnreadableProcIsUnavailable) {
    CpuModelOptions o;
    o.proc_root = "/nonexistent/proc";
    CpuModelSource src(o);
    EXPECT_FALSE(src.available());
    EXPECT_NE(src.why_unavailable().find("/nonexistent/proc/stat"), std::string::npos);
}

}  // namespace
}  // namespace gk::energy
