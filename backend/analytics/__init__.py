"""Historical analytics: which metric's history comes from which domain (`registry.py`).

It reads the market, chain and fleet services, so it sits above them; the HTTP route is
`backend/api/routes/analytics.py`.
"""
