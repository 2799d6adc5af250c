"""The task pipeline: worker (discover → claim → fetch → run → store → submit → paid) and
requester (submit → await → fetch result), with retries and crash recovery."""
