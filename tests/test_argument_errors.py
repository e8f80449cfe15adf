"""Every bad argument is reported by a ValueError or TypeError whose one-line message names the
argument (issue 14, items 2 and 6). The rules live in hotalign._validation."""

import json

import numpy as np
import pytest

import hotalign
from hotalign import HOT, TrajectoryHOT, ZScore, datasets, evaluate, plotting, solve_grid
from hotalign._validation import MAX_THREADS
from hotalign.engine import solve_pairs
from hotalign.io import select_layers
from hotalign.rotation import align_pair


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((30, 4)), rng.standard_normal((30, 5))]
    Y = [rng.standard_normal((30, 3))]
    return X, Y, HOT().fit(X, Y)


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg.strip() and len(msg) < 400, msg
    return msg


# -- the cases named in the issue ------------------------------------------------------------

def test_ragged_lists_are_named(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match=r"X\[0\] is a ragged nested sequence") as e:
        HOT().fit([[[1.0, 2.0], [3.0]], X[1]], Y)
    assert "inhomogeneous" not in _one_line(e)
    with pytest.raises(ValueError, match=r"^X is a ragged nested sequence"):
        hotalign.correlation_cost([[1.0, 2.0], [3.0]], X[0])
    with pytest.raises(ValueError, match=r"^M is a ragged"):
        hotalign.solve_transport([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"^a is a ragged"):
        hotalign.emd([[1.0], [1.0, 2.0]], [], np.ones((2, 2)))


@pytest.mark.parametrize("n_threads", [2**31, 2**64, MAX_THREADS + 1])
def test_huge_thread_counts_are_named(data, n_threads):
    X, Y, _ = data
    for fit in (lambda: HOT(n_threads=n_threads).fit(X, Y),
                lambda: solve_grid(X, Y, n_threads=n_threads),
                lambda: TrajectoryHOT(n_threads=n_threads).fit([X], [Y])):
        with pytest.raises(ValueError, match=rf"^n_threads must be <= {MAX_THREADS}") as e:
            fit()
        _one_line(e)
    Z = [np.ascontiguousarray(hotalign.zscore(A)) for A in X]
    with pytest.raises(ValueError, match=rf"^n_threads must be <= {MAX_THREADS}") as e:
        solve_pairs(Z, Z, n_threads=n_threads)
    _one_line(e)


@pytest.mark.parametrize("system", ["abc", {"a": np.ones((5, 2))}, {np.ones(2).tobytes()},
                                    b"xyz", 3, np.ones(4), np.float64(2.0)])
def test_non_list_systems_are_named(data, system):
    X, Y, _ = data
    with pytest.raises(ValueError, match=r"^X must be a list of layers") as e:
        HOT().fit(system, Y)
    assert "dtype" not in _one_line(e)
    with pytest.raises(ValueError, match=r"^Y must be a list of layers"):
        solve_grid(X, system)
    with pytest.raises(ValueError, match=r"^A must be a list of checkpoints"):
        TrajectoryHOT().fit(system, [Y])


def test_methods_must_be_a_list_of_names(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match=r"methods must be a list of methods, not a single "
                                         r"string: use \['hot'\]") as e:
        evaluate(X, Y, methods="hot")
    assert "'h'" not in _one_line(e)
    with pytest.raises(ValueError, match=r"methods: unknown method 3"):
        evaluate(X, Y, methods=[3])
    with pytest.raises(ValueError, match=r"methods must be a list of methods, got a dict"):
        evaluate(X, Y, methods={"hot": 1})
    ev = evaluate(X, Y, methods=("hot", "perm_p"), n_splits=2)  # any sequence of names
    assert ev.methods == ("hot", "perm_p")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"random_state": "seed"}, r"^random_state must be None, an integer >= 0"),
    ({"random_state": -1}, r"^random_state must be >= 0"),
    ({"random_state": 1.5}, r"^random_state must be"),
    ({"random_state": True}, r"^random_state must be"),
    ({"progress": 3}, r"^progress must be a callable or None, got 3"),
    ({"progress": "bar"}, r"^progress must be a callable"),
    ({"estimator": 3}, r"^estimator must be a hotalign.HOT instance"),
    ({"estimator": TrajectoryHOT()}, r"^estimator must be a hotalign.HOT instance"),
    ({"test_size": np.ones(3)}, r"^test_size must be a real number"),
    ({"test_size": 1.0}, r"^test_size must be < 1.0"),
])
def test_evaluate_arguments(data, kwargs, match):
    X, Y, _ = data
    with pytest.raises(ValueError, match=match) as e:
        evaluate(X, Y, n_splits=2, **kwargs)
    _one_line(e)


