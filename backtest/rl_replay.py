"""The fast path of ``rl:<name>`` targets: the exported greedy MLP and :class:`backtest.rl_env.TradingEnv`'s
replay in one numba loop, with the TorchScript module consulted only where its float32 answer is not certain.

Why: :meth:`backtest.rl_policy.RLPolicy.targets` used to call the TorchScript
module once per bar (about 42 µs of torch dispatch per call) and step the
Python environment (about 27 µs): 30 ms for 500 bars, over the signals API's
p99 budget of 10 ms. Here one compiled loop replays the environment's state
(cash, units, target held, entry price; the same float64 operations in the
same order as ``TradingEnv.step`` / ``_fill`` / ``_observation``, so the same
bits) and evaluates the policy's MLP in float64 on the same float32
observation.

**Exactly the module's actions.** Torch computes the MLP in float32; the
float64 evaluation here is not bit-equal to it, so the greedy action is
*certified*: beside each value the loop carries a bound on how far torch's
float32 result can be from the exact one (the standard dot-product rounding
bound ``γ_{n+2} Σ|w x|`` for any summation order, plus the propagated bound
of the inputs through ``|W|``; tanh adds 4 ulp and is 1-Lipschitz, ReLU is
exact; the float64 values here, FMAs and tanh through ``exp`` included, are
within ~1e-15 of exact, far inside the bound's slack), and the action is accepted only when the best logit beats every
other one by more than 4× the sum of their bounds (plus ``1e-6`` of the
largest logit). Otherwise, and for any non-finite observation, the loop
stops at that bar and the caller asks the TorchScript module itself, then
resumes with its answer. So the actions are the module's own, bar for bar;
the module is asked for near-ties only (rare: none in the tests' windows).

**What is recognised** (:func:`extract_mlp`, from the frozen TorchScript
graph; anything else returns None and the caller stays on torch): ``linear``
layers each followed by ``tanh``, ``relu`` or nothing, then either a
``linear`` head and ``argmax(dim=-1)`` (RLlib's PPO module: argmax of the
action logits) or RLlib's dueling DQN head (advantages ``A`` and value ``V``
from the same hidden layer, ``argmax(A - nanmean(A) + V)`` cast to int64),
whose argmax is the advantages' argmax; the two rounding steps of
``A - mean + V`` enter the bound. Torch's float32 matmul precision must be
``"highest"`` (no reduced-precision kernels).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from backtest.engine import _target_units

__all__ = ["MLP", "extract_mlp", "greedy", "logits", "replay", "DONE"]

#: float32 unit roundoff
_U = 2.0 ** -24
#: :func:`replay` returns this when every bar has a target
DONE = -1
_ACTS = {"aten::tanh": 1, "aten::relu": 2}
_OBS_BOUND = 1e3


@dataclass(frozen=True)
class MLP:
    """A greedy MLP policy in float64: layers ``h = act(W h + b)``, the last one the action head.

    ``weights``: per layer ``W`` transposed (``cols x rows``, row-major: the loop runs over contiguous rows) then
    ``b``, layer after layer; ``dims``: the widths, input first; ``acts``: 0 none, 1 tanh, 2 relu per layer (the
    head's 0). The head's first ``n_actions`` rows are the logits (PPO) or advantages (DQN); ``dueling``: one more
    row, the value.
    """

    weights: np.ndarray
    dims: np.ndarray
    acts: np.ndarray
    n_actions: int
    dueling: bool

    @property
    def obs_dim(self) -> int:
        return int(self.dims[0])


def _const(value: Any) -> Any:
    node = value.node()
    if node.kind() != "prim::Constant":
        raise ValueError("not a constant")
    return value.toIValue()


def _tensor(value: Any, torch: Any) -> np.ndarray:
    t = _const(value)
    if not isinstance(t, torch.Tensor) or t.dtype != torch.float32:
        raise ValueError("not a float32 tensor")
    return t.detach().to(torch.float64).numpy().copy()


def extract_mlp(module: Any) -> MLP | None:
    """The MLP of a traced greedy policy (see the module docstring), or None when the graph is anything else."""
    import torch  # noqa: PLC0415 - torch only where a policy is loaded

    if torch.get_float32_matmul_precision() != "highest":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: see backtest.rl_policy._JIT_NOTE
            frozen = torch.jit.freeze(module.eval())  # a clone with the weights as graph constants
        return _extract(frozen.graph, torch)
    except (ValueError, IndexError, RuntimeError, AttributeError, TypeError):
        return None


def _extract(graph: Any, torch: Any) -> MLP:
    inputs = list(graph.inputs())
    nodes = [n for n in graph.nodes() if n.kind() not in ("prim::Constant", "prim::ListConstruct")]
    outputs = list(graph.outputs())
    if len(inputs) != 2 or len(outputs) != 1:
        raise ValueError("not one observation in, one action out")

    def ins(node: Any) -> list[Any]:
        return list(node.inputs())

    cur, i = inputs[1], 0
    layers: list[tuple[np.ndarray, np.ndarray, int]] = []
    while True:
        node = nodes[i]
        if node.kind() != "aten::linear" or ins(node)[0] is not cur:
            raise ValueError(f"unexpected {node.kind()}")
        w, b = _tensor(ins(node)[1], torch), _tensor(ins(node)[2], torch)
        out, nxt = node.output(), nodes[i + 1]
        if nxt.kind() in _ACTS and ins(nxt)[0] is out:
            layers.append((w, b, _ACTS[nxt.kind()]))
            cur, i = nxt.output(), i + 2
        elif nxt.kind() == "aten::linear" and ins(nxt)[0] is out:
            layers.append((w, b, 0))
            cur, i = out, i + 1
        else:
            head_w, head_b, head, i = w, b, out, i + 1
            break
    value_w, value_b = np.zeros(0), np.zeros(0)
    kinds = [n.kind() for n in nodes[i:]]
    if kinds == ["aten::argmax"]:  # PPO: argmax of the logits
        arg = nodes[i]
        if ins(arg)[0] is not head or _const(ins(arg)[1]) != -1 or _const(ins(arg)[2]) is not False:
            raise ValueError("argmax")
        result = arg.output()
    elif kinds == ["aten::linear", "aten::nan_to_num", "aten::nanmean", "aten::sub", "aten::add", "aten::argmax",
                   "aten::size", "aten::ones", "aten::mul", "aten::to"]:  # RLlib's dueling DQN head
        vf, nan, mean, sub, add, arg, _size, _ones, mul, to = nodes[i:]
        value_w, value_b = _tensor(ins(vf)[1], torch), _tensor(ins(vf)[2], torch)
        ok = (ins(vf)[0] is cur and value_w.shape[0] == 1 and ins(nan)[0] is head
              and ins(mean)[0] is nan.output() and _const(ins(mean)[1]) == [-1] and _const(ins(mean)[2]) is True
              and ins(sub)[0] is head and ins(sub)[1] is mean.output() and _const(ins(sub)[2]) == 1
              and ins(add)[0] is sub.output() and ins(add)[1] is vf.output() and _const(ins(add)[2]) == 1
              and ins(arg)[0] is add.output() and _const(ins(arg)[1]) == -1 and _const(ins(arg)[2]) is False
              and arg.output() in ins(mul) and ins(to)[0] is mul.output()
              and _const(ins(to)[1]) == 4)  # int64
        if not ok:
            raise ValueError("not RLlib's dueling head")
        value_w = value_w.reshape(-1)
        result = to.output()
    else:
        raise ValueError(f"unexpected head {kinds}")
    if outputs[0] is not result:
        raise ValueError("output")
    n_actions = int(head_w.shape[0]) if head_w.ndim == 2 else 0
    if value_w.size:
        head_w, head_b = np.vstack([head_w, value_w.reshape(1, -1)]), np.concatenate([head_b, value_b])
    layers.append((head_w, head_b, 0))
    dims = [layers[0][0].shape[1]]
    for w, b, _ in layers:
        if w.ndim != 2 or w.shape[1] != dims[-1] or b.shape != (w.shape[0],) or w.shape[0] < 1:
            raise ValueError("shapes")
        dims.append(w.shape[0])
    if n_actions < 1 or (value_w.size and value_b.shape != (1,)):
        raise ValueError("head shapes")
    packed = np.concatenate([np.concatenate([w.T.ravel(), b]) for w, b, _ in layers])
    if not np.all(np.abs(packed) < 1e30):  # NaN, inf or absurd weights: the bounds would say nothing
        raise ValueError("weights")
    return MLP(weights=np.ascontiguousarray(packed), dims=np.asarray(dims, dtype=np.int64),
               acts=np.asarray([a for _, _, a in layers], dtype=np.int64), n_actions=n_actions,
               dueling=bool(value_w.size))


@njit(cache=True, fastmath={"contract"})  # FMAs: the float64 values only get closer to exact (env code: no flags)
def _dense(x, ex, w, k, rows, cols, act, y, ey, z):
    """``y = act(W x + b)`` (``W`` transposed at ``w[k:]``, then ``b``) and ``ey``: bounds on how far torch's float32
    value can be from the exact one, given inputs within ``ex`` of theirs (``z``: scratch).

    The bound is ``Σ|w| ex + γ (|b| + Σ|w x|)`` with ``γ = γ_{cols+2}``, accumulated as ``Σ|w| (ex + γ|x|)``.
    """
    g = (cols + 2) * _U / (1.0 - (cols + 2) * _U)
    bias = w[k + rows * cols: k + rows * cols + rows]
    for j in range(cols):
        z[j] = ex[j] + g * abs(x[j])
    for r in range(rows):
        y[r] = bias[r]
        ey[r] = g * abs(bias[r])
    for j in range(cols):
        xj = x[j]
        zj = z[j]
        col = w[k + j * rows: k + (j + 1) * rows]
        for r in range(rows):  # contiguous in r: vectorisable, and each y[r] keeps one summation order
            y[r] += col[r] * xj
            ey[r] += abs(col[r]) * zj
    for r in range(rows):
        if act == 1:  # tanh through exp (faster than libm's tanh; within 1e-15 absolute of it)
            e = math.exp(-2.0 * abs(y[r]))
            t = (1.0 - e) / (1.0 + e)
            y[r] = t if y[r] >= 0.0 else -t
            ey[r] += 4.0 * _U * abs(y[r]) + 1e-15
        elif act == 2:
            y[r] = max(y[r], 0.0)


@njit(cache=True)
def _greedy(obs, weights, dims, acts, n_actions, dueling, xa, ea, xb, eb, mag):
    """The certified greedy action of the MLP on a float32 observation, or -1 when torch must decide
    (``xa`` .. ``mag``: scratch vectors at least as wide as the widest layer)."""
    for j in range(dims[0]):
        v = float(obs[j])
        if not math.isfinite(v):
            return -1
        xa[j] = v
        ea[j] = 0.0
    k = 0
    for layer in range(acts.shape[0]):
        rows, cols = dims[layer + 1], dims[layer]
        _dense(xa, ea, weights, k, rows, cols, acts[layer], xb, eb, mag)
        k += rows * cols + rows
        xa, xb = xb, xa
        ea, eb = eb, ea
    q, eq, na = xa, ea, n_actions
    best = 0
    top = abs(q[0])
    for a in range(1, na):
        if q[a] > q[best]:
            best = a
        top = max(top, abs(q[a]))
    if not math.isfinite(q[best]):
        return -1
    for a in range(na):
        mag[a] = eq[a]
    if dueling:  # A - mean(A) + V: two more float32 roundings per logit (operands within their bounds)
        v, ev = q[na], eq[na]
        m = 0.0
        em = 0.0
        for a in range(na):
            m += q[a]
            em = max(em, eq[a])
        m /= na
        for a in range(na):
            mag[a] += 2.0 * _U * (abs(q[a] - m) + abs(q[a] - m + v) + 2.0 * (eq[a] + em) + ev)
    for a in range(na):
        if a != best and q[best] - q[a] <= 4.0 * (mag[best] + mag[a]) + 1e-6 * top:
            return -1
    return best


def _scratch(mlp: MLP) -> tuple[np.ndarray, ...]:
    width = int(mlp.dims.max())
    return tuple(np.zeros(width) for _ in range(5))


def logits(mlp: MLP, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head's outputs (logits or advantages, then the value when dueling) in float64 on one float32
    observation, and their bounds: torch's float32 outputs lie within ``bound`` of ``value``."""
    x = np.asarray(obs, dtype=np.float32).astype(np.float64)
    xa, ea, xb, eb, mag = _scratch(mlp)
    xa[: x.size], ea[:] = x, 0.0
    k = 0
    for layer in range(mlp.acts.shape[0]):
        rows, cols = int(mlp.dims[layer + 1]), int(mlp.dims[layer])
        _dense(xa, ea, mlp.weights, k, rows, cols, int(mlp.acts[layer]), xb, eb, mag)
        k += rows * cols + rows
        xa, xb, ea, eb = xb, xa, eb, ea
    rows = int(mlp.dims[-1])
    return xa[:rows].copy(), ea[:rows].copy()


def greedy(mlp: MLP, obs: np.ndarray) -> int:
    """The certified greedy action for one observation (float32), or -1 where only torch can say."""
    return int(_greedy(np.asarray(obs, dtype=np.float32), mlp.weights, mlp.dims, mlp.acts, mlp.n_actions,
                       mlp.dueling, *_scratch(mlp)))


@njit(cache=True)
def _replay(feat, open_, close, levels, fee, slip, t, state, forced, out, obs,
            weights, dims, acts, n_actions, dueling, xa, ea, xb, eb, mag):
    n = close.shape[0]
    nf = feat.shape[1]
    cash, units, held, entry = state[0], state[1], state[2], state[3]
    while True:
        # TradingEnv._observation
        for j in range(nf):
            obs[j] = feat[t, j]
        obs[nf] = held
        if units != 0.0:
            upnl = (close[t] / entry - 1.0) * (1.0 if units > 0.0 else -1.0)
        else:
            upnl = 0.0
        obs[nf + 1] = min(max(upnl, -_OBS_BOUND), _OBS_BOUND)
        if forced >= 0:
            a = forced
            forced = -1
        else:
            a = _greedy(obs, weights, dims, acts, n_actions, dueling, xa, ea, xb, eb, mag)
            if a < 0:
                state[0], state[1], state[2], state[3] = cash, units, held, entry
                return t
        w = levels[a]
        out[t] = w
        if t >= n - 1:
            return DONE
        # TradingEnv.step / _fill
        t1 = t + 1
        ruined = False
        if w != held:
            ref = open_[t1]
            held = w
            if cash + units * ref <= 0.0:
                ruined = True
            else:
                naive = _target_units(units, cash, w, ref, fee)
                direction = naive - units
                if direction != 0.0:
                    price = ref * (1.0 + slip) if direction > 0 else ref * (1.0 - slip)
                    new_units = _target_units(units, cash, w, price, fee) if slip else naive
                    delta = new_units - units
                    if not (delta == 0.0 or (delta > 0.0) != (direction > 0.0)):
                        notional = abs(delta) * price
                        fee_paid = notional * fee
                        new_cash = cash + (-(delta * price) - fee_paid)
                        eq_after = new_cash + new_units * price
                        if new_cash != 0.0 and abs(new_cash) <= 1e-12 * abs(eq_after):
                            new_cash = 0.0
                        if new_units == 0.0:
                            entry = 0.0
                        elif units == 0.0 or (new_units > 0.0) != (units > 0.0):
                            entry = price
                        elif abs(new_units) > abs(units):
                            entry = (entry * abs(units) + price * abs(delta)) / abs(new_units)
                        units, cash = new_units, new_cash
        eq = cash + units * close[t1]
        if eq <= 0.0:
            ruined = True
        t = t1
        if ruined:  # terminated: the position stays as the last target
            for k in range(t, n):
                out[k] = out[t - 1]
            return DONE


def replay(mlp: MLP, feat: np.ndarray, open_: np.ndarray, close: np.ndarray, levels: np.ndarray, fee: float,
           slip: float, start: int, torch_act: Any) -> np.ndarray:
    """Targets per bar (0.0 before ``start``) of the greedy policy played from flat at ``start`` through
    TradingEnv's fills: ``feat`` its float32 market features, ``levels`` the target of each action index.
    ``torch_act(obs)`` answers the bars the MLP cannot certify. Equal to ``RLPolicy.targets_torch``."""
    n = close.shape[0]
    out = np.zeros(n, dtype=np.float64)
    obs = np.zeros(feat.shape[1] + 2, dtype=np.float32)
    state = np.array([1.0, 0.0, 0.0, 0.0])  # cash, units, target held, entry price
    t, forced = start, -1
    scratch = _scratch(mlp)
    while True:
        t = _replay(feat, open_, close, levels, fee, slip, t, state, forced, out, obs, mlp.weights, mlp.dims,
                    mlp.acts, mlp.n_actions, mlp.dueling, *scratch)
        if t == DONE:
            return out
        forced = int(torch_act(obs))
        if not (0 <= forced < levels.shape[0]):
            raise ValueError(f"policy: action {forced} outside 0..{levels.shape[0] - 1}")
