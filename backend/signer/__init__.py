"""The standalone signing service (`hashinsight signer -c signer.toml`): keys in, dials out."""