def test_evaluate_accepts_generators_and_callables(data):
    X, Y, _ = data
    seen = []
    a = evaluate(X, Y, n_splits=2, random_state=np.random.default_rng(7),
                 progress=lambda done, total: seen.append((done, total)))
    b = evaluate(X, Y, n_splits=2, random_state=np.random.default_rng(7))
    assert seen == [(1, 2), (2, 2)]
    np.testing.assert_array_equal(a.split_scores["hot"], b.split_scores["hot"])
    assert "Generator" in json.loads(a.to_json())["evaluation"]["random_state"]
    c = evaluate(X, Y, n_splits=2, random_state=np.int64(3))
    assert json.loads(c.to_json())["evaluation"]["random_state"] == 3


# -- masked arrays ---------------------------------------------------------------------------

def test_masked_arrays_are_refused(data):
    X, Y, hot = data
    masked = np.ma.masked_array(X[0], mask=X[0] > 1)
    cases = [
        (lambda: HOT().fit([masked, X[1]], Y), r"^X\[0\] is a numpy.ma masked array"),
        (lambda: hotalign.correlation_cost(X[0], masked), r"^Y is a numpy.ma masked array"),
        (lambda: hotalign.zscore(masked), r"^X_train is a numpy.ma masked array"),
        (lambda: ZScore().fit(X[0]).transform(masked), r"^X is a numpy.ma masked array"),
        (lambda: hot.score(X, [np.ma.masked_array(Y[0])]), r"^Y\[0\] is a numpy.ma masked"),
        (lambda: hotalign.solve_transport(np.ma.masked_array(np.ones((3, 3)))),
         r"^M is a numpy.ma masked array"),
        (lambda: hotalign.emd(np.ma.masked_array(np.ones(3) / 3), [], np.ones((3, 3))),
         r"^a is a numpy.ma masked array"),
        (lambda: hot.predict(Y, layer_weights=np.ma.masked_array(np.ones((2, 1)))),
         r"^layer_weights is a numpy.ma masked array"),
    ]
    for call, match in cases:
        with pytest.raises(TypeError, match=match) as e:
            call()
        assert "mask" in _one_line(e)


# -- predict's layer weights -----------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predict_refuses_non_finite_layer_weights(data, bad):
    _, Y, hot = data
    w = np.ones((2, 1))
    w[1, 0] = bad
    with pytest.raises(ValueError, match=r"^layer_weights contains NaN or infinity"):
        hot.predict(Y, layer_weights=w)
    with pytest.raises(ValueError, match=r"^layer_weights contains NaN or infinity"):
        hot.layer_scores(data[0], Y, layer_weights=w)


def test_predict_layer_weights_type_and_shape(data):
    _, Y, hot = data
    with pytest.raises(ValueError, match=r"^layer_weights must be a real numeric array"):
        hot.predict(Y, layer_weights=np.array([["a"], ["b"]]))
    with pytest.raises(ValueError, match=r"^layer_weights must have shape \(2, 1\)"):
        hot.predict(Y, layer_weights=np.ones((1, 2)))
    np.testing.assert_array_equal(hot.predict(Y, layer_weights=[[1], [0]])[0],
                                  hot.predict(Y, layer_weights=np.array([[1.0], [0.0]]))[0])


# -- other arguments found by the sweep below ------------------------------------------------

