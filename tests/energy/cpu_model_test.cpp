// The CPU and RAM models over a fake /proc: TDP choice, utilisation of the machine and of a process
// tree.
#include "greenknobs/energy/cpu_model.h"

#include <gtest/gtest.h>

#include "greenknobs/energy/proc.h"

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
    EXPECT_DOUBLE_EQ(src.read_power_w(1), 100 * (kCpuIdleShare + kCpuDynamicShare * 0.75));
    // No new ticks: the previous utilisation holds.
    EXPECT_DOUBLE_EQ(src.read_power_w(1.05), 100 * (kCpuIdleShare + kCpuDynamicShare * 0.75));
    write(proc / "stat", "cpu  200 0 150 950 0 0 0 0 0 0\n");
    EXPECT_DOUBLE_EQ(src.read_power_w(2), 100 * kCpuIdleShare);
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
    EXPECT_NEAR(src.read_power_w(1), 10 * (kCpuIdleShare + kCpuDynamicShare * std::min(1.0, util)),
                1e-9);
    // A new grandchild counts from zero; a pid reused by a new process is not a negative delta.
    write(proc / "102/stat", pid_stat(102, "grandkid", 101, 20, 0, 100));
    write(proc / "101/stat", pid_stat(101, "kid", 100, 0, 0, 100, /*start=*/2000));
    EXPECT_NEAR(src.last_utilisation(), std::min(1.0, util), 1e-12);
    double p = src.read_power_w(2);
    EXPECT_NEAR(p, 10 * (kCpuIdleShare + kCpuDynamicShare * (20.0 / hz / 2.0)), 1e-9);
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

TEST(CpuModel, UnreadableProcIsUnavailable) {
    CpuModelOptions o;
    o.proc_root = "/nonexistent/proc";
    CpuModelSource src(o);
    EXPECT_FALSE(src.available());
    EXPECT_NE(src.why_unavailable().find("/nonexistent/proc/stat"), std::string::npos);
}

}  // namespace
}  // namespace gk::energy
