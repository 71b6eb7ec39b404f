"""strae draw: one sentence under several structures, one panel each, in one PNG;
the size cap; --structure self with a run that is not Self-StrAE is an error."""

import matplotlib.image as mpimg
import pytest

from parsers.heuristics import HEURISTICS
from strae_graph.cli import main
from strae_graph.embed.parse import parse_with_model
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.trees.draw import (
    DPI,
    MAX_DRAW_LEAVES,
    MAX_PIXELS,
    figure_size,
    panel_size,
    png_dpi,
    tree_figure,
)
from tests.conftest import CORPUS
from tests.tiny_runs import tiny_run

SENTENCE = "The quick brown fox jumps over the lazy dog."


def png_shape(path) -> tuple[int, int]:
    height, width = mpimg.imread(str(path)).shape[:2]
    return height, width


def test_one_axes_per_panel():
    toks = SENTENCE.lower().split()
    panels = [(HEURISTICS[n](toks), n) for n in ("balanced", "right", "left")]
    fig = tree_figure(panels)
    assert len(fig.axes) == 3
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["balanced", "right", "left"]
    assert tuple(fig.get_size_inches()) == pytest.approx(figure_size([t for t, _ in panels]))


def test_side_by_side_png_stacks_the_panels(tmp_path, capsys):
    singles = {}
    for name in ("balanced", "right", "left"):
        singles[name] = png_shape(_draw(tmp_path / f"{name}.png", name))
    capsys.readouterr()
    both = _draw(tmp_path / "all.png", "balanced", "right", "left")
    out = capsys.readouterr().out
    assert "wrote" in out and "(3 panels)" in out
    assert all(f"{n}: (" in out for n in singles)
    height, width = png_shape(both)
    assert width == max(w for _, w in singles.values())
    assert abs(height - sum(h for h, _ in singles.values())) <= 2  # rounding per panel


def _draw(path, *structures, extra=()):
    assert main(["draw", SENTENCE, "--structure", *structures, "-o", str(path), *extra]) == 0
    return path


def test_gold_beside_other_structures(tmp_path, capsys):
    png = tmp_path / "g.png"
    assert main(["draw", "(S (NP (DT The) (NN dog)) (VP (VBD barked)))", "--structure",
                 "gold", "right", "-o", str(png)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "gold: ((the dog) barked)" in out and "right: (the (dog barked))" in out


def test_size_cap(tmp_path, capsys):
    long = " ".join(["word"] * (MAX_DRAW_LEAVES + 1))
    png = tmp_path / "long.png"
    assert main(["draw", long, "--structure", "balanced", "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{MAX_DRAW_LEAVES + 1} tokens" in err
    assert f"at most {MAX_DRAW_LEAVES}" in err and not png.exists()
    # the longest allowed sentence, every panel squeezed, is written within MAX_PIXELS
    ok = " ".join(["word"] * MAX_DRAW_LEAVES)
    assert main(["draw", ok, "--structure", "right", "left", "-o", str(png)]) == 0
    assert max(png_shape(png)) <= MAX_PIXELS
    toks = ["w"] * MAX_DRAW_LEAVES
    assert panel_size(HEURISTICS["right"](toks))[1] == 12.0  # height 99: capped
    assert png_dpi((4.0, 3.0)) == DPI and png_dpi((100.0, 20.0)) == MAX_PIXELS / 100.0


def test_self_needs_a_self_strae_run(tmp_path, data_dir, capsys):
    run = tiny_run(tmp_path / "balanced", structure="balanced", max_sentences=120)
    png = tmp_path / "s.png"
    assert main(["draw", SENTENCE, "--structure", "balanced", "self", "--model", str(run),
                 "-o", str(png)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a Self-StrAE run" in err
    assert "--structure balanced" in err and not png.exists()
    with pytest.raises(CheckpointError, match="not a Self-StrAE run"):
        parse_with_model(run, [["the", "dog"]])
    assert main(["draw", SENTENCE, "--structure", "self", "--model", str(tmp_path / "none"),
                 "-o", str(png)]) == 2  # fmt: skip
    assert "no config.json" in capsys.readouterr().err


def test_spacy_balanced_and_self_side_by_side(tmp_path, data_dir, capsys):
    run = tmp_path / "self"
    assert main(["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "120",
                 "--dev-sentences", "20", "--batch-size", "32", "--structure", "self",
                 "--no-progress", "--min-count", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    png = _draw(tmp_path / "three.png", "spacy", "balanced", "self", extra=("--model", str(run)))
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()[:3]] == ["spacy", "balanced", "self"]
    assert "(3 panels)" in out and png.stat().st_size > 10_000