def test_other_arguments(data):
    X, Y, hot = data
    ev = evaluate(X, Y, n_splits=2)
    r = hotalign.solve_transport(np.ones((3, 3)))
    cases = [
        (lambda: ZScore().fit(X[0]).transform(X[0], columns=[0, 9]), r"^columns must be column "
                                                                     r"indices in \[0, 4\)"),
        (lambda: ZScore().fit(X[0]).transform(X[0], columns=[0.5]), r"^columns must be a 1-D"),
        (lambda: ZScore().fit(X[0]).transform(X[0], columns=5), r"^columns must be a 1-D"),
        (lambda: ev.mean("best"), r"^method must be one of"),
        (lambda: ev.std(None), r"^method must be one of"),
        (lambda: r.to_dense("abc"), r"^dtype must be a floating-point dtype"),
        (lambda: r.to_dense(np.int64), r"^dtype must be a floating-point dtype"),
        (lambda: solve_grid(X, Y, progress=3), r"^progress must be a callable"),
        (lambda: solve_grid(X, Y, keep_plans=np.ones(2)), r"^keep_plans must be True or False"),
        (lambda: solve_grid(X, Y, constant_units=np.ones((2, 2))),
         r"^constant_units must be one of"),
        (lambda: hot.layer_scores(X, Y, return_counts="yes"), r"^return_counts must be True"),
        (lambda: HOT(tol=float("inf")).fit(X, Y), r"^tol must be a finite"),
        (lambda: HOT(rotation=np.ones((3, 3))).fit(X, Y), r"^rotation must be True or False"),
        (lambda: HOT(rotation=True, max_rounds=2**70).fit(X, Y), r"^max_rounds must be <= "),
        (lambda: align_pair(X[0], X[0], max_rounds=2**70), r"^max_rounds must be <= "),
        (lambda: hotalign.solve_transport(np.ones((3, 3)), max_iter=2**64),
         r"^max_iter must be <= "),
        (lambda: datasets.make_hierarchy(50, (4, "a"), (4,)), r"^x_widths\[1\] must be an "
                                                                r"integer"),
        (lambda: datasets.make_hierarchy(50, {"a": 4}, (4,)), r"^x_widths must be a list"),
        (lambda: datasets.make_hierarchy(50, np.array([4, 0]), (4,)),
         r"^x_widths\[1\] must be >= 1"),
        (lambda: datasets.make_hierarchy(50, (4,), (4,), noise=-1), r"^noise must be >= 0"),
        (lambda: datasets.make_hierarchy(50, (4,), (4,), random_state="x"), r"^random_state"),
        (lambda: datasets.make_activation_pair(50, 0), r"^n_units must be >= 1"),
        (lambda: datasets.make_activation_pair(50, 4, n_latent=0), r"^n_latent must be >= 1"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match) as e:
            call()
        _one_line(e)


BAD_VALUES = {"none": None, "str": "abc", "neg": -1, "zero": 0, "float": 1.5,
              "nan": float("nan"), "inf": float("inf"), "bool": True, "list": [1, 2],
              "dict": {"a": 1}, "ragged": [[1, 2], [3]], "arr2d": np.ones((3, 3)),
              "obj": object(), "complex": 1j, "empty": [], "strarr": np.array([["a"]]),
              "arr3d": np.ones((2, 2, 2)),
              "masked": np.ma.masked_array(np.ones((3, 3)), mask=np.eye(3))}


def _entry_points(X, Y, hot, ev):
    """(label, argument name, call taking the bad value)."""
    out = []
    for p in ("rotation", "max_rounds", "tol", "constant_units", "n_threads", "dtype",
              "max_layers_in_memory"):
        out.append((f"HOT({p})", p, lambda v, p=p: HOT(**{p: v}).fit(X, Y)))
    out += [("fit X", "X", lambda v: HOT().fit(v, Y)),
            ("fit X[0]", "X[0]", lambda v: HOT().fit([v, X[1]], Y)),
            ("fit Y", "Y", lambda v: HOT().fit(X, v)),
            ("predict Y", "Y", lambda v: hot.predict(v)),
            ("predict layer_weights", "layer_weights",
             lambda v: hot.predict(Y, layer_weights=v)),
            ("layer_scores X", "X", lambda v: hot.layer_scores(v, Y)),
            ("layer_scores return_counts", "return_counts",
             lambda v: hot.layer_scores(X, Y, return_counts=v))]
    for p in ("methods", "n_splits", "test_size", "random_state", "estimator", "progress"):
        out.append((f"evaluate({p})", p, lambda v, p=p: evaluate(X, Y, n_splits=2, **{p: v})))
    for p in ("a", "b", "n_threads", "dtype", "keep_plans", "constant_units", "progress"):
        out.append((f"solve_grid({p})", p, lambda v, p=p: solve_grid(X, Y, **{p: v})))
    out += [("correlation_cost X", "X", lambda v: hotalign.correlation_cost(v, X[0])),
            ("correlation_cost dtype", "dtype",
             lambda v: hotalign.correlation_cost(X[0], X[0], dtype=v)),
            ("correlation_cost out", "out", lambda v: hotalign.correlation_cost(X[0], X[0],
                                                                                out=v)),
            ("zscore X_train", "X_train", lambda v: hotalign.zscore(v)),
            ("zscore X_test", "X_test", lambda v: hotalign.zscore(X[0], v)),
            ("transform columns", "columns",
             lambda v: ZScore().fit(X[0]).transform(X[0], columns=v))]
    for p in ("constant_units", "n_threads", "dtype"):
        out.append((f"TrajectoryHOT({p})", p,
                    lambda v, p=p: TrajectoryHOT(**{p: v}).fit([X], [Y])))
    out.append(("TrajectoryHOT A", "A", lambda v: TrajectoryHOT().fit(v, [Y])))
    for p in ("x_widths", "y_widths", "n_latent", "noise", "n_heavy_tailed", "random_state"):
        kw = {"n_stimuli": 50, "x_widths": (4, 4), "y_widths": (4,)}
        out.append((f"make_hierarchy({p})", p,
                    lambda v, p=p, kw=kw: datasets.make_hierarchy(**{**kw, p: v})))
    for p in ("n_stimuli", "n_units", "m_units", "n_latent", "noise", "random_state"):
        kw = {"n_stimuli": 50, "n_units": 4}
        out.append((f"make_activation_pair({p})", p,
                    lambda v, p=p, kw=kw: datasets.make_activation_pair(**{**kw, p: v})))
    P = np.eye(2) / 2
    out += [("plot_layer_plan P", "P", lambda v: plotting.plot_layer_plan(v)),
            ("plot_layer_plan x_names", "x_names", lambda v: plotting.plot_layer_plan(P, v)),
            ("plot_layer_costs C", "C", lambda v: plotting.plot_layer_costs(v)),
            ("plot_layer_scores", "layer_scores", lambda v: plotting.plot_layer_scores(v)),
            ("plot_checkpoint_coupling", "coupling",
             lambda v: plotting.plot_checkpoint_coupling(P, v)),
            ("plot_unit_plan", "plan", lambda v: plotting.plot_unit_plan(v)),
            ("select_layers", "layers", lambda v: select_layers(["a", "b"], v)),
            ("align_pair X", "X", lambda v: align_pair(v, X[0])),
            ("align_pair max_rounds", "max_rounds", lambda v: align_pair(X[0], X[0],
                                                                         max_rounds=v)),
            ("align_pair tol", "tol", lambda v: align_pair(X[0], X[0], max_rounds=2, tol=v))]
    out += [("Evaluation.mean", "method", lambda v: ev.mean(v)),
            ("TransportResult.to_dense", "dtype",
             lambda v: hotalign.solve_transport(np.ones((2, 2))).to_dense(v))]
    return out


def test_plotting_and_io_arguments(data):
    X, _, _ = data
    P = np.eye(2) / 2
    cases = [
        (lambda: plotting.plot_layer_plan(P, ["a"]), r"^x_names must have 2 labels, got 1"),
        (lambda: plotting.plot_layer_plan(np.ones(3)), r"^P must be a non-empty 2-D array"),
        (lambda: plotting.plot_layer_scores({"hot": [0.1, 0.2]}, errors={"x": [0, 0]}),
         r"^errors has no entry for \['hot'\]"),
        (lambda: plotting.plot_layer_scores({"hot": [0.1, 0.2], "perm_p": [0.1]}),
         r"^layer_scores\['perm_p'\] must have 2 values, got 1"),
        (lambda: plotting.plot_checkpoint_coupling(P, np.ones((2, 3))),
         r"^coupling must have the shape of D"),
        (lambda: plotting.save(plotting.plot_layer_plan(P), "fig", ["gif"]),
         r"^figure format must be one of"),
        (lambda: select_layers(["a", "b"], [0, 1.5]), r"layers: 1.5 is not a layer name"),
        (lambda: align_pair(X[0], X[1][:20]), r"^X and Y must have the same rows"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match) as e:
            call()
        _one_line(e)
    assert select_layers(["a", "b"], np.array([1, 0])) == [1, 0]


def test_every_bad_value_is_reported_naming_its_argument(data):
    """A sweep: each entry point x each kind of bad value either works (the value is valid
    there, e.g. None for an optional argument) or raises ValueError/TypeError with a one-line
    message naming the argument -- never numpy's or pybind11's own message."""
    X, Y, hot = data
    ev = evaluate(X, Y, n_splits=2)
    unnamed = []
    for label, name, call in _entry_points(X, Y, hot, ev):
        for kind, value in BAD_VALUES.items():
            try:
                call(value)
            except (ValueError, TypeError) as exc:
                msg = str(exc)
                if name not in msg or "\n" in msg.strip() or len(msg) > 400:
                    unnamed.append((label, kind, msg[:120]))
    assert unnamed == []


def test_load_system_refuses_masked_and_ragged_layers():
    from hotalign.io import InputError, load_system

    with pytest.raises(InputError, match=r"^input: layer 'layer_0' is a numpy.ma masked array"):
        load_system([np.ma.masked_array(np.ones((3, 2)))])
    with pytest.raises(InputError, match=r"^X: layer 'a' is a ragged nested sequence"):
        load_system({"a": [[1.0, 2.0], [3.0]]}, name="X")
    with pytest.raises(InputError, match=r"^input: stimulus_ids is a numpy.ma masked array"):
        load_system({"stimulus_ids": np.ma.masked_array([1, 2]), "a": np.ones((2, 2))})
