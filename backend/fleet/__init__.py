"""Fleet layer: talk to miners over the CGMiner RPC API and normalise what they say."""
