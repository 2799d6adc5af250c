"""Chain layer: OARN contract bindings, AsyncWeb3 client, devnet (anvil) and deployment."""
