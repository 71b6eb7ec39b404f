"""The training loop of one run: its epochs, its steps, what it logs and
when it saves.

:func:`run_training` is what :func:`strae_graph.training.train.train` runs inside the
run directory's lock: it loads the data, sets the run up (fresh, or from
``last.pt`` with ``--resume``) and runs a :class:`Trainer`.  The run's state
and checkpoints are :class:`strae_graph.training.state.RunState`'s; the pieces of
one step are in :mod:`strae_graph.training.step`; what the run reports at its end
is :mod:`strae_graph.training.result`'s.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from strae_graph.data.subwords import Subwords
from strae_graph.data.vocab import Vocabulary
from strae_graph.model.precision import support_note
from strae_graph.training.batches import epoch_batches, load_run_data
from strae_graph.training.budget import LearningCurve, OnEval, TrainClock
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import leaves
from strae_graph.training.distributed import DistContext
from strae_graph.training.interrupt import RunProgress, StopRequest
from strae_graph.training.lr_schedule import current_lr
from strae_graph.training.prefetch import Prefetcher
from strae_graph.training.result import TrainResult, train_result
from strae_graph.training.run_dir import resume_state, resumed_vocabulary, start_run_files
from strae_graph.training.state import RunState
from strae_graph.training.step import (
    evaluate_loss,
    forward_backward,
    save_before_bad_batch,
    step_record,
    step_rng_state,
    timing_record,
)
from strae_graph.training.threads import ThreadGovernor
from strae_graph.trees.source import Parse
from strae_graph.util.fileio import open_no_follow
from strae_graph.util.progress import progress


def run_training(
    cfg: TrainConfig,
    resume: bool,
    log: Callable[[str], None],
    ctx: DistContext,
    on_eval: OnEval | None = None,
    progress: RunProgress | None = None,
    parse: Parse | None = None,
) -> TrainResult:
    """Train as :func:`strae_graph.training.train.train` says (its run directory exists
    and is locked).  ``progress``: kept up to date with the current step, the step
    of the checkpoint on disk and the stop request (read by ``train`` on Ctrl-C)."""
    progress = progress if progress is not None else RunProgress()
    out = Path(cfg.out)
    state = resume_state(cfg, out, log) if resume else None
    vocab: Vocabulary | None = None
    subwords: Subwords | None = None
    if state is not None:
        vocab, subwords = resumed_vocabulary(state, cfg, out)
    data, n_train_tokens = load_run_data(cfg, vocab, subwords, parse, ctx, log)
    run = Trainer(cfg, ctx, log, data, n_train_tokens, progress)
    if state is not None:
        run.restore(state)
    elif ctx.is_main:
        run.config_sha = start_run_files(out, cfg, run.model_cfg, data, run.corpus_sha)
    return run.run(on_eval)


class Trainer(RunState):
    """One run while it trains: :class:`~strae_graph.training.state.RunState` and
    the loop over its epochs and steps."""

    def run(self, on_eval: OnEval | None) -> TrainResult:
        """Train until ``cfg.epochs`` are done, the budget (time or steps) is spent or a stop
        is requested (saving ``last.pt`` then); the run's result."""
        cfg = self.cfg
        note = support_note(cfg.precision, cfg.device)
        if note:
            self.log(note)
        self.governor = ThreadGovernor(cfg.threads, self.log)
        try:
            return self._run(on_eval)
        finally:
            self.governor.restore()

    def _run(self, on_eval: OnEval | None) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        ctx.seed_dropout(cfg.seed, self.step)
        self.model.train()
        self.clock = TrainClock(self.train_seconds)
        if cfg.epochs is None:
            budget = " and ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in
                                  (("max_steps", cfg.max_steps), ("minutes", cfg.minutes))
                                  if v is not None)  # fmt: skip
            self.log(f"no --epochs: training until the budget is spent ({budget}); "
                     f"{self.n_batches} batches per epoch")  # fmt: skip
        if cfg.eval_every_minutes is not None and on_eval is not None and ctx.is_main:
            self.curve = LearningCurve(self.out / "curve.jsonl", cfg.eval_every_minutes,
                                       on_eval, self.clock.minutes(), self.curve_step)  # fmt: skip
        with (
            StopRequest() as stop,
            contextlib.ExitStack() as threads,  # prefetchers joined even on a 2nd Ctrl-C
            open_no_follow(ctx.output_path(self.out / "metrics.jsonl")) as mfile,
            open_no_follow(ctx.output_path(self.out / "timing.jsonl")) as tfile,
        ):
            self.stop, self.mfile, self.tfile = stop, mfile, tfile
            self.progress.stop, self.progress.step = stop, self.step
            if not self.resumed:  # a resumed run said it in restore()
                self._write_metrics(self.horizon_record())
            self._epochs(threads)
        return self._finish()

    def _epochs(self, threads: contextlib.ExitStack) -> None:
        stop = self.stop
        while self.epochs_left() and not self.interrupted:
            # spent in the last epoch's end, or before --resume
            if self.step > 0 and self.budget_spent():
                self.out_of_budget = True
                break
            if stop.requested:  # arrived during the dev evaluation / epoch checkpoint
                self.interrupted = True
                self.log(f"{stop.name}: stopped at the start of epoch {self.epoch + 1}; "
                         f"{self.last_path} is up to date; continue with --resume")  # fmt: skip
                break
            self._epoch_batches(threads)
            if stop.requested:
                self._save_on_stop()
                break
            self._end_epoch()
            if self.out_of_budget:
                break

    def _epoch_batches(self, threads: contextlib.ExitStack) -> None:
        """The batches of this epoch from ``next_batch`` on, until its end, a stop
        request or the end of the budget."""
        cfg, data, ctx = self.cfg, self.data, self.ctx
        bar = progress(
            total=self._batches_this_epoch(),
            initial=self.next_batch,
            desc=f"epoch {self.epoch + 1}" + (f"/{cfg.epochs}" if cfg.epochs else ""),
            disable=not cfg.progress or not ctx.is_main,
            unit="batch",
            dynamic_ncols=True,
        )
        ahead = threads.enter_context(
            Prefetcher(
                epoch_batches(data, cfg, ctx, self.epoch),
                range(self.next_batch, self.n_batches),
                cfg.prefetch_depth,
            )
        )
        self.node_ratios, self.resumed_ratios = self.resumed_ratios, []
        while self.next_batch < self.n_batches:
            ts, cs = time.perf_counter(), time.process_time()
            items, batch = ahead.get(self.next_batch)
            n_tok = sum(len(leaves(t)) for t in items)
            rng_at_batch = step_rng_state()  # restored if this batch goes NaN
            output, bad = forward_backward(self.model, self.optimizer, items, batch,
                                           data.vocab, cfg, ctx)  # fmt: skip
            if bad is not None:
                self._bad_batch(bad, bar, rng_at_batch)  # raises unless --on-nan skip
                if self.stop.requested:
                    break
                continue
            self._update(output, items, n_tok, ts, cs, bar)
            if self._stop_after_step():
                break
        bar.close()
        ahead.close()

    def _batches_this_epoch(self) -> int:
        """Where this epoch's batches end: its last, or the last of ``--max-steps``."""
        if self.cfg.max_steps is None:
            return self.n_batches
        return min(self.n_batches, self.next_batch + max(0, self.cfg.max_steps - self.step))

    def _bad_batch(self, bad: str, bar: Any, rng_at_batch: dict[str, Any]) -> None:
        """A batch whose loss or gradient is not finite: skipped (``--on-nan
        skip``), else a FloatingPointError after saving the model from before it."""
        where = f"epoch {self.epoch + 1}, batch {self.next_batch + 1} of {self.n_batches}"
        if self.cfg.on_nan == "skip":
            self.nan_batches += 1
            self.optimizer.zero_grad(set_to_none=True)
            self.mfile.write(json.dumps({"epoch": self.epoch + 1, "batch": self.next_batch + 1,
                                         "skipped": bad}) + "\n")  # fmt: skip
            self.log(f"{bad} at {where}: batch skipped (--on-nan skip)")
            self.next_batch += 1
            bar.update(1)
            return
        bar.close()
        raise FloatingPointError(
            f"{bad} at {where} (step {self.step + 1}); no update was made. "
            + save_before_bad_batch(
                self.checkpoint, self.model, self.last_path, self.stop, rng_at_batch
            )  # fmt: skip
        )

    def _update(self, output: Any, items: list, n_tok: int, ts: float, cs: float, bar: Any) -> None:
        """Take the step of a finite batch (begun at ``perf_counter() == ts``,
        ``process_time() == cs``), count it and log it."""
        cfg = self.cfg
        lr = current_lr(self.optimizer)
        self.optimizer.step()
        if cfg.entangle:
            self.node_ratios.append(len(output.up) / sum(2 * len(leaves(t)) - 1 for t in items))
        self.step += 1
        self._write_metrics(self.observe_horizon())  # before the next update's rate is set
        self.scheduler.step()
        dt = time.perf_counter() - ts
        cpu_dt = time.process_time() - cs  # this process, prefetch thread included
        self.progress.step = self.step
        self.next_batch += 1
        self.tokens_done += n_tok
        self.tokens_seen += n_tok
        self.seconds += dt
        bar.set_postfix({"step": f"{self.step:,}", "loss": f"{output.loss.item():.4f}",
                         "tokens/s": f"{self.tokens_done / self.seconds:,.0f}"},
                        refresh=False)  # fmt: skip
        bar.update(1)
        if self.step % cfg.log_every == 0 or self.next_batch == self.n_batches:
            rec = step_record(self.step, self.epoch + 1, self.next_batch, output, lr,
                              self.model, cfg)  # fmt: skip
            self.mfile.write(json.dumps(rec) + "\n")
            self.mfile.flush()
            self.tfile.write(json.dumps(timing_record(self.step, dt, n_tok, cpu_dt)) + "\n")
            self.tfile.flush()

    def _write_metrics(self, record: dict[str, Any] | None) -> None:
        if record is not None:
            self.mfile.write(json.dumps(record) + "\n")

    def _stop_after_step(self) -> bool:
        """After a step: the learning curve's evaluation when due, then whether
        to stop (a stop request agreed by all processes, the budget: --minutes, --max-steps); the
        periodic checkpoint (``--checkpoint-every``)."""
        cfg, stop = self.cfg, self.stop
        self.governor.after_step()
        if self.curve is not None and self.curve.due(self.clock):  # before a Ctrl-C is seen
            self.curve.evaluate(self.model, self.data.vocab, self.clock, self.step,
                                self.tokens_seen)  # fmt: skip
        stop.signal = self.ctx.agree_signal(stop.signal)
        if stop.requested:
            return True
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self.mfile.flush()
            with stop.deferred():
                self.checkpoint(self.last_path)
        if self.budget_spent():
            self.out_of_budget = True
            return True
        return False

    def _save_on_stop(self) -> None:
        """A stop request (Ctrl-C, SIGTERM): save ``last.pt`` and say how to continue."""
        stop = self.stop
        self.mfile.flush()
        with stop.deferred():  # from this line on, a second Ctrl-C waits for the save
            self.log(f"{stop.name}: saving {self.last_path} ...")
            self.checkpoint(self.last_path)
        self.log(f"{stop.name}: saved {self.last_path} at epoch {self.epoch + 1}, batch "
                 f"{self.next_batch}; continue with --resume")  # fmt: skip
        self.interrupted = True

    def _end_epoch(self) -> None:
        """The end of an epoch (or of the budget in mid-epoch): the dev loss,
        its metrics line, ``last.pt`` and, when the dev loss improved, ``best.pt``."""
        ctx, data = self.ctx, self.data
        finished = self.next_batch == self.n_batches  # else: out of budget in mid-epoch
        dev = evaluate_loss(self.model, data.dev, data.vocab, self.cfg) if ctx.is_main else math.nan
        self.last_dev = ctx.from_main(dev)
        rec = {"epoch": self.epoch + 1, "step": self.step, "dev_loss": self.last_dev}
        saved_nodes = ""
        if self.cfg.entangle and self.node_ratios:
            rec["node_ratio"] = float(np.mean(self.node_ratios))
            saved_nodes = (f"; entangled batches hold {rec['node_ratio']:.1%} of the plain "
                           f"nodes (mean of {len(self.node_ratios)} batches)")  # fmt: skip
        if not finished:
            rec["stopped_on_budget"] = True
        self.mfile.write(json.dumps(rec) + "\n")
        self.mfile.flush()
        if finished:
            self.epoch += 1
            self.next_batch = 0
        improved = self.last_dev < self.best_dev or (not data.dev and not self.best_path.exists())
        if improved:
            self.best_dev = self.last_dev
        with self.stop.deferred():
            self.checkpoint(self.last_path)
            if improved:
                self.checkpoint(self.best_path)
        where = (f"epoch {self.epoch}" if finished
                 else f"epoch {self.epoch + 1}, batch {self.next_batch}")  # fmt: skip
        self.log(f"{where}: dev loss {self.last_dev:.4f} (best {self.best_dev:.4f}); saved "
                 f"{self.last_path}" + saved_nodes)  # fmt: skip

    def _finish(self) -> TrainResult:
        """After the loop: the budget note, the learning curve's last line, the result."""
        cfg, data, clock = self.cfg, self.data, self.clock
        stopped_on_budget = self.out_of_budget and self.epochs_left()
        if stopped_on_budget and self.steps_spent():
            self.log(f"stopped on the step budget: {self.step} of --max-steps {cfg.max_steps} "
                     "steps taken; continue with --resume and a larger --max-steps")  # fmt: skip
        elif stopped_on_budget:
            self.log(f"stopped on the time budget: {clock.minutes():.4g} of {cfg.minutes:g} "
                     "minutes trained; continue with --resume and a larger --minutes")  # fmt: skip
        if self.curve is not None and not self.interrupted:
            self.curve.finish(self.model, data.vocab, clock, self.step, self.tokens_seen)
        return train_result(self, stopped_on_budget)
