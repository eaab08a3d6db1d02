#!/usr/bin/python3
"""Ships a `greenknobs pretrain` run's newest checkpoint as a pretrained model directory, or restores one.

  ship RUN_DIR OUT_DIR CONFIG_PATH
      OUT_DIR gets the HF masked-LM files (model.safetensors, config.json, tokenizer.json), greenknobs.json
      (mask id, row length, steps, tokens, config hash), resume/ (optimizer.pt, state.json: what a later
      session needs to continue the very same run; only while its schedule is unfinished), history.csv, loss_curve.svg and MODEL_CARD.md: corpus,
      licences and decontamination counts, steps and tokens, wall time, the energy greenknobs measured (with
      provenance) over every invocation, held-out masked-token loss/accuracy, and the commands that
      reproduce it.
      OUT_DIR/invocation_notes.json ({"3": "quiet machine"}), kept by hand, says what each invocation ran
      beside; the card shows it per invocation.
  restore OUT_DIR RUN_DIR
      puts OUT_DIR's weights and resume/ back as RUN_DIR's latest checkpoint, so
      `greenknobs pretrain --config CONFIG --out RUN_DIR` continues where the shipped run stopped (the
      corpus must be rebuilt identically: `make corpus`; pretrain checks its data key).
Standard library and gnuplot only.
"""
import shutil
import csv
import json
import os
import subprocess
import sys


def fmt_j(j):
    if j >= 3.6e6:
        return f"{j / 3.6e6:.3f} kWh ({j / 1e3:,.0f} kJ)"
    return f"{j / 1e3:,.1f} kJ ({j / 3.6e6:.4f} kWh)"


