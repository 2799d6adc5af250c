"""What every layer shares: the service contract, the event bus, the task ledger and the peer
book (the node's state in SQLite). Imports nothing above `config`; never imports Textual."""
