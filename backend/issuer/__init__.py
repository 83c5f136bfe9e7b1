"""Issuer: turns Bitmart sales into signed ndau Issue transactions for the ndau chain."""
