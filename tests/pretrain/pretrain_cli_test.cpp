// `greenknobs pretrain` end to end at tiny scale: the metered stages, checkpoints, a paused and
// resumed run that ends bit-identical to an uninterrupted one, kill -9 at random moments (never
// more than checkpoint_every steps lost), fill-mask with the result, and bad input (exit 2).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

#include "../common/cli.h"

namespace stdfs = std::filesystem;
using gk::testing::has;
using gk::testing::run_greenknobs;
using nlohmann::json;

namespace {

const std::string kSrc = GK_SOURCE_DIR;

std::string tmp_dir(const std::string& name) {
    std::string d = testing::TempDir() + "gk_pretrain_test_" + name;
    stdfs::remove_all(d);
    gk::fs::make_dirs(d);
    return d;
}

// A small corpus of real C++: this repository's own sources, one document per file.
std::string make_corpus(const std::string& dir) {
    const std::string path = dir + "/corpus.jsonl";
    std::ofstream out(path);
    std::vector<std::string> files;
    for (const auto& e : stdfs::recursive_directory_iterator(kSrc + "/src/greenknobs")) {
        if (e.path().extension() == ".cpp") {
            files.push_back(e.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    for (size_t i = 0; i < files.size() && i < 40; ++i) {
        out << json{{"text", gk::fs::read_file(files[i]).substr(0, 6000)}}.dump() << "\n";
    }
    return path;
}

std::string make_config(const std::string& dir, const std::string& corpus, int max_steps) {
    const std::string path = dir + "/pretrain.toml";
    std::ofstream out(path);
    out << "name = \"tiny\"\n"
        << "[corpus]\njsonl = \"" << corpus << "\"\nheldout_fraction = 0.1\n"
        << "[tokenizer]\npath = \"" << kSrc
        << "/data/modernbert/tokenizer.json\"\nmax_length = 64\n"
        << "[model]\npreset = \"test-tiny\"\n"
        << "[train]\nbatch_size = 4\nmax_steps = " << max_steps
        << "\nwarmup_steps = 3\nlr = 3e-3\neval_every = 10\neval_rows = 8\ncheckpoint_every = 5\n"
        << "[system]\nthreads = 1\n";
    return path;
}

json run_json(const std::string& dir) { return json::parse(gk::fs::read_file(dir + "/run.json")); }

std::string weights(const std::string& model_dir) {
    return gk::fs::read_file(model_dir + "/model.safetensors");
}

int64_t latest_step(const std::string& run_dir) {
    const std::string p = run_dir + "/checkpoints/latest";
    if (!stdfs::exists(p)) {
        return -1;
    }
    std::string name = gk::fs::read_file(p);
    return std::stoll(name.substr(5));
}

}  // namespace

TEST(PretrainCli, PausesResumesAndEndsEqualToAnUninterruptedRun) {
    const std::string base = tmp_dir("resume");
    const std::string cfg = make_config(base, make_corpus(base), 20);

    const std::string a = base + "/a";
    auto ra = run_greenknobs("pretrain --config " + cfg + " --out " + a);
    ASSERT_EQ(ra.rc, 0) << ra.out;
    json ja = run_json(a);
    EXPECT_EQ(ja["status"], "complete");
    EXPECT_EQ(ja["train"]["steps"], 20);
    // Packed rows without pads: attention ran as the fused CPU kernel (model/fused_attention.h).
    EXPECT_EQ(ja["attention"]["kernel"], "fused-cpu") << ja["attention"];
    // fp32 pretraining: no product ran in bf16, and the record says so.
    EXPECT_EQ(ja["bf16_matmul"]["train"], "") << ja["bf16_matmul"];
    EXPECT_EQ(ja["train"]["tokens_seen"], 20 * 4 * 64);
    std::vector<std::string> paths;
    for (const auto& s : ja["energy"]["stages"]) {
        paths.push_back(s["path"]);
    }
    for (const char* want : {"load_corpus", "tokenize", "load_model", "train", "train/validate",
                             "train/checkpoint", "save"}) {
        EXPECT_NE(std::find(paths.begin(), paths.end(), want), paths.end()) << want;
    }
    EXPECT_EQ(ja["train"]["history"].size(), 2u);  // steps 10 and 20
    EXPECT_GT(ja["train"]["history"][1]["heldout_accuracy"].get<double>(), 0.0);
    EXPECT_TRUE(stdfs::exists(a + "/emissions.csv"));
    EXPECT_TRUE(stdfs::exists(a + "/history.csv"));
    auto mcfg = json::parse(gk::fs::read_file(a + "/model/config.json"));
    EXPECT_EQ(mcfg["architectures"], json::array({"ModernBertForMaskedLM"}));
    auto meta = json::parse(gk::fs::read_file(a + "/model/greenknobs.json"));
    EXPECT_EQ(meta["mask_token_id"], 50284);
    EXPECT_EQ(latest_step(a), 20);
    EXPECT_EQ(ja["invocations"].size(), 1u);

    // The same schedule in two invocations: paused after 7 steps (checkpointed at 7), resumed.
    const std::string b = base + "/b";
    auto rb1 = run_greenknobs("pretrain --config " + cfg + " --out " + b + " --stop-after-steps 7");
    ASSERT_EQ(rb1.rc, 0) << rb1.out;
    EXPECT_EQ(run_json(b)["status"], "paused");
    EXPECT_EQ(latest_step(b), 7);
    auto rb2 = run_greenknobs("pretrain --config " + cfg + " --out " + b);
    ASSERT_EQ(rb2.rc, 0) << rb2.out;
    json jb = run_json(b);
    EXPECT_EQ(jb["status"], "complete");
    EXPECT_EQ(jb["resumed_from_step"], 7);
    EXPECT_TRUE(jb["data"]["token_cache_hit"].get<bool>());
    EXPECT_EQ(jb["invocations"].size(), 2u);
    EXPECT_EQ(weights(a + "/model"), weights(b + "/model"));  // bit-identical
    EXPECT_EQ(jb["train"]["history"],
              ja["train"]["history"].is_array() ? jb["train"]["history"] : json());
    for (size_t i = 0; i < ja["train"]["history"].size(); ++i) {
        EXPECT_EQ(ja["train"]["history"][i]["heldout_loss"],
                  jb["train"]["history"][i]["heldout_loss"]);
    }

    // A complete run is not redone; another config is refused on resume.
    auto again = run_greenknobs("pretrain --config " + cfg + " --out " + a);
    EXPECT_EQ(again.rc, 2) << again.out;
    EXPECT_TRUE(has(again.out, "complete")) << again.out;
    const std::string c = base + "/c";
    ASSERT_EQ(
        run_greenknobs("pretrain --config " + cfg + " --out " + c + " --stop-after-steps 5").rc, 0);
    auto other =
        run_greenknobs("pretrain --config " + cfg + " --out " + c + " --set train.lr=1e-2");
    EXPECT_EQ(other.rc, 2) << other.out;
    EXPECT_TRUE(has(other.out, "another configuration")) << other.out;

    // The result fills masks (and never classifies): input_ids need no tokenizer parse.
    const std::string in = base + "/fill.jsonl";
    std::ofstream(in) << "{\"input_ids\": [50281, 1000, 50284, 2000, 50282]}\n"
                      << "{\"text\": \"int main(void) { return [MASK]; }\"}\n";
    auto pr = run_greenknobs("predict --model " + a + "/model --top-k 3 < " + in);
    ASSERT_EQ(pr.rc, 0) << pr.out;
    std::istringstream lines(pr.out);
    std::string l1, l2;
    std::getline(lines, l1);
    std::getline(lines, l2);
    json o1 = json::parse(l1), o2 = json::parse(l2);
    ASSERT_EQ(o1["masks"].size(), 1u);
    EXPECT_EQ(o1["masks"][0]["position"], 2);
    EXPECT_EQ(o1["masks"][0]["ids"].size(), 3u);
    EXPECT_FALSE(o1.contains("label"));
    EXPECT_EQ(o2["masks"].size(), 1u);
}

TEST(PretrainCli, Kill9AtRandomMomentsLosesAtMostOneCheckpointInterval) {
    const std::string base = tmp_dir("kill");
    const std::string cfg = make_config(base, make_corpus(base), 120);
    const std::string dir = base + "/run";
    const std::string bin = std::string(GK_BINARY_DIR) + "/bin/greenknobs";
    std::mt19937 rng(2026);
    int kills = 0;
    for (int attempt = 0; attempt < 4; ++attempt) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int devnull = ::open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execl(bin.c_str(), bin.c_str(), "pretrain", "--config", cfg.c_str(), "--out",
                  dir.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        // Wait until this invocation has made progress, then kill it at a random moment.
        const int64_t before = latest_step(dir);
        const auto t0 = std::chrono::steady_clock::now();
        while (latest_step(dir) <= before &&
               std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<>(0, 400)(rng)));
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ++kills;
        }
        const int64_t kept = latest_step(dir);
        EXPECT_GT(kept, before);
        EXPECT_EQ(kept % 5, 0);  // checkpoints every 5 steps; nothing half-written is pointed to
        EXPECT_TRUE(stdfs::exists(dir + "/checkpoints/step-" +
                                  std::string(8 - std::to_string(kept).size(), '0') +
                                  std::to_string(kept) + "/state.json"));
    }
    EXPECT_GE(kills, 1);
    const int64_t kept = latest_step(dir);
    auto r = run_greenknobs("pretrain --config " + cfg + " --out " + dir);
    ASSERT_EQ(r.rc, 0) << r.out;
    json j = run_json(dir);
    EXPECT_EQ(j["status"], "complete");
    EXPECT_EQ(j["resumed_from_step"], kept);
    EXPECT_EQ(j["train"]["steps"], 120);
}

TEST(PretrainCli, SigintAndSigtermPauseWithACheckpointAndTheEnergyRecorded) {
    const std::string base = tmp_dir("signal");
    const std::string cfg = make_config(base, make_corpus(base), 400);
    const std::string dir = base + "/run";
    const std::string bin = std::string(GK_BINARY_DIR) + "/bin/greenknobs";
    int64_t paused_at = 0;
    int invocations = 0;
    for (int sig : {SIGINT, SIGTERM}) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int devnull = ::open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execl(bin.c_str(), bin.c_str(), "pretrain", "--config", cfg.c_str(), "--out",
                  dir.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        // Signal once training is under way (a checkpoint past the last pause exists).
        const auto t0 = std::chrono::steady_clock::now();
        while (latest_step(dir) <= paused_at &&
               std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "finished before the signal";
        kill(pid, sig);
        waitpid(pid, &status, 0);
        ++invocations;
        ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of pausing";
        EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
        json j = run_json(dir);
        EXPECT_EQ(j["status"], "paused");
        EXPECT_EQ(j["stopped_by"], sig == SIGINT ? "SIGINT" : "SIGTERM");
        // Paused where it stood: the checkpoint is the step reached, not the last interval's.
        const int64_t steps = j["train"]["steps"].get<int64_t>();
        EXPECT_EQ(latest_step(dir), steps);
        EXPECT_GT(steps, paused_at);
        EXPECT_LT(steps, 400);
        paused_at = steps;
        // This invocation's energy is in the record (a kill -9 would lose it).
        ASSERT_EQ(j["invocations"].size(), static_cast<size_t>(invocations)) << j["invocations"];
        EXPECT_GT(j["invocations"].back()["energy_j"].get<double>(), 0.0);
    }
    auto r = run_greenknobs("pretrain --config " + cfg + " --out " + dir + " --stop-after-steps 3");
    ASSERT_EQ(r.rc, 0) << r.out;
    json j = run_json(dir);
    EXPECT_EQ(j["resumed_from_step"], paused_at);
    EXPECT_EQ(j["stopped_by"], "stop_after_steps");
    EXPECT_EQ(j["train"]["steps"], paused_at + 3);
}

TEST(PretrainCli, BadInputExitsTwoNamingThePlace) {
    const std::string base = tmp_dir("bad");
    const std::string corpus = base + "/corpus.jsonl";
    std::ofstream(corpus) << "{\"text\": \"int a;\"}\n[1, 2]\n";
    const std::string cfg = make_config(base, corpus, 10);
    auto r = run_greenknobs("pretrain --config " + cfg + " --out " + base + "/run");
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "corpus.jsonl:2")) << r.out;
    EXPECT_EQ(run_json(base + "/run")["status"], "failed");

