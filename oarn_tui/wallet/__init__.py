"""Wallet and node identity: keys, vault, keyring and unlock (see each module's docstring).

* `signer`        – the `Signer` protocol and `LocalSigner`; the only holders of the account key.
* `identity`      – Ethereum account, Ed25519 libp2p key (SLIP-0010 from the mnemonic), peer ID,
                    and the EIP-191 account ↔ peer-ID binding (`verify_binding`).
* `vault`         – the encrypted file format (Argon2id + AES-256-GCM, authenticated header).
* `operations`    – create / import / export / change passphrase.
* `keyring_store` – the unlock secret in a real OS keyring, never a fallback backend.
* `unlock`        – passphrase sources and `unlock_signer(...) -> UnlockedWallet`.
* `service`       – `WalletService` for the node runtime.

Heavy libraries (eth-account, libp2p, argon2, cryptography) are imported inside functions so
importing this package stays cheap.
"""
