"""Built-in optimizers: scipy methods, Q2MM's grad-simp cycle, multi-start.

Every one implements :class:`q2mm.protocols.Optimizer` and shares the conventions of
:mod:`q2mm.optimizers.tracking` (scaled coordinates; statuses converged / stopped /
failed). Records are in :mod:`q2mm.optimizers.catalog`; nothing heavy is imported here.
"""