    auto unknown =
        run_greenknobs("pretrain --config " + cfg + " --out " + base + "/r2 --set train.nope=1");
    EXPECT_EQ(unknown.rc, 2);
    EXPECT_TRUE(has(unknown.out, "train.nope")) << unknown.out;
    auto both = run_greenknobs("pretrain --config " + cfg + " --out " + base +
                               "/r3 --set corpus.sources=x=/nonexistent");
    EXPECT_EQ(both.rc, 2) << both.out;
    EXPECT_TRUE(has(both.out, "exactly one")) << both.out;
}

// Fine-tuning starts from the checkpoint shipped for its preset (model.init = auto), records what
// it ran, and stays one setting away from scratch.
TEST(PretrainCli, TrainStartsFromTheShippedCheckpointByDefault) {
    const std::string base = tmp_dir("init");
    const std::string cfg = make_config(base, make_corpus(base), 5);
    ASSERT_EQ(run_greenknobs("pretrain --config " + cfg + " --out " + base + "/pt").rc, 0);
    // A working directory laid out like the repository: bundled data plus a shipped checkpoint.
    const std::string cwd = base + "/repo";
    gk::fs::make_dirs(cwd + "/data/pretrained");
    stdfs::create_directory_symlink(kSrc + "/data/juliet", cwd + "/data/juliet");
    stdfs::create_directory_symlink(kSrc + "/data/modernbert", cwd + "/data/modernbert");
    stdfs::create_directory_symlink(base + "/pt/model", cwd + "/data/pretrained/test-tiny-code");
    const std::string tiny =
        " --set model.preset=test-tiny --set data.max_train_samples=48 --set "
        "data.max_eval_samples=24"
        " --set train.batch_size=16 --set tokenizer.max_length=64 --set system.threads=1";
    auto train = [&](const std::string& extra, const std::string& out) {
        const std::string cmd = "cd " + cwd + " && " + std::string(GK_BINARY_DIR) +
                                "/bin/greenknobs -q train" + tiny + extra + " --out " + out +
                                " 2>&1";
        return std::system(cmd.c_str());
    };
    ASSERT_EQ(train("", base + "/auto"), 0);
    json a = run_json(base + "/auto");
    EXPECT_EQ(a["model"]["init"]["kind"], "pretrained");
    EXPECT_EQ(a["model"]["init"]["from"], "data/pretrained/test-tiny-code");
    EXPECT_EQ(a["model"]["init"]["architecture"], "ModernBertForMaskedLM");
    EXPECT_EQ(a["model"]["init"]["checkpoint_pretrain_steps"], 5);
    EXPECT_EQ(a["model"]["init"]["weights_sha256"].get<std::string>().size(), 64u);

    ASSERT_EQ(train(" --set model.init=scratch", base + "/scratch"), 0);
    EXPECT_EQ(run_json(base + "/scratch")["model"]["init"]["kind"], "scratch");
    EXPECT_NE(run_json(base + "/scratch")["config_hash"], a["config_hash"]);

    // "pretrained" demands a checkpoint: none for cpu-tiny here.
    const int rc =
        train(" --set model.preset=cpu-tiny --set model.init=pretrained", base + "/none");
    EXPECT_EQ(WEXITSTATUS(rc), 2);
}
