"""ndau: keys, Issue transactions and the signer wire protocol, shared by the issuer and the signer.

A library with no service of its own: the issuer (which builds and submits transactions) and the
signing service (which holds the keys) both import it, and it imports neither.
"""
