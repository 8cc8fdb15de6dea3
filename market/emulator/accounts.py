"""Balances per account with Binance-style ``free`` / ``locked`` funds.

Units: every amount is a :class:`~decimal.Decimal` in whole units of its
asset (``Decimal("1.5")`` ETH), never a float. Arithmetic happens in a
private decimal context with 60 significant digits, so sums of products of
tick-aligned prices and lot-aligned quantities are exact.

Invariants (held after every public method returns):

* ``free >= 0`` and ``locked >= 0`` for every (account, asset);
* conservation: for each asset, ``sum(free + locked over accounts) +
  fees_collected[asset] == deposited[asset] - withdrawn[asset]``: money only
  moves between accounts and the fee pool, nothing is created or lost;
* an operation that would break either invariant raises
  :class:`~market.emulator.errors.InsufficientBalance` and changes nothing.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

from market.emulator.errors import BadParameter, InsufficientBalance

__all__ = ["Balance", "Ledger", "DECIMAL_CONTEXT", "ZERO"]

#: exact arithmetic for balances: 60 digits, errors on inexact results are not trapped
#: because tick x lot products never need more than ~30 digits.
DECIMAL_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Balance:
    """One asset of one account: ``free`` can be spent, ``locked`` backs open orders (asset units)."""

    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


def _amount(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise BadParameter(f"{what} must be a finite Decimal >= 0, got {value!r}")
    return value


class Ledger:
    """All balances of one venue, plus the fees it collected.

    Accounts are plain string ids; an account exists once it holds or held
    any asset. Amounts are Decimal asset units (see the module docstring for
    the invariants).
    """

    def __init__(self) -> None:
        self._free: dict[tuple[str, str], Decimal] = {}
        self._locked: dict[tuple[str, str], Decimal] = {}
        self.fees_collected: dict[str, Decimal] = {}
        self.deposited: dict[str, Decimal] = {}

    # ------------------------------------------------------------- reading
    def free(self, account: str, asset: str) -> Decimal:
        return self._free.get((account, asset), ZERO)

    def locked(self, account: str, asset: str) -> Decimal:
        return self._locked.get((account, asset), ZERO)

    def balance(self, account: str, asset: str) -> Balance:
        return Balance(asset, self.free(account, asset), self.locked(account, asset))

    def balances(self, account: str) -> list[Balance]:
        """Every asset the account has ever held, sorted by asset name."""
        assets = sorted({a for (acc, a) in (*self._free, *self._locked) if acc == account})
        return [self.balance(account, a) for a in assets]

    def accounts(self) -> list[str]:
        return sorted({acc for (acc, _) in (*self._free, *self._locked)})

    def assets(self) -> list[str]:
        return sorted({a for (_, a) in (*self._free, *self._locked)} | set(self.fees_collected))

    def total(self, asset: str) -> Decimal:
        """Everything of ``asset`` on the venue: all accounts' free + locked, plus fees collected."""
        with decimal.localcontext(DECIMAL_CONTEXT):
            held = sum((v for (_, a), v in self._free.items() if a == asset), ZERO)
            held += sum((v for (_, a), v in self._locked.items() if a == asset), ZERO)
            return held + self.fees_collected.get(asset, ZERO)

    # ------------------------------------------------------------- writing
    def deposit(self, account: str, asset: str, amount: Decimal) -> None:
        """Credit ``amount`` to free funds from outside the venue."""
        _amount(amount, "deposit amount")
        with decimal.localcontext(DECIMAL_CONTEXT):
            self._free[(account, asset)] = self.free(account, asset) + amount
            self.deposited[asset] = self.deposited.get(asset, ZERO) + amount

    def lock(self, account: str, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked (an order reserving funds)."""
        _amount(amount, "lock amount")
        free = self.free(account, asset)
        if amount > free:
            raise InsufficientBalance("Account has insufficient balance for requested action.")
        with decimal.localcontext(DECIMAL_CONTEXT):
            self._free[(account, asset)] = free - amount
            self._locked[(account, asset)] = self.locked(account, asset) + amount

    def unlock(self, account: str, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from locked back to free (cancel, expiry, price improvement)."""
        _amount(amount, "unlock amount")
        locked = self.locked(account, asset)
        if amount > locked:
            raise InsufficientBalance(f"unlock of {amount} {asset} exceeds locked {locked} of {account}")
        with decimal.localcontext(DECIMAL_CONTEXT):
            self._locked[(account, asset)] = locked - amount
            self._free[(account, asset)] = self.free(account, asset) + amount

    def settle(self, payer: str, asset: str, amount: Decimal, payee: str) -> None:
        """Pay ``amount`` out of ``payer``'s *locked* funds into ``payee``'s free funds (a fill)."""
        _amount(amount, "settle amount")
        locked = self.locked(payer, asset)
        if amount > locked:
            raise InsufficientBalance(f"settle of {amount} {asset} exceeds locked {locked} of {payer}")
        with decimal.localcontext(DECIMAL_CONTEXT):
            self._locked[(payer, asset)] = locked - amount
            self._free[(payee, asset)] = self.free(payee, asset) + amount

    def charge_fee(self, account: str, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from the account's free funds to the venue's fee pool."""
        _amount(amount, "fee amount")
        free = self.free(account, asset)
        if amount > free:
            raise InsufficientBalance(f"fee of {amount} {asset} exceeds free {free} of {account}")
        with decimal.localcontext(DECIMAL_CONTEXT):
            self._free[(account, asset)] = free - amount
            self.fees_collected[asset] = self.fees_collected.get(asset, ZERO) + amount
