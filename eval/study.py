"""What a ``strae compare`` study is: its settings (:class:`StudyConfig`: the
structures, objectives and seeds, the recipe every run shares) and its result
(:class:`Study`).  Running a study is :mod:`eval.compare`; writing its report,
:mod:`eval.compare_report`; the files of its runs are named in
:mod:`strae_graph.training.run_files`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.evaluate import EvalConfig
from eval.runs import RunEvaluation
from eval.study_specs import StructureSpec, parse_spec
from strae_graph.training.compared import COMPARED
from strae_graph.training.config import TrainConfig, check_lr, preset_config
from strae_graph.training.presets import PRESETS

#: the contrasts reported when both structures are in the study (A - B)
DEFAULT_CONTRASTS: tuple[tuple[str, str], ...] = (
    ("spacy", "balanced"), ("spacy", "right"), ("self", "spacy"), ("self", "balanced"),
    ("balanced", "right"),
)  # fmt: skip
#: what a finished run must share with the study re-running it: the resume
#: checks of `strae train` plus the budget (epochs, minutes, steps)
STUDY_COMPARED = (*COMPARED, "epochs", "minutes", "max_steps", "preset")
#: per-run settings, not part of the study's recipe
_PER_RUN = {"structure", "objective", "seed", "out", "progress", "corpus"}
#: options --tune may not vary: the study's own axes and places, and the budget
#: (tuning runs train --tune-steps steps)
_NOT_TUNED = {*_PER_RUN, "device", "epochs", "minutes", "max_steps", "preset"}
#: --tune-steps when not given: this share of the study's --max-steps
TUNE_SHARE = 4


@dataclass
class StudyConfig:
    out: str
    structures: tuple[str, ...] = ("balanced", "right", "left")  # see eval.study_specs
    objectives: tuple[str, ...] = ("contrastive", "ce")
    seeds: tuple[int, ...] = (0, 1, 2)
    train: dict = field(default_factory=dict)  # TrainConfig fields given (over the preset)
    lr: dict = field(default_factory=dict)  # objective -> learning rate (None: the recipe's)
    eval: EvalConfig = field(default_factory=EvalConfig)
    mean_baseline: bool = True
    word2vec: bool = False
    batch_size: int = 256  # sentences per embedding batch
    preset: str = "default"  # strae train --preset: the recipe's defaults
    eval_structures: dict = field(default_factory=dict)  # LABEL -> structure for test sentences
    contrasts: tuple[tuple[str, str], ...] | None = None  # None: DEFAULT_CONTRASTS present
    parse_f1: bool = True  # bracket F1 of every structure on the held-out PTB sample
    resamples: int = 1000  # bootstrap resamples
    tune: dict = field(default_factory=dict)  # TrainConfig field -> values tried per structure
    tune_steps: int | None = None  # steps of each tuning run (None: max_steps // TUNE_SHARE)
    tune_seed: int | None = None  # seed of the tuning runs (None: the first seed)

    def __post_init__(self) -> None:
        self.specs()  # every structure entry is understood
        if not (self.structures and self.objectives and self.seeds):
            raise ValueError("a study needs at least one structure, objective and seed")
        labels = [s.label for s in self.specs()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"structure labels repeat: {labels}")
        bad = set(self.train) - set(TrainConfig.__dataclass_fields__)
        if bad:
            raise ValueError(f"unknown training option(s) {sorted(bad)}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if min(self.seeds) < 0:
            raise ValueError(f"seeds must be at least 0, got {' '.join(map(str, self.seeds))}")
        if self.resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {self.resamples}")
        for objective, lr in self.lr.items():  # --lr-contrastive, --lr-ce
            check_lr("lr_contrastive" if objective == "contrastive" else "lr_ce", lr)
        for objective in self.objectives:  # validates every objective's recipe
            self.train_config(self.specs()[0], objective, self.seeds[0])
        self._check_tune()

    def _check_tune(self) -> None:
        """The --tune grid: TrainConfig options the study does not vary itself, each
        value one the option takes; the tune steps and seed (defaults filled in)."""
        if not self.tune:
            if self.tune_steps is not None or self.tune_seed is not None:
                raise ValueError("--tune-steps and --tune-seed need --tune")
            return
        for key, values in self.tune.items():
            flag = f"--tune {key.replace('_', '-')}"
            if key not in TrainConfig.__dataclass_fields__:
                raise ValueError(f"{flag}: not a training option")
            if key in _NOT_TUNED:
                raise ValueError(f"{flag}: the study sets it itself (its structures, objectives, "
                                 "seeds, output and budget); it cannot be tuned")  # fmt: skip
            if not values:
                raise ValueError(f"{flag}: no values")
            for v in values:
                try:
                    self.train_config(self.specs()[0], self.objectives[0], 0, {key: v})
                except ValueError as e:
                    raise ValueError(f"{flag}={v}: {e}") from None
        if self.tune_steps is None:
            steps = self.train.get("max_steps")
            if not steps:
                raise ValueError("--tune-steps: give it (the default, a quarter of --max-steps, "
                                 "needs a --max-steps budget)")  # fmt: skip
            self.tune_steps = max(1, steps // TUNE_SHARE)
        if self.tune_steps < 1:
            raise ValueError(f"--tune-steps must be at least 1, got {self.tune_steps}")
        self.tune_seed = self.seeds[0] if self.tune_seed is None else self.tune_seed
        if self.tune_seed < 0:
            raise ValueError(f"--tune-seed must be at least 0, got {self.tune_seed}")
        self.tune = {k: list(v) for k, v in self.tune.items()}

    def tuning(self) -> dict | None:
        """What a resumed study must not change about its tuning (None: no tuning)."""
        if not self.tune:
            return None
        return json.loads(json.dumps(
            {"grid": self.tune, "steps": self.tune_steps, "seed": self.tune_seed}))  # fmt: skip

    def specs(self) -> list[StructureSpec]:
        return [parse_spec(s, self.out) for s in self.structures]

    def train_config(
        self, spec: StructureSpec, objective: str, seed: int, setting: dict | None = None
    ) -> TrainConfig:
        """One run's configuration; ``setting``: options chosen by tuning (over the recipe)."""
        options = {
            **self.train,
            "structure": spec.structure,
            "objective": objective,
            "seed": seed,
            "out": str(self.run_dir(spec.label, objective, seed)),
            "progress": self.eval.progress,
        }
        if spec.dataset is not None:
            options["corpus"] = spec.dataset
            if spec.needs_build and not Path(spec.dataset).exists():
                options["corpus"] = self.train.get("corpus", TrainConfig.corpus)  # not built yet
                options["structure"] = "balanced"  # (validation only)
        if self.lr.get(objective) is not None:
            options["lr"] = self.lr[objective]
        options.update(setting or {})
        return preset_config(self.preset, **options)

    def run_dir(self, label: str, objective: str, seed: int) -> Path:
        return Path(self.out) / "runs" / f"{label}-{objective}-s{seed}"

    def recipe(self) -> dict:
        """Per objective, the training settings every run of the study shares
        (resolved through the preset): what a resumed study must not change."""
        spec = StructureSpec("balanced", "balanced")
        out = {}
        for obj in self.objectives:
            d = asdict(self.train_config(spec, obj, self.seeds[0]))
            out[obj] = {k: d[k] for k in STUDY_COMPARED if k not in _PER_RUN}
            out[obj]["corpus"] = d["corpus"]
        return json.loads(json.dumps(out))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eval"] = self.eval.to_dict()
        d["recipe"] = self.recipe()
        d["tuning"] = self.tuning()
        return d


@dataclass
class Study:
    runs: list[RunEvaluation]
    rows: list[dict]  # one per run x system x task
    summary: list[dict]  # mean / std over seeds (and parse F1)
    markdown: str
    trained: int
    reused: int
    contrasts: list[dict] = field(default_factory=list)
    parse_f1: dict = field(default_factory=dict)  # (label, objective) -> F1 summary
