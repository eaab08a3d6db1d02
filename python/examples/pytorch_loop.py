#!/usr/bin/env python3
"""The smallest useful greenknobs example: a plain PyTorch training loop measured stage by stage.

    PYTHONPATH=build/python python3 python/examples/pytorch_loop.py --out runs/loop

writes runs/loop/run.json (energy per stage, work, metrics), emissions.csv and power.csv. Under
`greenknobs measure --out DIR -- python3 pytorch_loop.py` the same stages go to the parent instead.
"""
import argparse

import greenknobs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="runs/pytorch-loop")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()

    with greenknobs.Tracker(out=args.out, project_name="pytorch-loop") as t:
        with t.stage("setup"):
            import torch
            torch.manual_seed(0)
            w_true = torch.randn(16, 1)
            model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                        torch.nn.Linear(32, 1))
            opt = torch.optim.SGD(model.parameters(), lr=0.05)

        @t.stage("step", work="samples")  # one nested stage per call; too fine for real use
        def evaluate_once():
            x = torch.randn(256, 16)
            with torch.no_grad():
                return torch.nn.functional.mse_loss(model(x), x @ w_true).item()

        with t.stage("train", work="samples") as s:
            for _ in range(args.steps):
                x = torch.randn(args.batch_size, 16)
                loss = torch.nn.functional.mse_loss(model(x), x @ w_true)
                opt.zero_grad()
                loss.backward()
                opt.step()
                s.add_work(args.batch_size)
        with t.stage("evaluate"):
            mse = evaluate_once()
        t.metric("mse", mse)
        t.metric("final_train_loss", loss.item())


if __name__ == "__main__":
    main()
