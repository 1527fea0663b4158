"""``autoscope benchmark`` on a small recorded file: its JSON, read-only input, clear errors."""

import hashlib
import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from autoscope.cli import main as cli_main
from autoscope.errors import ConfigurationError
from autoscope.studies import after_first, twin_oracle
from autoscope.studies.benchmark import run_benchmark, top_set


def write_file(path, size=20, seed=0, drop=None):
    """A recorded dataset whose band integral is high on bright image blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.zeros((size, size))
    for _ in range(6):
        cx, cy = rng.uniform(0, size, 2)
        image += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 4.0)
    axis = np.linspace(-1, 1, 32)
    spectra = image[..., None] * np.exp(-(axis**2) / 0.1) + 0.01 * rng.standard_normal(
        (size, size, 32)
    )
    with h5py.File(path, "w") as f:
        for key, value in (("image", image), ("spectra", spectra), ("spectral_axis", axis)):
            if key != drop:
                f.create_dataset(key, data=value)
        f.attrs["spectral_units"] = "V"
        f.attrs["pixel_size"] = 0.5
        f.attrs["pixel_units"] = "nm"
    return image, spectra, axis


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_the_promised_json_and_leaves_the_file_alone(tmp_path, capsys):
    data = tmp_path / "rec.h5"
    write_file(data)
    before = digest(data)
    out = tmp_path / "out" / "bench.json"
    rc = cli_main(
        [
            "benchmark",
            "--dataset",
            str(data),
            "--scalarizer",
            "band_integral:-0.3:0.3",
            "--agent",
            "random",
            "--budget",
            "40",
            "--seeds",
            "3",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    assert digest(data) == before
    result = json.loads(out.read_text())
    assert result["agent"] == "random" and result["budget"] == 40 and result["seeds"] == 3
    assert result["dataset"] == str(data)
    for key in (
        "top1_found_fraction",
        "steps_to_first_top1",
        "best_found_over_true_max",
        "seconds_per_step",
    ):
        assert set(result[key]) >= {"median", "per_seed"}
        assert len(result[key]["per_seed"]) == 3
    assert "p95" in result["seconds_per_step"]
    for frac in result["top1_found_fraction"]["per_seed"]:
        assert 0.0 <= frac <= 1.0
    assert all(0 <= b <= 1 for b in result["best_found_over_true_max"]["per_seed"])
    assert "top1_found_fraction median" in capsys.readouterr().out


def test_scores_are_right_for_a_full_budget(tmp_path):
    data = tmp_path / "rec.h5"
    write_file(data, size=10)
    # measuring everything finds every top location and the true maximum
    result = run_benchmark("band_integral:-0.3:0.3", "raster", budget=100, seeds=1, dataset=data)
    assert result["top1_found_fraction"]["per_seed"] == [1.0]
    assert result["best_found_over_true_max"]["per_seed"] == [1.0]
    first = result["steps_to_first_top1"]["per_seed"][0]
    assert 1 <= first <= 100
    # one top location (1 % of 100): half the set is found with it, and the
    # discovery curve is 0 before it and 1 from it on
    assert result["steps_to_half_top1"]["per_seed"] == [first]
    assert result["top1_found_auc"]["per_seed"][0] == pytest.approx((100 - first + 1) / 100)


def test_gp_beats_random_on_a_smooth_file(tmp_path):
    data = tmp_path / "rec.h5"
    write_file(data, size=20, seed=1)
    kw = dict(scalarizer="band_integral:-0.3:0.3", budget=30, seeds=2, dataset=data)
    gp = run_benchmark(agent="gp", **kw)
    rnd = run_benchmark(agent="random", **kw)
    assert gp["best_found_over_true_max"]["median"] > rnd["best_found_over_true_max"]["median"]
    assert gp["best_found_over_true_max"]["median"] > 0.9


def test_cli_seed_design_reaches_the_agent_and_the_json(tmp_path):
    data = tmp_path / "rec.h5"
    write_file(data, size=12, seed=2)
    args = ["benchmark", "--dataset", str(data), "--scalarizer", "band_integral:-0.3:0.3"]
    args += ["--agent", "gp", "--budget", "10", "--seeds", "1"]
    runs = {}
    for design in ("spatial", "image"):
        out = tmp_path / f"{design}.json"
        assert cli_main([*args, "--seed-design", design, "--json", str(out)]) == 0
        runs[design] = json.loads(out.read_text())
        assert runs[design]["seed_design"] == design
    # other seed points, so another campaign
    assert runs["image"]["top1_found_auc"] != runs["spatial"]["top1_found_auc"] or (
        runs["image"]["best_found_over_true_max"] != runs["spatial"]["best_found_over_true_max"]
    )


def test_first_seed_runs_a_later_range_of_the_same_campaigns(tmp_path):
    data = tmp_path / "rec.h5"
    write_file(data, size=12, seed=2)
    kw = dict(scalarizer="band_integral:-0.3:0.3", agent="random", budget=15, dataset=data)
    whole = run_benchmark(seeds=5, **kw)
    later = run_benchmark(seeds=2, first_seed=3, **kw)
    assert later["first_seed"] == 3 and later["seeds"] == 2 and whole["first_seed"] == 0
    for key in ("top1_found_fraction", "best_found_over_true_max", "top1_found_auc"):
        assert later[key]["per_seed"] == whole[key]["per_seed"][3:]
    # the seeds differ, so a different range is a different set of campaigns
    assert (
        whole["best_found_over_true_max"]["per_seed"][:2]
        != later["best_found_over_true_max"]["per_seed"]
    )
    with pytest.raises(ConfigurationError, match="first seed must be >= 0, got -1"):
        run_benchmark(seeds=1, first_seed=-1, **kw)


def test_top_set_has_at_least_one_location_and_ignores_nan():
    v = np.array([1.0, np.nan, 3.0, 2.0])
    assert top_set(v).tolist() == [False, False, True, False]
    assert top_set(np.arange(1000.0)).sum() == 10


@pytest.mark.parametrize("drop", ["image", "spectra", "spectral_axis"])
def test_malformed_file_names_what_is_missing(tmp_path, capsys, drop):
    data = tmp_path / "bad.h5"
    write_file(data, drop=drop)
    rc = cli_main(
        [
            "benchmark",
            "--dataset",
            str(data),
            "--agent",
            "random",
            "--budget",
            "5",
            "--scalarizer",
            "band_integral:-0.3:0.3",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert f"lacks '{drop}'" in err and str(data) in err


def test_not_an_hdf5_file_and_bad_shapes(tmp_path, capsys):
    bad = tmp_path / "text.h5"
    bad.write_text("hello")
    assert cli_main(["benchmark", "--dataset", str(bad), "--budget", "5"]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f["image"] = np.zeros((4, 4))
        f["spectra"] = np.zeros((4, 5, 3))
        f["spectral_axis"] = np.zeros(3)
    assert cli_main(["benchmark", "--dataset", str(wrong), "--budget", "5"]) == 1
    assert "'spectra' must be (H, W, K)" in capsys.readouterr().err
    missing = tmp_path / "nope.h5"
    assert cli_main(["benchmark", "--dataset", str(missing), "--budget", "5"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_budget_beyond_the_grid_is_refused(tmp_path, capsys):
    data = tmp_path / "rec.h5"
    write_file(data, size=10)
    assert cli_main(["benchmark", "--dataset", str(data), "--budget", "101"]) == 1
    assert "budget 101" in capsys.readouterr().err


def test_run_seed_returns_the_measured_order_and_the_json_leaves_it_out(tmp_path):
    from autoscope.studies.benchmark import default_factory, run_seed
    from autoscope.studies.groundtruth import load_recorded, scalar_map

    data = tmp_path / "rec.h5"
    write_file(data, size=12, seed=1)
    truth = load_recorded(data)
    values = scalar_map(truth, "band_integral:-0.3:0.3")
    seen = []

    def observe(agent, idx):  # called before the values go in
        seen.append((list(idx), agent.n_measured))

    r = run_seed(truth, values, default_factory("random"), 20, 0, observe=observe)
    order = r["_measured"]
    assert seen == [([i], k) for k, i in enumerate(order)]
    assert len(order) == 20 and len(set(order)) == 20
    top = top_set(values.ravel())
    # the reported figures are those of this order
    assert r["top1_found_fraction"] == sum(top[i] for i in order) / top.sum()
    out = run_benchmark(
        scalarizer="band_integral:-0.3:0.3", agent="random", budget=20, seeds=1, dataset=data
    )
    assert "_measured" not in json.dumps(out)


def _after_first_module():
    return after_first


class _Scripted:
    """An agent that measures a fixed order (the interface :func:`run_seed` needs)."""

    def __init__(self, order):
        self.order = list(order)
        self.steps = []

    def suggest_indices(self, n):
        chosen, self.order = self.order[:n], self.order[n:]
        self.steps.append(SimpleNamespace(source="scripted", seconds=0.0))
        return chosen

    def ingest_indices(self, indices, values):
        pass


def test_after_first_find_counts_near_and_far_measurements():
    from autoscope.studies.benchmark import run_seed
    from autoscope.studies.groundtruth import GroundTruth

    follow = _after_first_module().follow
    width = 20
    values = np.zeros(width * width)
    top_cells = [(2, 2), (2, 3), (3, 2), (15, 15)]  # 1 % of 400 = the 4 largest
    for k, (y, x) in enumerate(top_cells):
        values[y * width + x] = 10.0 + k
    values[9 * width + 9] = 5.0  # high, not top
    order = [
        y * width + x for y, x in [(10, 10), (2, 2), (2, 3), (15, 15), (9, 9), (14, 14), (3, 2)]
    ]
    truth = GroundTruth(
        image=values.reshape(width, width),
        spectra=np.zeros((width, width, 1)),
        spectral_axis=np.zeros(1),
    )

    def campaign(order):
        return run_seed(
            truth, values.reshape(width, width), lambda *a: _Scripted(order), len(order), 0
        )

    r = campaign(order)
    assert r["_measured"] == order
    first, half = r["steps_to_first_top1"], r["steps_to_half_top1"]
    assert first == 2
    assert half == 3  # 2 of 4 found at the 3rd measurement
    c = follow(order, first, values, width, window=4, radius=1)
    # (2,3) near a find and a hit; (15,15) far and a hit; (9,9) far, a miss;
    # (14,14) is near (15,15), found just before; (3,2) is past the window
    assert (c["near"], c["near_hits"], c["far"], c["far_hits"]) == (2, 1, 2, 1)
    assert c["far_percentiles"][1] == pytest.approx(395 / 399)  # (9,9) is the 5th largest
    assert c["far_predicted_top"] == 0
    said = {15 * width + 15: True, 9 * width + 9: False, 2 * width + 3: True}
    c = follow(order, first, values, width, window=4, radius=1, predicted_top=said)
    assert c["far_predicted_top"] == 1  # (2,3) is near, so not counted
    # no find: nothing to follow
    r = campaign(order[:1])
    assert r["steps_to_first_top1"] is None
    assert follow(order[:1], None, values, width, window=4, radius=1) is None


def test_predicted_top_recorder_sees_every_model_step_and_only_those(tmp_path):
    from autoscope.studies.benchmark import default_factory, run_seed
    from autoscope.studies.groundtruth import load_recorded, scalar_map

    data = tmp_path / "rec.h5"
    write_file(data, size=12, seed=1)
    truth = load_recorded(data)
    values = scalar_map(truth, "band_integral:-0.3:0.3")
    record, observe = _after_first_module().predicted_top_recorder()
    agents = []
    factory = default_factory("gp")

    def make(*args):
        agents.append(factory(*args))
        return agents[-1]

    run_seed(truth, values, make, 20, 0, observe=observe)
    model_chosen = {c for s in agents[0].steps if s.source == "model" for c in s.chosen}
    assert set(record) == model_chosen and len(model_chosen) == 20 - agents[0].n_seed
    assert all(isinstance(v, bool) for v in record.values())


def test_oracle_share_counts_top_locations_among_the_first_picks():
    share = twin_oracle.oracle_share
    values = np.arange(200.0).reshape(10, 20)  # top 1 %: the two largest, flat 198 and 199
    score = np.zeros(200)
    score[[199, 5, 7]] = [3.0, 2.0, 1.0]
    assert share(values, score, 1) == 0.5
    assert share(values, score, 3) == 0.5
    score[198] = np.nan  # an unscorable location ranks last
    assert share(values, score, 3) == 0.5
    assert share(values, score, 200) == 1.0
    assert share(values, values, 2) == 1.0


def test_twin_oracle_splits_the_pfm_target_into_image_and_hidden_parts():
    out = twin_oracle.run("pfm", 16, "loop_area", 13, [0])
    row = out["per_seed"][0]
    assert set(out["median"]) == {"exact", "image_only", "hidden_only", "hidden_log_variance_share"}
    assert row["n_top1"] == 3 and row["exact"] == 1.0  # noise-free spectra keep the set
    assert all(0.0 <= row[k] <= 1.0 for k in out["median"])


def write_incomplete_file(path, size=20, measured_rows=6, seed=3):
    """``write_file`` as a grid stopped early: rows past ``measured_rows`` never measured.

    Their spectra are NaN rows and so is their overview (a grid's own channel
    mean), as :func:`autoscope.io.grid3ds.grid3ds_to_recorded` writes them.
    """
    image, spectra, axis = write_file(path, size=size, seed=seed)
    image, spectra = image.copy(), spectra.copy()
    spectra[measured_rows:] = np.nan
    image[measured_rows:] = np.nan
    with h5py.File(path, "r+") as f:
        f["image"][...] = image
        f["spectra"][...] = spectra
    return image, spectra, axis


@pytest.mark.parametrize("agent", ["dkl", "gp", "random"])
def test_agents_never_choose_a_pixel_of_an_incomplete_grid_that_was_never_measured(tmp_path, agent):
    from autoscope.studies.benchmark import default_factory, run_seed
    from autoscope.studies.groundtruth import load_recorded, scalar_map

    data = tmp_path / "stopped.h5"
    write_incomplete_file(data)  # 120 of 400 measured: the last 70 % are NaN
    truth = load_recorded(data)
    assert truth.measured_mask.sum() == 120 and truth.measured_mask[:6].all()
    assert np.isfinite(truth.image).all()  # the unmeasured overview is filled for the patches
    values = scalar_map(truth, "band_integral:-0.3:0.3")  # no warning for unmeasured pixels
    assert np.isfinite(values[:6]).all() and np.isnan(values[6:]).all()
    r = run_seed(truth, values, default_factory(agent), 30, 0)
    order = np.asarray(r["_measured"])
    assert len(order) == 30 and len(set(order.tolist())) == 30
    assert (order < 120).all(), f"{agent} chose unmeasured pixels {order[order >= 120]}"
    # every measurement was a real one, so the campaign learned something from each
    assert np.isfinite(values.ravel()[order]).all()
    assert r["n_top1"] == 2  # 1 % of the 120 measured, not of the 400


def test_incomplete_grid_json_counts_and_summary_say_so(tmp_path, capsys):
    data = tmp_path / "stopped.h5"
    write_incomplete_file(data)
    out = tmp_path / "bench.json"
    args = ["benchmark", "--dataset", str(data), "--scalarizer", "band_integral:-0.3:0.3"]
    args += ["--agent", "random", "--budget", "30", "--seeds", "2", "--json", str(out)]
    assert cli_main(args) == 0
    result = json.loads(out.read_text())
    assert (result["candidates"], result["measured"], result["missing"]) == (120, 120, 280)
    printed = capsys.readouterr().out
    assert "grid incomplete: 120 of 400 points measured; agents choose among the measured ones" in (
        printed
    )
    # the budget is checked against the measured pixels
    assert cli_main([*args[:-4], "--budget", "121"]) == 1
    err = capsys.readouterr().err
    assert "budget 121 exceeds the 120 locations measured (280 never were)" in err


def _rounded(obj):
    """``obj`` with every float rounded to 10 digits, nested dicts and lists included."""
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return round(obj, 10) if isinstance(obj, float) else obj


def test_a_complete_grid_gives_the_json_it_gave_before(tmp_path, capsys):
    data = tmp_path / "rec.h5"
    write_file(data, size=12, seed=2)
    result = run_benchmark("band_integral:-0.3:0.3", "random", budget=15, seeds=2, dataset=data)
    # recorded with the harness before incomplete grids were handled
    before = {
        "agent": "random",
        "batch_size": 1,
        "best_found_over_true_max": {
            "median": 0.9419620049153308,
            "per_seed": [0.8839240098306614, 1.0],
        },
        "budget": 15,
        "candidates": 144,
        "failures": {"per_seed": [0, 0], "total": 0},
        "first_seed": 0,
        "patch_size": 3,
        "scalarizer": "band_integral:-0.3:0.3",
        "seeds": 2,
        "steps_to_first_top1": {"median": None, "per_seed": [None, 13]},
        "steps_to_half_top1": {"median": None, "per_seed": [None, 13]},
        "top1_found_auc": {"median": 0.05, "per_seed": [0.0, 0.1]},
        "top1_found_fraction": {"median": 0.25, "per_seed": [0.0, 0.5]},
    }
    new = {k: result.pop(k) for k in ("measured", "missing", "seconds_per_step", "dataset")}
    assert _rounded(result) == _rounded(before)
    assert (new["measured"], new["missing"]) == (144, 0)
    args = ["benchmark", "--dataset", str(data), "--scalarizer", "band_integral:-0.3:0.3"]
    assert cli_main([*args, "--agent", "random", "--budget", "15"]) == 0
    assert "grid incomplete" not in capsys.readouterr().out


def test_an_agent_that_asks_for_an_unmeasured_pixel_is_stopped(tmp_path):
    from autoscope.errors import AutoscopeError
    from autoscope.studies.benchmark import run_seed
    from autoscope.studies.groundtruth import load_recorded, scalar_map

    data = tmp_path / "stopped.h5"
    write_incomplete_file(data)
    truth = load_recorded(data)
    values = scalar_map(truth, "band_integral:-0.3:0.3")
    with pytest.raises(AutoscopeError, match=r"pixel \(row 7, col 3\).*never measured"):
        run_seed(truth, values, lambda *a: _Scripted([5, 7 * 20 + 3]), 2, 0)
    with pytest.raises(ConfigurationError, match="budget 121 exceeds the 120 measured"):
        run_seed(truth, values, lambda *a: _Scripted([]), 121, 0)


def test_a_stopped_3ds_grid_goes_through_conversion_into_the_benchmark(tmp_path, capsys):
    from autoscope.errors import IncompleteGridWarning
    from autoscope.io.grid3ds import grid3ds_to_recorded, read_3ds, write_3ds

    image, spectra, axis = write_file(tmp_path / "src.h5", size=20, seed=4)
    grid = tmp_path / "stopped.3ds"
    write_3ds(
        grid,
        {"LI Demod 1 X": spectra + 1.0},  # no exact zeros
        {"LI Demod 1 X": "V", "Z": "nm"},
        sweep=(-1.0, 1.0),
        size=(10.0, 10.0),
        parameters={"Z": image + 1.0},
        points_written=120,
    )
    with pytest.warns(IncompleteGridWarning, match="declares 400 points, file holds 120"):
        g = read_3ds(grid)
    data = grid3ds_to_recorded(g, tmp_path / "stopped.h5", channel="LI Demod 1 X", overview="Z")
    args = ["benchmark", "--dataset", str(data), "--scalarizer", "band_integral:-0.3:0.3"]
    out = tmp_path / "b.json"
    assert cli_main([*args, "--agent", "gp", "--budget", "20", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["measured"], result["missing"]) == (120, 280)
    assert "grid incomplete: 120 of 400 points measured" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["parent_is_a_file", "the_dataset", "a_hard_link", "a_folder"])
def test_json_path_is_refused_before_any_work(tmp_path, capsys, monkeypatch, case):
    import os

    import autoscope.studies.benchmark as bench

    data = tmp_path / "rec.h5"
    write_file(data)
    before = digest(data)
    out = {
        "parent_is_a_file": data / "bench.json",
        "the_dataset": data,
        "a_hard_link": tmp_path / "link.h5",
        "a_folder": tmp_path,
    }[case]
    if case == "a_hard_link":
        os.link(data, out)

    def no_work(**kwargs):
        raise AssertionError("the benchmark ran before its --json path was checked")

    monkeypatch.setattr(bench, "run_benchmark", no_work)
    args = ["benchmark", "--dataset", str(data), "--scalarizer", "band_integral:-0.3:0.3"]
    rc = cli_main([*args, "--agent", "random", "--budget", "4", "--json", str(out)])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--json {str(out)!r}" in err
    expected = {
        "parent_is_a_file": "is a file, not a folder",
        "the_dataset": "is the input file",
        "a_hard_link": "is the input file",
        "a_folder": "is a folder",
    }[case]
    assert expected in err
    assert digest(data) == before
