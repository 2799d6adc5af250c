"""`WalletFace`: what other services use of the wallet service (the keys, while unlocked)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.wallet.signer import LocalSigner
    from oarn_tui.wallet.unlock import UnlockedWallet


class WalletFace(Protocol):
    """The unlocked wallet (None while missing or locked) and its transaction signer."""

    @property
    def unlocked(self) -> UnlockedWallet | None: ...

    @property
    def signer(self) -> LocalSigner | None: ...
