"""The pure CPU-sizing rules of jobs.resources (no Ray): trials and tasks fit in the *free* CPUs, and the
message that names what holds them."""

from __future__ import annotations

import pytest

from jobs.resources import (MIN_CPUS, Holder, NodeCpus, ResourcesUnavailableError, floor_cpus, holder_label,
                            kernel_threads, size_tasks,
                            size_trials, unavailable_message)
from raytrader.errors import InputError

TWO = NodeCpus("a", total=2.0, free=2.0)
SERVED = NodeCpus("a", total=2.0, free=1.75)  # a Serve replica holds 0.25 (the default serve.replica_cpus)
FULL = NodeCpus("a", total=2.0, free=0.0)


def test_a_default_trial_takes_the_free_cpus_not_the_node_total() -> None:
    # the bug: the default trial asked for both CPUs while a Serve replica held 0.25, and never started
    sized = size_trials([SERVED], whole_node=True)
    assert sized is not None
    assert sized.trial_cpus == 1.75 and sized.trial_cpus <= SERVED.free
    assert sized.threads == 2 and sized.concurrent == 1
    assert size_trials([TWO], whole_node=True).trial_cpus == 2.0


def test_small_trials_split_the_free_cpus_evenly_and_all_fit() -> None:
    sized = size_trials([SERVED], whole_node=False)
    assert sized.trial_cpus == 0.87 and sized.concurrent == 2 and sized.threads == 1
    assert sized.trial_cpus * sized.concurrent <= SERVED.free
    sized = size_trials([TWO], whole_node=False)
    assert (sized.trial_cpus, sized.concurrent) == (1.0, 2)
    tiny = size_trials([NodeCpus("a", 2.0, 0.3)], whole_node=False)
    assert (tiny.trial_cpus, tiny.concurrent, tiny.threads) == (0.3, 1, 1)


def test_an_explicit_request_fits_only_where_that_much_is_free() -> None:
    assert size_trials([SERVED], requested=2.0) is None
    assert size_trials([SERVED], requested=0.5).concurrent == 3
    two_nodes = [NodeCpus("a", 4.0, 1.0), NodeCpus("b", 4.0, 3.5)]
    assert size_trials(two_nodes, requested=1.0).concurrent == 1 + 3
    assert size_trials(two_nodes, requested=2.0).concurrent == 1  # one CPU on "a" does not hold a 2-CPU trial


def test_nothing_free_sizes_nothing() -> None:
    assert size_trials([FULL], whole_node=True) is None
    assert size_trials([NodeCpus("a", 2.0, MIN_CPUS / 2)], whole_node=False) is None
    assert size_tasks([FULL], 0.5) is None
    assert size_trials([], whole_node=True) is None


def test_tasks_shrink_to_what_is_free() -> None:
    assert size_tasks([TWO], 0.5) == 0.5
    assert size_tasks([NodeCpus("a", 2.0, 0.3)], 0.5) == 0.3
    assert size_tasks([NodeCpus("a", 2.0, 0.75)], 1.0) == 0.75


@pytest.mark.parametrize(("cpus", "threads"), [(0.3, 1), (0.5, 1), (1.0, 1), (1.49, 1), (1.5, 2), (1.75, 2), (2.0, 2)])
def test_kernel_threads_round_the_cpus(cpus: float, threads: int) -> None:
    assert kernel_threads(cpus) == threads


def test_floor_cpus_rounds_down_to_a_hundredth() -> None:
    assert floor_cpus(1.7549) == 1.75 and floor_cpus(0.999) == 0.99 and floor_cpus(-0.1) == 0.0
    assert floor_cpus(0.875) == 0.87


def test_the_message_names_the_holders_largest_first() -> None:
    holders = [Holder("Serve replica raytrader-api/SignalsIngress", 0.25, "job 01000000"),
               Holder("actor cpu-hog", 1.75, "job 06000000: python hog.py")]
    text = unavailable_message("sweep: a Ray Tune trial", 1.0, [FULL], holders, waited_s=10)
    assert text.index("actor cpu-hog (1.75 CPUs, job 06000000: python hog.py)") < text.index("Serve replica")
    assert "0 of 2 are free after waiting 10 s" in text and "1 free CPU(s) on one node" in text
    assert "\n" not in text
    many = [Holder(f"task t{i}", 0.1) for i in range(9)]
    assert "and 3 more" in unavailable_message("x", 1.0, [FULL], many)
    assert "no holder found" in unavailable_message("x", 1.0, [FULL], [])


def test_a_request_larger_than_any_node_says_so() -> None:
    text = unavailable_message("sweep: a Ray Tune trial", 4.0, [TWO], [Holder("actor x", 1.0)])
    assert "needs 4 CPU(s) on one node but the largest node has 2" in text and "actor x" not in text


def test_holder_labels_are_for_people() -> None:
    assert holder_label("ServeReplica:raytrader-api:SignalsIngress", "SERVE_REPLICA::x") == \
        "Serve replica raytrader-api/SignalsIngress"
    assert holder_label("ImplicitFunc", None) == "Ray Tune trial"
    assert holder_label("Hog", "cpu-hog") == "actor cpu-hog"
    assert holder_label("Hog", None) == "actor Hog"


def test_the_error_is_an_input_error_so_the_cli_exits_2() -> None:
    assert issubclass(ResourcesUnavailableError, InputError)


class _Probe:
    """Scripted answers of the own-work probe, and a clock the test moves (seconds)."""

    def __init__(self, answers: list[frozenset[str] | None]) -> None:
        self.answers, self.now = list(answers), 0.0

    def __call__(self) -> frozenset[str] | None:
        return self.answers.pop(0)

    def clock(self) -> float:
        return self.now


def test_own_work_excuses_a_wait_while_it_changes_and_stops_when_it_stands_still() -> None:
    from jobs.resources import OwnWork

    a, b = frozenset({"task 1"}), frozenset({"task 2"})
    probe = _Probe([a, a, b, b, b])
    own = OwnWork(probe, stall_s=100.0, clock=probe.clock)
    assert own.excuses(unknown=False)  # placed work: it will free the CPUs
    probe.now = 99.0
    assert own.excuses(unknown=False)  # unchanged, still within the stall window
    probe.now = 150.0
    assert own.excuses(unknown=False)  # task 1 ended, task 2 started: progress, the window starts again
    probe.now = 249.0
    assert own.excuses(unknown=False)
    probe.now = 250.0
    assert not own.excuses(unknown=False)  # task 2 "running" for 100 s unchanged: a lost end event or a leak


def test_own_work_that_is_none_or_unknown() -> None:
    from jobs.resources import OwnWork

    probe = _Probe([frozenset(), None, None, None])
    own = OwnWork(probe, stall_s=10.0, clock=probe.clock)
    assert not own.excuses(unknown=True)  # nothing of this job is placed
    assert own.excuses(unknown=True) and not own.excuses(unknown=False)  # the state API did not answer
    probe.now = 10.0
    assert not own.excuses(unknown=True)  # an unanswered probe is no change: bounded too
