"""Wallet logins: Sign-In with Ethereum (EIP-4361) nonces, sessions, and a geolocated login log."""
