"""One simulated CGMiner-family miner, split by job.

``profiles`` (the models), ``physics`` (the state and how it evolves), ``faults``, ``pools``
(the pool list and cgminer's pool commands), ``dialects`` (one class per firmware turning a
command into that firmware's reply bytes), ``encoding`` (cgminer's JSON and text forms),
``access`` (``--api-allow``) and ``server`` (``SimMiner``: the miner on the wire). The fleet
of them is ``backend.sim.fleet``.
"""
