"""Pools backed by a Ray cluster: the Jobs API client (``client``, no Django) and the pool's
checks, health and capacity (``services``). Training submits its jobs through them."""