def loss_svg(history_csv, out_svg):
    script = f"""
set terminal svg size 760,420 dynamic font 'sans,12' background rgb 'white'
set output '{out_svg}'
set datafile separator ','
set key top right
set grid ytics lc rgb '#dddddd'
set xlabel 'tokens seen (millions)'
set ylabel 'masked-token cross-entropy (nats)'
set y2label 'held-out masked-token accuracy'
set y2tics
set ytics nomirror
set title 'Masked-LM pretraining: loss and held-out accuracy'
plot '{history_csv}' every ::1 using ($2/1e6):3 with lines lw 2 lc rgb '#1f77b4' title 'train loss', \\
     '' every ::1 using ($2/1e6):4 with linespoints pt 7 ps 0.4 lw 2 lc rgb '#ff7f0e' title 'held-out loss', \\
     '' every ::1 using ($2/1e6):5 axes x1y2 with linespoints pt 5 ps 0.4 lw 2 lc rgb '#2ca02c' title 'held-out accuracy'
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def latest_checkpoint(run_dir):
    root = os.path.join(run_dir, "checkpoints")
    name = open(os.path.join(root, "latest")).read().strip()
    return os.path.join(root, name)


def ship(run_dir, out_dir, config_path):
    run = json.load(open(os.path.join(run_dir, "run.json")))
    ckpt = latest_checkpoint(run_dir)
    state = json.load(open(os.path.join(ckpt, "state.json")))
    if state["step"] != run["train"]["steps"]:
        sys.exit(f"{ckpt}: step {state['step']} but run.json says {run['train']['steps']}: run.json is stale")
    for f in ("model.safetensors", "config.json"):
        shutil.copyfile(os.path.join(ckpt, f), os.path.join(out_dir, f))
    resume = os.path.join(out_dir, "resume")
    if run["status"] == "complete":
        # The schedule ended: nothing to resume, so no optimizer state rides along in the repository.
        shutil.rmtree(resume, ignore_errors=True)
    else:
        os.makedirs(resume, exist_ok=True)
        for f in ("optimizer.pt", "state.json"):
            shutil.copyfile(os.path.join(ckpt, f), os.path.join(resume, f))
    shutil.copyfile(run["config"]["tokenizer"]["path"], os.path.join(out_dir, "tokenizer.json"))
    shutil.copyfile(os.path.join(run_dir, "history.csv"), os.path.join(out_dir, "history.csv"))
    tokens_per_step = (run["config"]["train"]["batch_size"] * run["config"]["train"]["grad_accum"] *
                       run["config"]["tokenizer"]["max_length"])
    meta = {"max_length": run["config"]["tokenizer"]["max_length"], "mask_token_id": 50284,
            "config_hash": run["config_hash"], "name": run["config"]["name"],
            "pretrain_steps": state["step"], "pretrain_tokens": state["step"] * tokens_per_step,
            "pretrain_max_steps": run["config"]["train"]["max_steps"], "status": run["status"]}
    json.dump(meta, open(os.path.join(out_dir, "greenknobs.json"), "w"), indent=2)
    card(run_dir, out_dir, config_path, run)


def restore(out_dir, run_dir):
    state = json.load(open(os.path.join(out_dir, "resume", "state.json")))
    name = "step-%08d" % state["step"]
    ckpt = os.path.join(run_dir, "checkpoints", name)
    os.makedirs(ckpt, exist_ok=True)
    for f in ("model.safetensors", "config.json"):
        shutil.copyfile(os.path.join(out_dir, f), os.path.join(ckpt, f))
    for f in ("optimizer.pt", "state.json"):
        shutil.copyfile(os.path.join(out_dir, "resume", f), os.path.join(ckpt, f))
    open(os.path.join(run_dir, "checkpoints", "latest"), "w").write(name + "\n")
    print(f"restored step {state['step']} into {ckpt}")


def main():
    if sys.argv[1] == "ship":
        ship(*sys.argv[2:5])
    elif sys.argv[1] == "restore":
        restore(*sys.argv[2:4])
    else:
        sys.exit(__doc__)


def card(run_dir, out_dir, config_path, run):
    state_step = run["train"]["steps"]
    cfg = run["config"]
    hist = list(csv.DictReader(open(os.path.join(run_dir, "history.csv"))))
    os.makedirs(out_dir, exist_ok=True)
    loss_svg(os.path.join(run_dir, "history.csv"), os.path.join(out_dir, "loss_curve.svg"))

    invocations = run.get("invocations", [])
    # What each invocation ran beside (the run cannot see it): OUT_DIR/invocation_notes.json, {"3": "..."},
    # kept with the checkpoint so that every later ship still says it.
    notes_path = os.path.join(out_dir, "invocation_notes.json")
    notes = json.load(open(notes_path)) if os.path.exists(notes_path) else {}
    energy_j = sum(i.get("energy_j", 0.0) for i in invocations)
    wall_s = sum(i.get("duration_s", 0.0) for i in invocations)
    provenance = run["energy"]["total"].get("provenance", {})
    corpus = run.get("corpus", {})
    if "sources" not in corpus and cfg["corpus"].get("jsonl"):
        # Runs before the corpus module recorded no stats in run.json: read the corpus' own side file.
        jsonl = cfg["corpus"]["jsonl"]
        side = (jsonl[:-len(".jsonl")] if jsonl.endswith(".jsonl") else jsonl) + ".stats.json"
        if os.path.exists(side):
            corpus = dict(json.load(open(side)), documents=corpus.get("documents"))
    last = hist[-1] if hist else None
    tokens = run["train"]["tokens_seen"]
    t = cfg["train"]

    lines = []
    lines.append(f"# {cfg['name']}: a ModernBERT encoder pretrained on C/C++ by greenknobs\n")
    lines.append("A `cpu-small` ModernBERT (22 layers, hidden 64, 4 heads, GeGLU 128, ModernBERT's tokenizer) "
                 "masked-LM pretrained from HF's random init on real C/C++ source from Debian's source "
                 "packages, decontaminated against the fine-tuning data. `greenknobs train` starts from it by "
                 "default (`model.init = \"auto\"`). Files: `model.safetensors` + `config.json` "
                 "(`ModernBertForMaskedLM`, HF layout: HF's `ModernBertForMaskedLM.from_pretrained(dir)` loads it), "
                 "`tokenizer.json`, `greenknobs.json`.\n")
    status = run["status"]
    lines.append("## How far it got\n")
    lines.append("| what | value |\n| --- | --- |")
    lines.append(f"| steps | {state_step:,} of {t['max_steps']:,} planned ({status}) |")
    lines.append(f"| tokens seen | {tokens / 1e6:.1f} M ({t['batch_size']} rows x {cfg['tokenizer']['max_length']} "
                 f"tokens x {t['grad_accum']} per step) |")
    lines.append(f"| epochs over the training rows | {run['train'].get('epochs_seen', 0):.2f} |")
    if last:
        lines.append(f"| held-out masked-token loss / accuracy (step {last['step']}) | "
                     f"{float(last['heldout_loss']):.3f} / {float(last['heldout_accuracy']):.3f} |")
        first = hist[0]
        lines.append(f"| ... at the first evaluation (step {first['step']}) | "
                     f"{float(first['heldout_loss']):.3f} / {float(first['heldout_accuracy']):.3f} |")
    lines.append(f"| wall time (all invocations) | {wall_s / 3600:.2f} h in {len(invocations)} invocation(s) |")
    prov = ", ".join(f"{k} {v}" for k, v in provenance.items() if v != "n/a")
    scope = run["energy"]["total"].get("scope", {}) or {}
    scopes = ", ".join(f"{k} {v}" for k, v in scope.items() if v)
    lines.append(f"| energy greenknobs measured (all invocations) | {fmt_j(energy_j)}; {prov}; scope {scopes} |")
    lines.append("")
    lines.append("![loss curve](loss_curve.svg)\n")
    lines.append("Energy per invocation (each one's `run.json`/`emissions.csv` are in the run directory's "
                 "`invocations/`):\n")
    if "machine" in scope.values():
        lines.append("Scope `machine` means the models charged the whole machine's utilisation and installed RAM to the "
                     "run: where other work kept the machine busy (the conditions column), the energy overstates "
                     "what the pretraining alone drew and the wall time is longer than on a quiet machine; "
                     "`--set energy.scope=process` charges only the run's own process tree (docs/measurement.md).\n")
    lines.append("| # | steps | wall s | energy J | device | threads | CPU | conditions |\n"
                 "| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, i in enumerate(invocations, 1):
        lines.append(f"| {n} | {i['steps'][0]}–{i['steps'][1]} | {i['duration_s']:.0f} | {i['energy_j']:.0f} | "
                     f"{i.get('device', '')} | {i.get('threads', '')} | {i.get('machine', '')} | "
                     f"{notes.get(str(n), 'not recorded')} |")
    lines.append("")
    lines.append("## Recipe\n")
    lines.append(f"ModernBERT's, scaled down: {t['mask_prob'] * 100:.0f} % of non-special tokens masked (80 % `[MASK]`, "
                 f"10 % random id, 10 % kept), documents as `[CLS] ... [SEP]` packed into rows of "
                 f"{cfg['tokenizer']['max_length']} tokens, AdamW (lr {t['lr']}, weight decay {t['weight_decay']}, "
                 f"{t['warmup_steps']} warm-up steps then linear decay to 0 at step {t['max_steps']}), clipping at "
                 f"{t['max_grad_norm']}, {t['precision']} autocast, seed {t['seed']}. Held-out loss and accuracy on "
                 f"{t['eval_rows']} fixed rows with fixed masks every {t['eval_every']} steps; checkpoints every "
                 f"{t['checkpoint_every']} steps.\n")
    lines.append("## Corpus\n")
    lines.append("Real C/C++ functions read straight from Debian's source tarballs (`make corpus`, docs/corpus.md), "
                 "decontaminated against every row of the bundled Juliet and BigVul data (exact, MinHash near and "
                 "containment matches):\n")
    if corpus.get("sources"):
        lines.append("| source | licence | functions | MB | removed exact / near / contained |\n| --- | --- | --- | --- | --- |")
        for src in corpus["sources"]:
            lines.append(f"| {src['name']} (`{os.path.basename(src['path'])}`) | {src['license']} | {src['documents']:,} | "
                         f"{src['bytes'] / 1e6:.0f} | {src['removed_exact']} / {src['removed_near']} / "
                         f"{src['removed_containment']} |")
        lines.append(f"| **all** | | **{corpus['documents']:,}** | **{corpus['bytes'] / 1e6:.0f}** | "
                     f"{corpus['removed_exact']} / {corpus['removed_near']} / {corpus['removed_containment']} |\n")
        for d in corpus.get("decontamination", []):
            lines.append(f"- against `{d['path']}` ({d['texts']:,} texts): removed {d['removed_exact']} exact, "
                         f"{d['removed_near']} near, {d['removed_containment']} contained")
        lines.append("")
    data = run.get("data", {})
    if data:
        lines.append(f"Packed into {data['train_rows']:,} training rows and {data['heldout_rows']:,} held-out rows of "
                     f"{data['row_tokens']} tokens ({data['train_tokens'] / 1e6:.0f} M training tokens); the held-out "
                     "documents are chosen by a hash of their text.\n")
    lines.append("## Reproduce\n")
    continue_lines = ("# resumable: run the same command again after any interruption. To continue this very run:\n"
                      f"scripts/ship_pretrained.py restore data/pretrained/{cfg['name']} runs/pretrain-{cfg['name']}\n"
                      "# then the pretrain command above; afterwards ship the new state:\n")
    if status == "complete":
        continue_lines = ("# resumable: run the same command again after any interruption (this run is complete: its\n"
                          "# schedule ended, so no optimizer state is shipped). To ship a finished run:\n")
    lines.append("```sh\nmake corpus    # installs the Debian source packages, builds out/corpus/corpus.jsonl\n"
                 f"build/bin/greenknobs pretrain --config {config_path} --out runs/pretrain-{cfg['name']}\n"
                 + continue_lines +
                 f"scripts/ship_pretrained.py ship runs/pretrain-{cfg['name']} data/pretrained/{cfg['name']} {config_path}\n```\n")
    lines.append(f"Config hash: `{run['config_hash']}`; greenknobs commit `{run.get('git_commit', '?')}`.\n")
    open(os.path.join(out_dir, "MODEL_CARD.md"), "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
